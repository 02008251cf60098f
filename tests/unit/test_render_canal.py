"""Canal render: golden output, every option, faithfulness to upstream canal.yaml, schema validity, upgrades.

Regenerate the golden files after an intended change, then review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_canal.py -q
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import kubernetes_validate
import pydantic
import pytest
import yaml
from cni_operator.api import Provider, parse_spec
from cni_operator.catalog import CatalogError, load_catalog, parse_catalog
from cni_operator.objects import PROVIDER_LABEL, VERSION_LABEL, ObjectRef
from cni_operator.render import render, to_yaml

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
K8S_VERSION = "1.36"  # kubernetes-validate ships schemas up to 1.37; the pinned cluster version is 1.36


def _load_facts():
    spec = importlib.util.spec_from_file_location("canal_facts", HERE / "upstream" / "canal_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


facts = _load_facts()
VERSIONS = ["v3.31.4", "v3.32.1"]


def _render(extra: dict | None = None, version: str | None = None):
    raw: dict = {"clusterType": "mks"}
    if version:
        raw["cni"] = {"version": version}
    for key, value in (extra or {}).items():
        raw[key] = value
    return render(parse_spec(raw))


def _canal(**options):
    return _render({"canal": options})


def _by_id(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def _get(objects: list[dict], kind: str, name: str) -> dict:
    return _by_id(objects)[(kind, name)]


def _pod(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def _named(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


# ---------------------------------------------------------------- golden


@pytest.mark.parametrize(
    ("version", "golden"), [(None, "canal-default.yaml"), ("v3.31.4", "canal-v3.31.4.yaml")]
)
def test_golden(version, golden):
    text = to_yaml(_render(version=version).apply)
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8"), (
        f"render differs from {path.name}; if intended: UPDATE_GOLDEN=1 pytest tests/unit/test_render_canal.py"
    )


def test_default_is_catalog_default_v3_32_1():
    rendered = _render()
    assert rendered.version == "v3.32.1" == load_catalog().defaults[rendered.provider]
    assert rendered.provider.value == "canal"


# ---------------------------------------------------------------- options: each changes what it should, nothing else


def _flatten(value, path: str, out: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", out)
    elif isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        for item in value:  # env, containers, volumes...: addressed by name, not by position
            _flatten(item, f"{path}[{item['name']}]", out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out)
    else:
        out[path] = value


def _paths(objects: list[dict]) -> dict[str, object]:
    out: dict[str, object] = {}
    for obj in objects:
        _flatten(obj, f"{obj['kind']}/{obj['metadata']['name']}", out)
    return out


def _changes(objects: list[dict]) -> dict[str, tuple]:
    base, other = _paths(_render().apply), _paths(objects)
    keys = set(base) | set(other)
    return {k: (base.get(k), other.get(k)) for k in sorted(keys) if base.get(k) != other.get(k)}


NET_CONF = "ConfigMap/canal-config.data.net-conf.json"
DS_POD = "DaemonSet/canal.spec.template.spec"
CALICO_NODE = f"{DS_POD}.containers[calico-node]"


def _net_conf(objects: list[dict]) -> dict:
    return json.loads(_get(objects, "ConfigMap", "canal-config")["data"]["net-conf.json"])


@pytest.mark.parametrize(
    ("options", "backend"),
    [
        ({"backend": "host-gw"}, {"Type": "host-gw"}),
        ({"backend": "wireguard"}, {"Type": "wireguard"}),
        ({"vxlanPort": 4789}, {"Type": "vxlan", "Port": 4789}),
        ({"vni": 4096}, {"Type": "vxlan", "VNI": 4096}),
        ({"vni": 7, "vxlanPort": 4789}, {"Type": "vxlan", "VNI": 7, "Port": 4789}),
        # VXLAN settings mean nothing to the other backends: they are not written.
        ({"backend": "host-gw", "vxlanPort": 4789, "vni": 9}, {"Type": "host-gw"}),
    ],
)
def test_backend_options_change_only_net_conf_backend(options, backend):
    objects = _canal(**options).apply
    assert set(_changes(objects)) == {NET_CONF}
    assert _net_conf(objects) == {"Network": "10.244.0.0/16", "Backend": backend}


def test_vxlan_defaults_spelled_out_render_like_upstream():
    assert _changes(_canal(backend="vxlan", vxlanPort=8472, vni=1).apply) == {}


def test_pod_cidr_changes_only_flannel_network():
    objects = _render({"podCIDR": "10.42.0.0/16"}).apply
    assert set(_changes(objects)) == {NET_CONF}
    assert _net_conf(objects)["Network"] == "10.42.0.0/16"
    # Upstream canal leaves CALICO_IPV4POOL_CIDR unset (IPAM is host-local on the node podCIDR): so do we.
    assert "CALICO_IPV4POOL_CIDR" not in yaml.safe_dump(objects)


@pytest.mark.parametrize(("mtu", "veth"), [(1450, "1450"), (9001, "9001"), (576, "576")])
def test_mtu_changes_only_veth_mtu(mtu, veth):
    assert _changes(_render({"mtu": mtu}).apply) == {"ConfigMap/canal-config.data.veth_mtu": ("0", veth)}


def test_mtu_zero_is_upstream_auto():
    assert _get(_render({"mtu": 0}).apply, "ConfigMap", "canal-config")["data"]["veth_mtu"] == "0"


def test_iface_changes_only_canal_iface():
    assert _changes(_canal(iface="eth1").apply) == {"ConfigMap/canal-config.data.canal_iface": ("", "eth1")}


def test_masquerade_off_changes_configmap_and_flanneld_flag():
    # flanneld reads FLANNELD_IP_MASQ only when --ip-masq is not given on its command line, so turning masquerade off
    # must drop the flag too; otherwise the ConfigMap value would be silently ignored.
    objects = _canal(masquerade=False).apply
    flannel_cmd = f"{DS_POD}.containers[kube-flannel].command"
    assert _changes(objects) == {
        "ConfigMap/canal-config.data.masquerade": ("true", "false"),
        f"{flannel_cmd}[1]": ("--ip-masq", "--kube-subnet-mgr"),
        f"{flannel_cmd}[2]": ("--kube-subnet-mgr", None),
    }
    flannel = _named(_pod(_get(objects, "DaemonSet", "canal"))["containers"])["kube-flannel"]
    assert flannel["command"] == ["/opt/bin/flanneld", "--kube-subnet-mgr"]


@pytest.mark.parametrize(
    ("options", "env", "value"),
    [
        ({"iptablesBackend": "NFT"}, "FELIX_IPTABLESBACKEND", "NFT"),
        ({"iptablesBackend": "Legacy"}, "FELIX_IPTABLESBACKEND", "Legacy"),
        ({"logSeverity": "Debug"}, "FELIX_LOGSEVERITYSCREEN", "Debug"),
        ({"logSeverity": "Error"}, "FELIX_LOGSEVERITYSCREEN", "Error"),
    ],
)
def test_felix_options_add_only_their_env(options, env, value):
    assert _changes(_canal(**options).apply) == {
        f"{CALICO_NODE}.env[{env}].name": (None, env),
        f"{CALICO_NODE}.env[{env}].value": (None, value),
    }


def test_felix_defaults_spelled_out_render_like_upstream():
    assert _changes(_canal(iptablesBackend="Auto", logSeverity="Info").apply) == {}


@pytest.mark.parametrize(("options", "port"), [({"felixPrometheusMetricsEnabled": True}, "9091"),
                                              ({"felixPrometheusMetricsEnabled": True,
                                                "felixPrometheusMetricsPort": 9191}, "9191")])
def test_felix_metrics_on_adds_only_its_two_env_vars(options, port):
    changes = {}
    for env, value in (("FELIX_PROMETHEUSMETRICSENABLED", "true"), ("FELIX_PROMETHEUSMETRICSPORT", port)):
        changes[f"{CALICO_NODE}.env[{env}].name"] = (None, env)
        changes[f"{CALICO_NODE}.env[{env}].value"] = (None, value)
    assert _changes(_canal(**options).apply) == changes


def test_felix_metrics_off_is_upstream_whatever_the_port():
    """Off (upstream's and Felix's default) renders nothing: the port only matters once metrics are on."""
    assert _changes(_canal(felixPrometheusMetricsEnabled=False, felixPrometheusMetricsPort=9191).apply) == {}


@pytest.mark.parametrize("rollout", [{"maxUnavailable": 3}, {"maxUnavailable": "10%"}, {"canary": "5%"},
                                     {"soakSeconds": 5, "autoRollback": False}])
def test_rollout_options_change_nothing_rendered(rollout):
    """The operator replaces the pods itself (OnDelete): the rollout options are its own, not the DaemonSet's."""
    assert _changes(_render({"rollout": rollout}).apply) == {}


