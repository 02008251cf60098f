"""/metrics of a running operator, scraped as Prometheus would: the reconcile histogram counts every pass, the pod
gauges say what status.health says, the process collector describes this very process, and deleting the
ClusterNetwork takes its gauges away (no stale series) while the process totals keep counting."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.harness.clusternetwork import get_clusternetwork, install

HISTOGRAM = "cni_operator_reconcile_duration_seconds"


def _scrape(operator) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}}, read by Prometheus' own text parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def _rss_bytes(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_metrics_of_a_running_operator_and_no_stale_gauges_after_deletion(cluster, start_operator, wait_for):
    operator = start_operator()
    cnet = install(cluster, {"clusterType": "mks"})
    nodes = len(cluster.fake_nodes())

    def settled() -> dict:
        m = _scrape(operator)
        health = get_clusternetwork(cluster)["status"]["health"]
        assert (m["cni_operator_cni_pods_ready"][()], m["cni_operator_cni_pods_desired"][()]) == \
            (health["ready"], health["desired"]) == (nodes, nodes), (m.get("cni_operator_cni_pods_ready"), health)
        # Each pass started is observed once it ends: equal when no pass is in flight.
        started = m["cni_operator_reconciles_total"][(("result", "started"),)]
        assert m[f"{HISTOGRAM}_count"][()] == started, (m[f"{HISTOGRAM}_count"], started)
        return m

    m = wait_for(settled, timeout=60, what="the gauges to match status.health and every pass to be observed")
    buckets = m[f"{HISTOGRAM}_bucket"]
    counts = [buckets[(("le", le),)] for le in sorted((le for ((_, le),) in buckets), key=float)]
    assert counts == sorted(counts) and counts[-1] == m[f"{HISTOGRAM}_count"][()] >= 1, buckets
    assert 0 < m[f"{HISTOGRAM}_sum"][()] < 60 * counts[-1]
    assert m["cni_operator_apply_duration_seconds_count"][()] >= 1  # the summary kept its _sum and _count
    assert m["cni_operator_lease_held"][()] == 1
    # The process collector reads the operator's own /proc entry: its RSS is this process's, within the drift
    # between two reads a few milliseconds apart.
    rss = _rss_bytes(operator.pid)
    assert abs(m["process_resident_memory_bytes"][()] - rss) < 0.25 * rss, (m["process_resident_memory_bytes"], rss)
    assert m["process_cpu_seconds_total"][()] > 0

    passes_before = m["cni_operator_reconciles_total"][(("result", "started"),)]
    cluster.kubectl("delete", "cnet", "default", "--timeout=30s")  # Orphan: the CNI stays, unmanaged

    def forgotten() -> dict:
        after = _scrape(operator)
        assert "cni_operator_cni_pods_ready" not in after and "cni_operator_cni_pods_desired" not in after, \
            (after.get("cni_operator_cni_pods_ready"), after.get("cni_operator_cni_pods_desired"))
        return after

    after = wait_for(forgotten, timeout=30, what=f"the gauges of the deleted ClusterNetwork {cnet['metadata']['uid']} "
                                                 f"to leave /metrics")
    assert after["cni_operator_reconciles_total"][(("result", "started"),)] >= passes_before  # no reset
    assert after["cni_operator_lease_held"][()] == 1
