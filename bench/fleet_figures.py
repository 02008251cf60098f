"""The fleet benchmark's four figures (bench/bench_fleet.py says what each is and runs them in order):
install on N targets at once vs one, the idle series (RSS, CPU and writes with 0, 1, 3 and N targets), and the
readiness latency through a target."""

from __future__ import annotations

import datetime as dt
import functools
import time

import kubernetes

from bench import bench_latency
from bench.common import OPERATOR_USER, BenchOperator, Watch, log, median, percentile
from bench.fleet_env import BenchFleet, wait_all
from tests.fleet.fleet_env import FLEET_NAMESPACE, FLEET_USER, TARGET_USER
from tests.harness.audit import AuditLog, completed, received, tally
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import OperatorProcess, is_lease_write

FLEET_LEASE = "cni-operator-fleet"
INSTALL_TIMEOUT = 300


def _side(bench: BenchFleet, watch: Watch, group: list) -> dict:
    """One install: GROUP's targets fresh, their RemoteClusterNetworks applied in one request, until every one is
    Applied and Ready; the RemoteClusterNetworks are deleted afterwards (Orphan: Canal stays)."""
    bench.reset_targets(group)
    names = [t.name for t in group]
    logs = {t.name: AuditLog(t.audit_log_path) for t in group}
    marks = {n: a.mark() for n, a in logs.items()}
    watch.drain()
    wall0, t0 = dt.datetime.now(dt.UTC), time.monotonic()
    bench.apply_rcns(group)
    applied, became_ready = wait_all(watch, names, INSTALL_TIMEOUT)
    bench.delete_rcns()
    # Where the time went, per target, from its audit log (seconds from the apply): the operator's first and last
    # write there (the CNI's objects), and how many.
    writes = {n: logs[n].writes(marks[n], TARGET_USER) for n in names}
    first = {n: (received(w[0]) - wall0).total_seconds() for n, w in writes.items() if w}
    last = {n: (completed(w[-1]) - wall0).total_seconds() for n, w in writes.items() if w}
    return {"targets": names, "applied_s": max(applied.values()) - t0, "ready_s": max(became_ready.values()) - t0,
            "per_target_applied_s": {n: applied[n] - t0 for n in names},
            "per_target_ready_s": {n: became_ready[n] - t0 for n in names},
            "first_write_s": first, "last_write_s": last, "writes": {n: len(w) for n, w in writes.items()}}


def install(bench: BenchFleet, runs: int) -> dict:
    """RUNS pairs, one target (t1) and every target at once, alternating which goes first; the last pair ends with
    every target (so every target has Canal running for the idle series)."""
    sides: dict[str, list[dict]] = {"one": [], "all": []}
    with bench.rcn_watch() as watch:
        for i in range(runs):
            order = ("one", "all") if (runs - 1 - i) % 2 == 0 else ("all", "one")
            for side in order:
                group = bench.targets[:1] if side == "one" else bench.targets
                sample = _side(bench, watch, group)
                sides[side].append(sample)
                log(f"fleet install run {i + 1}/{runs}, {len(group)} target(s): Applied {sample['applied_s']:.2f} s, "
                    f"Ready {sample['ready_s']:.2f} s")
    out: dict = {"runs": runs, "targets": len(bench.targets), "sides": sides}
    for key in ("first_write_s", "last_write_s"):  # the slowest target of each install, median over the runs
        out[key] = {side: median([max(s[key].values()) for s in sides[side] if s[key]]) for side in sides}
    for key in ("applied_s", "ready_s"):
        one, every = median([s[key] for s in sides["one"]]), median([s[key] for s in sides["all"]])
        out[key] = {"one": one, "all": every, "ratio": every / one,
                    "pair_ratios": [a[key] / o[key] for a, o in zip(sides["all"], sides["one"], strict=True)]}
    return out


def _is_fleet_lease(entry: dict) -> bool:
    ref = entry.get("objectRef") or {}
    return ref.get("resource") == "leases" and ref.get("name") == FLEET_LEASE and ref.get("namespace") == FLEET_NAMESPACE


def window(bench: BenchFleet, operator: OperatorProcess, seconds: float, served: int,
           incluster: BenchOperator | None = None) -> dict:
    """SECONDS of nothing happening: the fleet operator's RSS and CPU, its writes in the management cluster and in
    every target (served or not), and, given INCLUSTER, the in-cluster operator's figures over the same window."""
    mgmt = AuditLog(bench.cluster.audit_log_path)
    logs = {t.name: AuditLog(t.audit_log_path) for t in bench.targets}
    mark, marks = mgmt.mark(), {n: a.mark() for n, a in logs.items()}
    cpu0, passes0 = operator.cpu_seconds(), bench_latency.passes(operator)
    in_cpu0 = incluster.cpu_seconds() if incluster else 0.0
    t0 = time.monotonic()
    time.sleep(seconds)  # the measured interval itself, not a wait for something to happen
    elapsed = time.monotonic() - t0
    every = mgmt.writes(mark, FLEET_USER)
    writes = [w for w in every if not _is_fleet_lease(w)]
    in_target = {n: a.writes(marks[n], TARGET_USER) for n, a in logs.items()}
    out = {"targets_served": served, "seconds": elapsed, "rss_mib": operator.rss_mib(), "hwm_mib": operator.hwm_mib(),
           "cpu_seconds": operator.cpu_seconds() - cpu0, "passes": bench_latency.passes(operator) - passes0,
           "management_writes": len(writes), "management_by_kind": tally(writes),
           "lease_renewals": len(every) - len(writes),
           "target_writes": {n: len(w) for n, w in in_target.items()},
           "target_by_kind": {n: tally(w) for n, w in in_target.items() if w}}
    if incluster:
        in_every = mgmt.writes(mark, OPERATOR_USER)
        in_writes = [w for w in in_every if not is_lease_write(w)]
        out["incluster"] = {"rss_mib": incluster.rss_mib(), "hwm_mib": incluster.hwm_mib(),
                            "cpu_seconds": incluster.cpu_seconds() - in_cpu0, "writes": len(in_writes),
                            "by_kind": tally(in_writes), "lease_renewals": len(in_every) - len(in_writes)}
    log(f"fleet idle, {served} target(s): RSS {out['rss_mib']:.1f} MiB, CPU {out['cpu_seconds']:.2f} s in "
        f"{elapsed:.0f} s, writes {len(writes)} (+{out['lease_renewals']} Lease) in the management cluster, "
        f"{sum(out['target_writes'].values())} in the targets")
    return out


