"""The generated ClusterNetwork CRD: in sync with the models, structural, described, validated, with its CEL rules.

The CEL rules are evaluated by the real apiserver in tests/integration; here we check they are present and well
formed, and that the CRD passes the apiextensions.k8s.io/v1 schema of the pinned Kubernetes (kubernetes-validate).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cni_operator import api
from cni_operator.catalog import resolve
from cni_operator.schema import apidocs, crd

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.36"

CRD = crd.crd()
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]
STATUS = SCHEMA["properties"]["status"]


def walk(node: dict, path: str = ""):
    """Every schema node with its dotted path (list items as path[])."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


def pattern_of(node: dict) -> str | None:
    """The regular expression of a field's pattern rule (crd.py turns OpenAPI patterns into CEL rules)."""
    for entry in node.get("x-kubernetes-validations", []):
        found = re.search(r"self\.matches\(r'(.*)'\)$", entry["rule"])
        if found:
            return found.group(1)
    return None


def at(node: dict, path: str) -> dict:
    for part in filter(None, path.split(".")):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):  # a list's items, as rules.RULES names them: spec.workloads.containers[].env[]
            node = node["items"]
    return node


# ---------------------------------------------------------------- generated files in sync


def test_crd_file_is_in_sync_with_the_models():
    committed = (REPO / "crds" / "clusternetworks.yaml").read_text(encoding="utf-8")
    assert committed == crd.to_yaml(), "crds/clusternetworks.yaml is stale: run `make crd` and commit it"


def test_api_docs_are_in_sync_with_the_models():
    committed = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert committed == apidocs.to_markdown(), (
        "docs/api.md is stale: run `.venv/bin/cni-operator docs > docs/api.md` and commit it"
    )


def test_output_is_deterministic_and_parses_back():
    text = crd.to_yaml()
    assert text == crd.to_yaml()
    assert yaml.safe_load(text) == CRD


# ---------------------------------------------------------------- the CRD's shape


def test_names_scope_and_subresources():
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "clusternetworks.cni-operator.io"
    assert spec["group"] == api.GROUP == "cni-operator.io"
    assert spec["scope"] == "Cluster"
    assert spec["names"] == {
        "kind": "ClusterNetwork", "listKind": "ClusterNetworkList", "plural": "clusternetworks",
        "singular": "clusternetwork", "shortNames": ["cnet"],
    }
    assert [v["name"] for v in spec["versions"]] == [api.VERSION]
    assert VERSION["served"] and VERSION["storage"]
    assert VERSION["subresources"] == {"status": {}}
    assert SCHEMA["required"] == ["spec"]


def test_printer_columns():
    columns = {c["name"].upper(): c for c in VERSION["additionalPrinterColumns"]}
    assert {name: c["jsonPath"] for name, c in columns.items() if not c.get("priority")} == {
        "TYPE": ".spec.clusterType",
        "CNI": ".status.provider",
        "VERSION": ".status.version",
        "READY": ".status.readySummary",
        "PHASE": ".status.phase",
        "AGE": ".metadata.creationTimestamp",
    }
    assert columns["AGE"]["type"] == "date"
    assert list(columns)[:6] == ["TYPE", "CNI", "VERSION", "READY", "PHASE", "AGE"]
    # Every column reads a field the schema declares (a typo would show an empty column forever).
    for c in columns.values():
        path = c["jsonPath"].split("[")[0].lstrip(".")
        if not path.startswith("metadata"):
            at(SCHEMA, path)


