"""spec.workloads: the models (what `cni-operator validate` says), the CRD rules they mirror, and the post-render step
(render/workload_options.py) over every catalog version of both providers."""

from __future__ import annotations

import copy

import pytest
from cni_operator import api
from cni_operator.api import workloads
from cni_operator.catalog import load_catalog
from cni_operator.render import render, to_yaml, workload_options
from cni_operator.schema import crd
from cni_operator.validation import check, validate
from workload_cases import INVALID, VALID, container, mks

CATALOG = load_catalog()
VERSIONS = [(p, v) for p in api.Provider for v in CATALOG.versions(p)]
CLUSTER_TYPE = {api.Provider.CANAL: "mks", api.Provider.AWS_VPC_CNI: "eks"}
SPEC = crd.openapi_schema()["properties"]["spec"]


def rendered(raw: dict):
    checked = check(raw)
    assert checked.ok, checked.problems
    return render(checked.spec)


def workload(objects: list[dict], kind: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def pod_containers(obj: dict) -> dict[str, dict]:
    pod = obj["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}


# ---------------------------------------------------------------- the models: `cni-operator validate`


@pytest.mark.parametrize("spec, field, words", [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_each_invalid_option_names_the_field_and_what_to_write(spec, field, words):
    problems = {p.field: p.message for p in validate(spec)}
    assert field in problems, f"expected a problem on {field}, got {problems}"
    for word in words:
        assert word in problems[field], f"{field}: {problems[field]!r} should mention {word!r}"
    assert "Input should" not in problems[field] and "Value error" not in problems[field]


@pytest.mark.parametrize("raw", VALID, ids=["mks", "eks"])
def test_valid_options_pass(raw):
    assert validate(raw) == []


def test_every_denied_env_names_what_to_set_instead():
    for name, reason in workloads.DENIED_ENV.items():
        message = {p.field: p.message for p in validate(container(env=[{"name": name, "value": "x"}]))}[
            "spec.workloads.containers[0].env[0].name"]
        assert message == f"{name} is {reason}"
        assert "spec." in reason or "cannot be overridden" in reason, name


def test_the_denylist_covers_every_env_the_templates_set_from_a_spec_field():
    """Render a spec with every option changed from its default: each env var whose value changed is the API's."""
    def env_of(raw: dict) -> dict[tuple[str, str], object]:
        out = {}
        for obj in rendered(raw).apply:
            if obj["kind"] in ("DaemonSet", "Deployment"):
                for name, c in pod_containers(obj).items():
                    out.update({(name, e["name"]): e.get("value", e.get("valueFrom")) for e in c.get("env", [])})
        return out

    changed = [
        ({"clusterType": "mks"}, {"clusterType": "mks", "mtu": 1400, "canal": {
            "iface": "eth1", "masquerade": False, "iptablesBackend": "NFT", "logSeverity": "Debug",
            "felixPrometheusMetricsEnabled": True, "felixPrometheusMetricsPort": 9191}}),
        ({"clusterType": "eks"}, {"clusterType": "eks", "mtu": 1400, "cni": {"version": "v1.22.4"}, "awsVpcCni": {
            "warmENITarget": 2, "warmIPTarget": 3, "minimumIPTarget": 4, "warmPrefixTarget": 2,
            "enablePrefixDelegation": True, "externalSNAT": True, "customNetworking": True,
            "eniConfigLabelDef": "a/b", "enablePodENI": True, "enableIPv6": True, "disableMetrics": True,
            "disableIntrospection": True}}),
    ]
    for before, after in changed:
        old, new = env_of(before), env_of(after)
        moved = {name for key, name in set(old) | set(new) if old.get((key, name)) != new.get((key, name))}
        # CNI_MTU and the flannel vars come from canal-config: their valueFrom does not change, the ConfigMap does.
        assert moved, "the options changed no env var: this test would prove nothing"
        assert moved <= set(workloads.DENIED_ENV), sorted(moved - set(workloads.DENIED_ENV))


def test_containers_are_every_catalog_versions_containers():
    """Admission checks container names per provider: every version must run exactly CONTAINERS[provider]."""
    for provider, version in VERSIONS:
        objects = rendered({"clusterType": CLUSTER_TYPE[provider], "cni": {"version": version}}).apply
        names = {n for o in objects if o["kind"] in ("DaemonSet", "Deployment") for n in pod_containers(o)}
        assert names == set(workloads.CONTAINERS[provider.value]), (provider, version)


# ---------------------------------------------------------------- the CRD says the same


def test_crd_enum_of_container_names_is_both_providers():
    node = SPEC["properties"]["workloads"]["properties"]["containers"]["items"]["properties"]["name"]
    assert node["enum"] == [n for names in workloads.CONTAINERS.values() for n in names]


def test_crd_lists_are_maps_keyed_by_name():
    containers = SPEC["properties"]["workloads"]["properties"]["containers"]
    env = containers["items"]["properties"]["env"]
    for node in (containers, env):
        assert node["x-kubernetes-list-type"] == "map" and node["x-kubernetes-list-map-keys"] == ["name"]


def test_crd_denylist_rule_names_every_denied_variable():
    node = SPEC["properties"]["workloads"]["properties"]["containers"]["items"]["properties"]["env"]["items"]
    (rule,) = [r for r in crd.openapi_schema()["properties"]["spec"]["properties"]["workloads"]["properties"][
        "containers"]["items"]["properties"]["env"]["items"]["properties"]["name"]["x-kubernetes-validations"]
        if r["rule"].startswith("!(self in")]
    for name, reason in workloads.DENIED_ENV.items():
        assert f'"{name}": "{reason}"' in rule["rule"] and f'"{name}": "{reason}"' in rule["messageExpression"]
    assert node["required"] == ["name"]


def test_node_selector_is_a_map_of_label_values():
    node = SPEC["properties"]["workloads"]["properties"]["controllers"]["properties"]["nodeSelector"]
    assert node["type"] == "object" and "properties" not in node and node["maxProperties"] == 16
    values = node["additionalProperties"]
    assert values["maxLength"] == 63 and "label value" in values["x-kubernetes-validations"][0]["message"]
    assert "self.all(k" in node["x-kubernetes-validations"][0]["rule"]


# ---------------------------------------------------------------- the post-render step


@pytest.mark.parametrize("provider, version", VERSIONS)
def test_unset_workloads_render_byte_identical_objects(provider, version):
    raw = {"clusterType": CLUSTER_TYPE[provider], "cni": {"version": version}}
    assert to_yaml(rendered(raw).apply) == to_yaml(rendered({**raw, "workloads": {}}).apply)
    objects = rendered(raw).apply
    assert workload_options.apply(objects, None) is objects


def test_canal_options_land_where_they_say():
    objects = rendered(VALID[0]).apply
    ds, deploy = workload(objects, "DaemonSet"), workload(objects, "Deployment")
    pod = ds["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "cni-critical"
    # Upstream's three tolerations first, unchanged, then the extra ones.
    assert pod["tolerations"] == [
        {"effect": "NoSchedule", "operator": "Exists"}, {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"effect": "NoExecute", "operator": "Exists"},
        {"key": "dedicated", "operator": "Equal", "value": "net", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]
    node = pod_containers(ds)["calico-node"]
    assert node["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                 "limits": {"cpu": 1, "memory": "1Gi", "ephemeral-storage": "1Gi"}}
    assert node["env"][-2:] == [{"name": "FELIX_USAGEREPORTINGENABLED", "value": "false"},
                                {"name": "EMPTY", "value": ""}]
    assert pod_containers(ds)["install-cni"]["resources"] == {"requests": {"cpu": "0.5"}, "limits": {"cpu": "500m"}}
    assert "resources" not in pod_containers(ds)["kube-flannel"]  # untouched: upstream sets none
    cpod = deploy["spec"]["template"]["spec"]
    assert cpod["nodeSelector"] == {"kubernetes.io/os": "linux", "node-role.kubernetes.io/infra": ""}
    assert cpod["priorityClassName"] == "system-cluster-critical"
    assert cpod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                                    {"key": "gen", "operator": "Gt", "values": ["3"]}]}]}
    assert cpod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "spot", "operator": "DoesNotExist"}]}}]


