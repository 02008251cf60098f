"""A CNI outside kube-system: which of its pods the operator keeps facts about, and how an imported cluster's CNI is
judged when its pods are where the operator does not read them (Tigera's calico-system)."""

from __future__ import annotations

import datetime as dt

import pytest
from cni_operator import health
from cni_operator.providers import describe_daemonset, is_cni_pod

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def node(name: str) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": "2025-12-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def calico_system(desired: int, ready: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "calico-node", "namespace": "calico-system", "generation": 1},
            "spec": {"selector": {"matchLabels": {"k8s-app": "calico-node"}},
                     "template": {"spec": {"containers": [{"name": "calico-node",
                                                           "image": "quay.io/calico/node:v3.30.2"}]}}},
            "status": {"desiredNumberScheduled": desired, "numberReady": ready, "updatedNumberScheduled": desired,
                       "numberUnavailable": desired - ready, "observedGeneration": 1}}


@pytest.mark.parametrize("labels", [
    {"app": "flannel"}, {"k8s-app": "flannel"}, {"component": "antrea-agent", "app": "antrea"},
    {"name": "weave-net"}, {"k8s-app": "kube-router"}, {"app": "kube-ovn-cni"}, {"app": "ovnkube-node"},
    {"k8s-app": "calico-node"}, {"k8s-app": "cilium"},
])
def test_the_pods_of_every_known_cni_are_kept(labels):
    assert is_cni_pod(labels)


@pytest.mark.parametrize("labels", [{"app": "nginx"}, {"k8s-app": "kube-dns"}, {"name": "weave-scope"}, {}])
def test_other_pods_are_not(labels):
    assert not is_cni_pod(labels)


def test_flannel_is_known_by_its_own_daemonset_names():
    for name in ("kube-flannel-ds", "kube-flannel-ds-amd64", "kube-flannel"):
        assert describe_daemonset(name).name == "flannel"


def test_an_imported_cni_whose_pods_are_not_read_is_judged_by_its_daemonset():
    """No pods: coverage would say 0 of 3 nodes. The DaemonSet's own count stands in, without node names."""
    nodes = [node(f"n{i}") for i in (1, 2, 3)]
    picture = health.assess(calico_system(3, 3), nodes, [], NOW, generation=1, imported=True, pods_seen=False)
    assert (picture.phase, picture.ready_summary) == ("Unmanaged", "3/3")
    assert picture.condition("Degraded")["status"] == "False"
    assert picture.health.ready == 3 and picture.health.nodes.without_ready_cni == []

    picture = health.assess(calico_system(3, 1), nodes, [], NOW, generation=1, imported=True, pods_seen=False)
    assert picture.ready_summary == "1/3"
    assert "2 of 3 nodes have no ready calico-node pod (its DaemonSet's count)" in picture.verdict, picture.verdict


def test_without_the_flag_missing_pods_are_missing_coverage():
    """The default is the kube-system case, where pods are read: no pod, no coverage (what the flag is for)."""
    nodes = [node(f"n{i}") for i in (1, 2, 3)]
    picture = health.assess(calico_system(3, 3), nodes, [], NOW, generation=1, imported=True)
    assert picture.ready_summary == "0/3"
