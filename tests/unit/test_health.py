"""Health: plain API dicts in, counts, grouped pod problems, conditions and a phase out (health.py, problems.py).

No cluster and no client mocks: every input is a dict shaped like the API's JSON (camelCase).
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from cni_operator import health
from cni_operator.health import ApplyState, assess, node_coverage, pod_problems, workload_counts
from cni_operator.health.conditions import Reason, merge_conditions, status_differs
from cni_operator.health.problems import MAX_PROBLEM_GROUPS, Problem, grace_left

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "health.md"


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- builders (the shapes the API returns)


def node(name: str, created_ago: float = 86400, labels: dict | None = None, provider_id: str = "") -> dict:
    return {"metadata": {"name": name, "creationTimestamp": ago(created_ago), "labels": labels or {}},
            "spec": {"providerID": provider_id} if provider_id else {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def daemonset(name="canal", desired=3, ready=None, updated=None, unavailable=None, generation=2, observed=2):
    ready = desired if ready is None else ready
    status = {"desiredNumberScheduled": desired, "numberReady": ready,
              "updatedNumberScheduled": desired if updated is None else updated,
              "numberUnavailable": desired - ready if unavailable is None else unavailable}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "generation": generation},
            "spec": {"selector": {"matchLabels": {"k8s-app": name}}}, "status": status}


def deployment(name="calico-kube-controllers", replicas=1, ready=None, updated=None, unavailable=None):
    ready = replicas if ready is None else ready
    status = {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
              "updatedReplicas": replicas if updated is None else updated}
    if unavailable is not None:
        status["unavailableReplicas"] = unavailable
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "kube-system", "generation": 1},
            "spec": {"replicas": replicas}, "status": status}


def running(name="calico-node", ready=True, started_ago=3600, last=None) -> dict:
    cs = {"name": name, "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": ago(started_ago)}}}
    if last:
        cs["lastState"] = {"terminated": last}
    return cs


def waiting(name="calico-node", reason="CrashLoopBackOff", message="", last=None) -> dict:
    cs = {"name": name, "ready": False, "restartCount": 4, "state": {"waiting": {"reason": reason, "message": message}}}
    if last:
        cs["lastState"] = {"terminated": last}
    return cs


def pod(name: str, node_name: str | None, *, ready=True, phase="Running", ready_since=3600, containers=None,
        init=None, scheduled=None, deleting=False, app="canal") -> dict:
    if containers is None:
        containers = [running(ready=ready), running("kube-flannel", ready=ready)]
    conditions = [scheduled or {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(7200)}]
    if phase == "Running":
        conditions.append({"type": "Ready", "status": "True" if ready else "False",
                           "lastTransitionTime": ago(ready_since)})
    meta = {"name": name, "namespace": "kube-system", "labels": {"k8s-app": app}}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta, "spec": {"nodeName": node_name} if node_name else {},
            "status": {"phase": phase, "conditions": conditions, "containerStatuses": containers,
                       "initContainerStatuses": init or []}}


def cluster(n: int = 3):
    nodes = [node(f"n{i}") for i in range(1, n + 1)]
    pods = [pod(f"canal-{i}", f"n{i}") for i in range(1, n + 1)]
    return nodes, pods


def healthy(**overrides):
    nodes, pods = cluster()
    kwargs = {"generation": 2, "applied": ApplyState(generation=2, hash="abc123", objects=40),
              "deployment": deployment(), "expect_deployment": "calico-kube-controllers"}
    kwargs.update(overrides)
    return assess(daemonset(), nodes, pods, NOW, **kwargs)


def cond(picture, type_: str) -> tuple[str, str]:
    c = picture.condition(type_)
    return c["status"], c["reason"]


# ---------------------------------------------------------------- workload counts


def test_daemonset_counts():
    c = workload_counts(daemonset(desired=5, ready=3, updated=4, unavailable=2))
    assert (c.present, c.name, c.desired, c.ready, c.updated, c.unavailable) == (True, "canal", 5, 3, 4, 2)
    assert c.rolling_out and c.progressing and not c.available


def test_deployment_counts_and_defaults():
    c = workload_counts(deployment(replicas=2, ready=1, unavailable=1))
    assert (c.desired, c.ready, c.updated, c.unavailable) == (2, 1, 2, 1)
    # unavailableReplicas is omitted when zero; derived from availableReplicas otherwise
    d = deployment(replicas=2, ready=2)
    assert workload_counts(d).unavailable == 0 and workload_counts(d).available
    d["status"] = {}
    assert workload_counts(d).unavailable == 2 and not workload_counts(d).observed
    d["spec"]["replicas"] = None  # a projection may keep the key empty: the API default is 1
    assert workload_counts(d).desired == 1


def test_kind_missing_is_guessed_from_replicas():
    d = deployment(replicas=2)
    del d["kind"]
    assert workload_counts(d).desired == 2
    s = daemonset(desired=4)
    del s["kind"]
    assert workload_counts(s).desired == 4


def test_missing_workload_is_not_healthy_zeros():
    c = workload_counts(None)
    assert c is health.MISSING and not c.present and not c.available and not c.progressing


def test_controller_not_caught_up_is_rolling_out():
    c = workload_counts(daemonset(generation=3, observed=2))
    assert c.rolling_out and not c.observed
    assert workload_counts(daemonset()).progressing is False


# ---------------------------------------------------------------- node coverage


def test_node_coverage_counts_ready_pods_per_node():
    nodes, pods = cluster(4)
    pods[1] = pod("canal-2", "n2", ready=False)
    pods[2] = pod("canal-3", "n3", deleting=True)  # going away: no longer covers its node
    pods.append(pod("canal-x", "gone-node"))  # a pod on a node we do not know about is ignored
    pods.append(pod("canal-y", None, phase="Pending"))
    counts = node_coverage(nodes, pods)
    assert (counts.total, counts.with_ready_cni, counts.without_ready_cni) == (4, 2, ["n2", "n3"])


def test_node_names_are_capped_and_naturally_sorted():
    nodes = [node(f"n{i}") for i in range(1, 16)]
    counts = node_coverage(list(reversed(nodes)), [])
    assert counts.without_ready_cni == [f"n{i}" for i in range(1, 11)]
    assert counts.model_dump(by_alias=True)["withReadyCNI"] == 0


def test_thousand_nodes():
    nodes = [node(f"node-{i}") for i in range(1000)]
    pods = [pod(f"canal-{i}", f"node-{i}") for i in range(1000) if i % 100 != 7]
    counts = node_coverage(nodes, pods)
    assert (counts.total, counts.with_ready_cni) == (1000, 990)
    assert counts.without_ready_cni == [f"node-{i}" for i in range(7, 1000, 100)]
    picture = assess(daemonset(desired=1000, ready=990, unavailable=0), nodes, pods, NOW,
                     generation=2, applied=ApplyState(generation=2))
    assert cond(picture, "Degraded") == ("True", "NodesWithoutCNI")
    assert picture.ready_summary == "990/1000"
    assert "10 of 1000 nodes have no ready canal pod: node-7, node-107" in picture.condition("Degraded")["message"]


# ---------------------------------------------------------------- pod problems, one reason at a time


def one(pods, grace=60):
    found = pod_problems(pods, NOW, grace)
    assert len(found) == 1, found
    return found[0]


def test_crash_loop_with_exit_code():
    p = one([pod("canal-a", "n2", ready=False, containers=[
        waiting(last={"exitCode": 1, "reason": "Error", "message": "felix: datastore unreachable\nmore"}),
        running("kube-flannel")])])
    assert (p.reason, p.count, p.pods, p.container) == ("CrashLoopBackOff", 1, ["canal-a@n2"], "calico-node")
    assert p.message == "exited with code 1 (Error): felix: datastore unreachable"


def test_oom_killed_while_crash_looping_and_when_terminated():
    p = one([pod("canal-a", "n1", ready=False, containers=[waiting(last={"exitCode": 137, "reason": "OOMKilled"})])])
    assert p.reason == "OOMKilled" and "memory" in p.message
    terminated = {"name": "calico-node", "ready": False, "state": {"terminated": {"exitCode": 137,
                                                                                  "reason": "OOMKilled"}}}
    assert one([pod("canal-b", "n1", ready=False, containers=[terminated])]).reason == "OOMKilled"


def test_terminated_with_error():
    terminated = {"name": "calico-node", "ready": False, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
    p = one([pod("canal-a", "n1", ready=False, containers=[terminated])])
    assert (p.reason, p.message) == ("Error", "exited with code 2 (Error)")


def test_image_pull_errors_are_one_group_with_a_stable_message():
    image = "quay.io/calico/node:v9.9.9"
    pods = [
        pod("canal-a", "n1", ready=False, phase="Pending", containers=[
            waiting(reason="ErrImagePull", message=f'failed to pull and unpack image "{image}": not found')]),
        pod("canal-b", "n2", ready=False, phase="Pending", containers=[
            waiting(reason="ImagePullBackOff", message=f'Back-off pulling image "{image}"')]),
    ]
    p = one(pods)
    assert (p.reason, p.count, p.pods) == ("ImagePullBackOff", 2, ["canal-a@n1", "canal-b@n2"])
    assert p.message == f'cannot pull image "{image}"'
    # flipping between the two kubelet reasons changes nothing
    flipped = [pod("canal-a", "n1", ready=False, phase="Pending", containers=[
        waiting(reason="ImagePullBackOff", message=f'Back-off pulling image "{image}"')]), pods[1]]
    assert pod_problems(flipped, NOW) == pod_problems(pods, NOW)
    assert one([pod("c", "n1", phase="Pending", containers=[waiting(reason="InvalidImageName")])]).reason == \
        "ImagePullBackOff"


def test_create_container_config_error():
    p = one([pod("canal-a", "n1", phase="Pending", containers=[
        waiting(reason="CreateContainerConfigError", message='configmap "canal-config" not found')])])
    assert (p.reason, p.message) == ("CreateContainerError", 'configmap "canal-config" not found')


def test_failed_phase():
    failed = pod("canal-a", "n1", phase="Failed", containers=[])
    failed["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    p = one([failed])
    assert (p.reason, p.container, p.message) == ("Failed", "", "Evicted: The node was low on resource: memory.")


@pytest.mark.parametrize("seconds, flagged", [(59, False), (60, True), (600, True)])
def test_unschedulable_after_grace(seconds, flagged):
    sched = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu.", "lastTransitionTime": ago(seconds)}
    found = pod_problems([pod("canal-a", None, phase="Pending", containers=[], scheduled=sched)], NOW)
    assert bool(found) is flagged
    if flagged:
        assert (found[0].reason, found[0].pods, found[0].message) == (
            "Unschedulable", ["canal-a"], "0/3 nodes are available: 3 Insufficient cpu.")


@pytest.mark.parametrize("seconds, flagged", [(59, False), (60, True)])
def test_pending_after_grace(seconds, flagged):
    sched = {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(seconds)}
    stuck = pod("canal-a", "n1", phase="Pending", scheduled=sched,
                containers=[waiting(reason="ContainerCreating")])
    found = pod_problems([stuck], NOW)
    assert bool(found) is flagged
    if flagged:
        assert found[0].reason == "Pending" and "ContainerCreating" in found[0].message


@pytest.mark.parametrize("seconds, flagged", [(0, False), (59.999, False), (60, True), (61, True)])
def test_not_ready_only_after_the_grace_period(seconds, flagged):
    p = pod("canal-a", "n1", ready=False, ready_since=0)  # not ready since NOW (timestamps have whole seconds)
    found = pod_problems([p], NOW + dt.timedelta(seconds=seconds))
    assert bool(found) is flagged
    if flagged:
        assert (found[0].reason, found[0].container) == ("NotReady", "calico-node")


def test_not_ready_grace_from_container_start_without_ready_condition():
    p = pod("canal-a", "n1", ready=False, containers=[running(ready=False, started_ago=30)])
    p["status"]["conditions"] = [c for c in p["status"]["conditions"] if c["type"] != "Ready"]
    assert pod_problems([p], NOW) == []
    assert pod_problems([p], NOW + dt.timedelta(seconds=30))[0].reason == "NotReady"
    p["status"]["containerStatuses"][0]["state"] = {"running": {}}  # no time at all: never accused
    assert pod_problems([p], NOW + dt.timedelta(hours=1)) == []


def test_custom_grace():
    assert pod_problems([pod("canal-a", "n1", ready=False, ready_since=20)], NOW, grace_seconds=10)
    assert not pod_problems([pod("canal-a", "n1", ready=False, ready_since=20)], NOW, grace_seconds=30)


def test_init_container_problems():
    p = one([pod("canal-a", "n3", phase="Pending", containers=[waiting(reason="PodInitializing")],
                 init=[waiting("install-cni", last={"exitCode": 1, "reason": "Error"})])])
    assert (p.reason, p.container) == ("CrashLoopBackOff", "install-cni")
    done = {"name": "install-cni", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert pod_problems([pod("canal-b", "n3", init=[done])], NOW) == []


def test_history_alone_is_not_a_problem():
    """A container that was OOMKilled once and runs ready now is fine."""
    ok = pod("canal-a", "n1", containers=[running(last={"exitCode": 137, "reason": "OOMKilled"})])
    assert pod_problems([ok], NOW) == []
    assert pod_problems([pod("canal-b", "n1", ready=False, deleting=True, ready_since=9999)], NOW) == []
    assert pod_problems([pod("canal-c", "n1", phase="Succeeded", containers=[])], NOW) == []


def test_two_bad_containers_in_one_pod_are_two_groups():
    found = pod_problems([pod("canal-a", "n1", ready=False, containers=[
        waiting(last={"exitCode": 1}), waiting("kube-flannel", last={"exitCode": 1})])], NOW)
    assert [(p.reason, p.container) for p in found] == [("CrashLoopBackOff", "calico-node"),
                                                        ("CrashLoopBackOff", "kube-flannel")]


# ---------------------------------------------------------------- grouping, capping, ordering


def crashing(name, node_name, exit_code=1):
    return pod(name, node_name, ready=False, containers=[waiting(last={"exitCode": exit_code, "reason": "Error"}),
                                                         running("kube-flannel")])


def test_grouping_counts_every_pod_and_names_three_in_natural_order():
    pods = [crashing(f"canal-{i}", f"n{i}") for i in (12, 3, 1, 7, 20)]
    p = one(pods)
    assert p.count == 5 and p.pods == ["canal-1@n1", "canal-3@n3", "canal-7@n7"]
    assert health.describe_problem(p).startswith("canal-1@n1, canal-3@n3, canal-7@n7 and 2 more CrashLoopBackOff")


def test_ordering_is_by_severity_then_count_and_deterministic():
    pods = [
        pod("canal-nr", "n9", ready=False, ready_since=300),
        crashing("canal-c1", "n1"), crashing("canal-c2", "n2"),
        pod("canal-img", "n3", phase="Pending", containers=[waiting(reason="ImagePullBackOff")]),
        pod("canal-f", "n4", phase="Failed", containers=[]),
    ]
    expected = ["Failed", "CrashLoopBackOff", "ImagePullBackOff", "NotReady"]
    assert [p.reason for p in pod_problems(pods, NOW)] == expected
    for seed in range(5):
        shuffled = pods[:]
        random.Random(seed).shuffle(shuffled)
        assert pod_problems(shuffled, NOW) == pod_problems(pods, NOW)


def test_groups_are_capped_and_limit_none_keeps_all():
    pods = [pod(f"p{i}", f"n{i}", ready=False, containers=[waiting(f"c{i}", last={"exitCode": 1})])
            for i in range(MAX_PROBLEM_GROUPS + 2)]
    assert len(pod_problems(pods, NOW)) == MAX_PROBLEM_GROUPS
    assert len(pod_problems(pods, NOW, limit=None)) == MAX_PROBLEM_GROUPS + 2


def test_long_messages_are_cut():
    p = one([pod("canal-a", "n1", phase="Pending", containers=[
        waiting(reason="CreateContainerError", message="x" * 500)])])
    assert len(p.message) <= 160 and p.message.endswith("…")


def test_grace_left_says_when_to_look_again():
    pods = [pod("canal-a", "n1", ready=False, ready_since=45), pod("canal-b", "n2", ready=False, ready_since=10)]
    assert grace_left(pods, NOW) == pytest.approx(15)
    assert grace_left(cluster()[1], NOW) is None


def test_problem_reasons_documented():
    text = DOCS.read_text()
    for problem in Problem:
        assert f"`{problem.value}`" in text, f"{problem.value} is not documented in docs/health.md"


# ---------------------------------------------------------------- assess: every path


def test_healthy_cluster():
    picture = healthy()
    assert picture.phase == "Ready" and picture.ready_summary == "3/3"
    assert cond(picture, "Ready") == ("True", "AllNodesReady")
    assert cond(picture, "Progressing") == ("False", "Stable")
    assert cond(picture, "Degraded") == ("False", "AsExpected")
    assert cond(picture, "Applied") == ("True", "Applied")
    assert picture.condition("Ready")["message"] == "3/3 nodes have a ready canal pod"
    assert picture.condition("Applied")["message"] == "generation 2 applied: 40 objects, hash abc123"
    for c in picture.conditions:
        assert c["observedGeneration"] == 2 and c["lastTransitionTime"] == "2025-03-01T12:00:00Z"
    # the operator's four, then the kstatus pair (Flux, Argo CD, kpt): converged, nothing waiting for a person
    assert [c["type"] for c in picture.conditions] == ["Ready", "Progressing", "Degraded", "Applied",
                                                       "Reconciling", "Stalled"]
    assert cond(picture, "Reconciling") == ("False", "Stable")
    assert cond(picture, "Stalled") == ("False", "AsExpected")
    assert picture.problems == [] and picture.recheck_after is None
    assert picture.verdict == "Ready: 3/3 nodes have a ready canal pod"


def test_a_foreign_cni_next_to_the_installed_one_is_degraded_but_still_managed():
    picture = healthy(foreign=["cilium (kube-system/cilium)"])
    assert picture.phase == "Degraded"
    assert cond(picture, "Degraded") == ("True", "ForeignCNIDetected")
    assert "another CNI runs next to canal: cilium (kube-system/cilium)" in picture.condition("Degraded")["message"]
    assert cond(picture, "Ready") == ("True", "AllNodesReady")  # its own CNI is fine: that stays visible
    assert cond(picture, "Applied") == ("True", "Applied")  # not a refusal: the operator keeps applying


def test_status_shape_is_camel_case():
    status = healthy().status
    assert set(status) == {"observedGeneration", "phase", "readySummary", "conditions", "health", "unhealthy"}
    assert status["health"] == {"desired": 3, "ready": 3, "updated": 3, "unavailable": 0,
                                "nodes": {"total": 3, "withReadyCNI": 3, "withoutReadyCNI": []}}
    status["conditions"][0]["status"] = "mutated"
    assert healthy().status["conditions"][0]["status"] == "True"


def test_before_the_first_apply():
    nodes, _ = cluster()
    picture = assess(None, nodes, [], NOW, generation=1)
    assert picture.phase == "Pending"
    assert cond(picture, "Ready") == ("False", "NotApplied")
    assert cond(picture, "Progressing") == ("True", "Applying")
    assert cond(picture, "Degraded") == ("False", "AsExpected")  # nothing installed is not a failure
    assert cond(picture, "Applied") == ("False", "NotApplied")
    assert picture.health.desired == 0 and picture.ready_summary == "0/3"


def test_just_applied_daemonset_without_status():
    nodes, _ = cluster()
    fresh = daemonset(desired=0, ready=0, updated=0, unavailable=0, generation=1, observed=None)
    picture = assess(fresh, nodes, [], NOW, generation=1, applied=True)
    assert picture.phase == "Installing"
    assert cond(picture, "Progressing") == ("True", "RollingOut")
    assert "waiting for its controller" in picture.condition("Progressing")["message"]
    assert cond(picture, "Ready") == ("False", "NodesNotReady")
    assert cond(picture, "Degraded") == ("False", "AsExpected")  # the rollout has not settled yet


def test_upgrade_rolling_out_is_not_ready_until_every_node_runs_the_new_template():
    nodes, pods = cluster()  # every old pod Ready
    picture = assess(daemonset(updated=1, generation=3, observed=3), nodes, pods, NOW, generation=4,
                     applied=ApplyState(generation=4))
    assert picture.phase == "Installing"
    assert cond(picture, "Ready") == ("False", "RollingOut")
    assert cond(picture, "Degraded") == ("False", "AsExpected")
    assert cond(picture, "Progressing") == ("True", "RollingOut")
    assert picture.condition("Progressing")["message"] == "canal: 1 of 3 pods updated"


def test_deleted_pod_is_progressing_with_the_node_named():
    nodes, pods = cluster()
    del pods[1]
    picture = assess(daemonset(ready=2, unavailable=1), nodes, pods, NOW, generation=2, applied=True)
    assert picture.phase == "Installing"
    assert cond(picture, "Progressing") == ("True", "PodsStarting")
    assert cond(picture, "Ready") == ("False", "NodesNotReady")
    assert picture.condition("Ready")["message"] == "1 of 3 nodes has no ready canal pod: n2"
    assert cond(picture, "Degraded") == ("False", "AsExpected")


def test_crash_loop_degrades_and_names_node_and_pod():
    nodes, pods = cluster()
    pods[1] = crashing("canal-x", "n2")
    pods[2] = pod("canal-3", "n3", ready=False, ready_since=120)
    picture = assess(daemonset(ready=1, unavailable=2), nodes, pods, NOW, generation=2, applied=True)
    assert picture.phase == "Degraded"
    assert cond(picture, "Degraded") == ("True", "PodsFailing")
    message = picture.condition("Degraded")["message"]
    assert message.startswith("2 of 3 nodes have no ready canal pod: n2, n3; "
                              "canal-x@n2 CrashLoopBackOff in calico-node: exited with code 1 (Error)")
    assert "canal-3@n3 NotReady in calico-node" in message
    assert [p.reason for p in picture.problems] == ["CrashLoopBackOff", "NotReady"]
    assert picture.status["unhealthy"][0]["pods"] == ["canal-x@n2"]


def test_node_without_pod_after_rollout_settled():
    nodes, pods = cluster()
    del pods[2]  # e.g. a taint the DaemonSet does not tolerate: desired excludes the node
    picture = assess(daemonset(desired=2), nodes, pods, NOW, generation=2, applied=True)
    assert cond(picture, "Degraded") == ("True", "NodesWithoutCNI")
    assert picture.condition("Degraded")["message"] == "1 of 3 nodes has no ready canal pod: n3"
    assert cond(picture, "Progressing") == ("False", "Stable")
    assert picture.phase == "Degraded"


def test_joining_node_is_progressing_until_its_grace_runs_out():
    nodes, pods = cluster()
    nodes.append(node("n4", created_ago=20))
    picture = assess(daemonset(), nodes, pods, NOW, generation=2, applied=True)
    assert cond(picture, "Progressing") == ("True", "PodsStarting")
    assert "n4 joined less than 60s ago" in picture.condition("Progressing")["message"]
    assert cond(picture, "Degraded") == ("False", "AsExpected")
    assert picture.recheck_after == pytest.approx(40.5)
    later = assess(daemonset(), nodes, pods, NOW + dt.timedelta(seconds=41), generation=2, applied=True)
    assert cond(later, "Degraded") == ("True", "NodesWithoutCNI")


def test_one_bad_node_does_not_hide_the_rest():
    nodes, pods = cluster(5)
    pods[0] = crashing("canal-1", "n1")
    pods[2] = pod("canal-3", "n3", phase="Pending", containers=[waiting(reason="ImagePullBackOff",
                                                                        message='Back-off pulling image "x:v1"')])
    del pods[4]  # n5 has no pod at all
    picture = assess(daemonset(desired=5, ready=2, unavailable=3), nodes, pods, NOW, generation=2, applied=True)
    message = picture.condition("Degraded")["message"]
    image_problem = 'canal-3@n3 ImagePullBackOff in calico-node: cannot pull image "x:v1"'
    for expected in ("n1, n3, n5", "canal-1@n1 CrashLoopBackOff", image_problem):
        assert expected in message
    assert picture.health.nodes.without_ready_cni == ["n1", "n3", "n5"]


def test_problem_groups_beyond_the_cap_are_counted_in_the_message():
    nodes = [node(f"n{i}") for i in range(7)]
    pods = [pod(f"p{i}", f"n{i}", ready=False, containers=[waiting(f"c{i}", last={"exitCode": 1})])
            for i in range(7)]
    picture = assess(daemonset(desired=7, ready=0), nodes, pods, NOW, generation=2, applied=True)
    assert len(picture.problems) == MAX_PROBLEM_GROUPS
    assert picture.condition("Degraded")["message"].endswith("; and 2 more problem groups")


def test_missing_daemonset_after_apply():
    nodes, _ = cluster()
    picture = assess(None, nodes, [], NOW, generation=2, applied=True, provider="canal")
    assert picture.phase == "Degraded"
    for type_ in ("Ready", "Progressing"):
        assert cond(picture, type_) == ("False", "WorkloadMissing")
    assert cond(picture, "Degraded") == ("True", "WorkloadMissing")
    assert picture.condition("Degraded")["message"] == "the canal DaemonSet is missing"
    assert picture.health.desired == 0


def test_controllers_deployment():
    missing = healthy(deployment=None)
    assert cond(missing, "Ready") == ("False", "WorkloadMissing")
    assert cond(missing, "Degraded") == ("True", "WorkloadMissing")
    assert "calico-kube-controllers Deployment is missing" in missing.condition("Degraded")["message"]
    not_ready = healthy(deployment=deployment(ready=0, unavailable=1))
    assert cond(not_ready, "Ready") == ("False", "ControllersNotReady")
    assert cond(not_ready, "Progressing") == ("True", "PodsStarting")
    rolling = healthy(deployment=deployment(replicas=2, updated=1))
    assert cond(rolling, "Progressing") == ("True", "RollingOut")
    crashing_controller = pod("calico-kube-controllers-abc", "n1", ready=False, app="calico-kube-controllers",
                              containers=[waiting("calico-kube-controllers", last={"exitCode": 1})])
    failing = healthy(deployment=deployment(ready=0, unavailable=1), controller_pods=[crashing_controller])
    assert cond(failing, "Degraded") == ("True", "PodsFailing")
    assert failing.ready_summary == "3/3"  # controller pods never count as node coverage
    # providers without controllers: no Deployment expected, none reported
    assert healthy(deployment=None, expect_deployment=None).phase == "Ready"


def test_apply_failed_on_a_new_generation():
    nodes, pods = cluster()
    pods[0] = crashing("canal-1", "n1")
    state = ApplyState(generation=2, error=Reason.APPLY_FAILED, message="DaemonSet kube-system/canal: forbidden")
    picture = assess(daemonset(ready=2, unavailable=1), nodes, pods, NOW, generation=3, applied=state)
    assert picture.phase == "Degraded"
    assert cond(picture, "Degraded") == ("True", "ApplyFailed")
    assert cond(picture, "Applied") == ("False", "ApplyFailed")
    assert cond(picture, "Ready") == ("False", "ApplyFailed")
    message = picture.condition("Degraded")["message"]
    assert message.startswith("DaemonSet kube-system/canal: forbidden") and "canal-1@n1 CrashLoopBackOff" in message


def test_apply_failed_again_on_the_applied_generation_keeps_ready_honest():
    picture = healthy(applied=ApplyState(generation=2, error=Reason.APPLY_FAILED, message="conflict"))
    assert cond(picture, "Ready") == ("True", "AllNodesReady")
    assert cond(picture, "Degraded") == ("True", "ApplyFailed")
    assert picture.phase == "Degraded"


def test_shorthand_apply_error():
    picture = healthy(applied=False, apply_error="ConfigMap kube-system/canal-config: timeout")
    assert cond(picture, "Applied") == ("False", "ApplyFailed")
    assert picture.condition("Applied")["message"] == "ConfigMap kube-system/canal-config: timeout"
    assert healthy(applied=True).phase == "Ready"


@pytest.mark.parametrize("reason", [Reason.INVALID_CONFIGURATION, Reason.FOREIGN_CNI_DETECTED,
                                    Reason.CLUSTER_TYPE_MISMATCH])
def test_refusals_fail_every_condition(reason):
    nodes, _ = cluster()
    picture = assess(None, nodes, [], NOW, generation=1, applied=ApplyState(error=reason, message="why and what"))
    assert picture.phase == "Failed"
    assert cond(picture, "Degraded") == ("True", reason.value)
    for type_ in ("Ready", "Progressing", "Applied"):
        assert cond(picture, type_) == ("False", reason.value)
    assert picture.condition("Degraded")["message"] == "why and what"


def test_paused_reports_the_running_network():
    picture = healthy(paused=True, generation=3)  # pausing is itself a spec change: generation 3 never applied
    assert picture.phase == "Paused"
    assert cond(picture, "Ready") == ("True", "AllNodesReady")
    assert cond(picture, "Applied") == ("False", "Paused")
    assert cond(picture, "Progressing") == ("False", "Paused")
    assert healthy(paused=True).condition("Applied")["status"] == "True"
    nodes, _ = cluster()
    empty = assess(None, nodes, [], NOW, generation=1, paused=True)
    assert cond(empty, "Ready") == ("False", "Paused") and empty.phase == "Paused"
    sick = healthy(paused=True, deployment=deployment(ready=0, unavailable=1),
                   controller_pods=[pod("ctl", "n1", ready=False, containers=[waiting("ctl", last={"exitCode": 1})])])
    assert cond(sick, "Degraded") == ("True", "PodsFailing") and sick.phase == "Paused"


def test_imported_cluster_reports_the_existing_cni():
    nodes, pods = cluster()
    pods = [pod(f"calico-node-{i}", f"n{i}", app="calico-node") for i in (1, 2, 3)]
    picture = assess(daemonset("calico-node"), nodes, pods, NOW, generation=1, imported=True)
    assert picture.phase == "Unmanaged"
    assert cond(picture, "Applied") == ("False", "Unmanaged")
    assert cond(picture, "Ready") == ("True", "AllNodesReady")
    assert picture.condition("Ready")["message"] == "3/3 nodes have a ready calico-node pod"
    pods[0] = crashing("calico-node-1", "n1")
    sick = assess(daemonset("calico-node", ready=2), nodes, pods, NOW, generation=1, imported=True)
    assert cond(sick, "Degraded") == ("True", "PodsFailing") and sick.phase == "Unmanaged"
    assert sick.verdict.startswith("Unmanaged: 1 of 3 nodes has no ready calico-node pod")


def test_imported_cluster_without_a_known_cni():
    nodes, _ = cluster()
    picture = assess(None, nodes, [], NOW, generation=1, imported=True)
    for type_ in ("Ready", "Progressing", "Degraded"):
        assert cond(picture, type_) == ("Unknown", "NoCNIDetected")
    assert picture.phase == "Unmanaged"


def test_no_nodes_yet():
    picture = assess(daemonset(desired=0), [], [], NOW, generation=1, applied=True)
    assert cond(picture, "Ready") == ("False", "NodesNotReady")
    assert picture.condition("Ready")["message"] == "the cluster has no nodes yet"


def test_now_is_required_to_judge_pods():
    with pytest.raises(ValueError):
        assess(daemonset(), *cluster(), None, generation=1)


def test_idle_cluster_needs_no_status_write():
    """The same healthy cluster ten minutes later: after merging conditions nothing differs (zero writes)."""
    first = healthy().status
    later_time = NOW + dt.timedelta(minutes=10)
    nodes, pods = cluster()
    later = assess(daemonset(), nodes, pods, later_time, generation=2,
                   applied=ApplyState(generation=2, hash="abc123", objects=40), deployment=deployment(),
                   expect_deployment="calico-kube-controllers").status
    later["conditions"] = merge_conditions(first["conditions"], later["conditions"], later_time)
    assert not status_differs(first, later)
    assert later["conditions"][0]["lastTransitionTime"] == "2025-03-01T12:00:00Z"


def test_crash_looping_cluster_status_is_stable_between_restarts():
    nodes, pods = cluster()
    pods[1] = crashing("canal-x", "n2")
    first = assess(daemonset(ready=2, unavailable=1), nodes, pods, NOW, generation=2, applied=True).status
    pods[1]["status"]["containerStatuses"][0]["restartCount"] = 40  # restarts alone must not change status
    later = assess(daemonset(ready=2, unavailable=1), nodes, pods, NOW + dt.timedelta(minutes=5), generation=2,
                   applied=True).status
    later["conditions"] = merge_conditions(first["conditions"], later["conditions"], NOW)
    assert not status_differs(first, later)


# ---------------------------------------------------------------- status for the other paths


def test_status_builders():
    refused = health.refused("ForeignCNIDetected", "cilium (kube-system/cilium) is running", generation=1)
    assert refused["phase"] == "Failed"
    assert {c["reason"] for c in refused["conditions"]} == {"ForeignCNIDetected"}
    assert all(c["lastTransitionTime"] is None for c in refused["conditions"])  # merge_conditions fills it in
    invalid = health.invalid_configuration("spec.mtu: must be 0 or 576..9001", generation=4)
    assert invalid["phase"] == "Failed" and invalid["observedGeneration"] == 4
    degraded = next(c for c in invalid["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidConfiguration")
    assert degraded["message"].endswith("spec.mtu: must be 0 or 576..9001")
    deleting = health.deleting("2 objects could not be removed yet", generation=5)
    assert "phase" not in deleting and {c["reason"] for c in deleting["conditions"]} == {"Deleting"}


def test_unmanaged_status_lists_detected_cnis():
    from cni_operator.api import DetectedCNI

    nodes, _ = cluster()
    pods = [pod(f"cilium-{i}", f"n{i}", app="cilium") for i in (1, 2, 3)]
    found = [DetectedCNI(provider="cilium", version="v1.16.1", workload="kube-system/cilium", ready=3, desired=3)]
    status = health.unmanaged(found, generation=1, now=NOW, daemonset=daemonset("cilium"), nodes=nodes, pods=pods)
    assert status["phase"] == "Unmanaged" and status["readySummary"] == "3/3"
    assert status["detected"] == [{"provider": "cilium", "version": "v1.16.1", "workload": "kube-system/cilium",
                                   "ready": 3, "desired": 3}]


def test_select_pods_by_selector():
    pods = [pod("canal-1", "n1"), pod("other", "n1", app="coredns")]
    assert [p["metadata"]["name"] for p in health.select_pods(daemonset(), pods)] == ["canal-1"]


def test_every_reason_is_documented():
    text = DOCS.read_text()
    for reason in Reason:
        assert f"`{reason.value}`" in text, f"{reason.value} is not documented in docs/health.md"


# ---------------------------------------------------------------- the kstatus pair: Reconciling and Stalled
# kstatus (sigs.k8s.io/cli-utils, read by Flux, Argo CD and kpt) says InProgress while Reconciling is True and Failed
# while Stalled is True; otherwise a resource whose observedGeneration matches is Current.


@pytest.mark.parametrize("reason", [Reason.INVALID_CONFIGURATION, Reason.FOREIGN_CNI_DETECTED,
                                    Reason.CLUSTER_TYPE_MISMATCH])
def test_a_refusal_is_stalled_and_not_reconciling(reason):
    nodes, _ = cluster()
    picture = assess(None, nodes, [], NOW, generation=1, applied=ApplyState(error=reason, message="why and what"))
    assert cond(picture, "Stalled") == ("True", reason.value)
    assert picture.condition("Stalled")["message"] == "why and what"
    assert cond(picture, "Reconciling")[0] == "False"


def test_work_to_do_is_reconciling_and_not_stalled():
    nodes, pods = cluster()
    applying = assess(daemonset(), nodes, pods, NOW, generation=3, applied=ApplyState(generation=2))
    rolling = assess(daemonset(updated=1, generation=3, observed=3), nodes, pods, NOW, generation=4,
                     applied=ApplyState(generation=4))
    failing_apply = healthy(applied=False, apply_error="ConfigMap kube-system/canal-config: timeout")
    assert cond(applying, "Reconciling") == ("True", "Applying")
    assert cond(rolling, "Reconciling") == ("True", "RollingOut")
    assert cond(failing_apply, "Reconciling") == ("True", "ApplyFailed")  # retried by the operator itself
    for picture in (applying, rolling, failing_apply):
        assert cond(picture, "Stalled") == ("False", "AsExpected")


def test_paused_and_imported_are_neither_reconciling_nor_stalled():
    nodes, _ = cluster()
    paused = healthy(paused=True, generation=3)
    imported = assess(daemonset("calico-node"), nodes, [pod(f"calico-node-{i}", f"n{i}", app="calico-node")
                                                         for i in (1, 2, 3)], NOW, generation=1, imported=True)
    for picture in (paused, imported):
        assert cond(picture, "Reconciling")[0] == "False" and cond(picture, "Stalled")[0] == "False"


def test_unreverted_drift_is_said_instead_of_no_problems_found():
    picture = healthy(unreverted=["DaemonSet kube-system/canal: paused (.spec.template)"])
    assert cond(picture, "Degraded") == ("False", "AsExpected")
    message = picture.condition("Degraded")["message"]
    assert "no problems found, but 1 managed object differs" in message
    assert "DaemonSet kube-system/canal: paused" in message
