"""Two writers must not hot-loop: after a budget of reverts per window, reverts wait with a doubling delay."""

from cni_operator.apply import ConflictGuard
from cni_operator.objects import ObjectRef

REF = ObjectRef("apps/v1", "DaemonSet", "canal", "kube-system")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_reverts_within_budget_are_immediate():
    clock = Clock()
    guard = ConflictGuard(budget=3, window=60, clock=clock)
    for _ in range(3):
        assert guard.next_allowed(REF) == 0.0
        guard.record(REF)
        clock.now += 1
    assert guard.next_allowed(REF) > clock.now  # the 4th within the window must wait


def test_backoff_doubles_and_is_capped():
    clock = Clock()
    guard = ConflictGuard(budget=2, window=600, max_backoff=20, clock=clock)
    waits = []
    for _ in range(8):
        allowed = guard.next_allowed(REF)
        if allowed:
            waits.append(allowed - clock.now)
            clock.now = allowed
        guard.record(REF)
    assert waits == sorted(waits)
    assert max(waits) <= 20
    assert guard.is_conflicted(REF)


def test_quiet_window_resets():
    clock = Clock()
    guard = ConflictGuard(budget=2, window=60, clock=clock)
    guard.record(REF)
    guard.record(REF)
    clock.now += 61
    assert guard.next_allowed(REF) == 0.0


def test_writes_per_minute_are_bounded_under_a_constant_fight():
    clock = Clock()
    guard = ConflictGuard(budget=3, window=60, clock=clock)
    writes = 0
    for _ in range(600):  # the other writer changes the field every 100 ms for a minute
        clock.now += 0.1
        if guard.next_allowed(REF) == 0.0:
            guard.record(REF)
            writes += 1
    assert writes <= 6
