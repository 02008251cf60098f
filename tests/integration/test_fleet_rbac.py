"""The management cluster's RBAC of a fleet release (`fleet.enabled=true`) on the real API server: `helm template`
of the chart applied with kubectl, then `kubectl auth can-i --as` the release's ServiceAccount, as a person would ask.
The fleet identity may do exactly what the fleet operator needs (RemoteClusterNetworks, their status, Events, a
Secret by `get`, a Cluster API Cluster by `get`, the RemoteClusterNetwork CRD by `get`, its own Lease) and nothing
else: no list or watch of Secrets, nothing in kube-system, no escalate, bind or impersonate; with
fleet.namespaces=[a] nothing in any other namespace. (tests/unit/test_chart_fleet.py checks the rendered rules.)
"""

from __future__ import annotations

import subprocess

import pytest

from tests.harness.cleanup import unique_name
from tests.harness.repo import REPO, toolchain

pytestmark = pytest.mark.k8s

RCN = "remoteclusternetworks.cni-operator.io"
LEASE = "cni-operator-fleet"


def fleet_release(cluster, cleanup, wait_for, *set_values: str) -> tuple[str, str]:
    """The chart's ServiceAccount and RBAC of a fleet release in a namespace of its own, applied; (identity,
    release namespace) once the API server's RBAC cache has the bindings."""
    release = unique_name("cni-operator-fleet")  # contains the chart's name: the objects are named after it
    cluster.kubectl("create", "namespace", release)
    cleanup.add(cluster.kubectl, "delete", "namespace", release, "--wait=false", check=False)
    sets = [arg for value in ("fleet.enabled=true", *set_values) for arg in ("--set", value)]
    objects = subprocess.run(
        [str(toolchain.resolve("helm")), "template", release, str(REPO / "charts" / "cni-operator"),
         "--namespace", release, "--show-only", "templates/serviceaccount.yaml",
         "--show-only", "templates/rbac-fleet.yaml", *sets],
        check=True, capture_output=True, text=True).stdout
    cleanup.add(cluster.kubectl, "delete", "-f", "-", "--wait=false", "--ignore-not-found", input=objects,
                check=False)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=objects)
    identity = f"system:serviceaccount:{release}:{release}"
    wait_for(lambda: can_i(cluster, identity, "get", f"customresourcedefinitions/{RCN}", ""), timeout=30,
             what="the ClusterRoleBinding")
    wait_for(lambda: can_i(cluster, identity, "get", f"leases/{LEASE}", release), timeout=30,
             what="the Lease RoleBinding")
    return identity, release


# Resources this cluster does not serve (no Cluster API here): kubectl cannot resolve their group without discovery
# and would ask about a resource named "clusters.cluster.x-k8s.io" in the core group, so these are asked with a
# SubjectAccessReview naming the group, which is what kubectl sends when the CRD exists.
UNSERVED = {"clusters.cluster.x-k8s.io": ("cluster.x-k8s.io", "clusters")}


def review(cluster, identity: str, verb: str, group: str, resource: str, name: str, namespace: str) -> bool:
    sa_namespace = identity.removeprefix("system:serviceaccount:").split(":")[0]
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"]
    attributes = {"verb": verb, "group": group, "resource": resource, "name": name, "namespace": namespace}
    answer = cluster.authz.create_subject_access_review(
        {"spec": {"user": identity, "groups": groups, "resourceAttributes": attributes}})
    return bool(answer.status.allowed)


def can_i(cluster, identity: str, verb: str, resource: str, where: str) -> bool:
    """`kubectl auth can-i VERB RESOURCE` as IDENTITY; RESOURCE may end in `:status` for the status subresource;
    WHERE is a namespace, "" (cluster-wide) or "-A"."""
    resource, _, subresource = resource.partition(":")
    kind, _, name = resource.partition("/")
    if kind in UNSERVED:
        return review(cluster, identity, verb, *UNSERVED[kind], name, "" if where == "-A" else where)
    scope = ["--all-namespaces"] if where == "-A" else (["-n", where] if where else [])
    extra = [f"--subresource={subresource}"] if subresource else []
    res = cluster.kubectl("auth", "can-i", verb, resource, *scope, *extra, f"--as={identity}", check=False)
    assert res.stdout.strip() in ("yes", "no"), res.stdout + res.stderr
    return res.stdout.strip() == "yes"


@pytest.fixture
def tenants(cluster, cleanup) -> tuple[str, str]:
    names = unique_name("tenant-a"), unique_name("tenant-b")
    for ns in names:
        cluster.kubectl("create", "namespace", ns)
        cleanup.add(cluster.kubectl, "delete", "namespace", ns, "--wait=false", check=False)
    return names


