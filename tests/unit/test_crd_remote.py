"""The generated RemoteClusterNetwork CRD (fleet mode): in sync, structural, the ClusterNetwork's spec and rules plus
spec.target, and its rules accepting what they should and refusing what they should.

The API server evaluates the CEL rules in tests/integration/test_crd_rules_remote.py; here the models (which the
operator will parse with) and the schema's own patterns and limits are checked against the same cases.
"""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
import yaml
from cni_operator import api, cli
from cni_operator.api import remote as remote_api
from cni_operator.schema import apidocs, crd, remote

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.36"

CRD = remote.crd_object()
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC, STATUS = SCHEMA["properties"]["spec"], SCHEMA["properties"]["status"]
TARGET = SPEC["properties"]["target"]
CN_SCHEMA = crd.openapi_schema()


def walk(node: dict, path: str = ""):
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


def without_validations(node):
    if isinstance(node, dict):
        return {k: without_validations(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    return [without_validations(v) for v in node] if isinstance(node, list) else node


# ---------------------------------------------------------------- generated files in sync


def test_crd_file_is_in_sync_with_the_models():
    committed = (REPO / remote.FILE).read_text(encoding="utf-8")
    assert committed == remote.to_yaml(), f"{remote.FILE} is stale: run `make crd` and commit it"


def test_cli_prints_it_and_the_makefile_writes_it(capsys):
    assert cli.main(["crd", "--kind", "RemoteClusterNetwork"]) == 0
    assert capsys.readouterr().out == remote.to_yaml()
    assert "cni-operator crd --kind RemoteClusterNetwork > crds/remoteclusternetworks.yaml" in (
        REPO / "Makefile").read_text()


def test_api_docs_cover_it():
    docs = apidocs.to_markdown()
    assert "# The RemoteClusterNetwork API (fleet mode)" in docs
    for needle in ("`spec.target.kubeconfigSecretRef.key`", "`status.lastSeenTime`", "| REACHABLE |",
                   remote_api.TWO_TARGETS_WORDS, "not built yet"):
        assert needle in docs, needle


def test_passes_the_apiextensions_schema_of_the_pinned_kubernetes():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    try:
        kubernetes_validate.validate(CRD, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail("\n".join(str(exc).splitlines()[:3]))


# ---------------------------------------------------------------- shape


def test_names_scope_and_subresources():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "remoteclusternetworks.cni-operator.io"
    assert (spec["group"], spec["scope"]) == ("cni-operator.io", "Namespaced")
    assert spec["names"] == {"kind": "RemoteClusterNetwork", "listKind": "RemoteClusterNetworkList",
                             "plural": "remoteclusternetworks", "singular": "remoteclusternetwork",
                             "shortNames": ["rcn"]}
    assert [v["name"] for v in spec["versions"]] == ["v1alpha1"] and VERSION["subresources"] == {"status": {}}


def test_printer_columns_in_the_order_the_issue_asks():
    shown = [c for c in VERSION["additionalPrinterColumns"] if not c.get("priority")]
    assert [c["name"].upper() for c in shown] == ["TARGET", "TYPE", "CNI", "VERSION", "READY", "PHASE", "REACHABLE",
                                                  "AGE"]
    by_name = {c["name"].upper(): c["jsonPath"] for c in VERSION["additionalPrinterColumns"]}
    assert by_name["TARGET"] == ".spec.target.*.name"
    assert by_name["REACHABLE"] == '.status.conditions[?(@.type=="Reachable")].status'
    assert by_name["LAST-SEEN"] == ".status.lastSeenTime"


def test_spec_is_the_cluster_networks_plus_target_with_the_same_rules():
    cn_spec = CN_SCHEMA["properties"]["spec"]
    assert list(SPEC["properties"]) == ["target", *cn_spec["properties"]]
    for name, node in cn_spec["properties"].items():
        assert SPEC["properties"][name] == node, name  # same schema, defaults, patterns and CEL rules
    assert SPEC["x-kubernetes-validations"] == cn_spec["x-kubernetes-validations"]
    assert sorted(SPEC["required"]) == ["clusterType", "target"]
    # The singleton rule (name `default`) is the ClusterNetwork's only: these are named after their targets.
    assert "x-kubernetes-validations" not in SCHEMA and "metadata" not in SCHEMA["properties"]


def test_status_is_the_cluster_networks_plus_last_seen_time():
    cn_status = CN_SCHEMA["properties"]["status"]
    assert set(STATUS["properties"]) == set(cn_status["properties"]) | {"lastSeenTime"}
    assert without_validations({**STATUS["properties"], "conditions": None, "lastSeenTime": None, "phase": None}) == {
        **cn_status["properties"], "conditions": None, "lastSeenTime": None, "phase": None}
    # The phases of a ClusterNetwork, plus the two that say why nothing is known of the target.
    assert STATUS["properties"]["phase"]["enum"] == [*cn_status["properties"]["phase"]["enum"], "Unreachable",
                                                     "CredentialsInvalid"]
    conditions = STATUS["properties"]["conditions"]
    assert "Reachable" in conditions["description"] and "CredentialsValid" in conditions["description"]
    assert conditions["items"] == cn_status["properties"]["conditions"]["items"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert STATUS["default"] == {"observedGeneration": 0}


def test_schema_is_structural_and_described():
    for path, node in walk(SCHEMA):
        assert not {"$ref", "$defs", "title", "anyOf", "allOf", "oneOf", "nullable"} & set(node) or node.get(
            "x-kubernetes-int-or-string"), path
        if path and not path.endswith("[]"):
            assert node.get("description", "").strip(), f"{path} has no description"


# ---------------------------------------------------------------- the target's rules


def rules_at(node: dict) -> dict[str, str]:
    return {v["rule"]: v["message"] for v in node.get("x-kubernetes-validations", [])}


def test_target_rules_are_exactly_one_of_the_two():
    assert rules_at(TARGET) == {
        "has(self.kubeconfigSecretRef) || has(self.clusterRef)": remote_api.NO_TARGET_WORDS,
        "!(has(self.kubeconfigSecretRef) && has(self.clusterRef))": remote_api.TWO_TARGETS_WORDS,
    }


def pattern(node: dict) -> re.Pattern:
    """The CEL rule's RE2 expression, in Python: RE2's `$` is the end of the text (Python's also matches before a
    final newline), which `\\Z` says in Python."""
    (rule,) = [v["rule"] for v in node["x-kubernetes-validations"] if v["rule"].startswith("self.matches")]
    expression = re.fullmatch(r"self\.matches\(r'(.*)'\)", rule).group(1)
    return re.compile(expression.removesuffix("$") + r"\Z")


SECRET_NAME = TARGET["properties"]["kubeconfigSecretRef"]["properties"]["name"]
SECRET_KEY = TARGET["properties"]["kubeconfigSecretRef"]["properties"]["key"]
CLUSTER_NAME = TARGET["properties"]["clusterRef"]["properties"]["name"]
GOOD_NAMES = ["c1-kubeconfig", "a", "tenant-a.cluster-7", "x" * 253]
BAD_NAMES = ["C1", "c1_kubeconfig", "-c1", "c1-", "c1..x", "c1/kubeconfig", "", "x" * 254, "c1\n"]
GOOD_KEYS = ["value", "kubeconfig", "admin.conf", "KUBE_CONFIG", "a-b_c.d"]
BAD_KEYS = ["", "a/b", "a b", "value\n", "ключ", "x" * 254]


def schema_accepts(node: dict, value: str) -> bool:
    return node["minLength"] <= len(value) <= node["maxLength"] and bool(pattern(node).search(value))


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_secret_and_cluster_names_that_are_dns_subdomains_pass(name):
    assert schema_accepts(SECRET_NAME, name)
    assert schema_accepts(CLUSTER_NAME, name) == (len(name) <= 242)  # room for -kubeconfig
    remote_api.KubeconfigSecretRef(name=name)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_are_not_dns_subdomains_are_refused_in_words(name):
    assert not schema_accepts(SECRET_NAME, name) and not schema_accepts(CLUSTER_NAME, name)
    with pytest.raises(pydantic.ValidationError):
        remote_api.KubeconfigSecretRef(name=name)
    assert "DNS subdomain" in SECRET_NAME["x-kubernetes-validations"][0]["message"]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_valid_secret_keys_pass(key):
    assert schema_accepts(SECRET_KEY, key)
    assert remote_api.KubeconfigSecretRef(name="c1", key=key).key == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_secret_keys_are_refused_in_words(key):
    assert not schema_accepts(SECRET_KEY, key)
    with pytest.raises(pydantic.ValidationError):
        remote_api.KubeconfigSecretRef(name="c1", key=key)
    assert SECRET_KEY["x-kubernetes-validations"][0]["message"].startswith("must be a Secret data key")


def test_key_defaults_to_value_in_the_schema_and_the_model():
    assert SECRET_KEY["default"] == "value" == remote_api.KubeconfigSecretRef(name="c1").key


# ---------------------------------------------------------------- the models say the same


def parse(spec: dict) -> remote_api.RemoteClusterNetworkSpec:
    return remote_api.parse_remote_spec(spec)


@pytest.mark.parametrize("target, secret, described", [
    ({"kubeconfigSecretRef": {"name": "c1-kubeconfig"}}, ("c1-kubeconfig", "value"), "secret/c1-kubeconfig"),
    ({"kubeconfigSecretRef": {"name": "c1", "key": "admin.conf"}}, ("c1", "admin.conf"), "secret/c1"),
    ({"clusterRef": {"name": "c1"}}, ("c1-kubeconfig", "value"), "cluster/c1"),
])
def test_valid_targets_and_where_their_kubeconfig_is(target, secret, described):
    spec = parse({"clusterType": "mks", "target": target})
    assert spec.target.secret() == secret and spec.target.describe() == described
    assert spec.pod_cidr == "10.244.0.0/16" and spec.provider is api.Provider.CANAL  # the ClusterNetwork's spec


@pytest.mark.parametrize("spec, words", [
    ({"clusterType": "mks"}, "Field required"),
    ({"clusterType": "mks", "target": {}}, remote_api.NO_TARGET_WORDS),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "a"}, "clusterRef": {"name": "a"}}},
     remote_api.TWO_TARGETS_WORDS),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "a", "namespace": "other"}}},
     "Extra inputs are not permitted"),
    ({"clusterType": "eks", "canal": {}, "target": {"clusterRef": {"name": "a"}}}, "canal options are only allowed"),
])
def test_invalid_specs_are_refused_by_the_models_too(spec, words):
    with pytest.raises(pydantic.ValidationError) as exc:
        parse(spec)
    assert words in str(exc.value)


def test_status_model_takes_last_seen_time_and_the_new_conditions():
    status = remote_api.RemoteClusterNetworkStatus.model_validate({
        "lastSeenTime": "2026-12-02T09:00:00Z",
        "conditions": [{"type": "Reachable", "status": "False", "reason": "ConnectionRefused"},
                       {"type": "CredentialsValid", "status": "True", "reason": "Valid"}]})
    assert status.model_dump(by_alias=True, exclude_defaults=True)["lastSeenTime"] == "2026-12-02T09:00:00Z"


def test_example_in_the_docs_parses():
    docs = (REPO / "docs" / "fleet.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    (doc,) = [d for d in yaml.safe_load_all(example) if d.get("kind") == "RemoteClusterNetwork"]
    parse(doc["spec"])
