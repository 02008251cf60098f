"""Prometheus metrics in the text exposition format, served on /metrics (no extra dependency: aiohttp comes with kopf)."""

from __future__ import annotations

import threading
from collections import defaultdict

from aiohttp import web


class Metrics:
    """A tiny registry: counters, gauges and a summary-like sum/count, each with label sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[tuple, float]] = defaultdict(dict)

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = self._values[name].get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = float(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.inc(f"{name}_sum", value, **labels)
        self.inc(f"{name}_count", 1, **labels)

    def value(self, name: str, **labels: str) -> float:
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def exposition(self) -> str:
        """Each metric family once: HELP and TYPE, then its samples (a summary's _sum and _count together)."""
        families: dict[str, list[str]] = defaultdict(list)
        with self._lock:
            for name in sorted(self._values):
                base = name.removesuffix("_sum").removesuffix("_count") if name not in self._help else name
                families[base].append(name)
            lines: list[str] = []
            for base in sorted(families):
                if base in self._help:
                    kind, text = self._help[base]
                    lines += [f"# HELP {base} {text}", f"# TYPE {base} {kind}"]
                for name in families[base]:
                    for labels, value in sorted(self._values[name].items()):
                        rendered = ",".join(f'{k}="{v}"' for k, v in labels)
                        lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()
METRICS.describe("cni_operator_reconciles_total", "counter", "Reconcile passes, by result.")
METRICS.describe("cni_operator_apply_duration_seconds", "summary", "Time spent applying the rendered objects.")
METRICS.describe("cni_operator_objects_applied_total", "counter", "Objects written by server-side apply, by action.")
METRICS.describe("cni_operator_drift_reverts_total", "counter", "Managed objects put back after someone changed them.")
METRICS.describe("cni_operator_status_patches_total", "counter", "ClusterNetwork status patches.")
METRICS.describe("cni_operator_cni_pods_ready", "gauge", "CNI pods Ready.")
METRICS.describe("cni_operator_cni_pods_desired", "gauge", "CNI pods desired (one per node).")
METRICS.describe("cni_operator_lease_held", "gauge", "1 while this process holds the Lease and may write, else 0.")


async def start_server(port: int, host: str = "127.0.0.1") -> web.AppRunner:
    async def handle(_: web.Request) -> web.Response:
        return web.Response(text=METRICS.exposition(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