@pytest.fixture(autouse=True)
def rcn_crd(cluster) -> None:
    """The CRD, so kubectl resolves `remoteclusternetworks` (shared with the other tests: left in place)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "remoteclusternetworks.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{RCN}")


def may(tenant: str, release: str) -> list[tuple[str, str, str]]:
    """What the fleet identity needs where it serves TENANT, its release namespace being RELEASE."""
    return [
        ("get", RCN, tenant), ("list", RCN, tenant), ("watch", RCN, tenant),
        ("patch", f"{RCN}/t1", tenant),  # finalizers
        ("patch", f"{RCN}/t1:status", tenant),
        ("create", "events", tenant), ("patch", "events/t1.abc", tenant),
        ("get", "secrets/t1-kubeconfig", tenant),
        ("get", "clusters.cluster.x-k8s.io/t1", tenant),
        ("get", f"customresourcedefinitions/{RCN}", ""),
        ("get", f"leases/{LEASE}", release), ("update", f"leases/{LEASE}", release), ("create", "leases", release),
    ]


def may_not(tenant: str, release: str) -> list[tuple[str, str, str]]:
    return [
        # Secrets: `get` by name only, never list or watch, never write.
        ("list", "secrets", tenant), ("watch", "secrets", tenant), ("list", "secrets", "-A"),
        ("watch", "secrets", "-A"), ("create", "secrets", tenant), ("update", "secrets/t1-kubeconfig", tenant),
        ("delete", "secrets/t1-kubeconfig", tenant),
        # RemoteClusterNetworks are their writers': no create, update, delete; status only by patch.
        ("create", RCN, tenant), ("update", f"{RCN}/t1", tenant), ("delete", f"{RCN}/t1", tenant),
        ("update", f"{RCN}/t1:status", tenant),
        ("list", "clusters.cluster.x-k8s.io", tenant), ("patch", "clusters.cluster.x-k8s.io/t1", tenant),
        # Nothing of the in-cluster mode: no CNI in this cluster, nothing in kube-system, no ClusterNetwork.
        ("get", "daemonsets", "kube-system"), ("list", "daemonsets", "-A"), ("patch", "daemonsets/canal", "kube-system"),
        ("delete", "pods", "kube-system"), ("list", "pods", tenant), ("get", "configmaps", "kube-system"),
        ("list", "nodes", ""), ("patch", "clusternetworks.cni-operator.io/default", ""),
        ("get", "clusternetworks.cni-operator.io/default", ""),
        ("list", "customresourcedefinitions", ""), ("get", "customresourcedefinitions/clusternetworks.cni-operator.io", ""),
        ("patch", "kopfpeerings.kopf.dev/cni-operator", "kube-system"),
        ("get", "leases/cni-operator", "kube-system"), ("create", "leases", "kube-system"),
        ("update", "leases/other", release), ("delete", f"leases/{LEASE}", release),
        # No way to more rights.
        ("escalate", "clusterroles", ""), ("bind", "clusterroles/cluster-admin", ""), ("create", "clusterrolebindings", ""),
        ("create", "rolebindings", tenant), ("impersonate", "users", ""), ("impersonate", "serviceaccounts", tenant),
        ("impersonate", "groups", ""), ("create", "serviceaccounts/x/token", tenant), ("create", "pods", tenant),
    ]


def test_every_namespace(cluster, cleanup, wait_for, tenants):
    identity, release = fleet_release(cluster, cleanup, wait_for)
    for tenant in tenants:
        for check in may(tenant, release):
            assert can_i(cluster, identity, *check), f"cannot {check}"
        for check in may_not(tenant, release):
            assert not can_i(cluster, identity, *check), f"can {check}"
    assert can_i(cluster, identity, "list", RCN, "-A") and can_i(cluster, identity, "watch", RCN, "-A")


def test_listed_namespaces_only(cluster, cleanup, wait_for, tenants):
    a, b = tenants
    identity, release = fleet_release(cluster, cleanup, wait_for, f"fleet.namespaces={{{a}}}")
    wait_for(lambda: can_i(cluster, identity, "list", RCN, a), timeout=30, what=f"the RoleBinding in {a}")
    for check in may(a, release):
        assert can_i(cluster, identity, *check), f"cannot {check}"
    for check in may_not(a, release):
        assert not can_i(cluster, identity, *check), f"can {check}"
    # Namespace b: nothing at all, and no cluster-wide read of RemoteClusterNetworks either.
    for verb, resource, _ in may(b, release)[:9]:
        assert not can_i(cluster, identity, verb, resource, b), f"can {verb} {resource} in {b}"
    assert not can_i(cluster, identity, "list", RCN, "-A")
    assert not can_i(cluster, identity, "watch", RCN, "-A")
    # Every namespace's ClusterRole lets the identity get a Secret anywhere by name (docs/fleet.md says so); the
    # namespaced mode is the one that keeps kube-system's and every other namespace's Secrets out of reach.
    assert not can_i(cluster, identity, "get", "secrets/x", "kube-system")
    assert not can_i(cluster, identity, "get", "secrets/x", release)
