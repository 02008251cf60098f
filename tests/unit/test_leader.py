"""session/leader.py against an in-memory Lease with the API server's optimistic concurrency: taking, waiting
without writing, renewing, losing and releasing, on a fake clock."""

from __future__ import annotations

import copy
import datetime
import logging

import pytest
from cni_operator.kube import KubeError
from cni_operator.session.leader import LeaseKeeper
from cni_operator.session.lease import LeaseRecord, LeaseTiming

START = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime.datetime:
        return START + datetime.timedelta(seconds=self.t - 1000.0)


class Leases:
    """One namespace's Leases: create fails when it exists, replace when the resourceVersion is stale."""

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.writes: list[tuple[str, str]] = []
        self.failing: Exception | None = None
        self.version = 0

    def _check(self) -> None:
        if self.failing is not None:
            raise self.failing

    def get(self, ref):
        self._check()
        return copy.deepcopy(self.objects.get(ref.name))

    def create(self, obj):
        self._check()
        name = obj["metadata"]["name"]
        if name in self.objects:
            raise KubeError(409, "AlreadyExists", f"leases {name} already exists")
        return self._store("create", obj)

    def replace(self, obj):
        self._check()
        name = obj["metadata"]["name"]
        live = self.objects.get(name)
        if live is None:
            raise KubeError(404, "NotFound", f"leases {name} not found")
        if obj["metadata"].get("resourceVersion") != live["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", "the object has been modified")
        return self._store("update", obj)

    def _store(self, verb: str, obj: dict) -> dict:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[obj["metadata"]["name"]] = stored
        self.writes.append((verb, (obj["spec"].get("holderIdentity") or "")))
        return copy.deepcopy(stored)

    def holder(self) -> str:
        return LeaseRecord.of(self.objects.get("cni-operator")).holder

    def set_holder(self, holder: str, renewed: datetime.datetime) -> None:
        """Someone else writes the Lease."""
        lease = self.objects.setdefault("cni-operator", {"metadata": {"name": "cni-operator"}, "spec": {}})
        lease["spec"].update(holderIdentity=holder, renewTime=renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                             acquireTime=renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), leaseDurationSeconds=60)
        self.version += 1
        lease["metadata"]["resourceVersion"] = str(self.version)


class Waits:
    """A stop flag whose wait() advances the fake clock; set after LIMIT waits so a test can never hang."""

    def __init__(self, clock: Clock, limit: int = 1000) -> None:
        self.clock, self.limit, self.count, self.stopped = clock, limit, 0, False

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, seconds: float) -> bool:
        self.count += 1
        self.clock.t += seconds
        self.stopped = self.stopped or self.count >= self.limit
        return self.stopped


@pytest.fixture
def world():
    clock, leases = Clock(), Leases()

    def keeper(me: str, duration: int = 60, lost: list | None = None) -> LeaseKeeper:
        return LeaseKeeper(leases, "cni-operator", "kube-system", me, LeaseTiming(duration),
                           logger=logging.getLogger("test-lease"), clock=clock, now=clock.wall,
                           on_lost=(lost.append if lost is not None else None))

    return clock, leases, keeper


def test_the_first_process_creates_the_lease(world, caplog):
    clock, leases, keeper = world
    caplog.set_level(logging.INFO, "test-lease")
    a = keeper("a_1")
    assert a.acquire(Waits(clock)) and a.held()
    assert leases.writes == [("create", "a_1")]
    assert "took the Lease kube-system/cni-operator as a_1 (created it" in caplog.text


def test_a_second_process_writes_nothing_says_who_holds_it_once_and_takes_over_when_it_expires(world, caplog):
    clock, leases, keeper = world
    caplog.set_level(logging.INFO, "test-lease")
    a = keeper("a_1")
    a.acquire(Waits(clock))
    b = keeper("b_2")
    # a stays silent (SIGKILLed): b must wait a full duration from its first look, reading only
    waits = Waits(clock)
    assert b.acquire(waits)
    assert 59 <= waits.count * 2 <= 64, f"took over after {waits.count * 2}s; the lease lasts 60s"
    assert leases.writes == [("create", "a_1"), ("update", "b_2")]
    assert caplog.text.count("another cni-operator holds the Lease kube-system/cni-operator: a (pid 1)") == 1
    assert "a (pid 1) had not renewed it for 60s" in caplog.text
    assert LeaseRecord.of(leases.objects["cni-operator"]).transitions == 1


