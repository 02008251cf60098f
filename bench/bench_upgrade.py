"""6. Upgrade (BENCH_UPGRADE=1, or alone: `python -m bench.bench_upgrade`): canal v3.31.4 -> v3.32.1 on N kwok nodes.

For each rollout policy in BENCH_UPGRADE_POLICIES (default "fast,default"; see POLICIES), two sides, each measured
from the write that starts the change until it is complete, with the same 200 ms sampler counting the nodes without
a Ready, non-terminating pod of the DaemonSet (tests/harness/rollout.py, as the rollout tests use it):
  - baseline: the rendered canal DaemonSet of v3.31.4, renamed canal-baseline in the namespace bench-upgrade (its own
    k8s-app label, so neither the operator nor the other side's sampler sees it), `updateStrategy: RollingUpdate`
    with the policy's maxUnavailable (maxSurge 0, the DaemonSet default), then `kubectl apply --server-side` of the
    v3.32.1 template: the DaemonSet controller rolls it. Complete: what `kubectl rollout status` waits for
    (observedGeneration current, updatedNumberScheduled = numberAvailable = desiredNumberScheduled).
  - operator: a ClusterNetwork (mks, v3.31.4, spec.rollout = the policy) installed and Ready on every node, then
    `kubectl apply` of the same ClusterNetwork with cni.version v3.32.1: the operator drives the update (OnDelete:
    canary, soak, batches). Complete: status.rollout.phase Complete for v3.32.1 and Ready=True.
Both sides change the same pod template (v3.31.4 -> v3.32.1 of the same render); the operator's side also applies the
rest of the v3.32.1 render (CRDs, RBAC), which the baseline does not need to roll pods.

Environment: BENCH_UPGRADE_NODES=100, BENCH_UPGRADE_POLICIES=fast,default, BENCH_UPGRADE_TIMEOUT=900 (s per side).
Alone it writes bench/results_upgrade.json and replaces only the upgrade section of BENCHMARKS.md.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml
from cni_operator.api import parse_spec
from cni_operator.render import render

from bench import report_upgrade
from bench.bench_scale import count_nodes, create_nodes, delete_nodes
from bench.common import (
    BenchOperator,
    Watch,
    close_cluster,
    cr_watch,
    env_float,
    env_int,
    load_average,
    log,
    open_cluster,
)
from tests.harness.cluster import Cluster
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.repo import REPO
from tests.harness.reset import reset_cluster
from tests.harness.rollout import Sampler

OLD, NEW = "v3.31.4", "v3.32.1"
# "default" is spec.rollout left out (the API's defaults: canary 1, soak 30 s, maxUnavailable 1); "fast" is what a
# platform team would choose for 100 nodes: the same canary, a short soak, batches of 10%.
POLICIES = {
    "fast": {"canary": 1, "soakSeconds": 10, "maxUnavailable": "10%", "progressDeadlineSeconds": 1800},
    "default": {"progressDeadlineSeconds": 1800},
}
DEFAULT_MAX_UNAVAILABLE = 1
BASELINE_NS, BASELINE_APP = "bench-upgrade", "canal-baseline"


def _policy_max_unavailable(policy: dict) -> int | str:
    return policy.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE)


def _cr(version: str, policy: dict) -> dict:
    return {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
            "spec": {"clusterType": "mks", "cni": {"version": version}, "rollout": policy}}


def baseline_daemonset(version: str, max_unavailable: int | str) -> dict:
    """The canal DaemonSet the operator renders for VERSION, as a plain DaemonSet the controller rolls itself."""
    ds = copy.deepcopy(next(o for o in render(parse_spec({"clusterType": "mks", "cni": {"version": version}})).apply
                            if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "canal"))
    ds["metadata"] = {"name": BASELINE_APP, "namespace": BASELINE_NS, "labels": {"k8s-app": BASELINE_APP}}
    ds["spec"]["selector"] = {"matchLabels": {"k8s-app": BASELINE_APP}}
    ds["spec"]["template"]["metadata"]["labels"] = {"k8s-app": BASELINE_APP}
    ds["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable}}
    return ds


def _apply(cluster: Cluster, obj: dict) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=bench-upgrade", "-f", "-",
                    input=json.dumps(obj))


def _rolled_out(cluster: Cluster, nodes: int) -> dict | None:
    ds = cluster.apps.read_namespaced_daemon_set(BASELINE_APP, BASELINE_NS)
    s = ds.status
    done = (s.observed_generation or 0) >= ds.metadata.generation and s.desired_number_scheduled == nodes and \
        (s.updated_number_scheduled or 0) == nodes and (s.number_available or 0) == nodes
    return {"generation": ds.metadata.generation} if done else None


def _wait(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def baseline(cluster: Cluster, names: list[str], policy: dict, timeout: float) -> dict:
    """The DaemonSet controller's RollingUpdate of the same template change, timed and sampled."""
    n, mu = len(names), _policy_max_unavailable(policy)
    cluster.kubectl("create", "namespace", BASELINE_NS, check=False)
    cluster.kubectl("create", "serviceaccount", "canal", "-n", BASELINE_NS, check=False)
    try:
        _apply(cluster, baseline_daemonset(OLD, mu))
        _wait(lambda: _rolled_out(cluster, n), timeout, f"baseline {OLD} on {n} nodes")
        with Sampler(cluster, names, BASELINE_APP, namespace=BASELINE_NS) as sampler:
            t0 = time.monotonic()
            _apply(cluster, baseline_daemonset(NEW, mu))
            _wait(lambda: _rolled_out(cluster, n), timeout, f"baseline rolled to {NEW}")
            seconds = time.monotonic() - t0
    finally:
        cluster.kubectl("delete", "namespace", BASELINE_NS, "--wait=true", "--timeout=300s", check=False)
    worst, lacking, at = sampler.worst
    return {"seconds": seconds, "worst": worst, "worst_at_s": at, "worst_nodes": lacking[:10],
            "samples": sampler.samples, "events": sampler.events, "sample_errors": sampler.errors,
            "sample_seconds": sampler.elapsed, "longest_gap_s": sampler.longest_gap, "max_unavailable": mu}


