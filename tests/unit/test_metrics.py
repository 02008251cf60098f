"""/metrics (metrics.py): valid Prometheus text that Prometheus' own parser reads, the names, types and labels users'
dashboards, alerts and the bench depend on, the reconcile histogram, the runtime collectors, and no stale series
of a deleted ClusterNetwork. Each test has its own Metrics (its own CollectorRegistry), so counts start at zero."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import pytest
from cni_operator import metrics
from cni_operator.metrics import METRIC_DEFINITIONS, RECONCILE_BUCKETS, Metrics
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

# Every metric as released before prometheus-client (docs/operations.md): name, type, label names. A change here is a
# breaking change for users' dashboards and alerts (and bench/ reads reconciles_total and status_patches_total).
RELEASED = {
    "cni_operator_reconciles_total": ("counter", {"result"}),
    "cni_operator_apply_duration_seconds": ("summary", set()),
    "cni_operator_objects_applied_total": ("counter", {"action"}),
    "cni_operator_drift_reverts_total": ("counter", {"kind"}),
    "cni_operator_status_patches_total": ("counter", set()),
    "cni_operator_cni_pods_ready": ("gauge", set()),
    "cni_operator_cni_pods_desired": ("gauge", set()),
    "cni_operator_lease_held": ("gauge", set()),
}


def _one_of_each(m: Metrics) -> None:
    """What a pass and the Lease keeper record: every metric gets a value."""
    m.inc("cni_operator_reconciles_total", result="started")
    m.observe("cni_operator_reconcile_duration_seconds", 0.2)
    m.observe("cni_operator_apply_duration_seconds", 0.5)
    m.observe("cni_operator_apply_duration_seconds", 1.5)
    m.inc("cni_operator_objects_applied_total", 3, action="created")
    m.inc("cni_operator_drift_reverts_total", kind="DaemonSet")
    m.inc("cni_operator_status_patches_total")
    m.set("cni_operator_cni_pods_ready", 4)
    m.set("cni_operator_cni_pods_desired", 5)
    m.set("cni_operator_lease_held", 1)


def _families(m: Metrics) -> dict:
    """The exposition as Prometheus reads it: {sample-family name: (type, [samples])}. The parser names a counter's
    family without `_total` (as OpenMetrics does); it is put back so the names are the ones users query."""
    out = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = (family.type, family.samples)
    return out


def test_released_names_types_and_labels_are_unchanged():
    m = Metrics(runtime=False)
    _one_of_each(m)
    families = _families(m)
    for name, (kind, labels) in RELEASED.items():
        assert name in families, f"{name} is no longer exposed"
        got_kind, samples = families[name]
        assert got_kind == kind, f"{name} is a {got_kind} now, was a {kind}"
        for sample in samples:
            assert set(sample.labels) - {"le", "quantile"} == labels, f"{name}: labels {sample.labels}"


def test_values_are_what_was_recorded_and_the_summary_keeps_sum_and_count():
    m = Metrics(runtime=False)
    _one_of_each(m)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for _, ss in _families(m).values() for s in ss}
    assert samples[("cni_operator_reconciles_total", (("result", "started"),))] == 1
    assert samples[("cni_operator_objects_applied_total", (("action", "created"),))] == 3
    assert samples[("cni_operator_apply_duration_seconds_count", ())] == 2
    assert samples[("cni_operator_apply_duration_seconds_sum", ())] == 2.0
    assert samples[("cni_operator_cni_pods_ready", ())] == 4
    assert samples[("cni_operator_lease_held", ())] == 1
    # No `_created` series: the exposition carries what it carried before prometheus-client, and no more.
    assert not [name for name, _ in samples if name.endswith("_created")]


def test_reconcile_histogram_buckets_span_ten_milliseconds_to_a_minute():
    m = Metrics(runtime=False)
    for seconds in (0.004, 0.03, 0.03, 2.0, 45.0, 90.0):
        m.observe("cni_operator_reconcile_duration_seconds", seconds)
    kind, samples = _families(m)["cni_operator_reconcile_duration_seconds"]
    assert kind == "histogram"
    buckets = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    assert RECONCILE_BUCKETS[0] == 0.01 and RECONCILE_BUCKETS[-1] == 60.0
    assert list(buckets) == [str(b) for b in RECONCILE_BUCKETS] + ["+Inf"]
    assert (buckets["0.01"], buckets["0.05"], buckets["2.5"], buckets["60.0"], buckets["+Inf"]) == (1, 3, 4, 5, 6)
    assert m.value("cni_operator_reconcile_duration_seconds_count") == 6


def test_timed_observes_a_block_that_raises():
    m = Metrics(runtime=False)
    with pytest.raises(RuntimeError), m.timed("cni_operator_reconcile_duration_seconds"):
        raise RuntimeError("the pass failed")
    assert m.value("cni_operator_reconcile_duration_seconds_count") == 1


def test_wrong_labels_are_refused_with_the_labels_the_metric_takes():
    m = Metrics(runtime=False)
    with pytest.raises(ValueError, match=r"cni_operator_drift_reverts_total takes the labels \['kind'\], not \[\]"):
        m.inc("cni_operator_drift_reverts_total")


def test_a_deleted_clusternetwork_leaves_no_gauge_and_the_totals_keep_counting():
    m = Metrics(runtime=False)
    _one_of_each(m)
    m.forget_clusternetwork()
    families = _families(m)
    assert "cni_operator_cni_pods_ready" not in families and "cni_operator_cni_pods_desired" not in families
    assert m.value("cni_operator_cni_pods_ready") is None
    # Process totals: no ClusterNetwork in their labels, and a reset would read as a restart to rate().
    assert m.value("cni_operator_reconciles_total", result="started") == 1
    assert m.value("cni_operator_drift_reverts_total", kind="DaemonSet") == 1
    assert m.value("cni_operator_lease_held") == 1
    # A new ClusterNetwork: its gauges come back with its own values.
    m.set("cni_operator_cni_pods_ready", 0)
    assert m.value("cni_operator_cni_pods_ready") == 0


def test_forget_drops_only_the_series_of_that_clusternetwork():
    """A session given metric labels (ClusterSession(metric_labels=...)) forgets its own series only."""
    m = Metrics(runtime=False)
    m.set("cni_operator_cni_pods_ready", 3, clusternetwork="a")
    m.set("cni_operator_cni_pods_ready", 7, clusternetwork="b")
    m.forget_clusternetwork(clusternetwork="a")
    assert m.value("cni_operator_cni_pods_ready", clusternetwork="a") is None
    assert m.value("cni_operator_cni_pods_ready", clusternetwork="b") == 7


def test_process_and_platform_collectors_are_exposed():
    families = _families(Metrics())
    assert families["process_resident_memory_bytes"][1][0].value > 0
    assert families["process_cpu_seconds_total"][0] == "counter"
    assert families["process_start_time_seconds"][1][0].value > 0
    (info,) = families["python_info"][1]
    assert info.labels["implementation"] and info.labels["version"]
    assert "python_gc_collections_total" in families


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def test_the_endpoint_serves_the_registry_with_prometheus_content_type():
    m = Metrics()
    _one_of_each(m)
    port = _free_port()

    async def scenario():
        server = await metrics.start_server(port, metrics=m)
        try:
            return await asyncio.to_thread(_scrape, f"http://127.0.0.1:{port}/metrics")
        finally:
            await server.cleanup()

    content_type, body = asyncio.run(scenario())
    assert content_type == CONTENT_TYPE_LATEST
    names = {f.name for f in text_string_to_metric_families(body)}
    assert {"cni_operator_reconciles", "cni_operator_reconcile_duration_seconds",
            "process_resident_memory_bytes"} <= names
    # The line format the test harness and bench/ parse (`name{labels} value`, split at the last space).
    values = dict(line.rpartition(" ")[::2] for line in body.splitlines() if line and not line.startswith("#"))
    assert float(values['cni_operator_reconciles_total{result="started"}']) == 1
    assert float(values["cni_operator_lease_held"]) == 1


def test_docs_list_every_metric_with_its_type():
    """docs/operations.md's table is what users build dashboards from: every metric the operator defines is in it."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    rows = {line.split("|")[1].strip().split()[0].strip("`"): line.split("|")[2].strip()
            for line in docs.splitlines() if line.startswith("| `cni_operator_")}
    for name, kind, _, _ in METRIC_DEFINITIONS:
        assert rows.get(name) == ("gauge" if kind == "clusternetwork" else kind), f"{name}: {rows.get(name)}"
    assert "| `process_resident_memory_bytes`" in docs
