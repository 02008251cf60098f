"""The Lease that lets exactly one operator process write: who holds it, since when, and whether that still counts.

Pure: the record as read from and written to a coordination.k8s.io/v1 Lease, the timing derived from its duration,
the expiry rule and the words for the log. Taking, renewing and releasing it is `session/leader.py`.

Why a Lease: kopf's peering only keeps apart replicas that peer, and one replica runs `--standalone` (no peering, so
an idle cluster sees almost no write). Any second `cni-operator run` (a person with an admin kubeconfig, a second
install) would act next to it. So every process takes this one Lease before it watches anything, and one that does
not hold it only reads the Lease.

The rules are client-go's leader election:
  * the holder writes renewTime every `renew_period`; when it has not managed to for `renew_deadline` it must stop,
    which is still `duration - renew_deadline` before anyone else may take over;
  * another process counts the Lease as expired once `leaseDurationSeconds` have passed on its own monotonic clock
    since it last saw the record change, so clocks of different machines are never compared. One exception: a record
    whose renewTime is more than twice the duration old by the wall clock (an operator uninstalled long ago) is taken
    at once instead of after a full duration; that tolerates a clock skew of a whole duration;
  * releasing empties holderIdentity, so a successor takes over at its next look instead of waiting for expiry.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from ..objects import parse_time

DEFAULT_NAME = "cni-operator"
DEFAULT_DURATION = 60
MIN_DURATION = 4


@dataclass(frozen=True)
class LeaseTiming:
    """How long a Lease lasts without renewal, and what follows from it for the holder and the others."""

    duration: int = DEFAULT_DURATION

    @property
    def renew_period(self) -> float:
        """How often the holder renews: an idle operator's only writes (4 a minute with the default 60 s)."""
        return self.duration / 4

    @property
    def renew_deadline(self) -> float:
        """How long the holder keeps acting without a successful renewal: it then exits, a quarter of the duration
        before another process may take over."""
        return self.duration * 3 / 4

    @property
    def retry_period(self) -> float:
        """How often a process without the Lease looks at it again, and a failed renewal is retried."""
        return min(2.0, self.duration / 8)


def parse_duration(value: str | int | None) -> int:
    """CNI_OPERATOR_LEASE_DURATION as seconds; ValueError with a sentence a person can act on."""
    if value is None or value == "":
        return DEFAULT_DURATION
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"the lease duration must be a whole number of seconds, not {value!r}") from None
    if seconds < MIN_DURATION:
        raise ValueError(f"the lease duration must be at least {MIN_DURATION} seconds, not {seconds}")
    return seconds


# ---------------------------------------------------------------- who holds it

def identity(name: str, pid: int) -> str:
    """The holder identity: the pod's name (or the host's) and the process id. A restarted container of the same pod
    usually gets the same pid and takes its own Lease back at once; two processes alive at once never share one."""
    return f"{name}_{pid}"


@dataclass(frozen=True)
class Holder:
    name: str
    pid: int | None


def parse_holder(value: str | None) -> Holder | None:
    """'cni-operator-7d9f-x2k4p_1' -> Holder('cni-operator-7d9f-x2k4p', 1); None when nobody holds the Lease.
    Another tool's identity (client-go's 'host_uuid') keeps its whole text as the name."""
    if not value:
        return None
    name, sep, pid = value.rpartition("_")
    if sep and name and pid.isdigit():
        return Holder(name, int(pid))
    return Holder(value, None)


def describe_holder(value: str | None) -> str:
    holder = parse_holder(value)
    if holder is None:
        return "nobody"
    return f"{holder.name} (pid {holder.pid})" if holder.pid is not None else holder.name


# ---------------------------------------------------------------- the record

def micro_time(when: datetime.datetime) -> str:
    """A MicroTime as the API server writes it: UTC with six fractional digits."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    holder: str = ""
    duration: int = DEFAULT_DURATION
    acquired: datetime.datetime | None = None
    renewed: datetime.datetime | None = None
    transitions: int = 0

    @classmethod
    def of(cls, lease: dict | None) -> LeaseRecord:
        spec = (lease or {}).get("spec") or {}
        try:
            duration = int(spec.get("leaseDurationSeconds") or DEFAULT_DURATION)
            transitions = int(spec.get("leaseTransitions") or 0)
        except (TypeError, ValueError):
            duration, transitions = DEFAULT_DURATION, 0
        return cls(holder=spec.get("holderIdentity") or "", duration=duration,
                   acquired=parse_time(spec.get("acquireTime")), renewed=parse_time(spec.get("renewTime")),
                   transitions=transitions)

    def spec(self) -> dict:
        out: dict = {"leaseDurationSeconds": self.duration, "leaseTransitions": self.transitions}
        if self.holder:
            out["holderIdentity"] = self.holder
        if self.acquired:
            out["acquireTime"] = micro_time(self.acquired)
        if self.renewed:
            out["renewTime"] = micro_time(self.renewed)
        return out

    # -- what each step writes

    def taken_by(self, me: str, duration: int, now: datetime.datetime) -> LeaseRecord:
        """Acquired (or, when it was already ours, kept): a new holder counts one more transition."""
        if self.holder == me:
            return replace(self, duration=duration, acquired=self.acquired or now, renewed=now)
        return LeaseRecord(holder=me, duration=duration, acquired=now, renewed=now,
                           transitions=self.transitions + (1 if self.acquired or self.holder else 0))

    def renewed_at(self, now: datetime.datetime) -> LeaseRecord:
        return replace(self, renewed=now)

    def released(self, now: datetime.datetime) -> LeaseRecord:
        """Nobody holds it, and what is left expires in a second whoever looks."""
        return LeaseRecord(holder="", duration=1, acquired=now, renewed=now, transitions=self.transitions)


def expired(record: LeaseRecord, seen_for: float, now: datetime.datetime) -> bool:
    """May another process take the Lease? SEEN_FOR: seconds (monotonic) since this process last saw the record
    change. Free when nobody holds it; otherwise after a full duration unchanged, or at once when its renewTime is
    more than two durations old by the wall clock."""
    if not record.holder:
        return True
    if seen_for >= record.duration:
        return True
    return record.renewed is not None and (now - record.renewed).total_seconds() >= 2 * record.duration


def _ago(when: datetime.datetime | None, now: datetime.datetime) -> str:
    if when is None:
        return "unknown"
    seconds = max(0, int((now - when).total_seconds()))
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


def waiting_message(where: str, record: LeaseRecord, now: datetime.datetime) -> str:
    """The one line a process logs while another holds the Lease."""
    since = micro_time(record.acquired)[:19] + "Z" if record.acquired else "an unknown time"
    return (f"another cni-operator holds the Lease {where}: {describe_holder(record.holder)}, since {since} "
            f"({_ago(record.acquired, now)}), last renewed {_ago(record.renewed, now)}; this one writes nothing "
            f"and takes over when it is released or not renewed for {record.duration}s")
