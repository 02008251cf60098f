"""Pods that fail on purpose on the local cluster (kwok's stages in hack/kwok/stages-failure.yaml), as kubectl shows
them, and every other pod unaffected:

- a container whose image is in the registry fail.invalid waits in ImagePullBackOff; the pod stays Pending and never
  becomes Ready, while its other containers run; such an init container holds the whole pod in Init:ImagePullBackOff
  (what `spec.registry: fail.invalid` does to the canal DaemonSet, whose init containers come from the registry too);
- a container whose image tag ends in -crashloop exits with code 1 and waits in CrashLoopBackOff while its restart
  count grows; the pod is Running, not Ready.

Each test runs a second DaemonSet beside the failing one, same container names, normal images, same namespace: its
pods become Running and Ready as always. And kwok applied every stage to these pods without an error: a stage patch
the API server refuses leaves the status as it was, so the pods would look right while kwok keeps retrying (that is
what kwok's own pod-ready does to an ImagePullBackOff pod if nothing outweighs it).
"""

from __future__ import annotations

import json

import pytest

from tests.harness.polling import holds_for
from tests.harness.repo import localcluster

pytestmark = pytest.mark.k8s

CALICO_NODE = "quay.io/calico/node:v3.32.1"
FLANNEL = "docker.io/flannel/flannel:v0.24.4"
WINDOW_S = 5  # how long a failing pod is watched not to recover


@pytest.fixture(autouse=True)
def _local_cluster_only(cluster):
    if not cluster.local:
        pytest.skip("the failure stages are this repository's kwok config (hack/kwok/stages-failure.yaml)")


