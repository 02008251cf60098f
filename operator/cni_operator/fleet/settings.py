"""How fleet mode paces itself: probes, back-off, credential re-reads, deletion with a target away (from the
environment, so tests and large fleets can tune them without new flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value


@dataclass(frozen=True)
class FleetSettings:
    namespaces: tuple[str, ...] = ()  # () = every namespace
    allow_unsafe: bool = False  # --allow-unsafe-kubeconfigs
    # A served target is probed this often; this many failed probes in a row make it Unreachable. With 5 s and 2,
    # a target whose API server stops answering is reported within about 20 s (issue: within 30 s).
    probe_interval: float = 5.0
    probe_timeout: float = 5.0
    failures_to_unreachable: int = 2
    max_backoff: float = 300.0  # an unreachable target is retried at least every 5 minutes
    credentials_recheck: float = 30.0  # the kubeconfig Secret is read again this often (rotation, no Secret watch)
    delete_timeout: float = 300.0  # deletion waits this long for an unreachable target before giving up
    connect_concurrency: int = 16  # targets connecting and listing at once, across the fleet
    threads: int = 64  # the event loop's pool for blocking API calls, shared by every target
    # Per target: a sustained 20 requests a second, as Cluster API's per-cluster client, but bursts of 100, so a first
    # install (about 40 reads to judge adoption, 12 listings, 40 writes) is not stretched over seconds by the bucket:
    # with Cluster API's burst of 30 it took 2 s longer than in-cluster (BENCHMARKS.md section 7).
    qps: float = 20.0
    burst: int = 100
    min_interval: float = 1.0
    spec_quiet: float = 2.0

    @classmethod
    def from_env(cls, *, namespaces: tuple[str, ...] = (), allow_unsafe: bool = False) -> FleetSettings:
        return cls(
            namespaces=namespaces,
            allow_unsafe=allow_unsafe,
            probe_interval=_seconds("CNI_OPERATOR_FLEET_PROBE_SECONDS", 5.0),
            probe_timeout=_seconds("CNI_OPERATOR_FLEET_PROBE_TIMEOUT_SECONDS", 5.0),
            max_backoff=_seconds("CNI_OPERATOR_FLEET_MAX_BACKOFF_SECONDS", 300.0),
            credentials_recheck=_seconds("CNI_OPERATOR_FLEET_CREDENTIALS_SECONDS", 30.0),
            delete_timeout=_seconds("CNI_OPERATOR_FLEET_DELETE_TIMEOUT_SECONDS", 300.0),
            min_interval=_seconds("CNI_OPERATOR_MIN_INTERVAL", 1.0),
            spec_quiet=_seconds("CNI_OPERATOR_SPEC_QUIET_SECONDS", 2.0),
        )
