"""AWS VPC CNI render: golden output, one test per option, the object-by-object comparison with the upstream facts
(tests/unit/upstream/aws_vpc_cni_facts.py), offline schema validation and the difference between catalog versions.

Regenerate the golden files after an intended change with:  UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_aws.py
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cni_operator.api import parse_spec
from cni_operator.objects import MANAGED_BY, MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL, ObjectRef
from cni_operator.render import render

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
KUBERNETES_VERSION = "1.36"

_spec = importlib.util.spec_from_file_location(
    "aws_vpc_cni_facts", HERE / "upstream" / "aws_vpc_cni_facts.py"
)
facts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(facts)

OLD = "v1.22.3"
NEW = "v1.23.1"


# ---------------------------------------------------------------- helpers


def rendered(
    aws: dict | None = None, version: str | None = None, **spec_fields
) -> dict[tuple[str, str], dict]:
    raw = {"clusterType": "eks", **spec_fields}
    if aws is not None:
        raw["awsVpcCni"] = aws
    if version:
        raw["cni"] = {"version": version}
    return {(o["kind"], o["metadata"]["name"]): o for o in render(parse_spec(raw)).apply}


def as_yaml(objects) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False, default_flow_style=False, width=120)


def daemonset(objs) -> dict:
    return objs[("DaemonSet", "aws-node")]


def pod_spec(objs) -> dict:
    return daemonset(objs)["spec"]["template"]["spec"]


def container(objs, name: str) -> dict:
    spec = pod_spec(objs)
    (found,) = [c for c in spec["containers"] + spec["initContainers"] if c["name"] == name]
    return found


def env_of(objs, name: str = "aws-node") -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container(objs, name)["env"] if "value" in e}


def flatten(node, path=()) -> dict:
    """Leaf path -> value. Lists of named things are keyed by name so an inserted env var is one change, not many."""
    out = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, path + (key,)))
        if not node:
            out[path] = {}
    elif isinstance(node, list):
        named = all(isinstance(item, dict) and "name" in item for item in node) and node
        for index, item in enumerate(node):
            if named:  # the name is the key; what is left is the item's content
                out.update(
                    flatten({k: v for k, v in item.items() if k != "name"}, path + (f"[{item['name']}]",))
                )
            else:
                out.update(flatten(item, path + (index,)))
        if not node:
            out[path] = []
    else:
        out[path] = node
    return out


def changes(before: dict, after: dict) -> dict:
    """(kind, name, path) -> (old, new) for every leaf that differs between two renders."""
    diff = {}
    for key in before.keys() | after.keys():
        old, new = flatten(before.get(key, {})), flatten(after.get(key, {}))
        for path in old.keys() | new.keys():
            if old.get(path, "<absent>") != new.get(path, "<absent>"):
                diff[key + (path,)] = (old.get(path, "<absent>"), new.get(path, "<absent>"))
    return diff


DEFAULT = rendered()
DS = ("DaemonSet", "aws-node")
CM = ("ConfigMap", "amazon-vpc-cni")
POD = ("spec", "template", "spec")
AWS_NODE = POD + ("containers", "[aws-node]")
AGENT = POD + ("containers", "[aws-eks-nodeagent]")
INIT = POD + ("initContainers", "[aws-vpc-cni-init]")


def env_path(name: str) -> tuple:
    return DS + (AWS_NODE + ("env", f"[{name}]", "value"),)


# ---------------------------------------------------------------- golden + determinism


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"render differs from {path}; UPDATE_GOLDEN=1 if intended"
    )


def test_golden_default_render():
    _check_golden("aws-vpc-cni-default.yaml", as_yaml(render(parse_spec({"clusterType": "eks"})).apply))


def test_golden_previous_version_render():
    spec = parse_spec({"clusterType": "eks", "cni": {"version": OLD}})
    _check_golden(f"aws-vpc-cni-{OLD}.yaml", as_yaml(render(spec).apply))


def test_render_is_deterministic():
    spec = {"clusterType": "eks", "awsVpcCni": {"region": "eu-south-1", "warmIPTarget": 3}, "mtu": 1500}
    assert as_yaml(render(parse_spec(spec)).apply) == as_yaml(render(parse_spec(copy.deepcopy(spec))).apply)


def test_default_is_newest_catalog_version_and_every_object_is_labelled():
    result = render(parse_spec({"clusterType": "eks"}))
    assert result.version == NEW
    for obj in result.apply:
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED_BY_LABEL] == MANAGED_BY
        assert labels[PROVIDER_LABEL] == "aws-vpc-cni"
        assert labels[VERSION_LABEL] == NEW


def test_crds_and_rbac_come_before_the_daemonset():
    kinds = [o["kind"] for o in render(parse_spec({"clusterType": "eks"})).apply]
    assert kinds.index("DaemonSet") == len(kinds) - 1
    assert kinds[0] == "CustomResourceDefinition" and kinds.count("CustomResourceDefinition") == 1  # ENIConfig


# ---------------------------------------------------------------- each option changes what it should, nothing else

OPTION_CASES = {
    "warmENITarget": ({"awsVpcCni": {"warmENITarget": 3}}, {env_path("WARM_ENI_TARGET"): ("1", "3")}),
    "warmIPTarget": ({"awsVpcCni": {"warmIPTarget": 5}}, {env_path("WARM_IP_TARGET"): ("<absent>", "5")}),
    "minimumIPTarget": (
        {"awsVpcCni": {"minimumIPTarget": 10}},
        {env_path("MINIMUM_IP_TARGET"): ("<absent>", "10")},
    ),
    "warmPrefixTarget": (
        {"awsVpcCni": {"warmPrefixTarget": 2}},
        {env_path("WARM_PREFIX_TARGET"): ("1", "2")},
    ),
    "enablePrefixDelegation": (
        {"awsVpcCni": {"enablePrefixDelegation": True}},
        {env_path("ENABLE_PREFIX_DELEGATION"): ("false", "true")},
    ),
    "externalSNAT": (
        {"awsVpcCni": {"externalSNAT": True}},
        {env_path("AWS_VPC_K8S_CNI_EXTERNALSNAT"): ("false", "true")},
    ),
    "customNetworking": (
        {"awsVpcCni": {"customNetworking": True}},
        {env_path("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"): ("false", "true")},
    ),
    "eniConfigLabelDef": (
        {"awsVpcCni": {"eniConfigLabelDef": "topology.kubernetes.io/zone"}},
        {env_path("ENI_CONFIG_LABEL_DEF"): ("<absent>", "topology.kubernetes.io/zone")},
    ),
    "enablePodENI": ({"awsVpcCni": {"enablePodENI": True}}, {env_path("ENABLE_POD_ENI"): ("false", "true")}),
    "mtu": ({"mtu": 1500}, {env_path("AWS_VPC_ENI_MTU"): ("9001", "1500")}),
    "enableNetworkPolicy": (
        {"awsVpcCni": {"enableNetworkPolicy": True}},
        {
            CM + (("data", "enable-network-policy-controller"),): ("false", "true"),
            DS + (AGENT + ("args", 1),): ("--enable-network-policy=false", "--enable-network-policy=true"),
        },
    ),
    "rollout": (  # the operator's own (OnDelete): nothing rendered changes
        {"rollout": {"maxUnavailable": "25%", "canary": 2, "soakSeconds": 5}},
        {},
    ),
    "imagePullSecrets": (
        {"imagePullSecrets": [{"name": "ecr-pull"}, {"name": "mirror"}]},
        {
            DS + (POD + ("imagePullSecrets", "[ecr-pull]"),): ("<absent>", {}),
            DS + (POD + ("imagePullSecrets", "[mirror]"),): ("<absent>", {}),
        },
    ),
}

_IMAGE_PATHS = {
    "aws-vpc-cni-init": DS + (INIT + ("image",),),
    "aws-node": DS + (AWS_NODE + ("image",),),
    "aws-eks-nodeagent": DS + (AGENT + ("image",),),
}


def _image_changes(registry: str) -> dict:
    default = f"{facts.DEFAULT_REGISTRY}/"
    return {
        path: (default + facts.IMAGES[NEW][c], f"{registry}/{facts.IMAGES[NEW][c]}")
        for c, path in _IMAGE_PATHS.items()
    }


OPTION_CASES["region"] = (
    {"awsVpcCni": {"region": "cn-north-1"}},
    _image_changes("918309763551.dkr.ecr.cn-north-1.amazonaws.com.cn"),
)
OPTION_CASES["region-govcloud"] = (
    {"awsVpcCni": {"region": "us-gov-west-1"}},
    _image_changes("013241004608.dkr.ecr.us-gov-west-1.amazonaws.com"),
)
OPTION_CASES["registry"] = ({"registry": "mirror.local:5000/eks"}, _image_changes("mirror.local:5000/eks"))
OPTION_CASES["registry-beats-region"] = (
    {"registry": "mirror.local:5000", "awsVpcCni": {"region": "af-south-1"}},
    _image_changes("mirror.local:5000"),
)
OPTION_CASES["warmENITarget-0"] = (
    {"awsVpcCni": {"warmENITarget": 0}},
    {env_path("WARM_ENI_TARGET"): ("1", "0")},
)
# Provider options of issue 10 item 4 (api/providers.py): each changes its upstream settings and nothing else.
ROLE = "arn:aws:iam::111122223333:role/cni"
OPTION_CASES["serviceAccountRoleArn"] = (
    {"awsVpcCni": {"serviceAccountRoleArn": ROLE}},
    {("ServiceAccount", "aws-node", ("metadata", "annotations", "eks.amazonaws.com/role-arn")): ("<absent>", ROLE)},
)
OPTION_CASES["enableIPv6"] = (  # upstream's IPv6 mode: aws-node, the init container and the agent; needs PD
    {"awsVpcCni": {"enableIPv6": True, "enablePrefixDelegation": True}},
    {
        env_path("ENABLE_IPv6"): ("false", "true"),
        env_path("ENABLE_IPv4"): ("true", "false"),
        env_path("ENABLE_PREFIX_DELEGATION"): ("false", "true"),
        DS + (INIT + ("env", "[ENABLE_IPv6]", "value"),): ("false", "true"),
        DS + (AGENT + ("args", 0),): ("--enable-ipv6=false", "--enable-ipv6=true"),
    },
)
OPTION_CASES["disableMetrics"] = (
    {"awsVpcCni": {"disableMetrics": True}}, {env_path("DISABLE_METRICS"): ("false", "true")})
OPTION_CASES["disableIntrospection"] = (
    {"awsVpcCni": {"disableIntrospection": True}}, {env_path("DISABLE_INTROSPECTION"): ("false", "true")})
OPTION_CASES["nodeAgentMetricsPort"] = (
    {"awsVpcCni": {"nodeAgentMetricsPort": 9162}},
    {
        DS + (AGENT + ("args", 5),): ("--metrics-bind-addr=:8162", "--metrics-bind-addr=:9162"),
        DS + (AGENT + ("ports", "[agentmetrics]", "containerPort"),): (8162, 9162),
    },
)
OPTION_CASES["provider-options-defaults-spelled-out"] = (
    {"awsVpcCni": {"serviceAccountRoleArn": "", "eniConfigs": [], "enableIPv6": False, "disableMetrics": False,
                   "disableIntrospection": False, "nodeAgentMetricsPort": 8162}},
    {},
)
OPTION_CASES["defaults-spelled-out"] = (
    {"awsVpcCni": {"region": "us-west-2", "warmENITarget": 1, "enableNetworkPolicy": False}, "mtu": 0},
    {},
)


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_option_changes_only_what_it_should(case):
    fields, expected = OPTION_CASES[case]
    assert changes(DEFAULT, rendered(**fields)) == expected


def test_user_strings_stay_single_yaml_scalars():
    """The models reject such strings now (a label key, a DNS subdomain); the templates must not depend on that: a
    value that got past validation still stays one YAML scalar. model_copy does not validate, so they get in here."""
    label = 'k8s.amazonaws.com/eniConfig: {"x": [1]}\n- name: EVIL\n  value: "#yes" \'quoted\''
    secret = "weird: name # with\tstuff"
    spec = parse_spec({"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "zone"},
                       "imagePullSecrets": [{"name": "pull"}]})
    spec = spec.model_copy(update={
        "aws_vpc_cni": spec.aws_vpc_cni.model_copy(update={"eni_config_label_def": label}),
        "image_pull_secrets": [spec.image_pull_secrets[0].model_copy(update={"name": secret})],
    })
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render(spec).apply}
    assert env_of(objs)["ENI_CONFIG_LABEL_DEF"] == label
    assert "EVIL" not in env_of(objs)
    assert pod_spec(objs)["imagePullSecrets"] == [{"name": secret}]


def test_all_options_together():
    objs = rendered(
        aws={
            "region": "ap-southeast-3",
            "warmENITarget": 0,
            "warmIPTarget": 4,
            "minimumIPTarget": 8,
            "warmPrefixTarget": 1,
            "enablePrefixDelegation": True,
            "externalSNAT": True,
            "customNetworking": True,
            "eniConfigLabelDef": "failure-domain.beta.kubernetes.io/zone",
            "enablePodENI": True,
            "enableNetworkPolicy": True,
        },
        mtu=8000,
        imagePullSecrets=[{"name": "pull"}],
        rollout={"maxUnavailable": 3},
    )
    env = env_of(objs)
    assert {
        k: env[k] for k in ("WARM_ENI_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET", "AWS_VPC_ENI_MTU")
    } == {
        "WARM_ENI_TARGET": "0",
        "WARM_IP_TARGET": "4",
        "MINIMUM_IP_TARGET": "8",
        "AWS_VPC_ENI_MTU": "8000",
    }
    assert container(objs, "aws-node")["image"].startswith(
        "296578399912.dkr.ecr.ap-southeast-3.amazonaws.com/"
    )
    assert daemonset(objs)["spec"]["updateStrategy"] == {"type": "OnDelete"}
    for obj in objs.values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_env_is_rendered_in_upstream_sorted_order_with_fieldrefs_last():
    objs = rendered(aws={"warmIPTarget": 2, "minimumIPTarget": 3, "eniConfigLabelDef": "zone"})
    names = [e["name"] for e in container(objs, "aws-node")["env"]]
    plain, fieldrefs = names[:-2], names[-2:]
    assert plain == sorted(plain)
    assert fieldrefs == ["MY_NODE_NAME", "MY_POD_NAME"]


def test_unknown_region_is_rejected_naming_known_regions():
    from cni_operator.aws_registry import UnknownRegionError

    with pytest.raises(UnknownRegionError, match="us-west-2"):
        rendered(aws={"region": "xx-nowhere-1"})


def test_mirror_does_not_need_a_known_region():
    objs = rendered(aws={"region": "xx-nowhere-1"}, registry="mirror.local")
    assert container(objs, "aws-node")["image"] == "mirror.local/" + facts.IMAGES[NEW]["aws-node"]


# ---------------------------------------------------------------- object-by-object comparison with upstream

# The object-by-object comparison with the vendored upstream manifest, and the list of deliberate differences, are
# tests/unit/test_upstream_fidelity.py and tests/unit/upstream/differences.yaml; the tests below check the facts
# recorded in aws_vpc_cni_facts.py against the render.


def test_upstream_objects_kinds_names_namespaces_api_versions():
    got = sorted(
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")) for o in DEFAULT.values()
    )
    assert got == sorted(facts.OBJECTS)
    for obj in DEFAULT.values():
        assert obj["apiVersion"] == facts.API_VERSIONS[obj["kind"]]


def test_upstream_common_labels_on_templated_objects():
    for (kind, _name), obj in DEFAULT.items():
        if kind == "CustomResourceDefinition":
            continue
        labels = obj["metadata"]["labels"]
        assert {k: labels[k] for k in facts.COMMON_LABELS} == facts.COMMON_LABELS
        assert labels["app.kubernetes.io/version"] == NEW


def test_upstream_crds():
    for name, fact in facts.CRDS.items():
        crd = DEFAULT[("CustomResourceDefinition", name)]
        spec = crd["spec"]
        assert spec["group"] == fact["group"]
        assert spec["scope"] == fact["scope"]
        assert spec["names"] == fact["names"]
        assert [{k: v[k] for k in ("name", "served", "storage")} for v in spec["versions"]] == fact[
            "versions"
        ]
        schema = spec["versions"][0]["schema"]["openAPIV3Schema"]
        assert schema["properties"]["spec"]["required"] == fact["spec_required"]
        if "subresources" in fact:
            assert spec["versions"][0]["subresources"] == fact["subresources"]
        for key in ("labels", "annotations"):
            for k, v in fact.get(key, {}).items():
                assert crd["metadata"][key][k] == v
    eni = DEFAULT[("CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com")]["spec"]
    assert eni["preserveUnknownFields"] is False
    schema = eni["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True
    assert set(schema["properties"]["spec"]["properties"]) == set(
        facts.CRDS["eniconfigs.crd.k8s.amazonaws.com"]["spec_properties"]
    )


@pytest.mark.parametrize("version", [NEW, OLD])
@pytest.mark.parametrize("aws", [{}, {"enableNetworkPolicy": True}])
def test_crds_the_control_plane_owns_are_never_rendered_and_always_offered_for_release(version, aws):
    """Upstream's manifest ships no PolicyEndpoint CRD (the EKS control plane installs it): the render never has it,
    with or without network policy, and the prune list always names it, so a copy an older operator labelled as
    its own is released (apply/, tests/integration/test_operator_vpc_crds.py)."""
    result = render(parse_spec({"clusterType": "eks", "cni": {"version": version}, "awsVpcCni": aws}))
    crds = {o["metadata"]["name"] for o in result.apply if o["kind"] == "CustomResourceDefinition"}
    assert crds == set(facts.CRDS)
    assert not crds & set(facts.FOREIGN_CRDS)
    released = [ref.name for ref in result.prune if ref.kind == "CustomResourceDefinition"]
    assert sorted(released) == sorted(facts.FOREIGN_CRDS)


def test_upstream_configmap_serviceaccount_rbac():
    assert DEFAULT[CM]["data"] == facts.CONFIGMAP_DATA
    assert DEFAULT[("ClusterRole", "aws-node")]["rules"] == facts.CLUSTERROLE_RULES
    binding = DEFAULT[("ClusterRoleBinding", "aws-node")]
    assert {k: binding[k] for k in ("roleRef", "subjects")} == facts.CLUSTERROLEBINDING
    assert set(DEFAULT[("ServiceAccount", "aws-node")]) == {"apiVersion", "kind", "metadata"}


def test_upstream_daemonset_pod():
    ds, fact = daemonset(DEFAULT), facts.DAEMONSET
    # Intended difference (INTENDED_DIFFERENCES): OnDelete, the operator replaces the pods itself.
    assert fact["updateStrategy"]["type"] == "RollingUpdate"
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert ds["spec"]["selector"] == fact["selector"]
    assert ds["spec"]["template"]["metadata"]["labels"] == fact["podLabels"]
    pod = pod_spec(DEFAULT)
    for key in (
        "priorityClassName",
        "serviceAccountName",
        "hostNetwork",
        "terminationGracePeriodSeconds",
        "tolerations",
    ):
        assert pod[key] == fact[key], key
    assert pod["securityContext"] == fact["podSecurityContext"]
    assert "imagePullSecrets" not in pod
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [{"matchExpressions": fact["nodeAffinityTerms"]}]
    volumes = {v["name"]: v["hostPath"] for v in pod["volumes"]}
    assert volumes == fact["volumes"]
    assert [c["name"] for c in pod["initContainers"]] == fact["initContainers"]
    assert [c["name"] for c in pod["containers"]] == fact["containers"]


def _mounts(c: dict) -> dict:
    return {m["name"]: m["mountPath"] for m in c["volumeMounts"]}


def _field_env(c: dict) -> dict:
    return {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"] if "valueFrom" in e}


@pytest.mark.parametrize("version", [NEW, OLD])
def test_upstream_containers(version):
    objs = DEFAULT if version == NEW else rendered(version=OLD)
    images = {name: f"{facts.DEFAULT_REGISTRY}/{ref}" for name, ref in facts.IMAGES[version].items()}
    delta = facts.DELTAS[version]

    init = container(objs, "aws-vpc-cni-init")
    fact = facts.INIT_CONTAINER
    assert init["image"] == images["aws-vpc-cni-init"]
    assert env_of(objs, "aws-vpc-cni-init") == fact["env"]
    assert init["securityContext"] == fact["securityContext"]
    assert init["resources"] == fact["resources"]
    assert _mounts(init) == fact["volumeMounts"]

    node = container(objs, "aws-node")
    fact = facts.AWS_NODE
    assert node["image"] == images["aws-node"]
    assert node["ports"] == fact["ports"]
    expected_env = {**facts.AWS_NODE_ENV, "VPC_CNI_VERSION": version}
    assert env_of(objs) == expected_env
    assert _field_env(node) == facts.AWS_NODE_FIELD_ENV
    command = [part.format(addr=delta["probe_addr"]) for part in fact["probe_command"]]
    for probe in ("livenessProbe", "readinessProbe"):
        assert node[probe]["exec"]["command"] == command
        assert {k: node[probe][k] for k in fact[probe]} == fact[probe]
    assert node["resources"] == fact["resources"]
    assert node["securityContext"] == fact["securityContext"]
    assert _mounts(node) == fact["volumeMounts"]

    agent = container(objs, "aws-eks-nodeagent")
    fact = facts.NODE_AGENT
    assert agent["image"] == images["aws-eks-nodeagent"]
    assert _field_env(agent) == fact["env_field"]
    assert agent["ports"] == fact["ports"]
    assert agent["args"] == fact["args"]
    assert agent["resources"] == fact["resources"]
    assert agent["securityContext"] == fact["securityContext"]
    assert _mounts(agent) == fact["volumeMounts"]

    pull = {c["name"]: c["imagePullPolicy"] for c in (init, node, agent) if "imagePullPolicy" in c}
    assert pull == delta["imagePullPolicy"]


def test_agent_metrics_port_is_the_one_the_agent_binds():
    agent = container(DEFAULT, "aws-eks-nodeagent")
    (port,) = agent["ports"]
    assert f"--metrics-bind-addr=:{port['containerPort']}" in agent["args"]
    assert port["name"] == "agentmetrics"  # the name the upstream chart's PodMonitor scrapes


def test_clusterrole_grants_everything_upstream_grants_with_network_policy():
    """The issue's "done when": with enableNetworkPolicy the role is upstream's, rule for rule."""
    for version in (NEW, OLD):
        objs = rendered({"enableNetworkPolicy": True}, version=version)
        assert objs[("ClusterRole", "aws-node")]["rules"] == facts.CLUSTERROLE_RULES


def test_differences_from_upstream_are_documented():
    doc = (HERE.parent.parent / "docs" / "providers" / "aws-vpc-cni.md").read_text(encoding="utf-8")
    assert "Differences from upstream" in doc and "tests/unit/upstream/differences.yaml" in doc


# ---------------------------------------------------------------- offline schema validation


@pytest.mark.parametrize("version", [NEW, OLD])
def test_every_object_validates_against_kubernetes_schema(version):
    assert KUBERNETES_VERSION in {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}
    for obj in rendered(version=version).values():
        assert kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_schema_validation_catches_a_broken_object():
    broken = copy.deepcopy(daemonset(DEFAULT))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "metrics"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# ---------------------------------------------------------------- catalog versions: upgrade and prune


def test_versions_have_the_same_objects_so_nothing_is_pruned():
    old = render(parse_spec({"clusterType": "eks", "cni": {"version": OLD}}))
    new = render(parse_spec({"clusterType": "eks", "cni": {"version": NEW}}))
    assert {ObjectRef.of(o) for o in old.apply} == {ObjectRef.of(o) for o in new.apply}
    # Only the CRDs the provider never owns are offered to the prune, which releases them (never deletes).
    assert [r.name for r in old.prune] == [r.name for r in new.prune] == facts.FOREIGN_CRDS


def test_upgrade_changes_the_workload_not_the_config():
    diff = changes(rendered(version=OLD), DEFAULT)
    touched = {(kind, name) for kind, name, _path in diff}
    # Every object carries the version in labels; only the DaemonSet changes beyond that.
    for kind, name, path in diff:
        if (kind, name) != DS:
            assert path[-1] in ("app.kubernetes.io/version", VERSION_LABEL), (kind, name, path)
    assert DS in touched
    ds_paths = {path for kind, name, path in diff if (kind, name) == DS}
    for image_path in _IMAGE_PATHS.values():
        assert image_path[2] in ds_paths
    assert AWS_NODE + ("livenessProbe", "exec", "command", 1) in ds_paths
    assert AWS_NODE + ("readinessProbe", "exec", "command", 1) in ds_paths
    assert AWS_NODE + ("env", "[VPC_CNI_VERSION]", "value") in ds_paths
    # imagePullPolicy: Always in v1.22.3 for init and agent, IfNotPresent everywhere in v1.23.1 (upstream's).
    assert INIT + ("imagePullPolicy",) in ds_paths and AGENT + ("imagePullPolicy",) in ds_paths
    assert not any(path[: len(AGENT) + 1] == AGENT + ("args",) for path in ds_paths)  # same agent flags


# ---------------------------------------------------------------- purity


def test_render_aws_and_registry_import_neither_kopf_nor_kubernetes():
    code = (
        "import sys, cni_operator.render.aws_vpc_cni, cni_operator.aws_registry, cni_operator.render;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kopf', 'kubernetes')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- ENIConfigs (spec.awsVpcCni.eniConfigs)

ZONES = [{"name": "us-west-2a", "subnet": "subnet-0123456789abcdef0", "securityGroups": ["sg-12345678",
                                                                                       "sg-0123456789abcdef0"]},
         {"name": "us-west-2b", "subnet": "subnet-87654321"}]


def test_eniconfigs_render_as_the_upstream_chart_renders_them():
    objs = render(parse_spec({"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": ZONES}})).apply
    enis = [o for o in objs if o["kind"] == "ENIConfig"]
    labels = {"app.kubernetes.io/managed-by": "cni-operator", "cni-operator.io/provider": "aws-vpc-cni",
              "cni-operator.io/version": NEW}
    assert enis == [
        {"apiVersion": "crd.k8s.amazonaws.com/v1alpha1", "kind": "ENIConfig",
         "metadata": {"name": "us-west-2a", "labels": labels},
         "spec": {"securityGroups": ["sg-12345678", "sg-0123456789abcdef0"], "subnet": "subnet-0123456789abcdef0"}},
        {"apiVersion": "crd.k8s.amazonaws.com/v1alpha1", "kind": "ENIConfig",
         "metadata": {"name": "us-west-2b", "labels": labels}, "spec": {"subnet": "subnet-87654321"}},
    ]
    assert objs[-2:] == enis, "ENIConfigs come last: after their CRD, in the workloads' wave"
    # Apart from the ENIConfigs, the option is customNetworking's one env var.
    rest = render(parse_spec({"clusterType": "eks", "awsVpcCni": {"customNetworking": True}})).apply
    assert [o for o in objs if o["kind"] != "ENIConfig"] == rest


def test_no_eniconfigs_without_custom_networking_even_if_the_model_is_bypassed():
    from cni_operator.api import AwsVpcCniOptions, ENIConfigOptions
    from cni_operator.render.aws_vpc_cni import eni_configs

    # The API refuses eniConfigs without customNetworking; the render does not rely on it.
    options = AwsVpcCniOptions.model_construct(eni_configs=[ENIConfigOptions(**ZONES[1])])
    assert options.custom_networking is False and eni_configs(options) == []
    assert [e["name"] for e in eni_configs(options.model_copy(update={"custom_networking": True}))] == ["us-west-2b"]


def test_eniconfig_names_are_the_same_in_every_version_so_an_upgrade_prunes_none():
    from cni_operator.catalog import load_catalog

    catalog = load_catalog()
    for version in catalog.versions(parse_spec({"clusterType": "eks"}).provider):
        spec = parse_spec({"clusterType": "eks", "cni": {"version": version},
                           "awsVpcCni": {"customNetworking": True, "eniConfigs": ZONES}})
        result = render(spec)
        assert [o["metadata"]["name"] for o in result.apply if o["kind"] == "ENIConfig"] == ["us-west-2a",
                                                                                              "us-west-2b"]
        assert not [r for r in result.prune if r.kind == "ENIConfig"]