def operator_side(cluster: Cluster, names: list[str], policy: dict, timeout: float) -> dict:
    """The operator's update of the same change under POLICY, timed and sampled; the phases as status showed them."""
    n = len(names)
    reset_cluster(cluster)
    with cr_watch(cluster) as watch:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(_cr(OLD, policy)))
        watch.wait(lambda o: (o.get("status") or {}).get("readySummary") == f"{n}/{n}" and
                   (o.get("status") or {}).get("phase") == "Ready", timeout, f"{OLD} Ready on {n} nodes")
        phases: list[tuple[str, float]] = []
        generation = cluster.apps.read_namespaced_daemon_set("canal", CNI_NAMESPACE).metadata.generation
        ds_watch = Watch(functools.partial(cluster.apps.list_namespaced_daemon_set, CNI_NAMESPACE),
                         field_selector="metadata.name=canal")
        with Sampler(cluster, names, "canal") as sampler, ds_watch:
            ds_watch.wait(lambda d: True, 30, "the canal DaemonSet's watch", current=True)  # listening before t0
            watch.drain()
            t0 = time.monotonic()
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(_cr(NEW, policy)))

            def complete(obj: dict) -> bool:
                rollout = (obj.get("status") or {}).get("rollout") or {}
                if rollout.get("to") == NEW and (not phases or phases[-1][0] != rollout.get("phase")):
                    phases.append((rollout.get("phase"), time.monotonic() - t0))
                ready = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
                             {})
                return rollout.get("to") == NEW and rollout.get("phase") == "Complete" and ready.get("status") == "True"

            at, obj = watch.wait(complete, timeout, f"the operator's update to {NEW} Complete")
            seconds = at - t0
            # When the new template reached the DaemonSet: the spec's quiet time and the apply of the whole render.
            applied_at, _ = ds_watch.wait(lambda d: d["metadata"]["generation"] > generation, 5,
                                          "the DaemonSet's new template")  # the first such event, not the latest
    worst, lacking, worst_at = sampler.worst
    return {"seconds": seconds, "worst": worst, "worst_at_s": worst_at, "worst_nodes": lacking[:10],
            "samples": sampler.samples, "events": sampler.events, "sample_errors": sampler.errors,
            "sample_seconds": sampler.elapsed, "longest_gap_s": sampler.longest_gap, "phases": phases,
            "template_applied_s": applied_at - t0,
            "nodes_updated": obj["status"]["rollout"].get("nodesUpdated"),
            "max_unavailable": _policy_max_unavailable(policy), "policy": policy}


def run(cluster: Cluster, nodes: int, policies: list[str], timeout: float) -> dict:
    before = count_nodes(cluster)
    create_nodes(cluster, 0, nodes)
    names = [n.metadata.name for n in cluster.fake_nodes()]  # every node runs a pod: the sampler watches them all
    assert len(names) >= nodes, f"wanted {nodes} nodes, have {len(names)}"
    out: dict = {"nodes": len(names), "from": OLD, "to": NEW, "policies": {}}
    try:
        for name in policies:
            policy = POLICIES[name]
            log(f"upgrade, policy {name}: baseline (DaemonSet RollingUpdate, maxUnavailable "
                f"{_policy_max_unavailable(policy)})")
            entry = out["policies"][name] = {"baseline": baseline(cluster, names, policy, timeout)}
            log(f"upgrade, policy {name}: baseline {entry['baseline']['seconds']:.1f} s; now the operator")
            entry["operator"] = operator_side(cluster, names, policy, timeout)
            log(f"upgrade, policy {name}: operator {entry['operator']['seconds']:.1f} s")
    finally:
        reset_cluster(cluster)
        if nodes > before:
            delete_nodes(cluster, keep=before)
    return out


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nodes = env_int("BENCH_UPGRADE_NODES", 100)
    policies = [p.strip() for p in os.environ.get("BENCH_UPGRADE_POLICIES", "fast,default").split(",") if p.strip()]
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_before": load_average()}
    from bench import report

    results["machine"] = report.machine()
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cni-operator-bench-upgrade-"))
    cluster = open_cluster(3)
    operator = BenchOperator(cluster, workdir)
    ok = False
    try:
        operator.start()
        log(f"operator running (pid {operator.pid}, log {operator.log_path})")
        results["upgrade"] = run(cluster, nodes, policies, env_float("BENCH_UPGRADE_TIMEOUT", 900))
        ok = True
    finally:
        results["load_after"] = load_average()
        results["wall_seconds"] = time.monotonic() - t_start
        operator.stop()
        operator.revoke()
        close_cluster(cluster)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir} (operator log: {operator.log_path})")
    (REPO / "bench" / "results_upgrade.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    target = REPO / os.environ.get("BENCH_OUTPUT", "BENCHMARKS.md")
    previous = target.read_text() if target.exists() else ""
    target.write_text(report_upgrade.replace_section(previous, report_upgrade.section(results)))
    log(f"wrote the upgrade section of {target} in {results['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
