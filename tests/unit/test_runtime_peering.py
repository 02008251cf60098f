"""runtime.outranked: kopf's pause rule read from a KopfPeering status, used before timer-only passes."""

from __future__ import annotations

import datetime

from cni_operator.session.peering import outranked

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def peer(priority: int, seconds_ago: float, lifetime: int = 60) -> dict:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_a_live_higher_priority_peer_outranks():
    assert outranked({"a": peer(200, 5), "me": peer(100, 1)}, 100, NOW)


def test_lower_or_dead_peers_do_not():
    assert not outranked({"me": peer(100, 1), "low": peer(50, 1)}, 100, NOW)
    assert not outranked({"dead": peer(200, 11, lifetime=10), "me": peer(100, 1)}, 100, NOW)


def test_no_peers_and_malformed_entries_do_not():
    assert not outranked({}, 100, NOW)
    assert not outranked({"x": {"priority": 300}, "y": {"priority": "high", "lastseen": NOW.isoformat()}}, 100, NOW)