def _daemonset(name: str, containers: dict[str, str], init_containers: dict[str, str] | None = None) -> dict:
    """A DaemonSet shaped like a CNI's: tolerates every taint, one pod per node; containers by name -> image."""
    spec: dict = {
        "tolerations": [{"operator": "Exists"}],
        "containers": [{"name": n, "image": i} for n, i in containers.items()],
    }
    if init_containers:
        spec["initContainers"] = [{"name": n, "image": i} for n, i in init_containers.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def _create(cluster, namespace: str, *objects: dict) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def _pods(cluster, namespace: str, app: str) -> list[dict]:
    """The DaemonSet's pods, once there is one on every node it wants."""
    desired = cluster.get_json("daemonset", app, "-n", namespace).get("status", {}).get("desiredNumberScheduled")
    pods = cluster.get_json("pods", "-n", namespace, "-l", f"app={app}")["items"]
    assert desired and len(pods) == desired, f"{len(pods)} pods of {app}, {desired} wanted"
    return pods


def _rows(cluster, namespace: str, app: str) -> dict[str, tuple[str, str]]:
    """Pod name -> (READY, STATUS), the columns of `kubectl get pods`."""
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", f"app={app}", "--no-headers").stdout
    return {cols[0]: (cols[1], cols[2]) for cols in (line.split() for line in out.splitlines()) if cols}


def _status(pod: dict, container: str, *, init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    found = {s["name"]: s for s in pod["status"].get(key) or []}.get(container)
    assert found, f"{pod['metadata']['name']}: no {key} entry for {container}: {pod['status'].get(key)}"
    return found


def _conditions(pod: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}


def _waiting(status: dict) -> dict:
    return status.get("state", {}).get("waiting") or {}


def _assert_runs(status: dict) -> None:
    assert status["ready"] is True and "running" in status.get("state", {}), f"{status['name']}: {status}"


def _kwok_errors(namespace: str) -> list[str]:
    """What kwok logged as failed for pods of NAMESPACE (its log is JSON lines)."""
    errors = []
    for line in (localcluster.P.logs / "kwok.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") == "ERROR" and str(entry.get("pod", "")).startswith(f"{namespace}/"):
            errors.append(f"{entry.get('pod')} {entry.get('stage')}: {entry.get('msg')}: {entry.get('err')}")
    return errors


def _wait_normal_pods_ready(cluster, namespace: str, app: str, wait_for) -> None:
    def ready():
        for pod in _pods(cluster, namespace, app):
            assert pod["status"].get("phase") == "Running", pod["status"]
            assert _conditions(pod).get("Ready") == "True", _conditions(pod)
            for container in ("calico-node", "kube-flannel"):
                _assert_runs(_status(pod, container))
        rows = _rows(cluster, namespace, app)
        assert set(rows.values()) == {("2/2", "Running")}, rows
        return True

    wait_for(ready, timeout=60, what=f"the pods of {app} (normal images) Running and Ready")


def test_image_from_fail_invalid_stays_in_image_pull_back_off(cluster, namespace, wait_for):
    image = "fail.invalid/calico/node:v3.32.1"
    _create(cluster, namespace,
            _daemonset("broken", {"calico-node": image, "kube-flannel": FLANNEL}),
            _daemonset("normal", {"calico-node": CALICO_NODE, "kube-flannel": FLANNEL}))  # fmt: skip

    def pull_fails():
        for pod in _pods(cluster, namespace, "broken"):
            calico = _status(pod, "calico-node")
            assert _waiting(calico).get("reason") == "ImagePullBackOff", calico
            assert _waiting(calico).get("message", "").startswith(f'Back-off pulling image "{image}"'), calico
            assert calico["ready"] is False and calico["restartCount"] == 0, calico
            _assert_runs(_status(pod, "kube-flannel"))
            assert pod["status"].get("phase") == "Pending", pod["status"]
            conditions = _conditions(pod)
            assert conditions.get("Ready") == "False" and conditions.get("ContainersReady") == "False", conditions
        rows = _rows(cluster, namespace, "broken")
        assert set(rows.values()) == {("1/2", "ImagePullBackOff")}, rows
        assert not cluster.get_json("daemonset", "broken", "-n", namespace)["status"].get("numberReady"), "a pod Ready"
        return True

    wait_for(pull_fails, timeout=60, what="the pods of broken in ImagePullBackOff")
    _wait_normal_pods_ready(cluster, namespace, "normal", wait_for)
    holds_for(pull_fails, WINDOW_S, what="the pods of broken in ImagePullBackOff, never Ready")
    assert _kwok_errors(namespace) == []


def test_init_container_from_fail_invalid_holds_the_pod_in_init(cluster, namespace, wait_for):
    # The shape of the canal DaemonSet rendered with `spec.registry: fail.invalid`: every image from that registry.
    init = {"install-cni": "fail.invalid/calico/cni:v3.32.1", "mount-bpffs": "fail.invalid/calico/node:v3.32.1"}
    main = {"calico-node": "fail.invalid/calico/node:v3.32.1", "kube-flannel": "fail.invalid/flannel/flannel:v0.24.4"}
    _create(cluster, namespace,
            _daemonset("broken", main, init),
            _daemonset("normal", {"calico-node": CALICO_NODE, "kube-flannel": FLANNEL},
                       {"install-cni": "quay.io/calico/cni:v3.32.1", "mount-bpffs": CALICO_NODE}))  # fmt: skip

    def init_blocked():
        for pod in _pods(cluster, namespace, "broken"):
            first = _status(pod, "install-cni", init=True)
            assert _waiting(first).get("reason") == "ImagePullBackOff", first
            assert f'"{init["install-cni"]}"' in _waiting(first).get("message", ""), first
            # Init containers run in order, containers after them: nothing after the failing one has started.
            for name, init_container in (("mount-bpffs", True), ("calico-node", False), ("kube-flannel", False)):
                later = _status(pod, name, init=init_container)
                assert _waiting(later).get("reason") == "PodInitializing" and later["ready"] is False, later
            assert pod["status"].get("phase") == "Pending", pod["status"]
            conditions = _conditions(pod)
            assert conditions.get("Initialized") == "False" and conditions.get("Ready") == "False", conditions
        rows = _rows(cluster, namespace, "broken")
        assert set(rows.values()) == {("0/2", "Init:ImagePullBackOff")}, rows
        return True

    wait_for(init_blocked, timeout=60, what="the pods of broken in Init:ImagePullBackOff")
    _wait_normal_pods_ready(cluster, namespace, "normal", wait_for)
    holds_for(init_blocked, WINDOW_S, what="the pods of broken in Init:ImagePullBackOff, never Ready")
    assert _kwok_errors(namespace) == []


def test_crashloop_tag_restarts_with_growing_count(cluster, namespace, wait_for):
    image = f"{CALICO_NODE}-crashloop"
    _create(cluster, namespace,
            _daemonset("broken", {"calico-node": image, "kube-flannel": FLANNEL}),
            _daemonset("normal", {"calico-node": CALICO_NODE, "kube-flannel": FLANNEL}))  # fmt: skip

    def crash_looping() -> dict[str, int]:
        restarts = {}
        for pod in _pods(cluster, namespace, "broken"):
            name = pod["metadata"]["name"]
            calico = _status(pod, "calico-node")
            assert _waiting(calico).get("reason") == "CrashLoopBackOff", calico
            assert f"restarting failed container=calico-node pod={name}_{namespace}(" in _waiting(calico).get(
                "message", ""), calico
            last = (calico.get("lastState") or {}).get("terminated") or {}
            assert last.get("exitCode") == 1 and last.get("reason") == "Error", calico
            assert calico["ready"] is False and calico["restartCount"] >= 1, calico
            _assert_runs(_status(pod, "kube-flannel"))
            assert pod["status"].get("phase") == "Running", pod["status"]
            conditions = _conditions(pod)
            assert conditions.get("Ready") == "False" and conditions.get("ContainersReady") == "False", conditions
            restarts[name] = calico["restartCount"]
        rows = _rows(cluster, namespace, "broken")
        assert set(rows.values()) == {("1/2", "CrashLoopBackOff")}, rows
        return restarts

    first = wait_for(crash_looping, timeout=60, what="the pods of broken in CrashLoopBackOff")
    _wait_normal_pods_ready(cluster, namespace, "normal", wait_for)

    def restarted_twice_more():
        now = crash_looping()  # and still crash-looping, never Ready, at every look
        assert now.keys() == first.keys(), f"pods replaced: {sorted(first)} -> {sorted(now)}"
        behind = {name: (first[name], now[name]) for name in first if now[name] < first[name] + 2}
        assert not behind, f"restart counts (first seen, now) that have not grown by 2 yet: {behind}"
        return True

    wait_for(restarted_twice_more, timeout=90, interval=0.5, what="calico-node's restart count to grow twice")
    assert _kwok_errors(namespace) == []
