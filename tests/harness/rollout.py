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


class Sampler(threading.Thread):
    """Every 200 ms: how many of NODES have no Ready, non-terminating pod labelled k8s-app=APP; keeps the worst
    moment (count, the nodes lacking one, seconds since start), so a test or bench can say when it was."""

    def __init__(self, cluster: Cluster, nodes: list[str], app: str, namespace: str = CNI_NAMESPACE):
        super().__init__(daemon=True)
        self.cluster, self.nodes, self.app, self.namespace = cluster, set(nodes), app, namespace
        self.stop, self.samples, self.worst = threading.Event(), 0, (0, [], 0.0)
        self.errors = 0  # list calls that failed (a slow API server): a gap the caller can report

    def lacking(self) -> list[str]:
        pods = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=f"k8s-app={self.app}").items
        return sorted(self.nodes - {p.spec.node_name for p in pods if _ready(p)})

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            tick = time.monotonic()
            try:
                lacking = self.lacking()
            except Exception:  # noqa: BLE001 - one failed list is a missed sample, counted, not a crash
                self.errors += 1
            else:
                self.samples += 1
                if len(lacking) > self.worst[0]:
                    self.worst = (len(lacking), lacking, tick - started)
            self.stop.wait(max(0.0, SAMPLE_SECONDS - (time.monotonic() - tick)))

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
