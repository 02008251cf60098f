"""`cni-operator target-rbac` on the real API server: the printed objects apply, and the identity holds what fleet
mode needs in a target and nothing it must not (no escalate, bind beyond the CNI's roles, impersonate, Secrets, the
management cluster's objects), imported none but reading. Asked with `kubectl auth can-i --as`, as a person would.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness.cleanup import unique_name

pytestmark = pytest.mark.k8s

NS = "kube-system"
# (verb, resource[/name], namespace or "" for cluster-wide or "-A" for every namespace)
EVERY_TYPE_MAY = [
    ("list", "nodes", ""),
    ("watch", "daemonsets", "-A"),
    ("list", "pods", NS),
    ("get", "configmaps", NS),
    ("list", "customresourcedefinitions", ""),
]
NO_TYPE_MAY = [
    ("escalate", "clusterroles", ""),
    ("bind", "clusterroles/cluster-admin", ""),
    ("impersonate", "users", ""),
    ("impersonate", "serviceaccounts", NS),
    ("impersonate", "groups", ""),
    ("get", "secrets", NS),
    ("list", "secrets", "-A"),
    ("create", "leases", NS),
    ("update", "leases/cni-operator", NS),
    ("patch", "clusternetworks.cni-operator.io/default", ""),
    ("patch", "kopfpeerings.kopf.dev/cni-operator", NS),
    ("patch", "daemonsets/kube-proxy", NS),
    ("create", "pods", NS),
    ("delete", "pods", "default"),
    ("create", "clusterrolebindings", ""),
    ("create", "customresourcedefinitions/example.example.com", ""),
]
# Deleting any CRD: Canal v3.32.1's own calico-kube-controllers ClusterRole grants it (upstream), and the operator
# must hold every right of a role it writes, so the mks identity has it as the chart's does (docs/fleet.md).
DELETE_ANY_CRD = ("delete", "customresourcedefinitions/remoteclusternetworks.cni-operator.io", "")
MAY = {
    "mks": [("patch", "daemonsets/canal", NS), ("delete", "pods", NS), ("create", "clusterroles/calico-node", ""),
            ("bind", "clusterroles/calico-node", ""), ("patch", "configmaps/canal-config", NS),
            ("create", "customresourcedefinitions/ippools.crd.projectcalico.org", ""), DELETE_ANY_CRD],
    "eks": [("patch", "daemonsets/aws-node", NS), ("delete", "pods", NS), ("create", "clusterroles/aws-node", ""),
            ("create", "customresourcedefinitions/eniconfigs.crd.k8s.amazonaws.com", "")],
    "imported": [],
}
MAY_NOT = {
    "mks": [("patch", "daemonsets/aws-node", NS), ("create", "clusterroles/aws-node", "")],
    "eks": [("patch", "daemonsets/canal", NS), ("create", "clusterroles/calico-node", ""), DELETE_ANY_CRD],
    "imported": [("delete", "pods", NS), ("patch", "daemonsets/canal", NS), ("patch", "daemonsets/aws-node", NS),
                 ("create", "configmaps", NS), ("create", "clusterroles/calico-node", ""), DELETE_ANY_CRD],
}


def target_rbac(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "cni_operator.cli", "target-rbac", *args], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def can_i(cluster, identity: str, verb: str, resource: str, where: str) -> bool:
    scope = ["--all-namespaces"] if where == "-A" else (["-n", where] if where else [])
    res = cluster.kubectl("auth", "can-i", verb, resource, *scope, f"--as={identity}", check=False)
    assert res.stdout.strip() in ("yes", "no"), res.stdout + res.stderr
    return res.stdout.strip() == "yes"


def rules_of(cluster, identity: str) -> set[str]:
    """`kubectl auth can-i --list -n kube-system` as IDENTITY: one line per rule it holds there, its columns
    separated by one space (kubectl pads them to the widest entry of each listing)."""
    out = cluster.kubectl("auth", "can-i", "--list", "-n", NS, f"--as={identity}").stdout.splitlines()
    return {" ".join(line.split()) for line in out[1:]}


@pytest.mark.parametrize("cluster_type", ["mks", "eks", "imported"])
def test_the_identity_has_what_it_needs_and_nothing_it_must_not(cluster, cleanup, wait_for, cluster_type):
    name = unique_name("fleet", cluster_type)
    objects = target_rbac("--cluster-type", cluster_type, "--name", name)
    cleanup.add(cluster.kubectl, "delete", "-f", "-", "--wait=false", input=objects, check=False)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=objects)
    identity = f"system:serviceaccount:{NS}:{name}"

    # RBAC is served from the API server's informer: wait until it has seen the bindings.
    wait_for(lambda: can_i(cluster, identity, "list", "nodes", ""), timeout=30, what="the ClusterRoleBinding")
    wait_for(lambda: can_i(cluster, identity, "list", "pods", NS), timeout=30, what="the RoleBinding")
    for check in EVERY_TYPE_MAY + MAY[cluster_type]:
        assert can_i(cluster, identity, *check), f"{cluster_type}: cannot {check}"
    for check in NO_TYPE_MAY + MAY_NOT[cluster_type]:
        assert not can_i(cluster, identity, *check), f"{cluster_type}: can {check}"


def test_imported_holds_no_write_beyond_what_every_identity_has(cluster, cleanup, wait_for):
    """Compared with a ServiceAccount bound to nothing (which may still create self-reviews): no verb but reading."""
    name, bare = unique_name("fleet", "imported-list"), unique_name("fleet", "bare")
    objects = target_rbac("--cluster-type", "imported", "--name", name)
    cleanup.add(cluster.kubectl, "delete", "-f", "-", "--wait=false", input=objects, check=False)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=objects)
    cluster.kubectl("create", "serviceaccount", bare, "-n", NS)
    cleanup.add(cluster.kubectl, "delete", "serviceaccount", bare, "-n", NS, "--wait=false", check=False)
    identity = f"system:serviceaccount:{NS}:{name}"
    wait_for(lambda: can_i(cluster, identity, "list", "pods", NS), timeout=30, what="the RoleBinding")
    extra = rules_of(cluster, identity) - rules_of(cluster, f"system:serviceaccount:{NS}:{bare}")
    assert extra, "the imported identity holds nothing beyond a bare ServiceAccount"
    for line in extra:
        verbs = line.rsplit("[", 1)[1].rstrip("]").split()
        assert set(verbs) <= {"get", "list", "watch"}, line