def test_a_renewing_holder_keeps_the_other_waiting(world):
    clock, leases, keeper = world
    a, b = keeper("a_1"), keeper("b_2")
    a.acquire(Waits(clock))

    class RenewingWhileWaiting(Waits):
        def wait(self, seconds):
            stopped = super().wait(seconds)
            if self.count % 7 == 0:
                assert a.renew_once() is None
            return stopped

    assert not b.acquire(RenewingWhileWaiting(clock, limit=200))  # 400 s, a renewing every 14 s
    assert leases.holder() == "a_1" and all(who == "a_1" for _, who in leases.writes)


def test_a_released_lease_is_taken_at_the_next_look(world):
    clock, leases, keeper = world
    a, b = keeper("a_1"), keeper("b_2")
    a.acquire(Waits(clock))
    a.release()
    assert leases.holder() == "" and not a.held()
    waits = Waits(clock)
    assert b.acquire(waits) and waits.count == 0


def test_a_restarted_process_with_the_same_identity_takes_its_lease_back_at_once(world):
    clock, leases, keeper = world
    keeper("pod-x_1").acquire(Waits(clock))
    waits = Waits(clock)
    assert keeper("pod-x_1").acquire(waits) and waits.count == 0
    assert leases.writes == [("create", "pod-x_1"), ("update", "pod-x_1")]
    assert LeaseRecord.of(leases.objects["cni-operator"]).transitions == 0


def test_waiting_ends_when_told_to_stop(world):
    clock, leases, keeper = world
    keeper("a_1").acquire(Waits(clock))
    assert not keeper("b_2", duration=60).acquire(Waits(clock, limit=3))
    assert leases.writes == [("create", "a_1")]


def test_the_api_server_away_while_waiting_is_retried(world, caplog):
    clock, leases, keeper = world
    leases.failing = ConnectionRefusedError("connection refused")
    waits = Waits(clock, limit=5)
    assert not keeper("a_1").acquire(waits)
    assert caplog.text.count("cannot read the Lease kube-system/cni-operator: connection refused") == 1
    leases.failing = None
    assert keeper("a_1").acquire(Waits(clock))


def test_renewing_writes_renew_time_only(world):
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    before = LeaseRecord.of(leases.objects["cni-operator"])
    clock.t += 15
    assert a.renew_once() is None
    after = LeaseRecord.of(leases.objects["cni-operator"])
    assert after.renewed - before.renewed == datetime.timedelta(seconds=15)
    assert (after.holder, after.acquired, after.transitions) == (before.holder, before.acquired, before.transitions)


def test_someone_else_in_the_lease_is_a_loss_at_the_next_renewal(world):
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    leases.set_holder("intruder_9", clock.wall())
    assert a.renew_once() == "the Lease kube-system/cni-operator is now held by intruder (pid 9)"


def test_a_deleted_lease_is_a_loss(world):
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    del leases.objects["cni-operator"]
    assert a.renew_once() == "the Lease kube-system/cni-operator was deleted"


def test_a_lost_answer_to_our_own_renewal_is_not_a_loss(world):
    """The write landed but its answer did not reach us: the next write is refused as stale, yet the Lease is ours."""
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    leases.set_holder("a_1", clock.wall())  # as if our renewal had landed
    assert a.renew_once() is None  # refused as stale, read back: still ours
    assert a.renew_once() is None and leases.holder() == "a_1"


def test_renewals_failing_until_the_deadline_lose_the_lease_before_anyone_may_take_over(world):
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    leases.failing = TimeoutError("timed out")
    clock.t += 44
    assert a.renew_once() is None and a.held()
    clock.t += 1
    reason = a.renew_once()
    assert reason and "could not renew the Lease kube-system/cni-operator for 45s" in reason
    assert not a.held()


def test_release_leaves_a_lease_someone_else_holds_alone(world):
    clock, leases, keeper = world
    a = keeper("a_1")
    a.acquire(Waits(clock))
    leases.set_holder("b_2", clock.wall())
    a.release()
    assert leases.holder() == "b_2"
