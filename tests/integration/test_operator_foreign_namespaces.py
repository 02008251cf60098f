"""One CNI at a time, wherever it runs: a CNI in its own namespace (the Tigera operator's calico-system,
kube-flannel) blocks a first install and is what an imported cluster reports; one that appears after the install is
reported and left alone; a canal an earlier ClusterNetwork left behind (deleted with Orphan) blocks an eks install.

The operator runs under the chart's RBAC for the cluster type where that matters (the chart for `imported` and for
`eks` grant none of Canal's rights, which happen to read DaemonSets everywhere): what lets it see those namespaces
is the chart's own rule, list and watch on DaemonSets cluster-wide. None of these namespaces exists when the operator
starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.access import grant
from tests.harness.clusternetwork import (
    apply_clusternetwork,
    condition,
    get_clusternetwork,
    install,
    wait_condition,
)
from tests.harness.managed import CNI_NAMESPACE, managed_objects
from tests.harness.operator import OPERATOR_SA, audit_writes_since, chart_rbac, install_crds

CHART_FOR = {t: (f"clusterNetwork.spec.clusterType={t}",) for t in ("mks", "eks", "imported")}
CALICO_IMAGE = "quay.io/calico/node:v3.30.2"
FLANNEL_IMAGE = "ghcr.io/flannel-io/flannel:v0.26.7"


@pytest.fixture
def operator_kubeconfig(request, cluster, cleanup, tmp_path):
    """The chart's RBAC, for the cluster type a test names (indirect parametrization), else the chart's default."""
    install_crds(cluster)
    return grant(cluster, cleanup, CNI_NAMESPACE, OPERATOR_SA, chart_rbac(*getattr(request, "param", ())),
                 path=tmp_path / "operator.kubeconfig")


def chart(cluster_type: str):
    return pytest.mark.parametrize("operator_kubeconfig", [CHART_FOR[cluster_type]], indirect=True,
                                   ids=[f"chart-{cluster_type}"])


@pytest.fixture
def other_cni(cluster, cleanup):
    """other_cni(namespace, name, app_label, container, image): a DaemonSet someone else installed, in a namespace
    created for it, as an installer would (kwok runs its pods); removed with its namespace afterwards."""

    def make(namespace: str, name: str, labels: dict, container: str, image: str) -> str:
        if cluster.kubectl("get", "ns", namespace, check=False).returncode != 0:
            cluster.kubectl("create", "ns", namespace)
            cleanup.add(cluster.kubectl, "delete", "ns", namespace, "--wait=true", "--timeout=90s", check=False)
        ds = {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": container, "image": image}],
                             "tolerations": [{"operator": "Exists"}]},
                },
            },
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))
        cleanup.add(cluster.kubectl, "delete", "ds", name, "-n", namespace, "--ignore-not-found", "--wait=true",
                    check=False)
        return f"{namespace}/{name}"

    return make


def tigera_calico(other_cni) -> str:
    """calico-node as the Tigera operator creates it: namespace calico-system, k8s-app: calico-node."""
    return other_cni("calico-system", "calico-node", {"k8s-app": "calico-node"}, "calico-node", CALICO_IMAGE)


def kube_flannel(other_cni) -> str:
    """kube-flannel.yml's DaemonSet: namespace kube-flannel, app: flannel."""
    return other_cni("kube-flannel", "kube-flannel-ds", {"app": "flannel", "k8s-app": "flannel"}, "kube-flannel",
                     FLANNEL_IMAGE)


def assert_refused_with_nothing_written(cluster, audit_log, mark, workload: str, provider: str) -> dict:
    cnet = wait_condition(cluster, "Degraded", "True", "ForeignCNIDetected", timeout=60)
    message = condition(cnet, "Degraded")["message"]
    assert f"another CNI is already running: {provider} ({workload})" in message, message
    assert cnet["status"]["phase"] == "Failed", cnet["status"]["phase"]
    assert not managed_objects(cluster, terminating=True), "nothing may be installed next to a foreign CNI"
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert all(w.startswith("create events") for w in writes), f"only status and the Event may be written: {writes}"
    return cnet


def test_calico_in_calico_system_blocks_an_mks_install(cluster, cleanup, other_cni, start_operator, audit_log,
                                                       wait_for, tmp_path):
    workload = tigera_calico(other_cni)
    # `cni-operator diff` (as the admin) says so before anyone applies the ClusterNetwork.
    spec = tmp_path / "cnet.yaml"
    spec.write_text(json.dumps({"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
                                "metadata": {"name": "default"}, "spec": {"clusterType": "mks"}}))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    preview = subprocess.run([str(Path(sys.executable).parent / "cni-operator"), "diff", "-f", str(spec)],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert f"ForeignCNIDetected: another CNI is already running: calico ({workload})" in preview.stdout, (
        preview.stdout, preview.stderr)

    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0
    assert_refused_with_nothing_written(cluster, audit_log, mark, workload, "calico")
    assert cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, check=False).returncode != 0


