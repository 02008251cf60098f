"""The Helm chart: lint, offline schema validation of everything it renders, values.schema.json, the CRD copy, the
bootstrap properties of the Deployment, the ClusterNetwork from values, and values.yaml documentation."""

from __future__ import annotations

import json
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml
from chart_tools import CHART, CNI_NAMESPACE, REPO, VALUE_SETS, of_kind, one, run_helm, template
from cni_operator.api import parse_spec

KUBERNETES_VERSION = "1.36"
GENERATED_CRD = REPO / "crds" / "clusternetworks.yaml"
CHART_CRD = CHART / "templates" / "crd-clusternetworks.yaml"
CRD_NAME = "clusternetworks.cni-operator.io"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_strict(value_set):
    args = ["lint", "--strict", str(CHART)]
    for item in VALUE_SETS[value_set]:
        args += ["--set", item]
    res = run_helm(*args, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[WARNING]" not in res.stdout and "[ERROR]" not in res.stdout, res.stdout


def _crd_schemas(docs: list[dict]) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD version in the render."""
    out = {}
    for crd in of_kind(docs, "CustomResourceDefinition"):
        spec = crd["spec"]
        for version in spec["versions"]:
            out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return out


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_rendered_objects_pass_offline_schema_validation(value_set):
    """Built-in kinds against Kubernetes 1.36's OpenAPI (strict: unknown fields fail); custom resources against the
    openAPIV3Schema of their CRD, which is in the same render."""
    docs = template(*VALUE_SETS[value_set])
    crd_schemas = _crd_schemas(docs)
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if key in crd_schemas:
            jsonschema.validate(doc, crd_schemas[key])
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{where}: {doc['apiVersion']} {doc['kind']} is neither a Kubernetes {KUBERNETES_VERSION} kind "
                        "nor defined by a CRD in the chart's crds/")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where} is not valid Kubernetes {KUBERNETES_VERSION}: {exc.message} at {list(exc.path)}")


def test_every_custom_resource_has_its_crd_in_the_chart():
    docs = template(*VALUE_SETS["mks"])
    crd_schemas = _crd_schemas(docs)
    builtin_groups = ("v1", "apps/v1", "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1", "policy/v1")
    for doc in docs:
        if doc["apiVersion"] not in builtin_groups:
            assert (doc["apiVersion"], doc["kind"]) in crd_schemas, f"no CRD in the chart for {doc['kind']}"


# ---------------------------------------------------------------- values.schema.json

@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("replicaCount=two", "/replicaCount': got string, want integer"),
        ("operator.healthPort=http", "/operator/healthPort': got string, want integer"),
        ("operator.healthBindAddress=localhost", "/operator/healthBindAddress': 'localhost' does not match pattern"),
        ("lease.name=Not_A_Name", "/lease/name': 'Not_A_Name' does not match pattern"),
        ("operator.logFormat=xml", "/operator/logFormat': value must be one of 'json', 'plain'"),
        ("clusterNetwork.spec.clusterType=gke", "/clusterNetwork/spec/clusterType': value must be one of"),
        ("clusterNetwork.create=yes-please", "/clusterNetwork/create': got string, want boolean"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy': value must be one of"),
        ("imagePullSecrets=regcred", "/imagePullSecrets': got string, want array"),
        ("nosuchvalue=1", "additional properties 'nosuchvalue' not allowed"),
    ],
)
def test_values_schema_rejects_wrong_values_with_a_clear_message(setting, expected):
    res = run_helm("template", "x", str(CHART), "--set", setting, check=False)
    assert res.returncode != 0, f"--set {setting} was accepted"
    assert "values don't meet the specifications of the schema" in res.stderr, res.stderr
    assert expected in res.stderr, res.stderr


def test_values_schema_accepts_the_defaults_and_documented_examples():
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)


def test_clusternetwork_create_without_cluster_type_says_what_is_missing():
    res = run_helm("template", "x", str(CHART), "--set", "clusterNetwork.create=true", check=False)
    assert res.returncode != 0
    assert "clusterNetwork.spec.clusterType" in res.stderr and "mks, eks, imported" in res.stderr, res.stderr


# ---------------------------------------------------------------- values.yaml documentation

def _undocumented_keys(text: str) -> list[str]:
    """Keys in values.yaml with no comment directly above them, nor above any ancestor, nor a mapping whose every
    child is documented. Returns the undocumented ones as dotted paths."""
    entries = []  # (indent, key, has_comment_above, line_index)
    previous = ""
    for index, line in enumerate(text.splitlines()):
        stripped = line.strip()
        match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):", line)
        if match and not stripped.startswith("#") and not stripped.startswith("-"):
            entries.append((len(match.group(1)), match.group(2), previous.startswith("#"), index))
        if stripped:
            previous = stripped

    def children(i):
        """Indices of the direct children of entry i (the entries right below it, at the first deeper indent)."""
        indent, kids = entries[i][0], []
        for j in range(i + 1, len(entries)):
            if entries[j][0] <= indent:
                break
            if not kids or entries[j][0] == entries[kids[0]][0]:
                kids.append(j)
        return kids

    def ok(i, inherited):
        if entries[i][2] or inherited:
            return True
        kids = children(i)
        return bool(kids) and all(ok(k, False) for k in kids)

    undocumented = []
    stack: list[tuple[int, str, bool]] = []
    for i, (indent, key, commented, _) in enumerate(entries):
        while stack and stack[-1][0] >= indent:
            stack.pop()
        inherited = any(c for _, _, c in stack)
        if not ok(i, inherited):
            undocumented.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, commented))
    return undocumented


def test_every_value_is_documented_in_values_yaml():
    undocumented = _undocumented_keys((CHART / "values.yaml").read_text())
    assert not undocumented, f"values without a comment saying what they do: {undocumented}"


def test_every_value_has_a_schema_entry():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [key for key in values if key not in schema["properties"]]
    assert not missing, f"top-level values missing from values.schema.json: {missing}"


# ---------------------------------------------------------------- the CRDs

def test_chart_crd_is_the_generated_crd():
    """The chart renders the generated CRD unchanged, but for the annotation that keeps it on `helm uninstall`."""
    assert GENERATED_CRD.exists(), f"{GENERATED_CRD.relative_to(REPO)} does not exist yet: generate it with `make crd`"
    assert CHART_CRD.exists(), f"run `python3 hack/gen-bundle.py` to write {CHART_CRD.relative_to(REPO)}"
    generated = yaml.safe_load(GENERATED_CRD.read_text())
    rendered = one(template(), "CustomResourceDefinition", CRD_NAME)
    assert rendered["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert rendered == generated, "the chart's CRD differs from the generated one: run `python3 hack/gen-bundle.py`"


def test_chart_crd_is_a_template_so_helm_upgrade_updates_it():
    """Helm never upgrades what is in crds/: the ClusterNetwork CRD must not be there (issue 10, item 6)."""
    assert not (CHART / "crds" / "clusternetworks.yaml").exists()
    assert "{{- if include \"cni-operator.crdsEnabled\" . }}" in CHART_CRD.read_text()
    assert "cni-operator.crdOwnershipGuard" in CHART_CRD.read_text()


@pytest.mark.parametrize(("sets", "has_crd", "kept"), [
    ((), True, True),
    (("crds.enabled=false",), False, None),
    (("crds.keep=false",), True, False),
    # An upgrade with --reuse-values from chart 0.1.0 reuses values that have no `crds` key: the defaults hold.
    (("crds=null",), True, True),
])  # fmt: skip
def test_crds_values(sets, has_crd, kept):
    docs = template(*sets)
    crds = {d["metadata"]["name"]: d for d in of_kind(docs, "CustomResourceDefinition")}
    assert "kopfpeerings.kopf.dev" in crds  # kopf's, from crds/, whatever the values
    assert (CRD_NAME in crds) == has_crd
    if has_crd:
        annotations = crds[CRD_NAME]["metadata"].get("annotations") or {}
        assert (annotations.get("helm.sh/resource-policy") == "keep") == kept


def test_clusternetwork_from_helm_template_is_no_hook():
    """Without a cluster (helm template, so the bundles) the ClusterNetwork is a plain object: the post-install hook
    is only for a `helm install` on a cluster without the CRD, which lookup sees (tests/e2e/test_helm_crd_upgrade.py)."""
    cnet = one(template(*VALUE_SETS["mks"]), "ClusterNetwork", "default")
    assert set(cnet["metadata"]["annotations"]) == {"helm.sh/resource-policy"}


def test_crds_value_is_typed():
    res = run_helm("template", "x", str(CHART), "--set", "crds.enabled=yes", check=False)
    assert res.returncode != 0 and "crds" in res.stderr and "enabled" in res.stderr, res.stderr


def test_kopf_peering_crd_matches_what_kopf_uses():
    crd = one(template(), "CustomResourceDefinition", "kopfpeerings.kopf.dev")
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "KopfPeering" and crd["spec"]["names"]["plural"] == "kopfpeerings"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    # kopf merge-patches `status` on the object itself: a status subresource would silently drop its keep-alives.
    assert "subresources" not in version
    assert version["schema"]["openAPIV3Schema"]["properties"]["status"]["x-kubernetes-preserve-unknown-fields"]


def test_peering_object_is_the_one_the_operator_joins():
    from cni_operator import runner

    peering = one(template(), "KopfPeering")
    assert peering["metadata"]["name"] == runner.PEERING_NAME
    assert peering["metadata"]["namespace"] == CNI_NAMESPACE


# ---------------------------------------------------------------- the Deployment: works before any CNI exists

def _pod(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def test_operator_runs_before_any_cni_exists():
    pod = _pod(template())
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["priorityClassName"] == "system-cluster-critical"
    tolerated = {(t.get("key"), t.get("effect")) for t in pod["tolerations"]}
    assert ("node.kubernetes.io/not-ready", None) in tolerated  # NoSchedule and NoExecute, no time limit
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") in tolerated
    assert ("node.cloudprovider.kubernetes.io/uninitialized", "NoSchedule") in tolerated
    assert ("node-role.kubernetes.io/control-plane", "NoSchedule") in tolerated
    assert all("tolerationSeconds" not in t for t in pod["tolerations"])


def _env(container: dict) -> dict[str, dict]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"an environment variable is set twice: {names}"
    return {e["name"]: e for e in container["env"]}


def test_api_endpoint_override_like_the_tigera_operator():
    """The optional ConfigMap supplies the API server's address and nothing else; chart values win over it."""
    (container,) = _pod(template())["containers"]
    assert "envFrom" not in container, "a ConfigMap must not be able to set any variable of the operator"
    env = _env(container)
    for key in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        assert env[key]["valueFrom"] == {"configMapKeyRef": {"name": "kubernetes-services-endpoint", "key": key,
                                                             "optional": True}}
    (container,) = _pod(template(*VALUE_SETS["ha-endpoint-digest"]))["containers"]
    assert container["args"] == ["run"], "more than one replica must peer, so only one acts"
    env = _env(container)
    assert env["KUBERNETES_SERVICE_HOST"] == {"name": "KUBERNETES_SERVICE_HOST", "value": "10.0.0.1"}
    assert env["KUBERNETES_SERVICE_PORT"] == {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"}


def test_operator_container_contract():
    (container,) = _pod(template())["containers"]
    assert container["command"] == ["cni-operator"] and container["args"] == ["run", "--standalone"]
    assert container["image"] == "ghcr.io/cni-operator/cni-operator:0.1.0"  # tag defaults to appVersion
    env = _env(container)
    for name in ("POD_NAME", "POD_ID"):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["CNI_OPERATOR_HEALTH_PORT"]["value"] == "8080"
    assert env["CNI_OPERATOR_METRICS_PORT"]["value"] == "9090"
    assert env["CNI_OPERATOR_LOG_FORMAT"]["value"] == "json"
    assert env["CNI_OPERATOR_LEASE_NAME"]["value"] == "cni-operator"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}


def test_endpoints_listen_on_loopback_and_the_probes_still_reach_them():
    """Host network: the kubelet probes from the node's network namespace, which is the pod's, so 127.0.0.1 there is
    the operator's loopback."""
    pod = _pod(template())
    assert pod["hostNetwork"] is True
    (container,) = pod["containers"]
    env = _env(container)
    assert env["CNI_OPERATOR_HEALTH_BIND_ADDRESS"]["value"] == "127.0.0.1"
    assert env["CNI_OPERATOR_METRICS_BIND_ADDRESS"]["value"] == "127.0.0.1"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"host": "127.0.0.1", "path": "/healthz", "port": "health"}


