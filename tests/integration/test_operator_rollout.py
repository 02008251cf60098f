"""Updates the operator drives itself on 30+ kwok nodes (docs/operations.md, "Upgrades, canary and rollback"): a good
version goes Canary -> Soaking -> Rolling -> Complete; a version that cannot start (images from the registry
fail.invalid, which kwok keeps in ImagePullBackOff) is rolled back by itself, and a sampler polling every 200 ms sees
no moment with more than maxUnavailable nodes without a Ready canal pod."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.harness.clusternetwork import (
    apply_clusternetwork,
    condition,
    events_for,
    get_clusternetwork,
    install,
)
from tests.harness.managed import CNI_NAMESPACE

OLD, NEW = "v3.31.4", "v3.32.1"
MAX_UNAVAILABLE = 2
ROLLOUT = {"canary": 1, "soakSeconds": 4, "maxUnavailable": MAX_UNAVAILABLE, "progressDeadlineSeconds": 240}
ALLOW_FAIL_INVALID = {"CNI_OPERATOR_ALLOWED_REGISTRIES": "catalog,fail.invalid"}


@pytest.fixture
def nodes(cluster, cleanup) -> list[str]:
    """At least 30 fake nodes for the test; the ones added are deleted after it."""
    for name in cluster.add_fake_nodes(max(0, 30 - len(cluster.fake_nodes()))):
        cleanup.add(cluster.delete_node, name)
    return [n.metadata.name for n in cluster.core.list_node().items]


class Sampler(threading.Thread):
    """Every 200 ms: how many nodes have no Ready, non-terminating canal pod; keeps the worst moment."""

    def __init__(self, cluster, nodes: list[str]):
        super().__init__(daemon=True)
        self.cluster, self.nodes, self.stop, self.samples, self.worst = cluster, set(nodes), threading.Event(), 0, \
            (0, [])

    def run(self) -> None:
        while not self.stop.is_set():
            nodes = self.nodes
            pods = self.cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector="k8s-app=canal").items
            serving = {p.spec.node_name for p in pods if p.metadata.deletion_timestamp is None and any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])}
            lacking = sorted(nodes - serving)
            self.samples += 1
            if len(lacking) > self.worst[0]:
                self.worst = (len(lacking), lacking)
            time.sleep(0.2)


def _images(cluster) -> list[str]:
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    spec = ds["spec"]["template"]["spec"]
    return sorted(c["image"] for c in spec.get("initContainers", []) + spec["containers"])


def _all_pods_ready_with(cluster, node_names: list[str], forbidden: str) -> bool:
    pods = cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector="k8s-app=canal").items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    bad = [p.metadata.name for p in live if any(forbidden in c.image for c in p.spec.containers)]
    ready = {p.spec.node_name for p in live if any(c.type == "Ready" and c.status == "True"
                                                    for c in p.status.conditions or [])}
    assert not bad, f"pods still run {forbidden}: {bad[:5]}"
    assert ready >= set(node_names), f"nodes without a Ready canal pod: {sorted(set(node_names) - ready)[:5]}"
    return True


def test_a_version_that_cannot_start_is_rolled_back_within_max_unavailable(cluster, nodes, start_operator, wait_for):
    start_operator(env=ALLOW_FAIL_INVALID)
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": ROLLOUT}, timeout=180)
    old_images = _images(cluster)
    sampler = Sampler(cluster, nodes)
    sampler.start()
    try:
        spec = {"clusterType": "mks", "cni": {"version": NEW}, "registry": "fail.invalid", "rollout": ROLLOUT}
        assert apply_clusternetwork(cluster, spec).returncode == 0

        def rolled_back() -> dict:
            cnet = get_clusternetwork(cluster)
            rollout = (cnet.get("status") or {}).get("rollout") or {}
            assert rollout.get("phase") == "RolledBack", rollout
            assert condition(cnet, "Degraded").get("reason") == "UpgradeRolledBack", condition(cnet, "Degraded")
            return cnet

        cnet = wait_for(rolled_back, timeout=120, what="the failed update to be rolled back")
        wait_for(lambda: _images(cluster) == old_images, timeout=30, what="the DaemonSet back on the old images")
        wait_for(lambda: _all_pods_ready_with(cluster, nodes, "fail.invalid"), timeout=120,
                 what="every node back on a Ready canal pod of the old version")
    finally:
        sampler.stop.set()
        sampler.join()

    status = cnet["status"]
    message = condition(cnet, "Degraded")["message"]
    assert NEW in message and "ImagePullBackOff" in message and "canal-" in message, message
    assert condition(cnet, "Stalled")["status"] == "True" and condition(cnet, "Ready")["status"] == "False"
    assert status["phase"] == "Degraded" and status["rollout"]["from"] == OLD and status["rollout"]["to"] == NEW
    wait_for(lambda: any(e["type"] == "Warning" for e in events_for(cluster, "UpgradeRolledBack")), timeout=15,
             what="a UpgradeRolledBack Warning Event")
    assert sampler.samples >= 5, f"the sampler looked only {sampler.samples} times"
    worst, lacking = sampler.worst
    # At least 1: the sampler saw the canary's broken pod, so it looked while it mattered.
    assert 1 <= worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready canal pod: {lacking[:10]}"
    assert get_clusternetwork(cluster)["status"]["version"] == OLD


def test_a_good_upgrade_goes_canary_soak_rolling_complete(cluster, nodes, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": ROLLOUT}, timeout=180)
    phases: list[str] = []
    sampler = Sampler(cluster, nodes)
    sampler.start()
    try:
        assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW},
                                              "rollout": ROLLOUT}).returncode == 0

        def complete() -> bool:
            cnet = get_clusternetwork(cluster)
            phase = ((cnet.get("status") or {}).get("rollout") or {}).get("phase")
            if phase and (not phases or phases[-1] != phase):
                phases.append(phase)
            assert phase == "Complete" and condition(cnet, "Ready")["status"] == "True", (phase, phases)
            return True

        wait_for(complete, timeout=240, what="the upgrade to complete")
    finally:
        sampler.stop.set()
        sampler.join()
    assert phases[0] == "Canary" and phases[-1] == "Complete", phases
    assert "Soaking" in phases and "Rolling" in phases, phases
    assert phases.index("Soaking") < phases.index("Rolling"), phases
    worst, lacking = sampler.worst
    assert worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready canal pod: {lacking[:10]}"
    cnet = get_clusternetwork(cluster)
    assert cnet["status"]["version"] == NEW and cnet["status"]["rollout"]["nodesUpdated"] == len(nodes)
