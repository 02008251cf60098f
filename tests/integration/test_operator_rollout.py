"""Updates the operator drives itself on 30+ kwok nodes (docs/operations.md, "Upgrades, canary and rollback"): a good
version goes Canary -> Soaking -> Rolling -> Complete; a version that cannot start (images from the registry
fail.invalid, which kwok keeps in ImagePullBackOff) is rolled back by itself, and a sampler polling every 200 ms sees
no moment with more than maxUnavailable nodes without a Ready canal pod."""

from __future__ import annotations

import pytest

from tests.harness.clusternetwork import (
    apply_clusternetwork,
    condition,
    events_for,
    get_clusternetwork,
    install,
)
from tests.harness.rollout import (
    Sampler,
    assert_canary_soak_rolling_complete,
    at_least_nodes,
    ds_images,
    upgrade_phases,
    wait_rolled_back,
)

OLD, NEW = "v3.31.4", "v3.32.1"
MAX_UNAVAILABLE = 2
ROLLOUT = {"canary": 1, "soakSeconds": 4, "maxUnavailable": MAX_UNAVAILABLE, "progressDeadlineSeconds": 240}
ALLOW_FAIL_INVALID = {"CNI_OPERATOR_ALLOWED_REGISTRIES": "catalog,fail.invalid"}


@pytest.fixture
def nodes(cluster, cleanup) -> list[str]:
    """At least 30 fake nodes for the test; the ones added are deleted after it."""
    return at_least_nodes(cluster, 30, lambda name: cleanup.add(cluster.delete_node, name))


def test_a_version_that_cannot_start_is_rolled_back_within_max_unavailable(cluster, nodes, start_operator, wait_for):
    start_operator(env=ALLOW_FAIL_INVALID)
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": ROLLOUT}, timeout=180)
    old_images = ds_images(cluster, "canal")
    with Sampler(cluster, nodes, "canal") as sampler:
        spec = {"clusterType": "mks", "cni": {"version": NEW}, "registry": "fail.invalid", "rollout": ROLLOUT}
        assert apply_clusternetwork(cluster, spec).returncode == 0
        cnet = wait_rolled_back(cluster, nodes, "canal", old_images)

    status = cnet["status"]
    message = condition(cnet, "Degraded")["message"]
    assert NEW in message and "ImagePullBackOff" in message and "canal-" in message, message
    assert condition(cnet, "Stalled")["status"] == "True" and condition(cnet, "Ready")["status"] == "False"
    assert status["phase"] == "Degraded" and status["rollout"]["from"] == OLD and status["rollout"]["to"] == NEW
    wait_for(lambda: any(e["type"] == "Warning" for e in events_for(cluster, "UpgradeRolledBack")), timeout=15,
             what="a UpgradeRolledBack Warning Event")
    sampler.assert_kept_up()
    worst, lacking, _ = sampler.worst
    # At least 1: the sampler saw the canary's broken pod, so it looked while it mattered.
    assert 1 <= worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready canal pod: {lacking[:10]}"
    assert get_clusternetwork(cluster)["status"]["version"] == OLD


def test_a_good_upgrade_goes_canary_soak_rolling_complete(cluster, nodes, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": ROLLOUT}, timeout=180)
    with Sampler(cluster, nodes, "canal") as sampler:
        phases = upgrade_phases(cluster, {"clusterType": "mks", "cni": {"version": NEW}, "rollout": ROLLOUT})
    assert_canary_soak_rolling_complete(phases)
    sampler.assert_kept_up()
    worst, lacking, _ = sampler.worst
    assert worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready canal pod: {lacking[:10]}"
    cnet = get_clusternetwork(cluster)
    assert cnet["status"]["version"] == NEW and cnet["status"]["rollout"]["nodesUpdated"] == len(nodes)
