"""Watching a CNI update from outside, as a user would, for the rollout tests (tests/integration/
test_operator_rollout*.py) and the upgrade benchmark (bench/bench_upgrade.py): enough fake nodes, a 200 ms sampler of
nodes without a Ready CNI pod, the images a DaemonSet's template names, and "every node back on a Ready pod".

Everything reads the API as the admin: pods by their k8s-app label (canal, aws-node), the DaemonSet by name.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Self

from .cluster import Cluster
from .clusternetwork import apply_clusternetwork, condition, get_clusternetwork
from .managed import CNI_NAMESPACE
from .polling import wait_for

SAMPLE_SECONDS = 0.2


def at_least_nodes(cluster: Cluster, count: int, keep: Callable[[str], None]) -> list[str]:
    """At least COUNT fake nodes; each one added here is passed to KEEP (the caller's cleanup). Every node's name."""
    for name in cluster.add_fake_nodes(max(0, count - len(cluster.fake_nodes()))):
        keep(name)
    return [n.metadata.name for n in cluster.core.list_node().items]


def _ready(pod) -> bool:
    return pod.metadata.deletion_timestamp is None and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _serving(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


class Sampler(threading.Thread):
    """How many of NODES have no Ready, non-terminating pod labelled k8s-app=APP, at every pod event and every 200 ms;
    keeps the worst moment (count, the nodes lacking one, seconds since start), so a test or bench can say when it was.

    A list, then a watch from its resourceVersion (plain JSON, re-listed if the watch expires): the count is
    evaluated after every pod event, so every state the API server went through is seen, however late a busy
    machine delivers it, and a 200 ms tick samples the same view. Listing 100 pods every 200 ms instead fell behind
    on this shared machine (one list every 2-6 s at load 15), missing most moments of an update. `longest_gap` is the
    longest time between two looks (events or ticks): a caller can tell a sampler that kept up from one that did not."""

    def __init__(self, cluster: Cluster, nodes: list[str], app: str, namespace: str = CNI_NAMESPACE):
        super().__init__(daemon=True)
        self.cluster, self.nodes, self.app, self.namespace = cluster, set(nodes), app, namespace
        self.stop, self.samples, self.worst = threading.Event(), 0, (0, [], 0.0)
        self.events = 0  # pod events evaluated
        self.errors = 0  # broken watches or lists (reconnected): reported, not fatal
        self.longest_gap = 0.0
        self.elapsed = 0.0
        self._pods: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._t0 = self._last = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def lacking(self) -> list[str]:
        with self._lock:
            serving = {p["spec"].get("nodeName") for p in self._pods.values() if _serving(p)}
        return sorted(self.nodes - serving)

    def _look(self) -> None:
        now = time.monotonic()
        lacking = self.lacking()
        with self._lock:
            self.longest_gap, self._last = max(self.longest_gap, now - self._last), now
            if len(lacking) > self.worst[0]:
                self.worst = (len(lacking), lacking, now - self._t0)

    def _list(self) -> str:
        response = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=f"k8s-app={self.app}",
                                                         _preload_content=False)
        body = json.loads(response.data)
        with self._lock:
            self._pods = {p["metadata"]["name"]: p for p in body["items"]}
        return body["metadata"]["resourceVersion"]

    def _watch(self) -> None:
        rv = None
        while not self.stop.is_set():
            try:
                if rv is None:
                    rv = self._list()
                    self._synced.set()
                    self._look()
                response = self.cluster.core.list_namespaced_pod(
                    self.namespace, label_selector=f"k8s-app={self.app}", watch=True, resource_version=rv,
                    allow_watch_bookmarks=True, timeout_seconds=30, _preload_content=False)
                for line in response:
                    if self.stop.is_set():
                        break
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":  # 410 Gone: the resourceVersion expired, list again
                        rv = None
                        break
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if event["type"] == "BOOKMARK":
                        continue
                    with self._lock:
                        if event["type"] == "DELETED":
                            self._pods.pop(obj["metadata"]["name"], None)
                        else:
                            self._pods[obj["metadata"]["name"]] = obj
                    self.events += 1
                    self._look()
                response.release_conn()
            except Exception:  # noqa: BLE001 - a broken stream: count it, list again, go on
                self.errors += 1
                rv = None
                self.stop.wait(0.2)

    def run(self) -> None:
        self._watcher.start()
        self._synced.wait(30)
        while not self.stop.is_set():
            tick = time.monotonic()
            self.samples += 1
            self._look()
            self.stop.wait(max(0.0, SAMPLE_SECONDS - (time.monotonic() - tick)))
        self.elapsed = time.monotonic() - self._t0
        self._watcher.join(timeout=5)

    def assert_kept_up(self, mean_interval: float = 2.5 * SAMPLE_SECONDS) -> None:
        """The ticks came about every 200 ms (on average within MEAN_INTERVAL) and the watch delivered events: a
        worst count from a sampler that fell behind or saw nothing would say little."""
        assert self.samples >= 5 and self.elapsed / self.samples <= mean_interval and self.events > 0, (
            f"the sampler ticked {self.samples} times in {self.elapsed:.1f} s and saw {self.events} pod events "
            f"({self.errors} broken watches, longest gap {self.longest_gap:.1f} s)")

    def __enter__(self) -> Self:
        self.start()
        self._synced.wait(30)  # the first list is in: what follows is measured against a full view
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join()


def ds_images(cluster: Cluster, name: str, namespace: str = CNI_NAMESPACE) -> list[str]:
    """The images of the DaemonSet's pod template, init containers included, sorted."""
    ds = json.loads(cluster.kubectl("get", "ds", name, "-n", namespace, "-o", "json").stdout)
    spec = ds["spec"]["template"]["spec"]
    return sorted(c["image"] for c in spec.get("initContainers", []) + spec["containers"])


def pod_images(pod) -> list[str]:
    return sorted(c.image for c in (pod.spec.init_containers or []) + pod.spec.containers)


def all_pods_ready_with(cluster: Cluster, nodes: list[str], app: str, images: list[str],
                        namespace: str = CNI_NAMESPACE) -> bool:
    """Asserts every live k8s-app=APP pod runs exactly IMAGES (init containers included) and every one of NODES has
    a Ready one."""
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"k8s-app={app}").items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    other = [(p.metadata.name, pod_images(p)) for p in live if pod_images(p) != sorted(images)]
    assert not other, f"{len(other)} {app} pods run other images than {images}: {other[:3]}"
    ready = {p.spec.node_name for p in live if _ready(p)}
    assert ready >= set(nodes), f"nodes without a Ready {app} pod: {sorted(set(nodes) - ready)[:5]}"
    return True


