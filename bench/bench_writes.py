"""3. Writes by the operator, from the API server's audit log (its ServiceAccount; create/update/patch/delete).

  - idle: the CNI installed and Ready, nothing changing, for BENCH_IDLE_SECONDS: the design says zero writes but the
    renewals of the operator's Lease (counted apart: they keep any other operator process from acting). Its
    reconcile passes (/metrics) and CPU seconds (/proc) over the same window are reported next to it.
  - per reconcile: one spec change at a time, counting every write it causes until the ClusterNetwork is Ready for
    the new generation (Ready, Progressing=False) and the operator has been idle for 2 s (no pass started):
      * a metadata-only change (a label on the ClusterNetwork: an event, a pass, nothing to write),
      * mtu 0 -> 1450 (the canal-config ConfigMap only),
      * canal.logSeverity Info -> Warning (the canal DaemonSet's template: a rolling update of every canal pod,
        whose progress the status follows).
"""

from __future__ import annotations

import json
import time

from bench.bench_latency import wait_idle
from bench.common import OPERATOR_USER, BenchOperator, cr_watch, log
from tests.harness.audit import AuditLog, tally
from tests.harness.cluster import Cluster
from tests.harness.operator import is_lease_write

CHANGES = [
    ("label on the ClusterNetwork (metadata only)", ["label", "cnet", "default", "bench=1", "--overwrite"]),
    ("mtu 0 -> 1450 (ConfigMap only)", ["patch", "cnet", "default", "--type=merge", "-p",
                                        json.dumps({"spec": {"mtu": 1450}})]),
    ("canal.logSeverity Info -> Warning (DaemonSet rollout)",
     ["patch", "cnet", "default", "--type=merge", "-p", json.dumps({"spec": {"canal": {"logSeverity": "Warning"}}})]),
]


def _settled_for(generation: int):
    """Ready, not Progressing, every condition about this generation."""
    def check(obj: dict) -> bool:
        status = obj.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        return (status.get("phase") == "Ready" and status.get("observedGeneration") == generation
                and conditions.get("Progressing", {}).get("status") == "False"
                and all(c.get("observedGeneration") == generation for c in conditions.values()))
    return check


def idle(operator: BenchOperator, audit: AuditLog, seconds: float) -> dict:
    wait_idle(operator, 2.0)
    mark = audit.mark()
    passes0 = _passes(operator)
    cpu0 = operator.cpu_seconds()
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    every = audit.writes(mark, OPERATOR_USER)
    writes = [w for w in every if not is_lease_write(w)]
    return {
        "seconds": elapsed,
        "writes": len(writes),
        "by_kind": tally(writes),
        "lease_renewals": len(every) - len(writes),
        "passes": _passes(operator) - passes0,
        "cpu_seconds": operator.cpu_seconds() - cpu0,
        "rss_mib": operator.rss_mib(),
    }


def _passes(operator: BenchOperator) -> float:
    return sum(v for k, v in operator.metrics().items() if k.startswith("cni_operator_reconciles_total"))


def per_change(cluster: Cluster, operator: BenchOperator, audit: AuditLog) -> list[dict]:
    results = []
    with cr_watch(cluster) as watch:
        for label, args in CHANGES:
            wait_idle(operator, 2.0)
            watch.drain()
            mark = audit.mark()
            passes0 = _passes(operator)
            t0 = time.monotonic()
            out = cluster.kubectl(*args, "-o", "json")
            generation = json.loads(out.stdout)["metadata"]["generation"]
            at, _ = watch.wait(_settled_for(generation), timeout=180, what=f"settled at generation {generation}")
            wait_idle(operator, 2.0, timeout=120)
            writes = [w for w in audit.writes(mark, OPERATOR_USER) if not is_lease_write(w)]  # renewals: see idle()
            status = [w for w in writes if (w.get("objectRef") or {}).get("subresource") == "status"]
            events = [w for w in writes if (w.get("objectRef") or {}).get("resource") == "events"]
            results.append({
                "change": label,
                "writes": len(writes),
                "managed_object_writes": len(writes) - len(status) - len(events),
                "status_patches": len(status),
                "events": len(events),
                "by_kind": tally(writes),
                "passes": _passes(operator) - passes0,
                "settled_after_s": at - t0,
            })
            log(f"writes for {label}: {len(writes)} ({tally(writes)}), settled after {at - t0:.1f} s")
    return results