def test_passes_the_apiextensions_schema_of_the_pinned_kubernetes():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    try:
        kubernetes_validate.validate(CRD, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:  # its text is the whole CRD: keep the first lines
        pytest.fail("\n".join(str(exc).splitlines()[:3]))


# ---------------------------------------------------------------- structural schema


def test_schema_is_structural():
    """The apiserver's rules for a structural schema, plus what pydantic would otherwise leak in."""
    for path, node in walk(SCHEMA):
        where = path or "<root>"
        assert "$ref" not in node and "$defs" not in node, where
        assert "title" not in node, where
        if "additionalProperties" in node:  # a map (nodeSelector): its values' schema, and no properties
            assert "properties" not in node, f"{where}: properties and additionalProperties exclude each other"
            assert node["additionalProperties"].get("type") == "string", where
        assert "nullable" not in node, where
        assert not {"allOf", "oneOf", "not"} & set(node), where
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, where
            assert node.get("anyOf", [{"type": "integer"}, {"type": "string"}]) == [
                {"type": "integer"}, {"type": "string"}], where
        else:
            assert "anyOf" not in node, f"{where}: anyOf (e.g. X | None) must be collapsed"
            assert node.get("type") in {"object", "array", "string", "integer", "boolean", "number"}, where
        if node.get("type") == "object" and "additionalProperties" not in node:
            assert node.get("properties"), f"{where}: every object declares its fields"
            assert set(node.get("required", [])) <= set(node["properties"]), where
        assert "x-kubernetes-preserve-unknown-fields" not in node, f"{where}: unknown fields must be pruned"
    # Structural schemas may only restrict metadata.name and metadata.generateName.
    assert SCHEMA["properties"]["metadata"] == {"type": "object", "properties": {"name": {"type": "string",
                                                                                        "maxLength": 253}}}


def test_every_field_has_a_description():
    missing = [path for path, node in walk(SCHEMA) if path and not path.endswith("[]")
               and not path.startswith("metadata") and not node.get("description", "").strip()]
    assert missing == []


def test_status_is_fully_declared_without_defaults():
    """kopf pitfall: undeclared status fields are pruned. Everything ClusterNetworkStatus has must be there."""
    model_fields = {f.alias or name for name, f in api.ClusterNetworkStatus.model_fields.items()}
    assert set(STATUS["properties"]) == model_fields
    for path, node in walk(STATUS):
        if path == "":
            # The one exception: status itself defaults to observedGeneration 0, so kstatus (Flux, Argo CD) reads a
            # ClusterNetwork the operator has not reported on yet as InProgress instead of Current.
            assert node.get("default") == {"observedGeneration": 0}
            continue
        assert "default" not in node, f"status{path}: status is written by the operator, never defaulted"
    conditions = STATUS["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason"}


def test_enums_carried_over():
    assert at(SPEC, "clusterType")["enum"] == ["mks", "eks", "imported"]
    assert at(SPEC, "cni.provider")["enum"] == ["canal", "aws-vpc-cni"]
    assert at(SPEC, "canal.backend")["enum"] == ["vxlan", "host-gw", "wireguard"]
    assert at(SPEC, "canal.iptablesBackend")["enum"] == ["Auto", "Legacy", "NFT"]
    assert at(SPEC, "canal.logSeverity")["enum"] == ["Debug", "Info", "Warning", "Error", "Fatal"]
    assert at(SPEC, "deletionPolicy")["enum"] == ["Orphan", "Delete"]
    assert at(STATUS, "phase")["enum"] == ["Pending", "Installing", "Ready", "Degraded", "Unmanaged", "Paused",
                                           "Failed"]


def test_limits_carried_over():
    assert (at(SPEC, "canal.vxlanPort")["minimum"], at(SPEC, "canal.vxlanPort")["maximum"]) == (1, 65535)
    assert (at(SPEC, "canal.vni")["minimum"], at(SPEC, "canal.vni")["maximum"]) == (1, 16777215)
    assert at(SPEC, "canal.iface")["maxLength"] == 15  # Linux: IFNAMSIZ 16 with the NUL
    assert at(SPEC, "registry")["maxLength"] == 253
    # Patterns become CEL rules with the same expression and a message in words (the pattern error quotes the regex).
    registry = at(SPEC, "registry")
    assert "pattern" not in registry
    assert [r["rule"] for r in registry["x-kubernetes-validations"]] == [
        "self.matches(r'" + api.ClusterNetworkSpec.model_fields["registry"].metadata[-1].pattern + "')"]
    assert registry["x-kubernetes-validations"][0]["message"] == "must be " + api.FIELD_WORDS["spec.registry"]
    assert at(SPEC, "imagePullSecrets")["maxItems"] == 16
    assert at(SPEC, "imagePullSecrets")["items"]["required"] == ["name"]
    assert pattern_of(at(SPEC, "podCIDR")) and at(SPEC, "podCIDR")["maxLength"] == 18
    assert pattern_of(at(SPEC, "cni.version")) and pattern_of(at(SPEC, "awsVpcCni.region"))
    # Every name-like string has its rule (a newline, a NUL or a path in a name never gets past admission).
    assert pattern_of(at(SPEC, "imagePullSecrets")["items"]["properties"]["name"]) == api.DNS_SUBDOMAIN
    assert pattern_of(at(SPEC, "canal.iface")) == api.LINUX_IFACE
    assert pattern_of(at(SPEC, "awsVpcCni.eniConfigLabelDef")) == api.LABEL_KEY
    assert at(SPEC, "awsVpcCni.eniConfigLabelDef")["maxLength"] == 317
    assert (at(SPEC, "awsVpcCni.warmENITarget")["minimum"], at(SPEC, "awsVpcCni.warmENITarget")["maximum"]) == (0, 100)


def test_max_unavailable_is_int_or_string():
    node = at(SPEC, "rollout.maxUnavailable")
    assert node["x-kubernetes-int-or-string"] is True
    assert (node["minimum"], node["maximum"], pattern_of(node)) == (1, 1000, "^(100|[1-9][0-9]?)%$")
    assert "default" not in node  # the provider's upstream value, filled by catalog.resolve
    assert node["x-kubernetes-validations"][0]["rule"].startswith("type(self) != string || ")  # integers pass


def test_strings_read_by_cel_have_a_bounded_length():
    """The apiserver estimates CEL cost from maxLength; unbounded strings can push a rule over the limit."""
    for path in ("clusterType", "cni.provider", "cni.version", "podCIDR", "canal.backend"):
        assert at(SPEC, path)["maxLength"] <= 64, path


# ---------------------------------------------------------------- defaults


def test_spec_defaults_match_the_models():
    """Whatever the apiserver stores as a default is what pydantic would have filled in."""
    filled = {
        "mks": resolve(api.parse_spec({"clusterType": "mks", "rollout": {}})).model_dump(by_alias=True, mode="json"),
        "eks": resolve(api.parse_spec({"clusterType": "eks"})).model_dump(by_alias=True, mode="json"),
    }
    defaults = {path: node["default"] for path, node in walk(SPEC) if "default" in node}
    assert defaults == {
        "podCIDR": "10.244.0.0/16", "mtu": 0, "canal.backend": "vxlan", "canal.vxlanPort": 8472, "canal.vni": 1,
        "canal.masquerade": True, "canal.iptablesBackend": "Auto", "canal.logSeverity": "Info",
        "awsVpcCni.region": "us-west-2", "awsVpcCni.warmENITarget": 1, "awsVpcCni.enablePrefixDelegation": False,
        "awsVpcCni.externalSNAT": False, "awsVpcCni.customNetworking": False, "awsVpcCni.enablePodENI": False,
        "awsVpcCni.enableNetworkPolicy": False, "rollout.canary": 1,
        # provider options of issue 10 item 4 (api/providers.py)
        "canal.felixPrometheusMetricsEnabled": False, "canal.felixPrometheusMetricsPort": 9091,
        "awsVpcCni.enableIPv6": False, "awsVpcCni.disableMetrics": False, "awsVpcCni.disableIntrospection": False,
        "awsVpcCni.nodeAgentMetricsPort": 8162,
        "rollout.soakSeconds": 30, "rollout.progressDeadlineSeconds": 600, "rollout.autoRollback": True, "paused": False,
        "deletionPolicy": "Orphan",
        "adoption": "IfEquivalent",
    }
    for path, value in defaults.items():
        source = filled["eks" if path.startswith("awsVpcCni") else "mks"]
        for part in path.split("."):
            source = source[part]
        assert source == value, path


def test_no_default_creates_an_option_block_or_a_catalog_choice():
    for path, node in walk(SPEC):
        if node.get("type") in ("object", "array"):
            assert "default" not in node, f"{path}: a default here would create the block"
    assert "default" not in at(SPEC, "cni.provider") and "default" not in at(SPEC, "cni.version")
    # The provider's upstream value (catalog.resolve): a schema default would pin every ClusterNetwork to one value.
    assert "default" not in at(SPEC, "rollout.maxUnavailable")


def test_defaults_satisfy_their_own_constraints():
    for path, node in walk(SPEC):
        if "default" not in node:
            continue
        value = node["default"]
        if "enum" in node:
            assert value in node["enum"], path
        if isinstance(value, str) and pattern_of(node):
            assert re.search(pattern_of(node), value), path
        if isinstance(value, int) and not isinstance(value, bool):
            assert node.get("minimum", value) <= value <= node.get("maximum", value), path


def test_defaults_are_said_in_the_description_for_kubectl_explain():
    for path, node in walk(SPEC):
        if "default" in node:
            assert "default" in node["description"].lower(), path


# ---------------------------------------------------------------- CEL rules


def rules_at(path: str) -> list[dict]:
    return at(SCHEMA, path).get("x-kubernetes-validations", [])


def test_every_rule_is_in_the_schema_where_it_belongs():
    for rule in crd.RULES:
        entries = [e for e in rules_at(rule.path) if e["rule"] == rule.rule]
        assert len(entries) == 1, rule
        entry = entries[0]
        assert entry["message"] == rule.message
        assert "\n" not in entry["message"] and "\n" not in entry["rule"]
        if rule.field_path:
            assert entry["fieldPath"] == rule.field_path
            at(at(SCHEMA, rule.path), rule.field_path)  # the apiserver insists it names a declared field
        if rule.message_expression:
            assert entry["messageExpression"] == rule.message_expression
        if rule.reason:
            assert entry["reason"] in {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired",
                                       "FieldValueDuplicate"}


def test_singleton_name_rule_at_the_root():
    assert rules_at("") == [{
        "rule": "self.metadata.name == 'default'",
        "message": "metadata.name must be 'default': there is one ClusterNetwork per cluster",
        "fieldPath": ".metadata.name",
        "reason": "FieldValueInvalid",
    }]


@pytest.mark.parametrize("path", ["spec.clusterType", "spec.podCIDR", "spec.cni.provider"])
def test_immutable_fields_have_transition_rules(path):
    assert any(e["rule"] == "self == oldSelf" and ("immutable" in e["message"] or "cannot change" in e["message"])
               for e in rules_at(path))


def test_spec_level_rules():
    by_field = {e.get("fieldPath"): e for e in rules_at("spec")}
    assert "'mks' && self.cni.provider == 'canal'" in by_field[".cni.provider"]["rule"]
    assert "'eks' && self.cni.provider == 'aws-vpc-cni'" in by_field[".cni.provider"]["rule"]
    assert by_field[".canal"]["rule"] == "!has(self.canal) || self.clusterType == 'mks'"
    assert by_field[".awsVpcCni"]["rule"] == "!has(self.awsVpcCni) || self.clusterType == 'eks'"
    assert "oldSelf.canal" in by_field[".canal.backend"]["rule"]
    assert "'imported'" in by_field[".cni.version"]["rule"]
    assert any("576" in e["rule"] and "9001" in e["rule"] for e in rules_at("spec.mtu"))


def test_rules_cover_every_cross_field_rule_of_the_models():
    """consistency_problems in api.py and the CEL rules must say the same things."""
    fields_with_cel = {"spec" + (r.field_path or "") for r in crd.RULES if r.path == "spec"}
    for spec in ({"clusterType": "eks", "cni": {"provider": "canal"}, "canal": {}},
                 {"clusterType": "imported", "cni": {"version": "v1.0.0"}, "awsVpcCni": {}}):
        model = api.ClusterNetworkSpec.model_construct(
            cluster_type=api.ClusterType(spec["clusterType"]),
            cni=api.CNIRef(**spec.get("cni", {})),
            canal=api.CanalOptions() if "canal" in spec else None,
            aws_vpc_cni=api.AwsVpcCniOptions() if "awsVpcCni" in spec else None,
        )
        for field, _ in api.consistency_problems(model):
            assert f"spec.{field}" in fields_with_cel, field


def test_schema_errors_are_loud():
    with pytest.raises(crd.SchemaError):
        crd._structural({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}, {}, "x", keep_defaults=True)
    with pytest.raises(crd.SchemaError):
        crd._structural({"type": "object"}, {}, "x", keep_defaults=True)


def test_no_spec_string_is_free_form():
    """Every string a user writes in spec is an enum or has a pattern rule with words: a new free-form string field
    (one that would take a newline, a NUL or a path) fails here until it gets the rule for its kind of name."""
    free = [path for path, node in walk(SPEC, "spec")
            if node.get("type") == "string" and "enum" not in node and not pattern_of(node)]
    assert free == []