def test_aws_options_land_where_they_say():
    objects = rendered(VALID[1]).apply
    ds = workload(objects, "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}, {"key": "example.com/gpu", "operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"  # not set: upstream's
    containers = pod_containers(ds)
    env = {e["name"]: e for e in containers["aws-node"]["env"]}
    assert env["AWS_VPC_K8S_CNI_LOGLEVEL"] == {"name": "AWS_VPC_K8S_CNI_LOGLEVEL", "value": "INFO"}  # replaced
    names = [e["name"] for e in containers["aws-node"]["env"]]
    assert names.count("AWS_VPC_K8S_CNI_LOGLEVEL") == 1
    assert containers["aws-node"]["resources"] == {"requests": {"cpu": "50m", "memory": "80Mi"}}
    assert containers["aws-eks-nodeagent"]["resources"] == {"limits": {"memory": "256Mi"}}
    assert containers["aws-vpc-cni-init"]["resources"] == {"requests": {"cpu": "25m"}}  # upstream's


def test_only_the_workloads_change():
    plain, with_options = rendered({"clusterType": "mks"}).apply, rendered(VALID[0]).apply
    assert [(o["kind"], o["metadata"]["name"]) for o in plain] == [
        (o["kind"], o["metadata"]["name"]) for o in with_options]
    for before, after in zip(plain, with_options, strict=True):
        if before["kind"] not in ("DaemonSet", "Deployment"):
            assert before == after
        else:
            before, after = copy.deepcopy(before), copy.deepcopy(after)
            before["spec"]["template"]["spec"] = after["spec"]["template"]["spec"] = None
            assert before == after  # only the pod spec


def test_an_existing_toleration_is_not_added_twice():
    objects = rendered(mks({"daemonSet": {"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}})).apply
    tolerations = workload(objects, "DaemonSet")["spec"]["template"]["spec"]["tolerations"]
    assert tolerations.count({"key": "CriticalAddonsOnly", "operator": "Exists"}) == 1


def test_a_container_the_version_does_not_run_is_a_clear_error():
    objects = [o for o in rendered({"clusterType": "mks"}).apply if o["kind"] != "Deployment"]
    options = api.parse_spec(container(name="calico-kube-controllers", env=[{"name": "A", "value": "b"}])).workloads
    with pytest.raises(workload_options.WorkloadOptionsError) as error:
        workload_options.apply(objects, options)
    assert str(error.value) == (
        "spec.workloads.containers names calico-kube-controllers, which this CNI version does not run; its "
        "containers are: calico-node, ebpf-bootstrap, install-cni, kube-flannel")


def test_the_input_objects_are_not_mutated():
    objects = rendered({"clusterType": "mks"}).apply
    before = copy.deepcopy(objects)
    workload_options.apply(objects, api.parse_spec(VALID[0]).workloads)
    assert objects == before
