"""7. Fleet mode (BENCH_FLEET=1, or alone: `python -m bench.bench_fleet`): `cni-operator run --fleet` in the
management cluster, serving RemoteClusterNetworks (mks) of the local substrate's real target clusters t1..tN
(hack/localtargets.py; `python hack/localcluster.py up --nodes 3 --targets 5` starts five).

The fleet operator runs exactly as the fleet tests run it (tests/fleet/fleet_env.py): as a ServiceAccount holding the
chart's fleet.enabled RBAC in the management cluster, reaching each target through a kubeconfig Secret with a token
of the identity `cni-operator target-rbac --cluster-type mks` prints there; with the operator's default pacing.

Figures, each with a baseline from the same run (bench/fleet_figures.py measures them):
  1. idle cost: RSS (/proc VmRSS) and CPU over BENCH_FLEET_IDLE_SECONDS with 0, 1, 3 and all targets served and
     Ready, one operator process grown in that order; baseline: the same process with 0 RemoteClusterNetworks, and the
     in-cluster operator serving one ClusterNetwork (measured in the 0-target window);
  2. install: `kubectl apply` of N RemoteClusterNetworks at once (all targets) or of one, on fresh targets (Canal
     removed as the admin of each, its pods gone), until every one is Applied (its generation) and Ready; ratio
     N-at-once / one, BENCH_FLEET_RUNS pairs, the two sides alternating;
  3. readiness latency: a canal pod's readiness flipped in t1 -> t1's RemoteClusterNetwork's readySummary says so
     (a watch in the management cluster); baseline: t1's DaemonSet numberReady (a watch in t1); BENCH_FLEET_CHANGES;
  4. writes per idle minute, from the audit logs, in each idle window of 1.: the fleet identity's in the management
     cluster (its Lease renewals apart) and the target identity's in every target.

Environment: BENCH_FLEET_IDLE_SECONDS=60, BENCH_FLEET_RUNS=3, BENCH_FLEET_CHANGES=30, BENCH_FLEET_TARGETS (at most
this many of the running targets; default all). Alone it writes bench/results_fleet.json and replaces only the fleet
section (and its Summary rows) of BENCHMARKS.md.
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

from bench import fleet_figures, report_fleet
from bench.common import BenchOperator, close_cluster, env_float, env_int, load_average, log, open_cluster
from bench.fleet_env import BenchFleet
from tests.harness.repo import REPO
from tests.harness.reset import reset_cluster
from tests.harness.targets import TargetsUnavailable, connect_targets

RESULTS = REPO / "bench" / "results_fleet.json"


def settings() -> dict:
    return {"idle_seconds": env_float("BENCH_FLEET_IDLE_SECONDS", 60), "runs": env_int("BENCH_FLEET_RUNS", 3),
            "changes": env_int("BENCH_FLEET_CHANGES", 30), "max_targets": env_int("BENCH_FLEET_TARGETS", 0)}


def sizes(count: int) -> list[int]:
    """1, 3 and every target (those that exist)."""
    return sorted({n for n in (1, 3, count) if n <= count})


def run(cluster, incluster: BenchOperator, workdir: Path, s: dict) -> dict:
    """The four figures; INCLUSTER is a running in-cluster operator of the same management cluster (the bench's),
    whose ClusterNetwork this installs for the baseline of figure 1."""
    try:
        targets = connect_targets(1)
    except TargetsUnavailable as e:
        return {"skipped": f"no fleet targets: {e}"}
    if s["max_targets"]:
        targets = targets[:s["max_targets"]]
    from bench.run import install_and_wait_ready  # the in-cluster baseline's install, as bench/run.py does it

    out: dict = {"targets": [t.name for t in targets], "nodes_per_target": len(targets[0].cluster.fake_nodes())}
    log(f"fleet: {len(targets)} targets ({', '.join(out['targets'])}); the in-cluster baseline's ClusterNetwork")
    import yaml

    from bench import bench_apply

    (workdir / "clusternetwork.yaml").write_text(yaml.safe_dump(bench_apply.CR))
    install_and_wait_ready(cluster, workdir)
    incluster_ready_at = time.monotonic()
    bench = BenchFleet.open(cluster, targets, workdir)
    try:
        out["memory_per_target"] = bench.target_memory()
        operator = bench.start_operator("install")
        log(f"fleet operator for the install figure: pid {operator.pid}")
        out["install"] = fleet_figures.install(bench, s["runs"])
        bench.delete_rcns()
        operator.stop()
        # A fresh process for the idle series, grown 0 -> 1 -> 3 -> N (memory is only ever measured growing). The
        # in-cluster baseline's pods were Pending a moment at its install: its 60.5 s recheck is over by now.
        time.sleep(max(0.0, incluster_ready_at + 62 - time.monotonic()))
        operator = bench.start_operator("idle")
        log(f"fleet operator for the idle series and the latency: pid {operator.pid}")
        out["idle"] = fleet_figures.idle_series(bench, operator, incluster, sizes(len(targets)), s["idle_seconds"])
        out["latency"] = fleet_figures.latency(bench, operator, s["changes"])
        out["operator_rss_mib_end"] = operator.rss_mib()
        out["operator_hwm_mib_end"] = operator.hwm_mib()
        bench.delete_rcns()
        operator.stop()
    finally:
        bench.close()
    return out


def measure(cluster, incluster: BenchOperator, workdir: Path) -> dict:
    """What bench/results_fleet.json holds: the run's settings, machine and load, and the figures under "fleet"
    (with "skipped" there when there are no targets)."""
    from bench import report

    s = settings()
    results: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "settings": s,
                     "machine": report.machine(), "load_before": load_average()}
    t_start = time.monotonic()
    try:
        results["fleet"] = run(cluster, incluster, workdir, s)
    finally:
        results["load_after"] = load_average()
        results["wall_seconds"] = time.monotonic() - t_start
    return results


def save(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="cni-operator-bench-fleet-"))
    cluster = open_cluster(3)
    incluster = BenchOperator(cluster, workdir)
    results: dict = {}
    try:
        incluster.start()
        log(f"in-cluster operator running (pid {incluster.pid}, log {incluster.log_path})")
        results = measure(cluster, incluster, workdir)
    finally:
        incluster.stop()
        if not cluster.started_here:
            try:
                reset_cluster(cluster)
            except AssertionError as e:
                log(f"clean-up incomplete: {e}")
        incluster.revoke()
        close_cluster(cluster)
        if "skipped" in results.get("fleet", {"skipped": "failed"}):
            log(f"kept {workdir} (operator logs there)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if "skipped" in results["fleet"]:
        log(f"not written: {results['fleet']['skipped']}")
        return 1
    save(results)
    target = REPO / os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md")
    previous = target.read_text() if target.exists() else ""
    target.write_text(report_fleet.replace(previous, results))
    log(f"wrote the fleet section of {target} in {results['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
