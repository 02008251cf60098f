"""4. Scale (BENCH_SCALE=1; slow): thousands of kwok nodes, one canal pod each.

For each size in BENCH_SCALE_NODES (default 1000,5000), growing from the nodes already there:
  - join: the fake nodes are created (8 threads, as the admin). Baseline in the same run: the canal DaemonSet's
    own status settling with a pod on every node (kube-controller-manager, kube-scheduler and kwok doing their
    part), at numberReady R (normally N; see join() for when it is not). The operator's figure: when the
    ClusterNetwork's readySummary says R/N, from then on. "Lag" is what the operator adds on top of the cluster's
    own convergence. Status patches and the operator's CPU seconds during the join are counted.
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
import json
import queue
import time
from concurrent.futures import ThreadPoolExecutor

import kubernetes

from bench.bench_latency import _patch, _pod_ready, wait_idle
from bench.common import OPERATOR_USER, BenchOperator, Watch, cr_watch, env_float, env_int, log
from tests.harness.audit import AuditLog, tally
from tests.harness.cluster import Cluster
from tests.harness.managed import CNI_APPS, CNI_NAMESPACE
from tests.harness.repo import localcluster


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


def count_nodes(cluster: Cluster) -> int:
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    key, value = localcluster.NODE_LABEL
    return len(core.list_node(label_selector=f"{key}={value}").items)


def _all_ready(n: int):
    def check(obj: dict) -> bool:
        status = obj.get("status") or {}
        return status.get("readySummary") == f"{n}/{n}" and status.get("phase") == "Ready"
    return check


def _drain_into(watch: Watch, history: list[tuple[float, dict]], wait: float = 0.5) -> bool:
    """Move the watch's queued events into HISTORY (waiting up to WAIT for the first); True if any arrived."""
    got = False
    try:
        at, kind, obj = watch.events.get(timeout=wait)
    except queue.Empty:
        return False
    while True:
        if kind != "DELETED":
            history.append((at, obj))
            got = True
        try:
            at, kind, obj = watch.events.get_nowait()
        except queue.Empty:
            return got


def _settled_since(history: list[tuple[float, dict]], value) -> float:
    """The arrival time of the first event of the final run of events for which value(obj) is what it is last."""
    final = value(history[-1][1])
    at = history[-1][0]
    for t, obj in reversed(history):
        if value(obj) != final:
            break
        at = t
    return at


def _ds_status(obj: dict) -> dict:
    return obj.get("status") or {}


def pending_pods(cluster: Cluster) -> int:
    """Canal pods still Pending (kwok has not run them yet)."""
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    response = core.list_namespaced_pod(CNI_NAMESPACE, label_selector="k8s-app=canal",
                                        field_selector="status.phase=Pending", _preload_content=False)
    return len(json.loads(response.data)["items"])


def _summary_count(obj: dict | None) -> int | None:
    summary = ((obj or {}).get("status") or {}).get("readySummary") or ""
    try:
        return int(summary.split("/")[0])
    except ValueError:
        return None


