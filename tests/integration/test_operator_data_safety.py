"""Users' data survives the operator: a CRD that still holds objects is never deleted, by an upgrade's prune or by
deletionPolicy Delete, and a paused ClusterNetwork's deletion removes nothing."""

from __future__ import annotations

import json

import pytest

from tests.harness.clusternetwork import (
    QUICK_ROLLOUT,
    apply_clusternetwork,
    events_for,
    get_clusternetwork,
    install,
)
from tests.harness.managed import CNI_NAMESPACE, managed_objects

OLD, NEW = "v3.31.4", "v3.32.1"
ANP_CRD = "adminnetworkpolicies.policy.networking.k8s.io"
NETPOL_CRD = "networkpolicies.crd.projectcalico.org"
IPPOOL_CRD = "ippools.crd.projectcalico.org"

ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
       "metadata": {"name": "users-anp"}, "spec": {"priority": 10, "subject": {"namespaces": {}}, "ingress": []}}
NETPOL = {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "users-policy", "namespace": "default"}, "spec": {"selector": "all()"}}
IPPOOL = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
          "metadata": {"name": "users-pool"}, "spec": {"cidr": "10.123.0.0/16"}}


@pytest.fixture
def retained_crds(cluster):
    """CRDs the operator let go of are the user's to delete: the test deletes them (and their objects) after."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false", check=False)


def _create(cluster, obj: dict, wait_for) -> None:
    # A CRD the operator just applied may not serve its kind for a moment: retry until the create is accepted.
    def created() -> bool:
        res = cluster.kubectl("create", "-f", "-", input=json.dumps(obj), check=False)
        assert res.returncode == 0 or "AlreadyExists" in res.stderr, res.stderr
        return True

    wait_for(created, timeout=30, what=f"{obj['kind']} {obj['metadata']['name']} created")


def _crd(cluster, name: str) -> dict | None:
    res = cluster.kubectl("get", "crd", name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


PLURALS = {"AdminNetworkPolicy": "adminnetworkpolicies", "NetworkPolicy": "networkpolicies", "IPPool": "ippools"}


def _exists(cluster, obj: dict) -> bool:
    where = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
    resource = f"{PLURALS[obj['kind']]}.{obj['apiVersion'].split('/')[0]}"
    res = cluster.kubectl("get", resource, obj["metadata"]["name"], *where, check=False)
    assert res.returncode == 0 or "NotFound" in res.stderr, res.stderr  # an error is not an answer
    return res.returncode == 0


def test_upgrade_keeps_the_crd_of_users_admin_network_policies(cluster, start_operator, wait_for, retained_crds):
    start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": QUICK_ROLLOUT})
    _create(cluster, ANP, wait_for)
    retained_crds.append(ANP_CRD)

    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW},
                                          "rollout": QUICK_ROLLOUT}).returncode == 0

    def upgraded() -> dict:
        cnet = get_clusternetwork(cluster)
        assert cnet["status"].get("version") == NEW and cnet["status"].get("phase") == "Ready", cnet["status"]
        assert [r["name"] for r in cnet["status"].get("retained") or []] == [ANP_CRD], cnet["status"].get("retained")
        return cnet

    cnet = wait_for(upgraded, timeout=90, what=f"the upgrade to {NEW} with the ANP CRD retained")
    assert cnet["status"]["retained"][0]["objects"] == 1
    crd = _crd(cluster, ANP_CRD)
    assert crd is not None and not crd["metadata"].get("deletionTimestamp"), "the CRD with a user's object went"
    assert "app.kubernetes.io/managed-by" not in (crd["metadata"].get("labels") or {}), "still marked as managed"
    assert _exists(cluster, ANP), "the user's AdminNetworkPolicy is gone"
    assert f"customresourcedefinition.apiextensions.k8s.io/{ANP_CRD}" not in managed_objects(cluster)
    # Its empty sibling, which v3.32 also dropped, is pruned as before.
    wait_for(lambda: _crd(cluster, "baselineadminnetworkpolicies.policy.networking.k8s.io") is None, timeout=60,
             what="the empty BaselineAdminNetworkPolicy CRD pruned")
    retained = wait_for(lambda: events_for(cluster, "CRDRetained"), timeout=10, what="the CRDRetained Event")
    assert any(ANP_CRD in e["message"] and "1 object of its kind exists" in e["message"] for e in retained), retained


def test_delete_policy_keeps_crds_that_hold_users_policies_and_pools(cluster, start_operator, wait_for,
                                                                      retained_crds):
    start_operator()
    install(cluster, {"clusterType": "mks", "deletionPolicy": "Delete"})
    wait_for(lambda: "cni-operator.io/finalizer" in (get_clusternetwork(cluster)["metadata"].get("finalizers") or []),
             timeout=30, what="the finalizer that Delete needs")
    _create(cluster, NETPOL, wait_for)
    _create(cluster, IPPOOL, wait_for)
    retained_crds += [NETPOL_CRD, IPPOOL_CRD]

    cluster.kubectl("delete", "cnet", "default", "--wait=false")

    def deleted() -> bool:
        assert not get_clusternetwork(cluster), "the ClusterNetwork is still there"
        left = managed_objects(cluster)
        assert not left, f"still managed: {sorted(left)}"
        return True

    wait_for(deleted, timeout=90, what="the ClusterNetwork and every managed object to go")
    for crd_name, obj in ((NETPOL_CRD, NETPOL), (IPPOOL_CRD, IPPOOL)):
        crd = _crd(cluster, crd_name)
        assert crd is not None and not crd["metadata"].get("deletionTimestamp"), f"{crd_name} was deleted"
        assert _exists(cluster, obj), f"the user's {obj['kind']} is gone"
    assert cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, check=False).returncode != 0, "canal stayed"
    # The other Calico CRDs held nothing: removed as deletionPolicy Delete promises.
    assert _crd(cluster, "globalnetworkpolicies.crd.projectcalico.org") is None


def test_deleting_a_paused_clusternetwork_removes_nothing(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks", "deletionPolicy": "Delete"})
    wait_for(lambda: "cni-operator.io/finalizer" in (get_clusternetwork(cluster)["metadata"].get("finalizers") or []),
             timeout=30, what="the finalizer that Delete needs")
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "deletionPolicy": "Delete",
                                          "paused": True}).returncode == 0
    wait_for(lambda: get_clusternetwork(cluster)["status"]["phase"] == "Paused", timeout=30, what="phase Paused")
    before, cnet = managed_objects(cluster), get_clusternetwork(cluster)

    cluster.kubectl("delete", "cnet", "default", "--wait=false")
    wait_for(lambda: not get_clusternetwork(cluster), timeout=30, what="the ClusterNetwork to go")
    assert managed_objects(cluster) == before, "a paused ClusterNetwork's deletion removed objects"
    paused = wait_for(lambda: events_for(cluster, "DeletionPaused", cnet=cnet), timeout=10,
                      what="the DeletionPaused Event")
    assert "removed nothing" in paused[-1]["message"], paused
