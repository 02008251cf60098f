"""2. Readiness latency: a canal pod's Ready condition changes -> the ClusterNetwork status says so.

The change is made as the admin through the pod's status subresource (Ready and ContainersReady False, the
containers not ready; kwok never flips a Running pod back, so the change sticks until we undo it). Changes alternate
not-ready / ready, walking over the canal pods. The clock starts just before the patch request and stops when our
watch on the ClusterNetwork delivers a status whose readySummary counts the change.

Two baselines in the same run, from watches opened next to the CR watch:
  - the pod's own watch event: the earliest anyone (the operator included) can learn of the change;
  - the DaemonSet's status (numberReady): what `kubectl get ds canal` shows, kube-controller-manager's latency.

Two series:
  - isolated: before each change the operator has started no reconcile pass for 1.5 s (its /metrics counter
    cni_operator_reconciles_total; longer than its 1 s minimum spacing of passes, so no spaced pass is pending
    either): the change meets an idle operator, the latency of "the first poke is served at once". (Waiting for the
    CR alone is not enough: a change causes a second pass ~1 s later, for the DaemonSet's numberReady, that often
    writes nothing, and a change made right after it waits for the spacing.)
  - back-to-back: the next change is made as soon as the previous one is reflected, so it meets the operator while
    it is still spacing passes (at most one pass per CNI_OPERATOR_MIN_INTERVAL, 1 s).

Also counted per series: reconcile passes (/metrics), status patches (audit log), and the API server's count of
single-object GETs of CustomResourceDefinitions (its /metrics): a pass should read from its watch caches.
"""

from __future__ import annotations

import functools
import time

import kubernetes

from bench.common import (
    OPERATOR_USER,
    BenchOperator,
    Watch,
    apiserver_gets,
    cr_watch,
    log,
    median,
    percentile,
)
from tests.harness.audit import AuditLog, tally
from tests.harness.cluster import Cluster
from tests.harness.managed import CNI_NAMESPACE


def _patch(core, pod: dict, ready: bool) -> None:
    value = "True" if ready else "False"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    containers = [{"name": c["name"], "ready": ready} for c in pod["spec"]["containers"]]
    body = {"status": {
        "conditions": [{"type": "Ready", "status": value, "lastTransitionTime": now},
                       {"type": "ContainersReady", "status": value, "lastTransitionTime": now}],
        "containerStatuses": containers,
    }}
    core.patch_namespaced_pod_status(pod["metadata"]["name"], CNI_NAMESPACE, body,
                                     _content_type="application/strategic-merge-patch+json")


def _pod_ready(obj: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def _summary(obj: dict) -> str:
    return (obj.get("status") or {}).get("readySummary") or ""


def passes(operator: BenchOperator) -> float:
    return sum(v for k, v in operator.metrics().items() if k.startswith("cni_operator_reconciles_total"))


def wait_idle(operator: BenchOperator, seconds: float, timeout: float = 30) -> None:
    """Until the operator has started no reconcile pass for SECONDS."""
    deadline = time.monotonic() + timeout
    last, since = passes(operator), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = passes(operator)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
    raise TimeoutError(f"the operator did not go idle for {seconds} s within {timeout} s")


def series(cluster: Cluster, operator: BenchOperator, pods: list[dict], changes: int, quiet: float | None,
           watches) -> dict:
    cr, pod_w, ds_w = watches
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    n = len(pods)
    cr_lat, pod_lat, ds_lat = [], [], []
    for i in range(changes):
        pod = pods[(i // 2) % n]
        name = pod["metadata"]["name"]
        ready = i % 2 == 1
        if quiet:
            wait_idle(operator, quiet)
        for w in (cr, pod_w, ds_w):
            w.drain()
        want = f"{n if ready else n - 1}/{n}"
        t0 = time.monotonic()
        _patch(core, pod, ready)
        t_pod, _ = pod_w.wait(lambda o, name=name, ready=ready: o["metadata"]["name"] == name
                              and _pod_ready(o) == ready, timeout=30, what=f"pod {name} ready={ready}")
        t_cr, _ = cr.wait(lambda o, want=want: _summary(o) == want, timeout=30, what=f"readySummary {want}")
        t_ds, _ = ds_w.wait(lambda o, want=n if ready else n - 1: (o.get("status") or {}).get("numberReady") == want,
                            timeout=30, what="DaemonSet numberReady")
        cr_lat.append(t_cr - t0)
        pod_lat.append(t_pod - t0)
        ds_lat.append(t_ds - t0)
    return {
        "changes": changes,
        "cr_s": cr_lat, "pod_s": pod_lat, "ds_s": ds_lat,
        "cr_p50": percentile(cr_lat, 50), "cr_p99": percentile(cr_lat, 99),
        "pod_p50": percentile(pod_lat, 50), "pod_p99": percentile(pod_lat, 99),
        "ds_p50": percentile(ds_lat, 50), "ds_p99": percentile(ds_lat, 99),
        "cr_median": median(cr_lat),
    }


def run(cluster: Cluster, operator: BenchOperator, audit: AuditLog, changes: int) -> dict:
    """Needs the CNI installed and the ClusterNetwork Ready (run.py does that)."""
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    apps = kubernetes.client.AppsV1Api(cluster.api_client)
    pods = cluster.get_json("pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal")["items"]
    pods.sort(key=lambda p: p["metadata"]["name"])
    cr = cr_watch(cluster)
    pod_w = Watch(functools.partial(core.list_namespaced_pod, CNI_NAMESPACE), label_selector="k8s-app=canal")
    ds_w = Watch(functools.partial(apps.list_namespaced_daemon_set, CNI_NAMESPACE),
                 field_selector="metadata.name=canal")
    results = {}
    with cr, pod_w, ds_w:
        time.sleep(0.5)  # let the three watches connect before the first change
        for label, quiet in (("isolated", 1.5), ("back_to_back", None)):
            mark = audit.mark()
            started = time.monotonic()
            passes0, gets0 = passes(operator), apiserver_gets(cluster, "customresourcedefinitions")
            res = series(cluster, operator, pods, changes, quiet, (cr, pod_w, ds_w))
            wait_idle(operator, 1.5)  # the passes the last change triggers
            res["seconds"] = time.monotonic() - started
            res["passes"] = passes(operator) - passes0
            gets1 = apiserver_gets(cluster, "customresourcedefinitions")
            res["crd_gets"] = None if gets0 is None or gets1 is None else gets1 - gets0
            writes = audit.writes(mark, OPERATOR_USER)
            res["operator_writes"] = tally(writes)
            res["status_patches_per_change"] = sum(
                1 for w in writes if (w.get("objectRef") or {}).get("subresource") == "status") / changes
            results[label] = res
            log(f"latency {label}: CR p50 {res['cr_p50'] * 1000:.0f} ms p99 {res['cr_p99'] * 1000:.0f} ms; "
                f"DaemonSet p50 {res['ds_p50'] * 1000:.0f} ms; pod watch p50 {res['pod_p50'] * 1000:.0f} ms")
    return results
