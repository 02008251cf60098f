"""Imported clusters and a CNI that is already there: observe and report, never write; refuse a second CNI."""

from __future__ import annotations

import yaml

from tests.harness.clusternetwork import apply_clusternetwork, get_clusternetwork, install, wait_condition
from tests.harness.managed import CNI_NAMESPACE, managed_objects
from tests.harness.operator import audit_writes_since


def _foreign_daemonset(cluster, cleanup, name: str, app: str, image: str) -> None:
    """A CNI someone else installed: a kube-system DaemonSet without our labels (kwok runs its pods)."""
    ds = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": CNI_NAMESPACE, "labels": {"k8s-app": app}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": app}},
            "template": {
                "metadata": {"labels": {"k8s-app": app}},
                "spec": {"containers": [{"name": name, "image": image}], "tolerations": [{"operator": "Exists"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))
    cleanup.add(cluster.kubectl, "delete", "ds", name, "-n", CNI_NAMESPACE, "--wait=true", check=False)


def test_imported_cluster_is_observed_without_a_single_write(cluster, cleanup, start_operator, audit_log, wait_for):
    _foreign_daemonset(cluster, cleanup, "calico-node", "calico-node", "quay.io/calico/node:v3.30.0")
    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "imported"}).returncode == 0
    nodes = len(cluster.fake_nodes())

    def reported() -> dict:
        status = get_clusternetwork(cluster).get("status") or {}
        assert status.get("phase") == "Unmanaged", status.get("phase")
        detected = status.get("detected") or []
        assert any(d["provider"] == "calico" and d["version"] == "v3.30.0" and d["ready"] == nodes
                   and d["workload"] == f"{CNI_NAMESPACE}/calico-node" for d in detected), detected
        assert status["health"]["ready"] == nodes and status["readySummary"] == f"{nodes}/{nodes}", status
        return status

    wait_for(reported, timeout=60, what="the imported CNI's health in status")
    # The whole cycle: update, then delete. Nothing but status may be written, not even a finalizer.
    assert apply_clusternetwork(cluster, {"clusterType": "imported", "deletionPolicy": "Delete"}).returncode == 0
    wait_for(lambda: get_clusternetwork(cluster)["status"]["observedGeneration"] == 2, timeout=30,
             what="the update to be observed")
    assert not get_clusternetwork(cluster)["metadata"].get("finalizers")
    cluster.kubectl("delete", "cnet", "default", "--timeout=30s")
    assert audit_writes_since(audit_log, mark, exclude_status=True) == []
    status_writes = audit_writes_since(audit_log, mark)
    assert status_writes and all(w.startswith("patch clusternetworks/status") for w in status_writes), status_writes
    assert not managed_objects(cluster, terminating=True)


def test_foreign_cni_blocks_the_first_install(cluster, cleanup, start_operator, audit_log, wait_for):
    _foreign_daemonset(cluster, cleanup, "cilium", "cilium", "quay.io/cilium/cilium:v1.16.3")
    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "ForeignCNIDetected", timeout=60)
    degraded = next(c for c in cnet["status"]["conditions"] if c["type"] == "Degraded")
    assert "cilium" in degraded["message"] and f"{CNI_NAMESPACE}/cilium" in degraded["message"], degraded
    assert not managed_objects(cluster, terminating=True), "nothing may be installed next to a foreign CNI"
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert all(w.startswith("create events") for w in writes), f"only status and the Event may be written: {writes}"


def test_a_cni_appearing_after_the_install_is_reported_and_left_alone(cluster, cleanup, start_operator, audit_log,
                                                                     wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    mark = audit_log.mark()
    _foreign_daemonset(cluster, cleanup, "cilium", "cilium", "quay.io/cilium/cilium:v1.16.3")
    cnet = wait_condition(cluster, "Degraded", "True", "ForeignCNIDetected", timeout=60)
    degraded = next(c for c in cnet["status"]["conditions"] if c["type"] == "Degraded")
    assert f"another CNI runs next to canal: cilium ({CNI_NAMESPACE}/cilium)" in degraded["message"], degraded
    assert cnet["status"]["phase"] == "Degraded"
    # Reported, not fought: the other DaemonSet is still there, and the operator wrote nothing but status/Events.
    assert cluster.kubectl("get", "ds", "cilium", "-n", CNI_NAMESPACE, check=False).returncode == 0
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert all(w.startswith("create events") for w in writes), f"only status and Events may be written: {writes}"

    cluster.kubectl("delete", "ds", "cilium", "-n", CNI_NAMESPACE, "--wait=true")
    cnet = wait_condition(cluster, "Degraded", "False", "AsExpected", timeout=60)
    assert cnet["status"]["phase"] == "Ready"


def test_mks_on_an_eks_cluster_is_refused(cluster, cleanup, start_operator, wait_for):
    for node in cluster.fake_nodes():
        cluster.kubectl("label", "node", node.metadata.name, "eks.amazonaws.com/nodegroup=ng-1", "--overwrite")
        cleanup.add(cluster.kubectl, "label", "node", node.metadata.name, "eks.amazonaws.com/nodegroup-", check=False)
    start_operator()
    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "ClusterTypeMismatch", timeout=60)
    assert "eks" in next(c for c in cnet["status"]["conditions"] if c["type"] == "Degraded")["message"]
    assert not managed_objects(cluster, terminating=True)
