"""The pure parts of a remote watch (fleet/watch.py): what a relist tells the consumer (Ledger: only keys and
resourceVersions are kept, never objects), how the stream is cut into events, and the back-off between attempts.
The watch itself runs against real target clusters in tests/fleet/test_target_client.py.
"""

from __future__ import annotations

import json

import pytest
from cni_operator.fleet.watch import Ledger, backoff, key_of, lines


def relist(ledger: Ledger, items: list[tuple[str, str, str]]) -> list[tuple[str, tuple[str, str]]]:
    """Feed a relist of (namespace, name, resourceVersion), possibly over pages, as RemoteWatch does."""
    seen: set = set()
    events = []
    for namespace, name, version in items:
        kind = ledger.listed((namespace, name), version, seen)
        if kind:
            events.append((kind, (namespace, name)))
    events += [("DELETED", key) for key in ledger.vanished(seen)]
    return events


def test_the_first_list_adds_everything():
    ledger = Ledger()
    assert relist(ledger, [("a", "x", "1"), ("a", "y", "2"), ("", "z", "3")]) == [
        ("ADDED", ("a", "x")), ("ADDED", ("a", "y")), ("ADDED", ("", "z"))]
    assert len(ledger) == 3


def test_a_relist_after_410_reports_only_what_changed_meanwhile():
    ledger = Ledger()
    relist(ledger, [("a", "x", "1"), ("a", "y", "2"), ("a", "gone", "3")])
    # Meanwhile: y changed, gone was deleted, new was created, x untouched.
    events = relist(ledger, [("a", "new", "9"), ("a", "x", "1"), ("a", "y", "7")])
    assert events == [("ADDED", ("a", "new")), ("MODIFIED", ("a", "y")), ("DELETED", ("a", "gone"))]
    assert ledger.versions == {("a", "new"): "9", ("a", "x"): "1", ("a", "y"): "7"}
    assert relist(ledger, [("a", "new", "9"), ("a", "x", "1"), ("a", "y", "7")]) == []  # nothing: nothing said


def test_a_relist_that_finds_nothing_deletes_everything_known():
    ledger = Ledger()
    relist(ledger, [("a", "x", "1"), ("b", "y", "2")])
    assert relist(ledger, []) == [("DELETED", ("a", "x")), ("DELETED", ("b", "y"))]
    assert len(ledger) == 0


def test_a_relist_cut_short_is_finished_by_the_next_one():
    ledger = Ledger()
    relist(ledger, [("a", "x", "1"), ("a", "y", "2")])
    seen: set = set()
    assert ledger.listed(("a", "x"), "5", seen) == "MODIFIED"  # first page in, then the list failed
    # The next relist neither repeats x's change nor forgets that y vanished.
    assert relist(ledger, [("a", "x", "5")]) == [("DELETED", ("a", "y"))]


def test_an_object_without_resource_version_is_always_modified():
    ledger = Ledger()
    relist(ledger, [("a", "x", "")])
    assert relist(ledger, [("a", "x", "")]) == [("MODIFIED", ("a", "x"))]


def test_watch_events_keep_the_ledger_current_for_the_next_relist():
    ledger = Ledger()
    relist(ledger, [("a", "x", "1")])
    ledger.event("ADDED", ("a", "y"), "2")
    ledger.event("MODIFIED", ("a", "x"), "3")
    ledger.event("DELETED", ("a", "x"), "4")
    ledger.event("DELETED", ("a", "never-seen"), "5")
    assert ledger.versions == {("a", "y"): "2"}
    assert relist(ledger, [("a", "y", "2")]) == []


def test_key_of_namespaced_and_cluster_scoped_objects():
    assert key_of({"metadata": {"namespace": "n", "name": "x"}}) == ("n", "x")
    assert key_of({"metadata": {"name": "node-1"}}) == ("", "node-1")
    assert key_of({}) == ("", "")


def test_the_stream_is_cut_into_whole_lines_however_it_arrives():
    events = [{"type": "ADDED", "object": {"metadata": {"name": "x" * 200_000}}},  # far beyond aiohttp's line limit
              {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}}]
    stream = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    for size in (1, 7, 4096, len(stream)):
        buffer = bytearray()
        got = [json.loads(line) for i in range(0, len(stream), size) for line in lines(buffer, stream[i:i + size])]
        assert got == events, size
        assert buffer == b""
    buffer = bytearray()
    assert list(lines(buffer, b'{"type": "ADD')) == []  # half an event waits for the rest
    assert list(lines(buffer, b'ED"}\n\n')) == [b'{"type": "ADDED"}']  # blank lines skipped


def test_backoff_doubles_from_one_second_to_thirty_with_jitter():
    middle = [backoff(n, rand=lambda a, b: 1.0) for n in range(1, 9)]
    assert middle == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff(1, rand=lambda a, b: a) == pytest.approx(0.8)
    assert backoff(9, rand=lambda a, b: b) == pytest.approx(36.0)
    assert all(0.8 <= backoff(1) <= 1.2 for _ in range(100))