class PhaseRecorder(threading.Thread):
    """Every status.rollout.phase the ClusterNetwork `default` went through, in order, read from a watch: each status
    write is an event, so a phase shorter than any poll interval (a 1-node canary takes about a second) is still seen.
    Use as a context manager around the change."""

    def __init__(self, cluster: Cluster):
        super().__init__(daemon=True)
        self.cluster, self.phases, self.stop, self._synced = cluster, [], threading.Event(), threading.Event()

    def _saw(self, obj: dict) -> None:
        phase = ((obj.get("status") or {}).get("rollout") or {}).get("phase")
        if phase and (not self.phases or self.phases[-1] != phase):
            self.phases.append(phase)

    def run(self) -> None:
        args = ("cni-operator.io", "v1alpha1", "clusternetworks")
        rv = None
        while not self.stop.is_set():
            try:
                if rv is None:
                    body = self.cluster.custom.list_cluster_custom_object(
                        *args, field_selector="metadata.name=default")
                    for item in body["items"]:
                        self._saw(item)
                    rv = body["metadata"]["resourceVersion"]
                    self._synced.set()
                response = self.cluster.custom.list_cluster_custom_object(
                    *args, field_selector="metadata.name=default", watch=True, resource_version=rv,
                    timeout_seconds=30, _preload_content=False)
                for line in response:
                    if self.stop.is_set():
                        break
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # 410 Gone: list again
                        rv = None
                        break
                    rv = event["object"]["metadata"].get("resourceVersion", rv)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._saw(event["object"])
                response.release_conn()
            except Exception:  # noqa: BLE001 - a broken stream: list again and go on
                rv = None
                self.stop.wait(0.2)

    def __enter__(self) -> Self:
        self.start()
        assert self._synced.wait(30), "the ClusterNetwork watch did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join(timeout=35)


def upgrade_phases(cluster: Cluster, spec: dict, timeout: float = 240) -> list[str]:
    """Apply SPEC (a change that updates the CNI's pods) and wait until status.rollout is Complete and Ready is True;
    the phases it went through, in order, from a watch."""
    with PhaseRecorder(cluster) as recorder:
        assert apply_clusternetwork(cluster, spec).returncode == 0

        def complete() -> bool:
            cnet = get_clusternetwork(cluster)
            phase = ((cnet.get("status") or {}).get("rollout") or {}).get("phase")
            assert phase == "Complete" and condition(cnet, "Ready")["status"] == "True", (phase, recorder.phases)
            return True

        wait_for(complete, timeout=timeout, what="the upgrade to complete")
    return recorder.phases


def assert_canary_soak_rolling_complete(phases: list[str]) -> None:
    assert phases[0] == "Canary" and phases[-1] == "Complete", phases
    assert "Soaking" in phases and "Rolling" in phases, phases
    assert phases.index("Soaking") < phases.index("Rolling"), phases


def wait_rolled_back(cluster: Cluster, nodes: list[str], app: str, old_images: list[str]) -> dict:
    """Until status.rollout is RolledBack (Degraded: UpgradeRolledBack), the DaemonSet APP is back on OLD_IMAGES and
    every node runs a Ready pod of them; the ClusterNetwork as it was when it said RolledBack."""

    def rolled_back() -> dict:
        cnet = get_clusternetwork(cluster)
        rollout = (cnet.get("status") or {}).get("rollout") or {}
        assert rollout.get("phase") == "RolledBack", rollout
        assert condition(cnet, "Degraded").get("reason") == "UpgradeRolledBack", condition(cnet, "Degraded")
        return cnet

    cnet = wait_for(rolled_back, timeout=120, what="the failed update to be rolled back")
    wait_for(lambda: ds_images(cluster, app) == old_images, timeout=30, what="the DaemonSet back on the old images")
    wait_for(lambda: all_pods_ready_with(cluster, nodes, app, old_images), timeout=120,
             what=f"every node back on a Ready {app} pod of the old version")
    return cnet
