"""The operator's Prometheus metrics (prometheus-client), served on /metrics by a small aiohttp server.

Call sites name a metric and give its labels (`METRICS.inc("cni_operator_reconciles_total", result="started")`), so
they never import prometheus-client and the names stay in one table (METRIC_DEFINITIONS) that docs/operations.md
lists. Users' dashboards and alerts, and the bench, read these names: renaming one, changing its type or its labels
is a breaking change.

Why a registry of our own, not prometheus-client's global one: each Metrics() is independent, so tests count from
zero, and nothing another library registers globally leaks into the operator's /metrics. The runtime collectors the
global registry would have (process_*, python_info, python_gc_*) are registered in it explicitly.

Why the CNI pod gauges are not prometheus-client Gauges: they mirror status.health of the ClusterNetwork, and must
disappear when it does (a last "3 of 5 Ready" kept after the ClusterNetwork is deleted would be a stale series that
an alert fires on forever). A Gauge without labels cannot be removed, so a small collector yields them only while
they have a value; forget_clusternetwork() drops them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    Summary,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

# No `*_created` series (the start time of every counter, summary and histogram): the exposition stays what it was
# before prometheus-client, and a scrape carries no series nobody asked for. Process-wide, like the library's switch.
disable_created_metrics()

# From a pass that writes nothing (milliseconds) to a first install against a slow API server (up to a minute);
# finer below a second, where a healthy operator's passes are. Longer passes land in +Inf.
RECONCILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

# name (as scraped), type, help, label names. "clusternetwork" gauges: the collector below, see the module docstring.
METRIC_DEFINITIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("cni_operator_reconciles_total", "counter", "Reconcile passes, by result.", ("result",)),
    ("cni_operator_reconcile_duration_seconds", "histogram",
     "Time one reconcile pass of the ClusterNetwork took, from reading it to publishing its status.", ()),
    ("cni_operator_apply_duration_seconds", "summary", "Time spent applying the rendered objects.", ()),
    ("cni_operator_objects_applied_total", "counter", "Objects written by server-side apply, by action.",
     ("action",)),
    ("cni_operator_drift_reverts_total", "counter", "Managed objects put back after someone changed them.",
     ("kind",)),
    ("cni_operator_status_patches_total", "counter", "ClusterNetwork status patches.", ()),
    ("cni_operator_cni_pods_ready", "clusternetwork", "CNI pods Ready.", ()),
    ("cni_operator_cni_pods_desired", "clusternetwork", "CNI pods desired (one per node).", ()),
    ("cni_operator_lease_held", "gauge", "1 while this process holds the Lease and may write, else 0.", ()),
)


class ClusterNetworkGauges:
    """Gauges that describe the ClusterNetwork, exposed only while set: forget() removes every series."""

    def __init__(self, helps: dict[str, str]):
        self._help = helps
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple, float]] = {name: {} for name in helps}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._help)

    def set(self, name: str, value: float, labels: dict[str, str]) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = float(value)

    def forget(self, labels: dict[str, str]) -> None:
        """Drop the series that carry all of LABELS (no labels: every series)."""
        wanted = set(labels.items())
        with self._lock:
            for series in self._values.values():
                for key in [k for k in series if wanted <= set(k)]:
                    del series[key]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(GaugeMetricFamily(name, text) for name, text in self._help.items())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshot = {name: dict(series) for name, series in self._values.items()}
        for name, series in snapshot.items():
            if not series:
                continue
            keys = sorted({k for labels in series for k, _ in labels})
            family = GaugeMetricFamily(name, self._help[name], labels=keys)
            for labels, value in sorted(series.items()):
                family.add_metric([dict(labels).get(k, "") for k in keys], value)
            yield family


class Metrics:
    """The operator's metrics in their own CollectorRegistry; RUNTIME adds the process, platform and GC collectors."""

    def __init__(self, *, runtime: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Counter | Gauge | Histogram | Summary] = {}
        self._labelnames = {name: tuple(sorted(labelnames)) for name, _, _, labelnames in METRIC_DEFINITIONS}
        kinds = {"counter": Counter, "gauge": Gauge, "summary": Summary}
        for name, kind, text, labelnames in METRIC_DEFINITIONS:
            if kind == "histogram":
                self._metrics[name] = Histogram(name, text, labelnames, registry=self.registry,
                                                buckets=RECONCILE_BUCKETS)
            elif kind in kinds:
                self._metrics[name] = kinds[kind](name, text, labelnames, registry=self.registry)
        self.clusternetwork = ClusterNetworkGauges(
            {name: text for name, kind, text, _ in METRIC_DEFINITIONS if kind == "clusternetwork"})
        self.registry.register(self.clusternetwork)
        if runtime:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def _child(self, name: str, labels: dict[str, str]):
        metric, wanted = self._metrics[name], self._labelnames[name]
        if tuple(sorted(labels)) != wanted:
            raise ValueError(f"{name} takes the labels {list(wanted)}, not {sorted(labels)}")
        return metric.labels(**labels) if wanted else metric

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._child(name, labels).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        if name in self.clusternetwork.names:
            self.clusternetwork.set(name, value, labels)
        else:
            self._child(name, labels).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._child(name, labels).observe(value)

    @contextlib.contextmanager
    def timed(self, name: str, **labels: str) -> Iterator[None]:
        """Observe how long the block took, also when it raises (a failed pass took time too)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.observe(name, time.monotonic() - started, **labels)

    def forget_clusternetwork(self, **labels: str) -> None:
        """The ClusterNetwork is gone: its gauges go too. Counters, the summary and the histogram are this process's
        totals (they carry no ClusterNetwork's name) and keep counting, as Prometheus' rate() expects."""
        self.clusternetwork.forget(labels)

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of one sample (None when absent), as a scrape would read it."""
        return self.registry.get_sample_value(name, labels)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = Metrics()


async def start_server(port: int, host: str = "127.0.0.1", metrics: Metrics | None = None) -> web.AppRunner:
    source = metrics or METRICS

    async def handle(_: web.Request) -> web.Response:
        # On the event loop: a scrape takes about a millisecond (the process collector reads /proc), while the default
        # thread pool may be busy with a long apply, and a scrape queued behind it would time out.
        return web.Response(body=source.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
