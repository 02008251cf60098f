"""The operator-driven update (docs/operations.md, "Upgrades, canary and rollback") for the AWS VPC CNI on 30+ kwok
nodes labelled as EKS nodes: a good version v1.22.3 -> v1.23.1 goes Canary -> Soaking -> Rolling -> Complete with
every aws-node pod on the new images; a version that cannot start (spec.registry fail.invalid: kwok keeps the
aws-vpc-cni-init init container in ImagePullBackOff, so the aws-node and aws-eks-nodeagent containers never start)
is rolled back by itself, and a sampler polling every 200 ms sees no moment with more than maxUnavailable nodes
without a Ready aws-node pod.

The aws-node pod differs from canal's where the gates look: its failing container is an init container (canal's
failing ones are init containers and containers alike), and its pod carries two containers whose images move
between the versions (aws-node and the network policy agent, aws-eks-nodeagent)."""

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
    all_pods_ready_with,
    assert_canary_soak_rolling_complete,
    at_least_nodes,
    ds_images,
    upgrade_phases,
    wait_rolled_back,
)

OLD, NEW = "v1.22.3", "v1.23.1"
MAX_UNAVAILABLE = 2
ROLLOUT = {"canary": 1, "soakSeconds": 4, "maxUnavailable": MAX_UNAVAILABLE, "progressDeadlineSeconds": 240}
ALLOW_FAIL_INVALID = {"CNI_OPERATOR_ALLOWED_REGISTRIES": "catalog,fail.invalid"}
EKS_LABEL = "eks.amazonaws.com/nodegroup"


@pytest.fixture
def nodes(cluster, cleanup) -> list[str]:
    """At least 30 fake nodes, every one labelled as an EKS managed node group's (what eks's preflight looks for);
    the nodes added are deleted after the test, the labels of the others removed."""
    names = at_least_nodes(cluster, 30, lambda name: cleanup.add(cluster.delete_node, name))
    for name in names:
        cluster.core.patch_node(name, {"metadata": {"labels": {EKS_LABEL: "ng-1"}}})
        cleanup.add(cluster.core.patch_node, name, {"metadata": {"labels": {EKS_LABEL: None}}})
    return names


def _spec(version: str, **extra) -> dict:
    return {"clusterType": "eks", "cni": {"version": version}, "rollout": ROLLOUT, **extra}


def test_a_vpc_cni_version_that_cannot_start_is_rolled_back_within_max_unavailable(cluster, nodes, start_operator,
                                                                                   wait_for):
    start_operator(env=ALLOW_FAIL_INVALID)
    install(cluster, _spec(OLD), timeout=180)
    old_images = ds_images(cluster, "aws-node")
    assert len(old_images) == 3 and all(OLD in i or "network-policy-agent" in i for i in old_images), old_images
    wait_for(lambda: all_pods_ready_with(cluster, nodes, "aws-node", old_images), timeout=120,
             what="a Ready aws-node pod of the old version on every node")
    with Sampler(cluster, nodes, "aws-node") as sampler:
        assert apply_clusternetwork(cluster, _spec(NEW, registry="fail.invalid")).returncode == 0

        cnet = wait_rolled_back(cluster, nodes, "aws-node", old_images)

    status = cnet["status"]
    message = condition(cnet, "Degraded")["message"]
    # The failing container is the init container: the message names it, its image pull and the pod's node.
    assert NEW in message and "ImagePullBackOff" in message and "aws-vpc-cni-init" in message, message
    assert "aws-node-" in message and " on kwok-node-" in message, message
    assert condition(cnet, "Stalled")["status"] == "True" and condition(cnet, "Ready")["status"] == "False"
    assert status["phase"] == "Degraded" and status["rollout"]["from"] == OLD and status["rollout"]["to"] == NEW
    wait_for(lambda: any(e["type"] == "Warning" for e in events_for(cluster, "UpgradeRolledBack")), timeout=15,
             what="a UpgradeRolledBack Warning Event")
    sampler.assert_kept_up()
    worst, lacking, _ = sampler.worst
    # At least 1: the sampler saw the canary's broken pod, so it looked while it mattered.
    assert 1 <= worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready aws-node pod: {lacking[:10]}"
    assert get_clusternetwork(cluster)["status"]["version"] == OLD


def test_a_good_vpc_cni_upgrade_goes_canary_soak_rolling_complete(cluster, nodes, start_operator, wait_for):
    start_operator()
    install(cluster, _spec(OLD), timeout=180)
    old_images = ds_images(cluster, "aws-node")
    with Sampler(cluster, nodes, "aws-node") as sampler:
        phases = upgrade_phases(cluster, _spec(NEW))
    assert_canary_soak_rolling_complete(phases)
    sampler.assert_kept_up()
    worst, lacking, _ = sampler.worst
    assert worst <= MAX_UNAVAILABLE, f"{worst} nodes at once without a Ready aws-node pod: {lacking[:10]}"

    new_images = ds_images(cluster, "aws-node")
    # All three images move: amazon-k8s-cni-init and amazon-k8s-cni to v1.23.1, the policy agent v1.3.7 -> v1.4.2.
    assert not set(new_images) & set(old_images), (old_images, new_images)
    all_pods_ready_with(cluster, nodes, "aws-node", new_images)
    cnet = get_clusternetwork(cluster)
    assert cnet["status"]["version"] == NEW and cnet["status"]["rollout"]["nodesUpdated"] == len(nodes)
