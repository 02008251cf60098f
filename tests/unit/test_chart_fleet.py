"""The chart's fleet mode (fleet.enabled): what a fleet release renders, and the management cluster's RBAC it grants,
read from `helm template` (tests/integration/test_fleet_rbac.py asks a real API server the same questions)."""

from __future__ import annotations

import pytest
import yaml
from chart_tools import REPO, grants_of, of_kind, one, rule_atoms, run_helm, template, template_text
from test_rbac_no_wildcards import rules_with_comments, wildcard_problems

FLEET = ("fleet.enabled=true",)
NAMESPACED = (*FLEET, "fleet.namespaces={tenant-a,tenant-b}")
RCN_CRD = "remoteclusternetworks.cni-operator.io"
CN_CRD = "clusternetworks.cni-operator.io"
SA, NS = "cni-operator", "kube-system"  # release cni-operator in kube-system, as chart_tools renders it
LEASE = "cni-operator-fleet"


def _grants(*sets: str):
    return grants_of(template(*sets), SA, NS)


def _atoms(rules) -> set[tuple[str, str, str, str]]:
    return {atom for rule in rules for atom in rule_atoms(rule)}


# (verb, group, resource, name) the fleet operator holds where it serves RemoteClusterNetworks, and nothing else.
SERVED = {
    *{(v, "cni-operator.io", "remoteclusternetworks", "") for v in ("get", "list", "watch", "patch")},
    ("patch", "cni-operator.io", "remoteclusternetworks/status", ""),
    ("create", "", "events", ""), ("patch", "", "events", ""),
    ("get", "", "secrets", ""),
    ("get", "cluster.x-k8s.io", "clusters", ""),
}
CRD_GET = {("get", "apiextensions.k8s.io", "customresourcedefinitions", RCN_CRD)}
LEASE_RULES = {("get", "coordination.k8s.io", "leases", LEASE), ("create", "coordination.k8s.io", "leases", ""),
               ("update", "coordination.k8s.io", "leases", LEASE)}


def test_fleet_release_holds_exactly_the_management_rights_in_every_namespace():
    grants = _grants(*FLEET)
    assert _atoms(grants.cluster) == SERVED | CRD_GET
    assert set(grants.namespaced) == {NS}, "a Role in the release namespace only (the Lease)"
    assert _atoms(grants.namespaced[NS]) == LEASE_RULES


def test_fleet_namespaces_narrow_every_right_to_those_namespaces():
    grants = _grants(*NAMESPACED)
    assert _atoms(grants.cluster) == CRD_GET, "cluster-wide: nothing but the CRD's get"
    assert set(grants.namespaced) == {"tenant-a", "tenant-b", NS}
    for ns in ("tenant-a", "tenant-b"):
        assert _atoms(grants.namespaced[ns]) == SERVED
    assert not grants.allows("get", "", "secrets", "x", "tenant-c")
    assert not grants.allows("list", "cni-operator.io", "remoteclusternetworks", "", "tenant-c")


@pytest.mark.parametrize("sets", [FLEET, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_fleet_rbac_says_why_and_never_lists_secrets(sets):
    text = template_text(*sets)
    assert not wildcard_problems(text)
    rules = rules_with_comments(text)
    assert rules and all(comments for _, _, comments in rules), [w for w, _, c in rules if not c]
    grants = _grants(*sets)
    for ns in ("tenant-a", NS, ""):
        for verb in ("list", "watch", "create", "update", "patch", "delete"):
            assert not grants.allows(verb, "", "secrets", "", ns), (verb, ns)
    for verb in ("escalate", "bind", "impersonate"):
        assert not any(verb in (r.get("verbs") or []) for _, r, _ in rules), verb


@pytest.mark.parametrize("sets", [FLEET, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_fleet_release_has_nothing_of_the_in_cluster_mode(sets):
    docs = template(*sets)
    grants = _grants(*sets)
    assert not grants.allows("get", "apps", "daemonsets", "canal", "kube-system")
    assert not grants.allows("list", "", "nodes")
    assert not grants.allows("get", "cni-operator.io", "clusternetworks", "default")
    assert not of_kind(docs, "KopfPeering"), "no peering object in kube-system: the fleet operator is standalone"
    crds = {d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")}
    assert RCN_CRD in crds and CN_CRD not in crds, crds
    # Nothing of the release is in kube-system but what the release namespace holds (here kube-system itself).
    roles = {d["metadata"]["name"] for d in of_kind(docs, "Role") + of_kind(docs, "ClusterRole")}
    assert not any(name.endswith(("-cni-rights", "-events")) for name in roles), roles


def test_fleet_deployment_runs_the_fleet_operator():
    container = one(template(*NAMESPACED, "fleet.allowUnsafeKubeconfigs=true", "replicaCount=2"),
                    "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["run", "--fleet", "--standalone", "--watch-namespace=tenant-a",
                                 "--watch-namespace=tenant-b", "--allow-unsafe-kubeconfigs"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["CNI_OPERATOR_LEASE_NAME"]["value"] == LEASE
    args = one(template(*FLEET), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["run", "--fleet", "--standalone"], "no --watch-namespace (all) and no unsafe opt-in by default"


def test_default_release_is_the_in_cluster_operator():
    docs = template()
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"] == ["run", "--standalone"]
    crds = {d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition")}
    assert CN_CRD in crds and RCN_CRD not in crds
    assert "rbac-fleet.yaml" not in template_text()


def test_fleet_crd_is_the_generated_crd_and_follows_the_crds_values():
    generated = yaml.safe_load((REPO / "crds" / "remoteclusternetworks.yaml").read_text())
    rendered = one(template(*FLEET), "CustomResourceDefinition", RCN_CRD)
    assert rendered["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert rendered == generated, "the chart's RemoteClusterNetwork CRD is stale: run `make crd`"
    unkept = one(template(*FLEET, "crds.keep=false"), "CustomResourceDefinition", RCN_CRD)
    assert "annotations" not in unkept["metadata"]
    without = {d["metadata"]["name"] for d in of_kind(template(*FLEET, "crds.enabled=false"),
                                                     "CustomResourceDefinition")}
    assert without == {"kopfpeerings.kopf.dev"}, "crds.enabled=false: only kopf's, from the chart's crds/"


def test_fleet_with_a_clusternetwork_is_refused_with_the_way_out():
    res = run_helm("template", "x", "charts/cni-operator", "--set", "fleet.enabled=true",
                   "--set", "clusterNetwork.create=true", "--set", "clusterNetwork.spec.clusterType=mks", check=False)
    assert res.returncode != 0
    assert "fleet.enabled=true" in res.stderr and "clusterNetwork.create=false" in res.stderr, res.stderr


@pytest.mark.parametrize("setting", ["fleet.namespaces={Tenant_A}", "fleet.enabled=yes", "fleet.other=1"])
def test_fleet_values_are_typed(setting):
    res = run_helm("template", "x", "charts/cni-operator", "--set", setting, check=False)
    assert res.returncode != 0 and "values don't meet the specifications of the schema" in res.stderr, res.stderr