@chart("mks")
def test_flannel_in_kube_flannel_blocks_an_mks_install(cluster, cleanup, other_cni, start_operator, audit_log,
                                                       wait_for):
    workload = kube_flannel(other_cni)
    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0
    assert_refused_with_nothing_written(cluster, audit_log, mark, workload, "flannel")


@chart("imported")
def test_an_imported_cluster_reports_calico_in_calico_system(cluster, cleanup, other_cni, start_operator,
                                                             audit_log, wait_for):
    """The operator starts before calico-system exists (a namespace made later is seen by the same watch), under the
    imported chart, which holds no CNI rights: only the chart's DaemonSet rule lets it see there."""
    assert cluster.kubectl("get", "ns", "calico-system", check=False).returncode != 0
    operator = start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "imported"}).returncode == 0
    wait_condition(cluster, "Ready", "Unknown", "NoCNIDetected", timeout=60)

    workload = tigera_calico(other_cni)
    nodes = len(cluster.fake_nodes())

    def reported() -> dict:
        status = get_clusternetwork(cluster).get("status") or {}
        assert status.get("phase") == "Unmanaged", status.get("phase")
        detected = status.get("detected") or []
        assert [(d["provider"], d["workload"], d["version"], d["ready"]) for d in detected] == [
            ("calico", workload, "v3.30.2", nodes)], detected
        assert status["health"]["ready"] == nodes and status["readySummary"] == f"{nodes}/{nodes}", status
        return status

    status = wait_for(reported, timeout=60, what="calico in calico-system reported as the cluster's CNI")
    assert condition({"status": status}, "Degraded")["status"] == "False", status["conditions"]

    # Gone again: the watch reports the deletion, and so does status.
    cluster.kubectl("delete", "ds", "calico-node", "-n", "calico-system", "--wait=true")
    wait_condition(cluster, "Ready", "Unknown", "NoCNIDetected", timeout=60)
    assert not (get_clusternetwork(cluster)["status"].get("detected") or [])
    assert audit_writes_since(audit_log, mark, exclude_status=True) == [], "an imported cluster gets no write"
    assert "Forbidden" not in operator.log_tail(200), operator.log_tail(200)


def test_a_cni_appearing_in_its_own_namespace_after_the_install_is_reported_and_left_alone(
        cluster, cleanup, other_cni, start_operator, audit_log, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    canal_uid = cluster.get_json("ds", "canal", "-n", CNI_NAMESPACE)["metadata"]["uid"]
    mark = audit_log.mark()
    workload = tigera_calico(other_cni)
    cnet = wait_condition(cluster, "Degraded", "True", "ForeignCNIDetected", timeout=60)
    message = condition(cnet, "Degraded")["message"]
    assert f"another CNI runs next to canal: calico ({workload})" in message, message
    # Health stays about the canal the operator installed in kube-system; the other one is reported, not fought.
    assert cnet["status"]["readySummary"] == f"{len(cluster.fake_nodes())}/{len(cluster.fake_nodes())}"
    assert cluster.kubectl("get", "ds", "calico-node", "-n", "calico-system", check=False).returncode == 0
    assert cluster.get_json("ds", "canal", "-n", CNI_NAMESPACE)["metadata"]["uid"] == canal_uid
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert all(w.startswith("create events") for w in writes), f"only status and Events may be written: {writes}"

    cluster.kubectl("delete", "ds", "calico-node", "-n", "calico-system", "--wait=true")
    cnet = wait_condition(cluster, "Degraded", "False", "AsExpected", timeout=60)
    assert cnet["status"]["phase"] == "Ready"


def test_a_canal_left_by_an_orphaned_mks_clusternetwork_blocks_an_eks_install(cluster, start_operator, audit_log,
                                                                              wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks", "deletionPolicy": "Orphan"})
    canal_uid = cluster.get_json("ds", "canal", "-n", CNI_NAMESPACE)["metadata"]["uid"]
    cluster.kubectl("delete", "cnet", "default", "--timeout=30s")
    left = managed_objects(cluster)
    assert "daemonset.apps/canal" in left, left

    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "eks", "awsVpcCni": {"region": "us-west-2"}}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "ForeignCNIDetected", timeout=60)
    message = condition(cnet, "Degraded")["message"]
    assert f"another CNI is already running: canal ({CNI_NAMESPACE}/canal)" in message, message
    assert cluster.kubectl("get", "ds", "aws-node", "-n", CNI_NAMESPACE, check=False).returncode != 0
    assert managed_objects(cluster) == left, "the canal left behind is neither removed nor joined by aws-node"
    assert cluster.get_json("ds", "canal", "-n", CNI_NAMESPACE)["metadata"]["uid"] == canal_uid
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert all(w.startswith("create events") for w in writes), f"only status and the Event may be written: {writes}"
