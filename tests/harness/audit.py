"""The API server's audit log: who wrote what, and when.

kube-apiserver writes JSON lines, one per write at Metadata level (hack/localcluster.py's policy: reads are not
logged), when the response completes. So:
  * an entry can appear after the client already has its response: a caller that must see a write it knows was
    made polls (`wait_for`), it does not read once;
  * the log is rotated (--audit-log-maxsize) to audit-<time>.log beside it, within minutes when thousands of fake
    nodes renew their leases: a mark remembers the file's inode, and reading follows it into the rotated file and
    on into the new one;
  * "since a mark" means requests *received* after it (requestReceivedTimestamp; same machine, same clock), not
    merely lines written after it: a request in flight when the mark was taken is not counted.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .polling import wait_for

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class AuditMark:
    """A point to read from: the time, and where the log ended then (offset in the file with that inode)."""

    time: dt.datetime
    offset: int
    inode: int = 0  # 0: there was no log yet


def received(entry: dict) -> dt.datetime:
    """When the API server received the request (the oldest possible time when the entry has none)."""
    value = entry.get("requestReceivedTimestamp")
    return dt.datetime.fromisoformat(value) if value else _EPOCH  # Python 3.11 parses the trailing Z


def completed(entry: dict) -> dt.datetime:
    """When the response completed (the entry's stage is ResponseComplete: the policy omits RequestReceived)."""
    return dt.datetime.fromisoformat(entry["stageTimestamp"])


def is_write(entry: dict, user: str | None = None) -> bool:
    """An audit entry of a write (dry runs excluded: they change nothing), by USER when given."""
    return (entry.get("verb") in WRITE_VERBS and "dryRun" not in (entry.get("requestURI") or "")
            and (user is None or (entry.get("user") or {}).get("username") == user))


def describe_writes(entries: list[dict]) -> list[str]:
    """'patch daemonsets kube-system/canal -> 200', one per entry: what a failure message shows."""
    out = []
    for e in entries:
        ref = e.get("objectRef") or {}
        sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
        out.append(f"{e.get('verb')} {ref.get('resource')}{sub} {ref.get('namespace', '')}/{ref.get('name', '')} "
                   f"-> {(e.get('responseStatus') or {}).get('code')}")
    return out


def write_kind(entry: dict) -> str:
    """'patch daemonsets', 'patch clusternetworks/status': what writes are counted by."""
    ref = entry.get("objectRef") or {}
    sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
    return f"{entry.get('verb')} {ref.get('resource')}{sub}"


def tally(entries: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        key = write_kind(e)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _matches(entry: dict, filters: dict[str, Any]) -> bool:
    ref = entry.get("objectRef") or {}
    fields = {
        "user": (entry.get("user") or {}).get("username"),
        "verb": entry.get("verb"),
        "resource": ref.get("resource"),
        "subresource": ref.get("subresource"),
        "namespace": ref.get("namespace"),
        "name": ref.get("name"),
        "api_group": ref.get("apiGroup", ""),
    }
    return all(want is None or fields[key] == want for key, want in filters.items())


def _parse(lines: list[bytes]) -> list[dict]:
    out = []
    for raw in lines:
        try:
            out.append(json.loads(raw))
        except ValueError:  # a line still being written (the next read has it whole)
            continue
    return out


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1


class AuditLog:
    """The audit log at PATH (None: not readable from here; every read then finds nothing)."""

    def __init__(self, path: Path | None):
        self.path = path

    def mark(self) -> AuditMark:
        """Now: pass it as `since=` to see only requests received from now on."""
        try:
            stat = self.path.stat() if self.path else None
        except FileNotFoundError:
            stat = None
        return AuditMark(dt.datetime.now(dt.UTC), stat.st_size if stat else 0, stat.st_ino if stat else 0)

    def rotated(self) -> list[Path]:
        """The rotated files beside the log (audit-<time>.log), oldest first."""
        if not self.path:
            return []
        files = []
        for path in self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"):
            try:
                files.append((path.stat().st_mtime, path))
            except FileNotFoundError:  # removed by the rotation (--audit-log-maxbackup) meanwhile
                continue
        return [p for _, p in sorted(files)]

    def _sources(self, since: AuditMark | None) -> list[tuple[Path, int]]:
        """(file, offset) to read for everything since SINCE, oldest first: the marked file from the mark on
        (even once rotated away), and every file written to after the mark from its start."""
        if not self.path:
            return []
        out = []
        for path in [*self.rotated(), self.path]:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if since is None:
                out.append((path, 0))
            elif since.inode and stat.st_ino == since.inode:
                out.append((path, since.offset if stat.st_size >= since.offset else 0))  # shrank: read it all
            elif stat.st_mtime >= since.time.timestamp():
                out.append((path, 0))
        return out

    def entries(self, *, user: str | None = None, verb: str | None = None, resource: str | None = None,
                subresource: str | None = None, namespace: str | None = None, name: str | None = None,
                api_group: str | None = None, since: AuditMark | dt.datetime | None = None) -> list[dict]:
        """Audit entries matching every given filter, oldest first; with SINCE, only requests received after it
        (a bare datetime reads every file written to since then)."""
        if isinstance(since, dt.datetime):
            since = AuditMark(since, 0, 0)
        filters = {"user": user, "verb": verb, "resource": resource, "subresource": subresource,
                   "namespace": namespace, "name": name, "api_group": api_group}
        out = []
        for path, offset in self._sources(since):
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    lines = f.read().split(b"\n")
            except FileNotFoundError:
                continue
            out += [e for e in _parse(lines)
                    if _matches(e, filters) and (since is None or received(e) >= since.time)]
        return out

    def writes(self, since: AuditMark | dt.datetime | None, user: str | None = None) -> list[dict]:
        """The writes (dry runs excluded) by USER, or by anyone, since the mark; oldest first."""
        return [e for e in self.entries(user=user, since=since) if is_write(e)]

    def wait_for(self, timeout: float = 10, **filters: Any) -> list[dict]:
        """Entries matching FILTERS, waiting up to TIMEOUT for at least one to appear."""
        return wait_for(lambda: self.entries(**filters), timeout=timeout, what=f"audit entries matching {filters}")

    def follow(self, since: AuditMark) -> AuditFollower:
        """An incremental reader from SINCE on: cheap enough to poll every few milliseconds."""
        return AuditFollower(self, since)


class AuditFollower:
    """Reads only what was appended since the last poll, across rotations and half-written lines."""

    def __init__(self, log: AuditLog, since: AuditMark):
        self.log, self.since = log, since.time
        self.inode, self.offset, self._partial = since.inode, since.offset, b""

    def _read(self, path: Path, offset: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()

    def poll(self) -> list[dict]:
        """Entries appended since the last poll (requests received after the mark), oldest first."""
        path = self.log.path
        try:
            stat = path.stat() if path else None
        except FileNotFoundError:
            stat = None
        if stat is None:
            return []
        data = b""
        if stat.st_ino != self.inode:
            # Rotated (or created): finish the file we were reading, now under its rotated name, then start the new.
            old = next((p for p in self.log.rotated() if _inode(p) == self.inode), None) if self.inode else None
            if old is not None:
                try:
                    data = self._partial + self._read(old, self.offset)
                except FileNotFoundError:
                    data = b""
            self.inode, self.offset, self._partial = stat.st_ino, 0, b""
            lines = data.split(b"\n") if data else []
        else:
            lines = []
        if stat.st_size < self.offset:  # truncated in place: start over
            self.offset, self._partial = 0, b""
        if stat.st_size > self.offset:
            try:
                new = self._read(path, self.offset)
            except FileNotFoundError:
                new = b""
            self.offset += len(new)
            chunk = (self._partial + new).split(b"\n")
            self._partial = chunk.pop()  # the last line is complete only when followed by a newline
            lines += chunk
        return [e for e in _parse(lines) if received(e) >= self.since]
