"""1. Install time: `kubectl apply` of the ClusterNetwork until Applied=True, against the user's alternative,
`kubectl apply --server-side` of the same rendered objects, on the same cluster, from nothing each time.

Both sides start a kubectl process against the same warm discovery cache; the operator is already running (as it is
in a real cluster), so its start-up is not counted. The baseline file is rendered before its clock starts, as a user
would download the manifest before applying it. The two sides alternate (A B, B A, ...) so drifting background load
on this shared machine falls on both. Between runs everything labelled app.kubernetes.io/managed-by=cni-operator
is deleted and the CNI pods and Calico CRDs are waited away; then, before either side, the operator is let go idle
(no pass started for 1.5 s): the reset's deletions wake it, and a ClusterNetwork created within a second of its last
pass waits for the rest of that second (the loop's minimum spacing, by design), which is the reset's doing, not the
install's.

Where the time goes, from the audit log (the API server's clock is this machine's clock):
  operator: kubectl start (our clock -> the CR's create received), reaction (-> the operator's first write),
            apply (-> its last write of a managed object), report (-> the Applied status patch received),
            notice (-> our watch delivers it);
  kubectl:  start (our clock -> its first write: process start, discovery, parsing), apply (-> its last write),
            exit (-> the process has exited).
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from cni_operator.api import parse_spec
from cni_operator.render import render, to_yaml

from bench.bench_latency import wait_idle
from bench.common import OPERATOR_USER, BenchOperator, Watch, applied_current, cr_watch, log, median
from tests.harness.audit import AuditLog, completed, received
from tests.harness.cluster import Cluster
from tests.harness.polling import wait_for
from tests.harness.reset import reset_cluster, wait_crds_serving

SPEC = {"clusterType": "mks"}
CR = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
      "spec": SPEC}
BASELINE_MANAGER = "bench-baseline"


def rendered_manifest(workdir: Path) -> tuple[Path, int]:
    objects = render(parse_spec(SPEC)).apply
    path = workdir / "canal-rendered.yaml"
    path.write_text(to_yaml(objects))
    return path, len(objects)


def _ref(ev: dict) -> dict:
    return ev.get("objectRef") or {}


def operator_install(cluster: Cluster, watch: Watch, audit: AuditLog, cr_file: Path) -> dict:
    watch.drain()
    mark = audit.mark()
    wall0, t0 = time.time(), time.monotonic()
    uid = cluster.kubectl("apply", "-f", str(cr_file), "-o", "jsonpath={.metadata.uid}").stdout.strip()
    # Only this ClusterNetwork counts: a late event about the one the reset deleted can still be in flight.
    at, _ = watch.wait(lambda o: o["metadata"].get("uid") == uid and applied_current(o), timeout=120,
                       what="Applied=True")
    total = at - t0
    # The watch can deliver the status before kube-apiserver has written the request's audit entry (it logs at
    # ResponseComplete): read until the status patch is there.
    def logged() -> tuple[dict, list[dict], dict]:
        events = audit.entries(since=mark)
        create = next((e for e in events if _ref(e).get("resource") == "clusternetworks" and e["verb"] == "create"),
                      None)
        assert create is not None, "the ClusterNetwork's create is not in the audit log"
        ours = audit.writes(mark, OPERATOR_USER)
        managed = [e for e in ours if _ref(e).get("resource") not in ("clusternetworks", "events")]
        status = next((e for e in ours if _ref(e).get("subresource") == "status" and received(e) > received(create)),
                      None)
        assert status is not None, "the operator's status patch is not in the audit log"
        return create, managed, status

    create, managed, status = wait_for(logged, timeout=10, interval=0.1, what="the install in the audit log")
    seconds = lambda a, b: (b - a).total_seconds()
    return {
        "total": total,
        "writes": len(managed),
        "kubectl start": received(create).timestamp() - wall0,
        "reaction": seconds(received(create), received(managed[0])),
        "apply": seconds(received(managed[0]), max(completed(e) for e in managed)),
        "report": seconds(max(completed(e) for e in managed), received(status)),
        "notice": total - (received(status).timestamp() - wall0),
    }


def kubectl_install(cluster: Cluster, audit: AuditLog, manifest: Path, count: int) -> dict:
    mark = audit.mark()
    wall0, t0 = time.time(), time.monotonic()
    cluster.kubectl("apply", "--server-side", f"--field-manager={BASELINE_MANAGER}", "-f", str(manifest))
    total = time.monotonic() - t0
    deadline = time.monotonic() + 10  # audit entries are written as responses complete: let the last ones land
    while True:
        ours = [e for e in audit.entries(since=mark) if f"fieldManager={BASELINE_MANAGER}" in e.get("requestURI", "")]
        if len(ours) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # polling the log (with a deadline), not synchronisation
    first, last = min(received(e) for e in ours), max(completed(e) for e in ours)
    return {
        "total": total,
        "writes": len(ours),
        "kubectl start": first.timestamp() - wall0,
        "apply": (last - first).total_seconds(),
        "exit": total - (last.timestamp() - wall0),
    }


def run(cluster: Cluster, operator: BenchOperator, audit: AuditLog, workdir: Path, runs: int) -> dict:
    cr_file = workdir / "clusternetwork.yaml"
    cr_file.write_text(yaml.safe_dump(CR))  # the spec as first applied (the writes benchmark changed it since)
    manifest, count = rendered_manifest(workdir)
    ops: list[dict] = []
    base: list[dict] = []
    with cr_watch(cluster) as watch:
        # Warm-up, not counted: kubectl's discovery cache, the operator's first render, the apiserver's caches.
        reset_cluster(cluster)
        operator_install(cluster, watch, audit, cr_file)
        wait_crds_serving(cluster)
        reset_cluster(cluster)
        kubectl_install(cluster, audit, manifest, count)
        wait_crds_serving(cluster)
        for i in range(runs):
            order = ("operator", "kubectl") if i % 2 == 0 else ("kubectl", "operator")
            for side in order:
                reset_cluster(cluster)
                wait_idle(operator, 1.5)  # the reset's deletions woke the operator: let its spacing run out
                if side == "operator":
                    ops.append(operator_install(cluster, watch, audit, cr_file))
                else:
                    base.append(kubectl_install(cluster, audit, manifest, count))
                wait_crds_serving(cluster)
                last = (ops if side == "operator" else base)[-1]
                log(f"install run {i + 1}/{runs} {side}: {last['total']:.3f} s "
                    f"({', '.join(f'{k} {v:.3f}' for k, v in last.items() if k not in ('total', 'writes'))})")
        reset_cluster(cluster)
    op_total = [r["total"] for r in ops]
    base_total = [r["total"] for r in base]
    return {
        "objects": count,
        "operator": ops,
        "kubectl": base,
        "operator_median_s": median(op_total),
        "kubectl_median_s": median(base_total),
        "ratio": median(op_total) / median(base_total),
        "ratio_pairs_median": median([o / b for o, b in zip(op_total, base_total)]),
        "operator_phases": {k: median([r[k] for r in ops]) for k in ops[0] if k != "total"},
        "kubectl_phases": {k: median([r[k] for r in base]) for k in base[0] if k != "total"},
    }
