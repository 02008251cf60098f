"""Status tells the truth: nodes joining raise the counts, a failing pod turns the CR Degraded naming its node."""

from __future__ import annotations

import json

from tests.harness.clusternetwork import get_clusternetwork, install, wait_condition
from tests.harness.managed import CNI_NAMESPACE


def _canal_pods(cluster) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal", "-o", "json").stdout
    return json.loads(out)["items"]


def _break_pod(cluster, pod: dict) -> None:
    """What a crash-looping calico-node looks like in the pod status (kwok leaves a Running pod's status alone)."""
    now = "2026-01-01T00:00:00Z"
    patch = {"status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now},
                       {"type": "ContainersReady", "status": "False", "lastTransitionTime": now}],
        "containerStatuses": [
            {"name": "calico-node", "ready": False, "restartCount": 7, "image": "x", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}}},
            {"name": "kube-flannel", "ready": True, "restartCount": 0, "image": "x", "imageID": "",
             "state": {"running": {"startedAt": now}}},
        ],
    }}
    cluster.kubectl("patch", "pod", pod["metadata"]["name"], "-n", CNI_NAMESPACE, "--subresource=status",
                    "--type=merge", "-p", json.dumps(patch))


def test_nodes_joining_are_counted(cluster, cleanup, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    before = len(cluster.fake_nodes())
    added = cluster.add_fake_nodes(2)
    for name in added:
        cleanup.add(cluster.delete_node, name)

    def counted() -> bool:
        status = get_clusternetwork(cluster)["status"]
        total = before + len(added)
        assert status["health"]["desired"] == total and status["health"]["ready"] == total, status["health"]
        assert status["readySummary"] == f"{total}/{total}" and status["phase"] == "Ready", status
        return True

    wait_for(counted, timeout=60, what="status to count the joined nodes")


def test_failing_pod_degrades_with_its_node_named_and_recovers(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    pod = min(_canal_pods(cluster), key=lambda p: p["spec"]["nodeName"])
    node = pod["spec"]["nodeName"]
    _break_pod(cluster, pod)

    cnet = wait_condition(cluster, "Degraded", "True", "PodsFailing", timeout=30)
    status = cnet["status"]
    assert status["phase"] == "Degraded"
    assert node in json.dumps(status["unhealthy"]), status["unhealthy"]
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert node in degraded["message"] and "CrashLoopBackOff" in degraded["message"], degraded
    assert node in status["health"]["nodes"]["withoutReadyCNI"], status["health"]
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "False"

    # Recovery: the kubelet (kwok) restarts the pod; the DaemonSet replaces a deleted one.
    cluster.kubectl("delete", "pod", pod["metadata"]["name"], "-n", CNI_NAMESPACE, "--wait=false")
    cnet = wait_condition(cluster, "Ready", "True", timeout=60)
    assert cnet["status"]["phase"] == "Ready" and cnet["status"]["unhealthy"] in ([], None)
