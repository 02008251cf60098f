"""Two writers must not hot-loop: after a budget of reverts per window, reverts wait with a doubling delay.

The Applier decides what counts as a revert: a live object that departs from the render is drift when it carries
our hash or when this process already applied (or found in place) that very render, so a writer that also rewrites
the hash annotation meets the guard too; an update is only a render this process has not applied yet.
"""

from cni_operator.apply import Applier, ConflictGuard
from cni_operator.apply.diff import with_hash_annotation
from cni_operator.objects import HASH_ANNOTATION, ObjectRef
from fake_kube import FakeKube

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


# ---------------------------------------------------------------- the Applier's drift decision (apply/__init__.py)


def daemonset(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "canal", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "image": image}]}}}}


WANT = daemonset("calico/node:v3.32.1")


def other_writer(n: int, *, rewrite_hash: bool):
    """Changes the image; a writer that rewrites the hash annotation as well passes for a new render."""
    def change(body: dict) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["image"] = f"other/node:v{n}"
        if rewrite_hash:
            body["metadata"]["annotations"][HASH_ANNOTATION] = f"forged{n}"
    return change


def fight(applier: Applier, kube: FakeKube, clock: Clock, *, rewrite_hash: bool, seconds: int = 60) -> list:
    """The other writer changes the DaemonSet every second; the operator passes right after each change."""
    outcomes = []
    for n in range(seconds):
        kube.edit(REF, other_writer(n, rewrite_hash=rewrite_hash))
        outcomes.append(applier.sync([WANT], []))
        clock.now += 1
    return outcomes


def installed(kube: FakeKube, clock: Clock) -> Applier:
    applier = Applier(kube, guard=ConflictGuard(budget=3, window=60, clock=clock), parallelism=1)
    assert applier.sync([WANT], []).created == [REF]
    return applier


def operator_applies(kube: FakeKube) -> int:
    return sum(1 for r in kube.requests if r.verb == "apply")


def test_a_writer_that_rewrites_the_hash_is_backed_off_after_three_reverts():
    clock, kube = Clock(), FakeKube()
    applier = installed(kube, clock)
    outcomes = fight(applier, kube, clock, rewrite_hash=True)
    assert [len(o.reverted) for o in outcomes[:3]] == [1, 1, 1]  # drift, counted: not mistaken for an update
    assert all(not o.updated for o in outcomes)
    assert outcomes[3].deferred and not outcomes[3].reverted  # the 4th within the minute waits
    assert outcomes[0].reverted[0][1] == ".spec.template.spec.containers[0].image"  # the field, not the hash
    assert operator_applies(kube) - 1 <= 6  # as for a writer that leaves the hash alone (5..6 a minute)
    assert applier.guard.is_conflicted(REF)


def test_the_same_bound_holds_for_a_writer_that_leaves_the_hash_alone():
    clock, kube = Clock(), FakeKube()
    applier = installed(kube, clock)
    outcomes = fight(applier, kube, clock, rewrite_hash=False)
    assert [len(o.reverted) for o in outcomes[:3]] == [1, 1, 1] and outcomes[3].deferred
    assert operator_applies(kube) - 1 <= 6


def test_a_changed_render_is_an_update_not_drift():
    clock, kube = Clock(), FakeKube()
    applier = installed(kube, clock)
    for n in range(5):  # five upgrades in a row within a minute: never backed off, never a revert
        outcome = applier.sync([daemonset(f"calico/node:v3.33.{n}")], [])
        assert outcome.updated == [REF] and not outcome.reverted and not outcome.deferred
    assert not applier.guard.is_conflicted(REF)


def test_an_object_found_as_wanted_is_remembered_so_a_hash_rewrite_after_a_restart_is_drift():
    clock, kube = Clock(), FakeKube()
    installed(kube, clock)
    restarted = Applier(kube, guard=ConflictGuard(budget=3, window=60, clock=clock), parallelism=1)
    assert restarted.sync([WANT], []).in_sync == [REF]  # the first pass after a start finds it in place
    kube.edit(REF, other_writer(1, rewrite_hash=True))
    assert restarted.sync([WANT], []).reverted


def test_after_a_restart_an_unseen_hash_rewrite_counts_once_as_an_update():
    """No memory of what we applied and the live hash is not ours: it looks like a render this process has not
    applied yet (the accepted cost of keeping the memory in the process); from the next change on it is drift."""
    clock, kube = Clock(), FakeKube()
    installed(kube, clock)
    kube.edit(REF, other_writer(1, rewrite_hash=True))  # while the operator was down
    restarted = Applier(kube, guard=ConflictGuard(budget=3, window=60, clock=clock), parallelism=1)
    assert restarted.sync([WANT], []).updated == [REF]
    kube.edit(REF, other_writer(2, rewrite_hash=True))
    assert restarted.sync([WANT], []).reverted


def test_adopting_an_object_someone_else_made_is_an_update():
    clock, kube = Clock(), FakeKube()
    kube.put(daemonset("602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.0"))  # e.g. EKS's aws-node
    applier = Applier(kube, guard=ConflictGuard(budget=3, window=60, clock=clock), parallelism=1)
    outcome = applier.sync([WANT], [])
    assert outcome.updated == [REF] and not outcome.reverted
    assert kube.objects[REF]["metadata"]["annotations"][HASH_ANNOTATION] == \
        with_hash_annotation(WANT)["metadata"]["annotations"][HASH_ANNOTATION]
