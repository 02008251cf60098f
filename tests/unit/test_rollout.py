"""The rollout decisions (session/rollout.py) on plain pod facts: the cases the reconcile rows do not reach."""

from __future__ import annotations

import datetime as dt

import pytest
from cni_operator.api import RolloutOptions
from cni_operator.health.facts import pod_facts
from cni_operator.session.rollout import Plan, advance, scaled, start

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def pod(name: str, node: str, revision: str, *, ready: bool = True, since: str = "2026-01-01T11:00:00Z"):
    return pod_facts({"metadata": {"name": name, "namespace": "kube-system",
                                   "labels": {"k8s-app": "canal", "controller-revision-hash": revision}},
                      "spec": {"nodeName": node},
                      "status": {"phase": "Running", "conditions": [
                          {"type": "Ready", "status": str(ready), "lastTransitionTime": since}]}})


def plan_for(pods, **options) -> tuple[Plan, RolloutOptions]:
    opts = RolloutOptions(**options)
    return start(previous=None, from_version="v1", to_version="v2", generation=2, from_spec="{}", to_spec="{new}",
                 pods=pods, options=opts, now=NOW), opts


@pytest.mark.parametrize(("value", "total", "want"), [(1, 10, 1), ("10%", 30, 3), ("10%", 5, 1), ("100%", 7, 7),
                                                      ("34%", 3, 2)])
def test_counts_and_percentages_round_up_to_at_least_one(value, total, want):
    assert scaled(value, total) == want


def test_a_canary_larger_than_the_cluster_is_every_node_and_said():
    pods = [pod(f"p{i}", f"n{i}", "old") for i in range(3)]
    plan, _ = plan_for(pods, canary=10)
    assert plan.canary_nodes == ["n0", "n1", "n2"]
    assert "more than the 3 nodes" in plan.message


def test_deletions_never_take_more_than_max_unavailable_nodes_down():
    pods = [pod(f"p{i}", f"n{i}", "old") for i in range(10)]
    plan, opts = plan_for(pods, canary="30%", maxUnavailable=2, soakSeconds=0)
    pods[9] = pod("p9", "n9", "old", ready=False)  # one node is down already
    step = advance(plan, pods, desired=10, observed=True, options=opts, now=NOW, deleting=set())
    assert [p.node for p in step.delete] == ["n0"], "one more node down at most: n9 is down already"
    step = advance(plan, pods, desired=10, observed=True, options=opts, now=NOW, deleting={"p0"})
    assert step.delete == [], "p0 is being replaced: the budget is spent"


def test_nothing_is_deleted_before_the_controller_has_the_new_template():
    pods = [pod(f"p{i}", f"n{i}", "old") for i in range(3)]
    plan, opts = plan_for(pods)
    assert advance(plan, pods, desired=3, observed=False, options=opts, now=NOW, deleting=set()).delete == []


def test_a_node_joining_during_the_soak_does_not_fail_it():
    pods = [pod("p0", "n0", "new"), pod("p1", "n1", "old"), pod("p2", "n2", "old")]
    plan, opts = plan_for([pod("x", "n0", "old"), *pods[1:]], soakSeconds=60)
    advance(plan, pods, desired=3, observed=True, options=opts, now=NOW, deleting=set())
    assert plan.phase == "Soaking"
    joined = [*pods, pod("p3", "n3", "new", ready=False, since="2026-01-01T12:00:10Z")]
    step = advance(plan, joined, desired=4, observed=True, options=opts, now=NOW + dt.timedelta(seconds=20),
                   deleting=set())
    assert not step.failed and plan.phase == "Soaking"


def test_a_canary_pod_that_restarts_during_the_soak_fails_it():
    pods = [pod("p0", "n0", "new"), pod("p1", "n1", "old")]
    plan, opts = plan_for([pod("x", "n0", "old"), pods[1]], soakSeconds=60)
    advance(plan, pods, desired=2, observed=True, options=opts, now=NOW, deleting=set())
    restarted = [pod("p0", "n0", "new", since="2026-01-01T12:00:30Z"), pods[1]]
    step = advance(plan, restarted, desired=2, observed=True, options=opts, now=NOW + dt.timedelta(seconds=40),
                   deleting=set())
    assert step.failed and plan.phase == "RolledBack" and "p0 on n0" in plan.message