def idle_series(bench: BenchFleet, operator: OperatorProcess, incluster: BenchOperator, sizes: list[int],
                seconds: float) -> dict:
    """A window with 0 RemoteClusterNetworks (and the in-cluster baseline), then one each with SIZES targets
    served and Ready (the process only ever grows its fleet)."""
    windows = [window(bench, operator, seconds, 0, incluster)]
    served = 0
    with bench.rcn_watch() as watch:
        for size in sizes:
            group = bench.targets[served:size]
            watch.drain()
            t0 = time.monotonic()
            bench.apply_rcns(group)
            _, became_ready = wait_all(watch, [t.name for t in group], INSTALL_TIMEOUT)
            served = size
            # Settled: no status update for 5 s and no reconcile pass started for 2 s.
            watch.quiet(5, timeout=120)
            bench_latency.wait_idle(operator, 2.0, timeout=120)
            w = window(bench, operator, seconds, served)
            w["ready_after_s"] = max(became_ready.values()) - t0
            windows.append(w)
    base = windows[0]
    for w in windows[1:]:
        n = w["targets_served"]
        w["rss_per_target_mib"] = (w["rss_mib"] - base["rss_mib"]) / n
        w["cpu_per_target_s_per_min"] = (w["cpu_seconds"] / w["seconds"] - base["cpu_seconds"] / base["seconds"]) \
            * 60 / n
    return {"seconds": seconds, "windows": windows}


def latency(bench: BenchFleet, operator: OperatorProcess, changes: int) -> dict:
    """bench/bench_latency.py's isolated series, through t1: its canal pods flipped as t1's admin, the
    RemoteClusterNetwork watched in the management cluster, the pod and DaemonSet watched in t1."""
    target = bench.targets[0]
    core = kubernetes.client.CoreV1Api(target.cluster.api_client)
    apps = kubernetes.client.AppsV1Api(target.cluster.api_client)
    pods = target.cluster.get_json("pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal")["items"]
    pods.sort(key=lambda p: p["metadata"]["name"])
    rcn_w = bench.rcn_watch(target.name)
    pod_w = Watch(functools.partial(core.list_namespaced_pod, CNI_NAMESPACE), label_selector="k8s-app=canal")
    ds_w = Watch(functools.partial(apps.list_namespaced_daemon_set, CNI_NAMESPACE),
                 field_selector="metadata.name=canal")
    mgmt, in_target = AuditLog(bench.cluster.audit_log_path), AuditLog(target.audit_log_path)
    with rcn_w, pod_w, ds_w:
        for w, what in ((rcn_w, "the RemoteClusterNetwork"), (pod_w, "the canal pods"), (ds_w, "the DaemonSet")):
            w.wait(lambda o: True, 30, f"{what}' watch to deliver", current=True)  # each watch listening
        mark, target_mark = mgmt.mark(), in_target.mark()
        passes0 = bench_latency.passes(operator)
        res = bench_latency.series(target.cluster, operator, pods, changes, 1.5, (rcn_w, pod_w, ds_w))
        bench_latency.wait_idle(operator, 1.5)
    writes = [w for w in mgmt.writes(mark, FLEET_USER) if not _is_fleet_lease(w)]
    res["target"] = target.name
    res["pods"] = len(pods)
    res["passes"] = bench_latency.passes(operator) - passes0
    res["management_writes"] = tally(writes)
    res["status_patches_per_change"] = sum(
        1 for w in writes if (w.get("objectRef") or {}).get("subresource") == "status") / changes
    res["target_writes"] = tally(in_target.writes(target_mark, TARGET_USER))
    res["rcn_p50"], res["rcn_p99"] = percentile(res["cr_s"], 50), percentile(res["cr_s"], 99)
    log(f"fleet latency: RemoteClusterNetwork p50 {res['rcn_p50'] * 1000:.0f} ms p99 {res['rcn_p99'] * 1000:.0f} ms; "
        f"t1's DaemonSet p50 {res['ds_p50'] * 1000:.0f} ms p99 {res['ds_p99'] * 1000:.0f} ms")
    return res
