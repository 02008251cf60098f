"""The harness's audit-log reader (tests/harness/audit.py), on files written here: what the k8s tiers and the bench
count as "the operator's writes since a mark" must survive the API server rotating its log and half-written lines."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from tests.harness.audit import AuditLog, AuditMark, is_write, tally

USER = "system:serviceaccount:kube-system:cni-operator-test"


def _entry(verb: str, resource: str, *, at: dt.datetime, user: str = USER, uri: str = "/apis/x") -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (json.dumps({"verb": verb, "user": {"username": user}, "objectRef": {"resource": resource},
                        "requestURI": uri, "requestReceivedTimestamp": stamp, "stageTimestamp": stamp})
            + "\n").encode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def _rotate(path: Path) -> Path:
    """As kube-apiserver does: the log renamed to audit-<time>.log beside it, a new one started."""
    rotated = path.with_name("audit-2030-01-01T00-00-00.000.log")
    os.rename(path, rotated)
    path.touch()
    return rotated


def test_since_a_mark_only_requests_received_after_it(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.log")
    _append(log.path, _entry("patch", "daemonsets", at=_now() - dt.timedelta(seconds=5)))
    mark = log.mark()
    # Written after the mark, but received before it (a request in flight at the mark): not counted.
    _append(log.path, _entry("patch", "configmaps", at=mark.time - dt.timedelta(milliseconds=5)))
    _append(log.path, _entry("create", "services", at=_now()))
    assert [e["objectRef"]["resource"] for e in log.entries(since=mark)] == ["services"]
    assert len(log.entries()) == 3


def test_reading_follows_the_marked_file_into_its_rotation(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.log")
    _append(log.path, _entry("patch", "daemonsets", at=_now() - dt.timedelta(seconds=5)))
    mark = log.mark()
    follower = log.follow(mark)
    _append(log.path, _entry("patch", "configmaps", at=_now()))
    _rotate(log.path)
    _append(log.path, _entry("delete", "services", at=_now()))
    want = ["configmaps", "services"]
    assert [e["objectRef"]["resource"] for e in log.entries(since=mark)] == want
    assert [e["objectRef"]["resource"] for e in follower.poll()] == want
    assert follower.poll() == []


def test_the_follower_keeps_a_half_written_line_for_the_next_poll(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.log")
    log.path.touch()
    follower = log.follow(log.mark())
    line = _entry("patch", "daemonsets", at=_now())
    _append(log.path, line[:20])
    assert follower.poll() == []
    _append(log.path, line[20:])
    assert [e["objectRef"]["resource"] for e in follower.poll()] == ["daemonsets"]


def test_a_log_that_does_not_exist_reads_as_empty(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.log")
    mark = log.mark()
    assert mark == AuditMark(mark.time, 0, 0)
    assert log.entries(since=mark) == [] and log.follow(mark).poll() == []
    assert AuditLog(None).entries() == []


def test_writes_exclude_dry_runs_and_other_users(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.log")
    mark = log.mark()
    _append(log.path, _entry("patch", "daemonsets", at=_now()))
    _append(log.path, _entry("patch", "daemonsets", at=_now(), uri="/apis/apps/v1/x?dryRun=All"))
    _append(log.path, _entry("patch", "daemonsets", at=_now(), user="admin"))
    writes = log.writes(mark, USER)
    assert len(writes) == 1 and all(is_write(e, USER) for e in writes)
    assert tally(log.writes(mark)) == {"patch daemonsets": 2}