def test_without_a_recorded_spec_a_failure_stops_instead_of_rolling_back():
    pods = [pod("p0", "n0", "old")]
    opts = RolloutOptions(progressDeadlineSeconds=30, soakSeconds=0)
    plan = start(previous=None, from_version="v1", to_version="v2", generation=2, from_spec=None, to_spec="{new}",
                 pods=pods, options=opts, now=NOW)
    step = advance(plan, [pod("p0", "n0", "new", ready=False)], desired=1, observed=True, options=opts,
                   now=NOW + dt.timedelta(seconds=31), deleting=set())
    assert step.failed and plan.phase == "Failed" and "no previous spec" in plan.message


def test_a_new_spec_mid_update_replaces_the_pods_of_every_earlier_revision():
    pods = [pod("p0", "n0", "mid"), pod("p1", "n1", "old"), pod("p2", "n2", "old")]
    first, opts = plan_for([pod("x", "n0", "old"), *pods[1:]], soakSeconds=0)
    opts = RolloutOptions(soakSeconds=0, maxUnavailable=3)
    plan = start(previous=first, from_version="v1", to_version="v3", generation=3, from_spec="{}", to_spec="{v3}",
                 pods=pods, options=opts, now=NOW)
    assert plan.from_revision == "old" and set(plan.stale_revisions) == {"old", "mid"}
    assert plan.canary_nodes == ["n0"], "n0 runs the intermediate template: it is updated too"
    back = start(previous=first, from_version="v1", to_version="v1", generation=3, from_spec="{}", to_spec="{}",
                 pods=pods, options=opts, now=NOW)
    assert back.stale_revisions == ["mid"], "back to the start: the pods of the start stay"
    step = advance(back, pods, desired=3, observed=True, options=opts, now=NOW, deleting=set())
    assert [p.name for p in step.delete] == ["p0"]


def aws_node(name: str, node: str, revision: str, init_waiting: str | None) -> object:
    """An aws-node pod as the kubelet (and kwok's failure stages) report it while its init container aws-vpc-cni-init
    has not completed: Pending, the init container waiting for INIT_WAITING, aws-node and aws-eks-nodeagent waiting in
    PodInitializing."""
    init = {"name": "aws-vpc-cni-init", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": init_waiting, "message": "Back-off pulling image \"fail.invalid/x\""}}
            if init_waiting else {"running": {"startedAt": "2026-01-01T12:00:01Z"}}}
    waiting = {"waiting": {"reason": "PodInitializing"}}
    return pod_facts({"metadata": {"name": name, "namespace": "kube-system",
                                   "labels": {"k8s-app": "aws-node", "controller-revision-hash": revision}},
                      "spec": {"nodeName": node},
                      "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                                 "initContainerStatuses": [init],
                                 "containerStatuses": [{"name": c, "ready": False, "restartCount": 0,
                                                        "state": waiting}
                                                       for c in ("aws-node", "aws-eks-nodeagent")]}})


def test_an_aws_node_canary_whose_init_container_cannot_pull_is_rolled_back_naming_it():
    """The VPC CNI's new image shows first in an init container: the gate reads init containers too, and waits
    while one merely runs (PodInitializing is not a failure)."""
    old = [pod(f"aws-node-{i}", f"n{i}", "old") for i in range(3)]
    plan, opts = plan_for(old, soakSeconds=0)
    starting = [aws_node("aws-node-new", "n0", "new", None), *old[1:]]
    step = advance(plan, starting, desired=3, observed=True, options=opts, now=NOW, deleting=set())
    assert not step.failed and plan.phase == "Canary"
    failing = [aws_node("aws-node-new", "n0", "new", "ImagePullBackOff"), *old[1:]]
    step = advance(plan, failing, desired=3, observed=True, options=opts, now=NOW, deleting=set())
    assert step.failed and plan.phase == "RolledBack"
    assert "aws-node-new on n0: ImagePullBackOff (aws-vpc-cni-init:" in plan.message, plan.message