@pytest.mark.parametrize(("bind", "probe_host"), [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("::1", "::1")])
def test_probes_use_loopback_whatever_the_health_endpoint_listens_on(bind, probe_host):
    (container,) = _pod(template(f"operator.healthBindAddress={bind}"))["containers"]
    assert _env(container)["CNI_OPERATOR_HEALTH_BIND_ADDRESS"]["value"] == bind
    assert container["livenessProbe"]["httpGet"]["host"] == probe_host


def test_image_digest_pins_the_image():
    (container,) = _pod(template(*VALUE_SETS["ha-endpoint-digest"]))["containers"]
    assert container["image"] == "ghcr.io/cni-operator/cni-operator@sha256:" + "a" * 64


def test_operator_is_locked_down():
    pod = _pod(template())
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsUser"] >= 10000
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_rollout_never_runs_two_pods_on_one_node_port():
    deployment = one(template(), "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_no_metrics_service_by_default():
    assert not of_kind(template(), "Service")


def test_the_metrics_service_reaches_metrics_on_the_pod_ip():
    """A Service's endpoints of a host-network pod are the node's IP, so /metrics must listen there, not on loopback."""
    docs = template("metrics.service.enabled=true")
    service = one(docs, "Service")
    assert service["spec"]["selector"] == one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    (container,) = _pod(docs)["containers"]
    bind = _env(container)["CNI_OPERATOR_METRICS_BIND_ADDRESS"]
    assert bind["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    (container,) = _pod(template("metrics.service.enabled=true", "operator.metricsBindAddress=0.0.0.0"))["containers"]
    assert _env(container)["CNI_OPERATOR_METRICS_BIND_ADDRESS"]["value"] == "0.0.0.0"


# ---------------------------------------------------------------- the ClusterNetwork from values

@pytest.mark.parametrize("cluster_type", ["mks", "eks", "imported"])
def test_clusternetwork_from_values_is_a_valid_spec(cluster_type):
    cnet = one(template(*VALUE_SETS[cluster_type]), "ClusterNetwork")
    assert cnet["metadata"]["name"] == "default"
    assert cnet["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert parse_spec(cnet["spec"]).cluster_type.value == cluster_type


def test_clusternetwork_options_pass_through():
    docs = template("clusterNetwork.create=true", "clusterNetwork.spec.clusterType=mks",
                    "clusterNetwork.spec.podCIDR=10.42.0.0/16", "clusterNetwork.spec.canal.backend=host-gw")
    spec = parse_spec(one(docs, "ClusterNetwork")["spec"])
    assert spec.pod_cidr == "10.42.0.0/16" and spec.canal.backend.value == "host-gw"


def test_no_clusternetwork_by_default():
    assert not of_kind(template(), "ClusterNetwork")


def test_cluster_scoped_names_follow_the_release():
    """Two releases (e.g. parallel tests) never collide on ClusterRole or Role names."""
    docs = template(release="e2e-a")
    names = {d["metadata"]["name"] for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role")}
    assert names and all(n.startswith("e2e-a-cni-operator") for n in names)
