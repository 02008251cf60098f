"""EventRecorder folds repeats within a window, and its memory of what it posted stays bounded."""

from __future__ import annotations

from cni_operator.events import NORMAL, WARNING, EventRecorder
from fake_kube import FakeKube, flush_events

CNET = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
        "metadata": {"name": "default", "uid": "u-1", "resourceVersion": "1"}}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def recorder(**kwargs) -> tuple[FakeKube, EventRecorder, Clock]:
    kube, clock = FakeKube(), Clock()
    return kube, EventRecorder(kube, namespace="default", clock=clock, **kwargs), clock


def test_repeats_within_the_window_are_folded_and_sent_again_after_it():
    kube, events, clock = recorder(fold_seconds=30)
    events.post(CNET, WARNING, "PodsFailing", "1 of 3 nodes has no ready canal pod")
    clock.now += 29
    events.post(CNET, WARNING, "PodsFailing", "1 of 3 nodes has no ready canal pod")
    events.post(CNET, NORMAL, "Recovered", "all nodes ready")  # another message is not a repeat
    clock.now += 2
    events.post(CNET, WARNING, "PodsFailing", "1 of 3 nodes has no ready canal pod")
    flush_events(events)
    assert [e["reason"] for e in kube.events] == ["PodsFailing", "Recovered", "PodsFailing"]
    events.close()


def test_memory_is_pruned_of_entries_older_than_the_window():
    kube, events, clock = recorder(fold_seconds=30, max_recent=10)
    for n in range(1000):  # a day of ever-changing messages, one every 10 s
        events.post(CNET, WARNING, "PodsFailing", f"pod canal-{n} CrashLoopBackOff")
        clock.now += 10
        assert len(events._recent) <= 10
    flush_events(events)
    assert len(kube.events) == 1000  # nothing folded that should not have been
    assert all(clock.now - posted <= 10 * 11 for posted in events._recent.values())
    events.close()


def test_a_burst_inside_one_window_stays_bounded_and_still_folds_recent_repeats():
    kube, events, _ = recorder(fold_seconds=30, max_recent=10)
    for n in range(50):  # 50 distinct events in the same second
        events.post(CNET, WARNING, "PodsFailing", f"pod canal-{n} CrashLoopBackOff")
    assert len(events._recent) <= 10
    events.post(CNET, WARNING, "PodsFailing", "pod canal-49 CrashLoopBackOff")  # the newest is remembered
    flush_events(events)
    assert len(kube.events) == 50
    events.close()


def test_a_repost_after_the_window_counts_as_new():
    """A key posted again moves to the end, so pruning by age from the front stops at the first young entry."""
    _, events, clock = recorder(fold_seconds=30, max_recent=2)
    events.post(CNET, NORMAL, "A", "a")
    clock.now += 31
    events.post(CNET, NORMAL, "B", "b")
    events.post(CNET, NORMAL, "A", "a")  # posted again (window over): now the youngest
    events.post(CNET, NORMAL, "C", "c")  # over the bound: B, the oldest, goes first
    assert [key[2] for key in events._recent] == ["A", "C"]
    events.close()
