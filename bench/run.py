"""`make bench`: measure, side by side with a baseline in the same run, and write BENCHMARKS.md.

    .venv/bin/python -m bench.run            (from the repository root; what `make bench` runs; a few minutes)
    BENCH_SCALE=1 .venv/bin/python -m bench.run   (adds the 1,000 / 5,000 node runs; tens of minutes)

Environment (all optional):
    BENCH_RUNS=7              install runs per side (medians are over these)
    BENCH_CHANGES=30          readiness changes per latency series
    BENCH_IDLE_SECONDS=60     the idle window for operator writes
    BENCH_NODES=3             fake nodes for the default run
    BENCH_SCALE=1             run the scale benchmarks too; BENCH_SCALE_NODES=1000,5000 sizes (grown in order),
                              BENCH_SCALE_IDLE_SECONDS=30, BENCH_CHURN_SECONDS=60, BENCH_CHURN_RATE=10 (flips/s),
                              BENCH_CHURN_WINDOW=10, BENCH_SCALE_TIMEOUT=1800 (s per wait)
    BENCH_UPGRADE=1           run the upgrade benchmark too (bench/bench_upgrade.py; about 15 minutes; alone:
                              `python -m bench.bench_upgrade`): BENCH_UPGRADE_NODES=100,
                              BENCH_UPGRADE_POLICIES=fast,default, BENCH_UPGRADE_TIMEOUT=900
    BENCH_FLEET=1             run the fleet benchmark too (bench/bench_fleet.py; about 12 minutes, needs the local
                              targets: `hack/localcluster.py up --targets 5`; alone: `python -m bench.bench_fleet`):
                              BENCH_FLEET_IDLE_SECONDS=60, BENCH_FLEET_RUNS=3, BENCH_FLEET_CHANGES=30
    BENCH_OUTPUT=BENCHMARKS.md
    KUBECONFIG_TESTS, AUDIT_LOG_TESTS   benchmark this (disposable, loopback) cluster instead of starting one,
                              as the test tiers do; without an audit log the write counts are skipped

The local cluster (hack/localcluster.py, this worktree's .cluster/) is started if it is not up, and stopped at the
end only if this run started it. Raw results (every sample) go to bench/results.json.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import bench_apply, bench_latency, bench_render, bench_writes, report
from bench.common import (
    BenchOperator,
    close_cluster,
    cr_watch,
    env_float,
    env_int,
    load_average,
    log,
    open_cluster,
)
from tests.harness.audit import AuditLog
from tests.harness.repo import REPO
from tests.harness.reset import reset_cluster


def install_and_wait_ready(cluster, workdir: Path) -> None:
    reset_cluster(cluster)
    with cr_watch(cluster) as watch:
        cluster.kubectl("apply", "-f", str(workdir / "clusternetwork.yaml"))
        watch.wait(lambda o: (o.get("status") or {}).get("phase") == "Ready", 180, "ClusterNetwork Ready")


def main() -> int:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the operator is stopped and the cluster cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    output = REPO / os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md")
    runs = env_int("BENCH_RUNS", 7)
    changes = env_int("BENCH_CHANGES", 30)
    idle_seconds = env_float("BENCH_IDLE_SECONDS", 60)
    scale = os.environ.get("BENCH_SCALE", "") not in ("", "0")
    sizes = [int(s) for s in os.environ.get("BENCH_SCALE_NODES", "1000,5000").split(",") if s.strip()]
    results: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "settings": {"runs": runs, "changes": changes, "idle_seconds": idle_seconds, "scale": scale,
                     "scale_nodes": sizes if scale else None},
        "machine": report.machine(),
        "load_before": load_average(),
    }
    t_start = time.monotonic()

    workdir = Path(tempfile.mkdtemp(prefix="cni-operator-bench-"))
    cluster = open_cluster(env_int("BENCH_NODES", 3))
    results["versions"] = report.versions()
    audit = AuditLog(cluster.audit_log_path)
    operator = BenchOperator(cluster, workdir)
    ok = False
    try:
        operator.start()
        log(f"operator running (pid {operator.pid}, log {operator.log_path})")
        (workdir / "clusternetwork.yaml").write_text(yaml.safe_dump(bench_apply.CR))
        install_and_wait_ready(cluster, workdir)
        ready_at = time.monotonic()
        # In-process figures while the freshly installed cluster sits idle (3 fake nodes: little background).
        log("render, health.assess and CLI start-up")
        results["render"] = bench_render.render_times(repeat=max(3 * runs, 15))
        results["cli"] = bench_render.cli_startup(runs=max(2 * runs, 10))
        results["assess"] = bench_render.assess_times()
        if cluster.audit_log_path:
            # The install's pods were briefly Pending: the operator rechecks 60.5 s later (the end of their grace
            # period). The idle window starts after that, so it sees the steady state.
            time.sleep(max(0.0, ready_at + 62 - time.monotonic()))
            log(f"idle window: {idle_seconds:.0f} s")
            results["idle"] = bench_writes.idle(operator, audit, idle_seconds)
            results["per_change"] = bench_writes.per_change(cluster, operator, audit)
        results["latency"] = bench_latency.run(cluster, operator, audit, changes)
        results["install"] = bench_apply.run(cluster, operator, audit, workdir, runs)
        if scale:
            from bench import bench_scale

            if not cluster.audit_log_path or not cluster.local:
                results["scale"] = {"skipped": "scale runs need the local cluster (kwok fake nodes)"}
            else:
                install_and_wait_ready(cluster, workdir)
                before = bench_scale.count_nodes(cluster)
                try:
                    results["scale"] = bench_scale.run(cluster, operator, audit, sizes)
                finally:
                    if not cluster.started_here:  # someone else's cluster: give back the nodes it had
                        bench_scale.delete_nodes(cluster, keep=before)
        if os.environ.get("BENCH_UPGRADE", "") not in ("", "0"):
            from bench import bench_upgrade

            results["upgrade"] = bench_upgrade.run(
                cluster, env_int("BENCH_UPGRADE_NODES", 100),
                [p for p in os.environ.get("BENCH_UPGRADE_POLICIES", "fast,default").split(",") if p],
                env_float("BENCH_UPGRADE_TIMEOUT", 900))
        if os.environ.get("BENCH_FLEET", "") not in ("", "0"):
            from bench import bench_fleet

            results["fleet"] = bench_fleet.measure(cluster, operator, workdir)
            if "skipped" not in results["fleet"]["fleet"]:
                bench_fleet.save(results["fleet"])
        results["operator_rss_mib_end"] = operator.rss_mib()
        ok = True
    finally:
        results["load_after"] = load_average()
        results["wall_seconds"] = time.monotonic() - t_start
        operator.stop()
        if ok and not cluster.started_here:  # a cluster we stop needs no clean-up
            try:
                reset_cluster(cluster)
            except AssertionError as e:  # after a scale run the pods of thousands of nodes take a while to go
                log(f"clean-up incomplete: {e}")
        operator.revoke()
        close_cluster(cluster)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir} (operator log: {operator.log_path})")
    raw = REPO / "bench" / "results.json"
    if "scale" not in results and raw.exists():  # keep the raw data of the scale section BENCHMARKS.md carries over
        try:
            previous = json.loads(raw.read_text())
        except ValueError:
            previous = {}
        if "scale" in previous or "scale_carried_over" in previous:
            results["scale_carried_over"] = previous.get("scale_carried_over") or {
                "started": previous.get("started"), "machine": previous.get("machine"), "scale": previous["scale"]}
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n")
    output.write_text(report.markdown(results, previous=output.read_text() if output.exists() else ""))
    log(f"wrote {output} in {results['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