def join(cluster: Cluster, operator: BenchOperator, audit: AuditLog, n: int, timeout: float,
         stable: float = 10.0) -> dict:
    """Nodes join. Done when the DaemonSet has a pod on every node, none of them Pending, and its status has not
    changed for STABLE seconds (numberReady R), and the ClusterNetwork says R/N. Never done when the cluster keeps changing: then the
    result says so, with how closely the status tracked the DaemonSet meanwhile.

    R can be below N on an overloaded machine: when kwok renews the node leases late, kube-controller-manager's
    node lifecycle controller marks the pods on those nodes not ready, and kwok never makes a Running pod ready
    again. Such pods are counted (stuck_not_ready), the status must match the truth all the same, and then the
    bench makes them ready (as the admin) so the next phases start from N/N.

    Tracking: once a second, the count in the ClusterNetwork's readySummary against the DaemonSet's numberReady,
    both as last delivered by our watches (two lagging views of the same pods)."""
    apps = kubernetes.client.AppsV1Api(cluster.api_client)
    have = count_nodes(cluster)
    ds_w = Watch(functools.partial(apps.list_namespaced_daemon_set, CNI_NAMESPACE),
                 field_selector="metadata.name=canal")
    ds_hist: list[tuple[float, dict]] = []
    cr_hist: list[tuple[float, dict]] = []
    gaps: list[int] = []
    rss_peak = 0.0
    error = None
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
        deadline = t0 + timeout
        last_change = next_sample = next_log = next_pending = time.monotonic()
        pending = None
        while True:
            if _drain_into(ds_w, ds_hist):
                last_change = time.monotonic()
            _drain_into(cr, cr_hist, wait=0)
            st = _ds_status(ds_hist[-1][1]) if ds_hist else {}
            ready = st.get("numberReady", 0)
            scheduled = st.get("desiredNumberScheduled") == n and st.get("currentNumberScheduled") == n
            counted = _summary_count(cr_hist[-1][1]) if cr_hist else None
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 1.0
                rss_peak = max(rss_peak, operator.rss_mib())
                if scheduled and counted is not None:
                    gaps.append(abs(counted - ready))
            if scheduled and now >= next_pending:  # kwok may still be starting pods while the DaemonSet is quiet
                next_pending = now + 3.0
                pending = pending_pods(cluster)
            if now >= next_log:
                next_log = now + 60
                log(f"scale {n}: {now - t0:.0f} s: DaemonSet {ready}/{st.get('desiredNumberScheduled')} ready, "
                    f"{pending} pending, ClusterNetwork {counted}/{n}")
            if scheduled and pending == 0 and now - last_change >= stable and counted == ready:
                break
            if now > deadline:
                error = (f"not settled after {timeout:.0f} s: at the end the DaemonSet had {ready} of {n} pods "
                         f"ready, {pending} still Pending, its status last changed {now - last_change:.0f} s "
                         f"before, and the ClusterNetwork said {counted}/{n} (kwok's node leases lag on this "
                         f"machine, so the node lifecycle controller keeps marking nodes and their pods not ready)")
                break
        after = _counters(operator)
        if error is None:
            t_ds = _settled_since(ds_hist, lambda o: _ds_status(o).get("numberReady"))
            t_cr = _settled_since(cr_hist, _summary_count)
            log(f"scale {n}: DaemonSet settled at {ready}/{n} after {t_ds - t0:.1f} s, the ClusterNetwork said so "
                f"after {t_cr - t0:.1f} s")
            healed = heal(cluster, cr, n)
        else:
            log(f"scale {n}: {error}")
    d = _delta(before, after)
    ordered = sorted(gaps)
    return {
        "nodes_added": n - have,
        "create_s": created,
        "settled": error is None,
        "error": error,
        "ds_ready_s": t_ds - t0 if error is None else None,
        "ds_ready": ready,
        "stuck_not_ready": n - ready,
        "cr_ready_s": t_cr - t0 if error is None else None,
        "lag_s": t_cr - t_ds if error is None else None,
        "heal": healed if error is None else None,
        "tracking_samples": len(gaps),
        "tracking_median": ordered[len(ordered) // 2] if ordered else None,
        "tracking_p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else None,
        "cpu_s": d["cpu"],
        "wall_s": d["t"],
        "status_patches": d["patches"],
        "passes": d["passes"],
        "writes": tally(audit.writes(mark, OPERATOR_USER)),
        "rss_mib": operator.rss_mib(),
        "rss_peak_mib": rss_peak,
    }


def heal(cluster: Cluster, cr: Watch, n: int, timeout: float = 600) -> dict:
    """Make every Running CNI pod (canal, calico-kube-controllers) that is not ready ready again (as the admin), in
    rounds 15 s apart while the node lifecycle controller keeps marking more, until the status says N/N with phase
    Ready. Pending pods are left to kwok: marking one of those ready would take it out of kwok's hands for good."""
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    t0 = time.monotonic()
    rounds, patched = 0, 0
    while True:
        pods = cluster.get_json("pods", "-n", CNI_NAMESPACE, "-l", CNI_APPS)["items"]
        stuck = [p for p in pods if p["status"].get("phase") == "Running" and not _pod_ready(p)]
        if stuck:
            rounds += 1
            patched += len(stuck)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda p: _patch(core, p, True), stuck))
        try:
            # `current`: join() consumed this watch's events, and the status may say N/N already (nothing stuck).
            at, _ = cr.wait(_all_ready(n), timeout=15, what=f"ClusterNetwork {n}/{n}", current=not stuck)
            break
        except TimeoutError:
            if time.monotonic() - t0 > timeout:
                raise
    log(f"scale {n}: made {patched} stuck pods ready in {rounds} rounds; {n}/{n} after {max(at - t0, 0.0):.1f} s")
    return {"seconds": max(at - t0, 0.0), "pods": patched, "rounds": rounds}


def idle(operator: BenchOperator, audit: AuditLog, seconds: float) -> dict:
    wait_idle(operator, 2.0, timeout=300)
    mark = audit.mark()
    before = _counters(operator)
    time.sleep(seconds)
    d = _delta(before, _counters(operator))
    return {"seconds": d["t"], "writes": tally(audit.writes(mark, OPERATOR_USER)), "passes": d["passes"],
            "cpu_s": d["cpu"], "rss_mib": operator.rss_mib()}


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
    writes = audit.writes(mark, OPERATOR_USER)
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
            entry["hwm_mib"] = operator.hwm_mib()
            if not entry["join"]["settled"]:
                entry["error"] = entry["join"]["error"]
                results["failed"] = n
                break
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