def test_registry_replaces_every_image_registry_and_nothing_else():
    objects = _render({"registry": "mirror.local:5000"}).apply
    changes = _changes(objects)
    assert changes == {
        f"{DS_POD}.initContainers[install-cni].image": (
            "quay.io/calico/cni:v3.32.1", "mirror.local:5000/calico/cni:v3.32.1"),
        f"{DS_POD}.initContainers[ebpf-bootstrap].image": (
            "quay.io/calico/node:v3.32.1", "mirror.local:5000/calico/node:v3.32.1"),
        f"{CALICO_NODE}.image": ("quay.io/calico/node:v3.32.1", "mirror.local:5000/calico/node:v3.32.1"),
        f"{DS_POD}.containers[kube-flannel].image": (
            "docker.io/flannel/flannel:v0.24.4", "mirror.local:5000/flannel/flannel:v0.24.4"),
        "Deployment/calico-kube-controllers.spec.template.spec.containers[calico-kube-controllers].image": (
            "quay.io/calico/kube-controllers:v3.32.1", "mirror.local:5000/calico/kube-controllers:v3.32.1"),
    }
    # Every image of every pod template went through the mirror.
    images = [c["image"] for o in objects if o["kind"] in ("DaemonSet", "Deployment")
              for c in _pod(o).get("initContainers", []) + _pod(o)["containers"]]
    assert len(images) == 5 and all(i.startswith("mirror.local:5000/") for i in images)


