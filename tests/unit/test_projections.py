"""A session's projections keep facts, not objects, and say whether an event changed anything the operator reads."""

from __future__ import annotations

import copy

from cni_operator.health.facts import PodFacts, Problem
from cni_operator.objects import ObjectRef
from cni_operator.session.projections import Projections


def node(name="n1", ready="True", heartbeat="2026-01-01T00:00:00Z", labels=None):
    return {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z", "labels": labels or {}},
            "spec": {"providerID": "kwok://x"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}],
                       "images": [{"names": ["something:big"], "sizeBytes": 1}]}}


def pod(name="canal-1", ready=True, waiting=None, restarts=0):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    return {"metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "canal", "x": "y"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "calico-node", "image": "i"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                       "containerStatuses": [{"name": "calico-node", "ready": ready, "restartCount": restarts,
                                              "state": state}]}}


def test_a_node_heartbeat_changes_nothing_a_ready_flip_does():
    seen = Projections()
    assert seen.put_node(node())
    assert not seen.put_node(node(heartbeat="2026-01-01T00:00:40Z")), "a heartbeat is not a change"
    assert seen.put_node(node(ready="False"))
    assert seen.nodes["n1"].ready == "False"
    assert seen.drop_node("n1") and not seen.drop_node("n1")


def test_a_pod_is_kept_as_facts_with_its_container_problem_judged_once():
    seen = Projections()
    assert seen.put_pod(pod())
    assert not seen.put_pod(pod(restarts=0))
    assert seen.put_pod(pod(ready=False, waiting="CrashLoopBackOff", restarts=3))
    facts = seen.pods[("kube-system", "canal-1")]
    assert isinstance(facts, PodFacts) and not facts.is_ready
    assert facts.containers[0].problem[0] is Problem.CRASH_LOOP_BACK_OFF
    assert dict(facts.labels) == {"k8s-app": "canal"}, "only the labels workloads select by are kept"
    assert [p.name for p in seen.pods_of("canal")] == ["canal-1"]


def test_managed_objects_are_kept_whole_and_the_newer_body_wins():
    seen = Projections()
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "canal-config", "namespace": "kube-system", "resourceVersion": "5",
                         "labels": {"app.kubernetes.io/managed-by": "cni-operator"}}, "data": {"a": "1"}}
    assert seen.observe_managed(body)
    older = copy.deepcopy(body)
    older["metadata"]["resourceVersion"], older["data"]["a"] = "4", "0"
    seen.observe_managed(older)
    ref = ObjectRef("v1", "ConfigMap", "canal-config", "kube-system")
    assert seen.lookup(ref)["data"] == {"a": "1"}
    foreign = copy.deepcopy(body)
    foreign["metadata"]["labels"] = {}
    assert not seen.observe_managed(foreign), "only ours are kept"
    seen.observe_managed(body, deleted=True)
    assert seen.lookup(ref) is None


def test_the_clusternetwork_never_goes_back_to_an_older_body():
    seen = Projections()
    seen.update_clusternetwork({"metadata": {"name": "default", "resourceVersion": "7"}})
    seen.update_clusternetwork({"metadata": {"name": "default", "resourceVersion": "9"}}, deleted=True)
    assert not seen.update_clusternetwork({"metadata": {"name": "default", "resourceVersion": "8"}})
    assert seen.clusternetwork is None
