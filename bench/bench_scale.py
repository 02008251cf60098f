"""4. Scale (BENCH_SCALE=1; slow): thousands of kwok nodes, one canal pod each.

For each size in BENCH_SCALE_NODES (default 1000,5000), growing from the nodes already there:
  - join: the fake nodes are created (8 threads, as the admin); the clock stops when the ClusterNetwork says
    readySummary N/N with phase Ready. Baseline in the same run: when the canal DaemonSet itself reports
    numberReady == desiredNumberScheduled == N (kube-controller-manager, kube-scheduler and kwok doing their part),
    so "lag" is what the operator adds on top of the cluster's own convergence. Status patches and the operator's
    CPU seconds during the join are counted.
  - idle at N for BENCH_SCALE_IDLE_SECONDS (30): writes (audit log), passes, CPU seconds.
  - churn for BENCH_CHURN_SECONDS (60): BENCH_CHURN_RATE (10) pod readiness flips a second, rolling over the canal
    pods (a pod made not ready is made ready again BENCH_CHURN_WINDOW (10) flips later). Status patches per second
    (the operator's cni_operator_status_patches_total, cross-checked with the audit log), passes per second, CPU
    seconds; then every pod is made ready again and the time until the status says N/N is measured.
  - memory: VmRSS after each phase and VmHWM (the peak since the operator started), from /proc/<pid>/status.
Only for the local cluster (hack/localcluster.py): it needs kwok to run the fake nodes.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor

import kubernetes
from bench_latency import _patch, wait_idle
from common import (
    CNI_NAMESPACE,
    AuditLog,
    BenchOperator,
    Cluster,
    Watch,
    cr_watch,
    env_float,
    env_int,
    localcluster,
    log,
    tally,
)


def _status_patches(operator: BenchOperator) -> float:
    return operator.metrics().get("cni_operator_status_patches_total", 0.0)


def _passes(operator: BenchOperator) -> float:
    return sum(v for k, v in operator.metrics().items() if k.startswith("cni_operator_reconciles_total"))


def _counters(operator: BenchOperator) -> dict:
    return {"cpu": operator.cpu_seconds(), "patches": _status_patches(operator), "passes": _passes(operator),
            "t": time.monotonic()}


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before}


def create_nodes(cluster: Cluster, first: int, last: int, threads: int = 8) -> None:
    core = kubernetes.client.CoreV1Api(cluster.api_client)

    def make(i: int) -> None:
        try:
            core.create_node(localcluster.node_manifest(i))
        except kubernetes.client.exceptions.ApiException as e:
            if e.status != 409:
                raise

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(make, range(first, last)))


def delete_nodes(cluster: Cluster, keep: int, threads: int = 8) -> None:
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    key, value = localcluster.NODE_LABEL
    names = [n.metadata.name for n in core.list_node(label_selector=f"{key}={value}").items]
    doomed = [n for n in names if int(n.removeprefix(localcluster.NODE_PREFIX)) >= keep]

    def drop(name: str) -> None:
        try:
            core.delete_node(name)
        except kubernetes.client.exceptions.ApiException as e:
            if e.status != 404:
                raise

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(drop, doomed))


def _count_nodes(cluster: Cluster) -> int:
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    key, value = localcluster.NODE_LABEL
    return len(core.list_node(label_selector=f"{key}={value}").items)


def _all_ready(n: int):
    def check(obj: dict) -> bool:
        status = obj.get("status") or {}
        return status.get("readySummary") == f"{n}/{n}" and status.get("phase") == "Ready"
    return check


def join(cluster: Cluster, operator: BenchOperator, audit: AuditLog, n: int, timeout: float) -> dict:
    apps = kubernetes.client.AppsV1Api(cluster.api_client)
    have = _count_nodes(cluster)
    ds_w = Watch(functools.partial(apps.list_namespaced_daemon_set, CNI_NAMESPACE),
                 field_selector="metadata.name=canal")
    with cr_watch(cluster) as cr, ds_w:
        time.sleep(0.5)
        cr.drain()
        ds_w.drain()
        mark = audit.mark()
        before = _counters(operator)
        t0 = time.monotonic()
        create_nodes(cluster, have, n)
        created = time.monotonic() - t0
        log(f"scale {n}: {n - have} nodes created in {created:.1f} s; waiting for the DaemonSet and the status")

        def ds_done(obj: dict) -> bool:
            s = obj.get("status") or {}
            return s.get("desiredNumberScheduled") == n and s.get("numberReady") == n
        t_ds, _ = ds_w.wait(ds_done, timeout=timeout, what=f"DaemonSet canal {n}/{n} ready")
        log(f"scale {n}: DaemonSet {n}/{n} ready after {t_ds - t0:.1f} s")
        t_cr, _ = cr.wait(_all_ready(n), timeout=timeout, what=f"ClusterNetwork {n}/{n} Ready")
        log(f"scale {n}: ClusterNetwork {n}/{n} Ready after {t_cr - t0:.1f} s")
        after = _counters(operator)
    d = _delta(before, after)
    writes = audit.writes(mark)
    return {
        "nodes_added": n - have,
        "create_s": created,
        "ds_ready_s": t_ds - t0,
        "cr_ready_s": t_cr - t0,
        "lag_s": t_cr - t_ds,
        "cpu_s": d["cpu"],
        "wall_s": d["t"],
        "status_patches": d["patches"],
        "passes": d["passes"],
        "writes": tally(writes),
        "rss_mib": operator.rss_mib(),
    }


def idle(operator: BenchOperator, audit: AuditLog, seconds: float) -> dict:
    wait_idle(operator, 2.0, timeout=300)
    mark = audit.mark()
    before = _counters(operator)
    time.sleep(seconds)
    d = _delta(before, _counters(operator))
    return {"seconds": d["t"], "writes": tally(audit.writes(mark)), "passes": d["passes"], "cpu_s": d["cpu"],
            "rss_mib": operator.rss_mib()}


def churn(cluster: Cluster, operator: BenchOperator, audit: AuditLog, n: int, seconds: float, rate: float,
          window: int, timeout: float) -> dict:
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    pods = cluster.get_json("pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal")["items"]
    pods.sort(key=lambda p: p["metadata"]["name"])
    wait_idle(operator, 2.0, timeout=300)
    mark = audit.mark()
    before = _counters(operator)
    down: list[dict] = []
    flips = 0
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < seconds:
        due = t0 + flips / rate
        if time.monotonic() < due:
            time.sleep(due - time.monotonic())
        if len(down) >= window:
            _patch(core, down.pop(0), True)
        else:
            pod = pods[i % len(pods)]
            i += 1
            _patch(core, pod, False)
            down.append(pod)
        flips += 1
    churn_s = time.monotonic() - t0
    during = _delta(before, _counters(operator))
    with cr_watch(cluster) as cr:
        t1 = time.monotonic()
        for pod in down:
            _patch(core, pod, True)
        t_ok, _ = cr.wait(_all_ready(n), timeout=timeout, what=f"ClusterNetwork {n}/{n} after the churn")
    writes = audit.writes(mark)
    status_writes = sum(1 for w in writes if (w.get("objectRef") or {}).get("subresource") == "status")
    return {
        "seconds": churn_s,
        "flips": flips,
        "flips_per_s": flips / churn_s,
        "status_patches": during["patches"],
        "status_patches_per_s": during["patches"] / during["t"],
        "passes_per_s": during["passes"] / during["t"],
        "cpu_s": during["cpu"],
        "cpu_share": during["cpu"] / during["t"],
        "audit_status_writes": status_writes,
        "writes": tally(writes),
        "settle_s": t_ok - t1,
        "rss_mib": operator.rss_mib(),
    }


def run(cluster: Cluster, operator: BenchOperator, audit: AuditLog, sizes: list[int]) -> dict:
    results: dict = {"sizes": {}, "failed": None}
    timeout = env_float("BENCH_SCALE_TIMEOUT", 1800)
    for n in sizes:
        entry: dict = {}
        results["sizes"][n] = entry
        try:
            entry["join"] = join(cluster, operator, audit, n, timeout)
            entry["idle"] = idle(operator, audit, env_float("BENCH_SCALE_IDLE_SECONDS", 30))
            entry["churn"] = churn(cluster, operator, audit, n, env_float("BENCH_CHURN_SECONDS", 60),
                                   env_float("BENCH_CHURN_RATE", 10), env_int("BENCH_CHURN_WINDOW", 10), timeout)
            entry["hwm_mib"] = operator.hwm_mib()
            log(f"scale {n}: {entry}")
        except Exception as e:  # noqa: BLE001 - report the largest size that worked, and why the next did not
            entry["error"] = f"{type(e).__name__}: {e}"
            results["failed"] = n
            log(f"scale {n} failed: {entry['error']}")
            break
    return results
