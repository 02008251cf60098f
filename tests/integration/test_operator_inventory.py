"""status.applied.inventory is writable by anyone allowed to patch the status subresource. What such a writer puts
there must neither stop the operator nor make it touch an object the catalog never renders (docs/security.md).

The entries are written while the operator is stopped: a running operator may be patching its status at that very
moment, and its patch would replace the list before any pass has read it (tests/unit/test_reconcile.py covers a
running operator meeting them, one pass at a time)."""

from __future__ import annotations

import json

from tests.harness.clusternetwork import condition, events_for, get_clusternetwork, install, wait_condition
from tests.harness.managed import CNI_NAMESPACE, MANAGED_SELECTOR, managed_objects

WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "namespace": CNI_NAMESPACE}


def tamper(cluster, *entries: dict) -> None:
    """Add inventory entries the way anyone with `patch` on clusternetworks/status can."""
    ops = [{"op": "add", "path": "/status/applied/inventory/-", "value": entry} for entry in entries]
    cluster.kubectl("patch", "cnet", "default", "--subresource=status", "--type=json", "-p", json.dumps(ops))


def tamper_while_down(cluster, operator, start_operator, *entries: dict, then=None):
    """Stop the operator, add the entries (and do THEN), start it again; returns the new operator."""
    operator.stop()
    tamper(cluster, *entries)
    assert all(e["name"] in json.dumps(inventory(get_clusternetwork(cluster))) for e in entries)
    if then:
        then()
    return start_operator()


def inventory(cnet: dict) -> list[dict]:
    return cnet["status"]["applied"]["inventory"]


def break_pod(cluster) -> str:
    """One canal pod crash-looping (kwok leaves a Running pod's status alone); returns its node."""
    pods = json.loads(cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal", "-o", "json").stdout)
    pod = min(pods["items"], key=lambda p: p["spec"]["nodeName"])
    now = "2026-01-01T00:00:00Z"
    patch = {"status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now},
                       {"type": "ContainersReady", "status": "False", "lastTransitionTime": now}],
        "containerStatuses": [
            {"name": "calico-node", "ready": False, "restartCount": 3, "image": "x", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}}},
            {"name": "kube-flannel", "ready": True, "restartCount": 0, "image": "x", "imageID": "",
             "state": {"running": {"startedAt": now}}}]}}
    cluster.kubectl("patch", "pod", pod["metadata"]["name"], "-n", CNI_NAMESPACE, "--subresource=status",
                    "--type=merge", "-p", json.dumps(patch))
    return pod["spec"]["nodeName"]


def test_an_unknown_kind_in_the_inventory_does_not_stop_the_operator(cluster, start_operator, wait_for):
    operator = start_operator()
    install(cluster, {"clusterType": "mks"})
    operator = tamper_while_down(cluster, operator, start_operator, WIDGET)

    wait_for(lambda: any("example.com/v1 Widget kube-system/w" in e["message"] and e["type"] == "Warning"
                         for e in events_for(cluster, "InventoryEntriesIgnored")),
             timeout=30, what="a Warning Event naming the Widget entry")
    wait_for(lambda: WIDGET["kind"] not in json.dumps(inventory(get_clusternetwork(cluster))), timeout=30,
             what="the Widget entry gone from the inventory the operator writes")

    # Still serving: a pod breaking shows in the status, naming its node.
    node = break_pod(cluster)
    cnet = wait_condition(cluster, "Degraded", "True", "PodsFailing", timeout=30)
    assert node in condition(cnet, "Degraded")["message"], condition(cnet, "Degraded")
    assert operator.alive()


def _foreign_objects(cluster, cleanup) -> dict[str, tuple[list[str], dict]]:
    """Objects the catalog never renders, each as (kubectl get args, inventory entry). The ConfigMap even carries our
    managed-by label: only the inventory check keeps it from being pruned."""
    cluster.kubectl("create", "configmap", "not-the-cni", "-n", CNI_NAMESPACE, "--from-literal=keep=me")
    cleanup.add(cluster.kubectl, "delete", "configmap", "not-the-cni", "-n", CNI_NAMESPACE, check=False)
    cluster.kubectl("label", "configmap", "not-the-cni", "-n", CNI_NAMESPACE, MANAGED_SELECTOR)
    cluster.kubectl("create", "secret", "generic", "not-the-cni", "-n", CNI_NAMESPACE, "--from-literal=keep=me")
    cleanup.add(cluster.kubectl, "delete", "secret", "not-the-cni", "-n", CNI_NAMESPACE, check=False)
    return {
        "configmap": (["configmap", "not-the-cni", "-n", CNI_NAMESPACE],
                      {"apiVersion": "v1", "kind": "ConfigMap", "name": "not-the-cni", "namespace": CNI_NAMESPACE}),
        "secret": (["secret", "not-the-cni", "-n", CNI_NAMESPACE],
                   {"apiVersion": "v1", "kind": "Secret", "name": "not-the-cni", "namespace": CNI_NAMESPACE}),
        "cluster-admin": (["clusterrole", "cluster-admin"],
                          {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                           "name": "cluster-admin"}),
    }


def _resource_versions(cluster, objects) -> dict[str, str]:
    return {name: cluster.get_json(*args)["metadata"]["resourceVersion"] for name, (args, _) in objects.items()}


def test_objects_the_catalog_never_renders_are_never_touched(cluster, cleanup, start_operator, wait_for):
    operator = start_operator()
    install(cluster, {"clusterType": "mks", "deletionPolicy": "Delete"})
    wait_for(lambda: "cni-operator.io/finalizer" in (get_clusternetwork(cluster)["metadata"].get("finalizers") or []),
             timeout=30, what="the finalizer that Delete needs")
    objects = _foreign_objects(cluster, cleanup)
    versions = _resource_versions(cluster, objects)

    # A pass meets them: it says so, leaves them alone, drops them, and the status tells the truth.
    entries = [entry for _, entry in objects.values()]
    operator = tamper_while_down(cluster, operator, start_operator, *entries)

    def reported_and_dropped() -> bool:
        events = [e["message"] for e in events_for(cluster, "InventoryEntriesIgnored")]
        assert any("ConfigMap kube-system/not-the-cni" in m and "ClusterRole cluster-admin" in m for m in events), \
            events
        cnet = get_clusternetwork(cluster)
        assert "not-the-cni" not in json.dumps(inventory(cnet)) and "cluster-admin" not in json.dumps(inventory(cnet))
        assert cnet["status"]["phase"] == "Ready" and condition(cnet, "Degraded")["status"] == "False", cnet["status"]
        return True

    wait_for(reported_and_dropped, timeout=30, what="the entries reported, dropped, and the phase still Ready")
    assert _resource_versions(cluster, objects) == versions

    # Deletion with deletionPolicy Delete, the entries written back first: the CNI goes, they stay.
    cnet = get_clusternetwork(cluster)
    tamper_while_down(cluster, operator, start_operator, *entries,
                      then=lambda: cluster.kubectl("delete", "cnet", "default", "--wait=false"))

    def deleted() -> bool:
        assert not get_clusternetwork(cluster), "the ClusterNetwork is still there"
        left = {name for name in managed_objects(cluster) if "not-the-cni" not in name}
        assert not left, f"left behind: {sorted(left)}"
        return True

    wait_for(deleted, timeout=90, what="the ClusterNetwork and the CNI to go")
    assert _resource_versions(cluster, objects) == versions, "an object the catalog never renders was touched"
    wait_for(lambda: events_for(cluster, "InventoryEntriesIgnored", cnet=cnet) and
             events_for(cluster, "Deleted", cnet=cnet), timeout=15, what="the deletion's Events")