def test_image_pull_secrets_go_to_every_pod_template_only():
    objects = _render({"imagePullSecrets": [{"name": "regcred"}, {"name": "other"}]}).apply
    dep = "Deployment/calico-kube-controllers.spec.template.spec"
    assert _changes(objects) == {
        f"{DS_POD}.imagePullSecrets[regcred].name": (None, "regcred"),
        f"{DS_POD}.imagePullSecrets[other].name": (None, "other"),
        f"{dep}.imagePullSecrets[regcred].name": (None, "regcred"),
        f"{dep}.imagePullSecrets[other].name": (None, "other"),
    }
    for obj in objects:
        if obj["kind"] in ("DaemonSet", "Deployment"):
            assert _pod(obj)["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]


# ---------------------------------------------------------------- user strings are YAML-safe

NASTY = 'eth0"\n  injected: "yes"\n: {a: [b]} # not a comment\'s end'


def _unvalidated(extra: dict):
    """Render a spec carrying values the models reject (model_copy does not validate): the templates must keep any
    string one YAML scalar on their own, not rely on validation upstream of them."""
    spec = parse_spec({"clusterType": "mks", "canal": {}, "imagePullSecrets": [{"name": "x"}]})
    canal = spec.canal.model_copy(update=extra.get("canal", {}))
    secrets = [spec.image_pull_secrets[0].model_copy(update={"name": name}) for name in extra.get("secrets", ["x"])]
    return render(spec.model_copy(update={"canal": canal, "image_pull_secrets": secrets}))


def test_hostile_iface_is_rejected_by_the_api_and_would_be_rendered_verbatim():
    with pytest.raises(pydantic.ValidationError):
        _canal(iface=NASTY)
    objects = _unvalidated({"canal": {"iface": NASTY}}).apply
    data = _get(objects, "ConfigMap", "canal-config")["data"]
    assert data["canal_iface"] == NASTY
    assert list(data) == facts.CONFIGMAP_KEYS  # nothing injected next to it


def test_hostile_pull_secret_name_is_rejected_by_the_api_and_would_be_rendered_verbatim():
    name = 'a"\n- name: b\n#'
    with pytest.raises(pydantic.ValidationError):
        _render({"imagePullSecrets": [{"name": name}]})
    for obj in _unvalidated({"secrets": [name]}).apply:
        if obj["kind"] in ("DaemonSet", "Deployment"):
            assert _pod(obj)["imagePullSecrets"] == [{"name": name}]


# ---------------------------------------------------------------- faithful to upstream, object by object

# The object-by-object comparison with the vendored upstream canal.yaml, and the list of deliberate differences, are
# tests/unit/test_upstream_fidelity.py and tests/unit/upstream/differences.yaml. The tests below check the facts
# recorded in canal_facts.py (written by reading upstream) against the render: a second, independent reading.


@pytest.mark.parametrize("version", VERSIONS)
def test_object_inventory_matches_upstream(version):
    rendered = _render(version=version).apply
    ours = sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")) for o in rendered)
    assert ours == sorted(facts.objects(version))
    assert len(rendered) == len(facts.objects(version))  # no duplicates


def _env(container: dict) -> list[tuple]:
    return [(e["name"], e["value"] if "value" in e else e["valueFrom"]) for e in container.get("env", [])]


def _check_container(ours: dict, upstream: dict, image: str) -> None:
    assert ours["image"] == image
    assert _env(ours) == upstream["env"]  # names, values and order
    for key in ("command", "imagePullPolicy", "envFrom", "volumeMounts", "securityContext", "resources",
                "lifecycle", "livenessProbe", "readinessProbe"):
        assert ours.get(key) == upstream.get(key), f"{ours['name']}.{key}"


@pytest.mark.parametrize("version", VERSIONS)
def test_daemonset_matches_upstream(version):
    ds = _get(_render(version=version).apply, "DaemonSet", "canal")
    up = facts.DAEMONSET
    images = facts.IMAGES[version]
    assert {k: v for k, v in ds["metadata"]["labels"].items() if not k.startswith(("app.kubernetes.io/",
                                                                                  "cni-operator.io/"))} == up["labels"]
    assert ds["metadata"]["namespace"] == facts.NAMESPACE
    assert ds["spec"]["selector"] == up["selector"]
    # Intended difference (docs/providers/canal.md): the operator replaces the pods itself.
    assert up["updateStrategy"]["type"] == "RollingUpdate" and ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert ds["spec"]["template"]["metadata"] == {"labels": up["podLabels"]}
    pod = _pod(ds)
    for key in ("nodeSelector", "hostNetwork", "tolerations", "serviceAccountName", "securityContext",
                "terminationGracePeriodSeconds", "priorityClassName", "volumes"):
        assert pod[key] == up[key], key
    assert "imagePullSecrets" not in pod
    assert [c["name"] for c in pod["initContainers"]] == list(up["initContainers"])
    assert [c["name"] for c in pod["containers"]] == list(up["containers"])
    for kind in ("initContainers", "containers"):
        for container in pod[kind]:
            _check_container(container, up[kind][container["name"]], images[container["name"]])
    assert set(pod) == {"nodeSelector", "hostNetwork", "tolerations", "serviceAccountName", "securityContext",
                        "terminationGracePeriodSeconds", "priorityClassName", "initContainers", "containers",
                        "volumes"}


@pytest.mark.parametrize("version", VERSIONS)
def test_kube_controllers_match_upstream(version):
    rendered = _render(version=version).apply
    dep = _get(rendered, "Deployment", "calico-kube-controllers")
    up = facts.DEPLOYMENT
    assert dep["metadata"]["labels"]["k8s-app"] == "calico-kube-controllers"
    for key in ("replicas", "selector", "strategy"):
        assert dep["spec"][key] == up[key], key
    assert dep["spec"]["template"]["metadata"] == up["podMetadata"]
    pod = _pod(dep)
    for key in ("nodeSelector", "tolerations", "serviceAccountName", "securityContext", "priorityClassName"):
        assert pod[key] == up[key], key
    assert [c["name"] for c in pod["containers"]] == list(up["containers"])
    _check_container(pod["containers"][0], up["containers"]["calico-kube-controllers"],
                     facts.IMAGES[version]["calico-kube-controllers"])
    pdb = _get(rendered, "PodDisruptionBudget", "calico-kube-controllers")
    assert pdb["metadata"]["namespace"] == facts.NAMESPACE
    assert pdb["metadata"]["labels"]["k8s-app"] == facts.PDB["labels"]["k8s-app"]
    assert pdb["spec"] == {"maxUnavailable": facts.PDB["maxUnavailable"], "selector": facts.PDB["selector"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_configmap_matches_upstream(version):
    data = _get(_render(version=version).apply, "ConfigMap", "canal-config")["data"]
    assert list(data) == facts.CONFIGMAP_KEYS
    assert {k: data[k] for k in facts.CONFIGMAP_SCALARS} == facts.CONFIGMAP_SCALARS
    # Upstream's text exactly: 2-space JSON and a trailing newline.
    assert data["net-conf.json"] == json.dumps(facts.NET_CONF, indent=2) + "\n"
    filled = data["cni_network_config"].replace("__CNI_MTU__", '"__CNI_MTU__"')
    assert json.loads(filled) == facts.CNI_NETWORK_CONFIG
    assert '"mtu": __CNI_MTU__' in data["cni_network_config"]  # bare, as install-cni expects


def _rule_key(rule: dict) -> tuple:
    return (frozenset(rule["apiGroups"]), frozenset(rule["resources"]), frozenset(rule["verbs"]),
            frozenset(rule.get("resourceNames", ())))


def _fact_rule_key(rule: tuple) -> tuple:
    groups, resources, verbs, *names = rule
    return (frozenset(groups), frozenset(resources), frozenset(verbs), frozenset(names[0] if names else ()))


@pytest.mark.parametrize("version", VERSIONS)
def test_rbac_matches_upstream(version):
    rendered = _render(version=version).apply
    for name, rules in facts.cluster_roles(version).items():
        ours = _get(rendered, "ClusterRole", name)["rules"]
        assert sorted(map(_rule_key, ours), key=repr) == sorted(map(_fact_rule_key, rules), key=repr), name
    for name, (role, subjects) in facts.CLUSTER_ROLE_BINDINGS.items():
        binding = _get(rendered, "ClusterRoleBinding", name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        ours = [(s["kind"], s["name"], s.get("namespace") or s.get("apiGroup")) for s in binding["subjects"]]
        assert ours == subjects


def test_serviceaccounts_match_upstream():
    rendered = _render().apply
    sas = [o for o in rendered if o["kind"] == "ServiceAccount"]
    assert [(s["metadata"]["name"], s["metadata"]["namespace"]) for s in sas] == [
        (name, ns) for kind, name, ns in facts.objects("v3.32.1") if kind == "ServiceAccount"]
    assert all(set(s) == {"apiVersion", "kind", "metadata"} for s in sas)


def test_crds_are_the_vendored_upstream_crds():
    """The CRDs come from manifests/upstream/canal/<version>/canal.yaml unchanged (test_upstream_fidelity.py checks
    every byte); here: the names the facts record, with upstream's full schemas, not a compact stand-in."""
    for version in VERSIONS:
        rendered = _render(version=version).apply
        crds = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "CustomResourceDefinition"}
        assert sorted(crds) == sorted(crd["name"] for crd in facts.crds(version))
        for crd in facts.crds(version):
            schema = crds[crd["name"]]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            spec = schema["properties"].get("spec", {})
            assert spec.get("x-kubernetes-preserve-unknown-fields") is not True or "properties" in spec, crd["name"]


# ---------------------------------------------------------------- offline schema validation (Kubernetes 1.36)

VALIDATION_SPECS = [
    {},
    {"cni": {"version": "v3.31.4"}},
    {"canal": {"backend": "wireguard", "masquerade": False, "iptablesBackend": "NFT", "logSeverity": "Debug"},
     "registry": "mirror.local:5000/mirrors", "imagePullSecrets": [{"name": "regcred"}],
     "rollout": {"maxUnavailable": "25%"}, "mtu": 1400, "podCIDR": "10.42.0.0/16"},
]


@pytest.mark.parametrize("extra", VALIDATION_SPECS)
def test_every_object_passes_kubernetes_schema(extra):
    for obj in _render(extra).apply:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


# ---------------------------------------------------------------- versions: upgrade and downgrade


def _crd_ref(name: str) -> ObjectRef:
    return ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)


def test_upgrade_to_v3_32_1_prunes_the_admin_network_policy_crds():
    assert _render(version="v3.32.1").prune == [
        _crd_ref("adminnetworkpolicies.policy.networking.k8s.io"),
        _crd_ref("baselineadminnetworkpolicies.policy.networking.k8s.io"),
    ]


def test_downgrade_to_v3_31_4_prunes_cluster_network_policy_crd():
    assert _render(version="v3.31.4").prune == [_crd_ref("clusternetworkpolicies.policy.networking.k8s.io")]


def test_upgrade_changes_workloads_and_rbac():
    old, new = _by_id(_render(version="v3.31.4").apply), _by_id(_render(version="v3.32.1").apply)
    old_ds, new_ds = old[("DaemonSet", "canal")], new[("DaemonSet", "canal")]
    assert [c["image"] for c in _pod(old_ds)["containers"]] == [
        "quay.io/calico/node:v3.31.4", "docker.io/flannel/flannel:v0.24.4"]
    assert [c["image"] for c in _pod(new_ds)["containers"]] == [
        "quay.io/calico/node:v3.32.1", "docker.io/flannel/flannel:v0.24.4"]
    assert old[("ClusterRole", "calico-node")]["rules"] != new[("ClusterRole", "calico-node")]["rules"]
    kcc = ("CustomResourceDefinition", "kubecontrollersconfigurations.crd.projectcalico.org")
    assert "subresources" not in old[kcc]["spec"]["versions"][0]
    assert new[kcc]["spec"]["versions"][0]["subresources"] == {"status": {}}
    # Everything else keeps its identity: an upgrade updates in place.
    assert set(old) - set(new) == {("CustomResourceDefinition", "adminnetworkpolicies.policy.networking.k8s.io"),
                                   ("CustomResourceDefinition",
                                    "baselineadminnetworkpolicies.policy.networking.k8s.io")}
    for obj in new.values():
        assert obj["metadata"]["labels"][VERSION_LABEL] == "v3.32.1"
        assert obj["metadata"]["labels"][PROVIDER_LABEL] == "canal"


def test_catalog_features_are_checked():
    entry = load_catalog().entry(Provider.CANAL, "v3.32.1")
    broken = {"canal": {"default": "v3.32.1", "versions": {"v3.32.1": {
        "images": entry.images, "templates": list(entry.templates),
        "features": {**entry.features, "kubevirt": "yes"}}}}}
    with pytest.raises(CatalogError, match="features.kubevirt"):
        render(parse_spec({"clusterType": "mks"}), parse_catalog(broken))
    missing = {**entry.features}
    del missing["clusterPolicyApi"]
    broken["canal"]["versions"]["v3.32.1"]["features"] = missing
    with pytest.raises(CatalogError, match="clusterPolicyApi is missing"):
        render(parse_spec({"clusterType": "mks"}), parse_catalog(broken))
