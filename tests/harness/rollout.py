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
from .managed import CNI_NAMESPACE

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
    """Every 200 ms: how many of NODES have no Ready, non-terminating pod labelled k8s-app=APP; keeps the worst
    moment (count, the nodes lacking one, seconds since start), so a test or bench can say when it was.

    The pods are listed as plain JSON: the kubernetes client's typed objects take about as long as the interval to
    build for 100 pods on a busy machine, which once stretched "every 200 ms" to every 6 s. `longest_gap` says how
    far apart two samples came at worst, so a caller can tell a sampler that kept up from one that did not."""

    def __init__(self, cluster: Cluster, nodes: list[str], app: str, namespace: str = CNI_NAMESPACE):
        super().__init__(daemon=True)
        self.cluster, self.nodes, self.app, self.namespace = cluster, set(nodes), app, namespace
        self.stop, self.samples, self.worst = threading.Event(), 0, (0, [], 0.0)
        self.errors = 0  # list calls that failed (a slow API server): a gap the caller can report
        self.longest_gap = 0.0  # seconds between the starts of two consecutive samples, at worst
        self.elapsed = 0.0

    def lacking(self) -> list[str]:
        response = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=f"k8s-app={self.app}",
                                                         _preload_content=False)
        pods = json.loads(response.data)["items"]
        return sorted(self.nodes - {p["spec"].get("nodeName") for p in pods if _serving(p)})

    def run(self) -> None:
        started = last = time.monotonic()
        while not self.stop.is_set():
            tick = time.monotonic()
            self.longest_gap = max(self.longest_gap, tick - last)
            last = tick
            try:
                lacking = self.lacking()
            except Exception:  # noqa: BLE001 - one failed list is a missed sample, counted, not a crash
                self.errors += 1
            else:
                self.samples += 1
                if len(lacking) > self.worst[0]:
                    self.worst = (len(lacking), lacking, tick - started)
            self.stop.wait(max(0.0, SAMPLE_SECONDS - (time.monotonic() - tick)))
        self.elapsed = time.monotonic() - started

    def assert_kept_up(self, mean_interval: float = 2.5 * SAMPLE_SECONDS) -> None:
        """The samples came about every 200 ms (on average within MEAN_INTERVAL): a worst count from a sampler that
        fell behind would say little."""
        assert self.samples >= 5 and self.elapsed / self.samples <= mean_interval, (
            f"the sampler looked {self.samples} times in {self.elapsed:.1f} s ({self.errors} failed lists, longest "
            f"gap {self.longest_gap:.1f} s)")

    def __enter__(self) -> Self:
        self.start()
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
