"""A session's reconcile loop: the first poke is served at once, a burst is folded, passes are spaced under churn."""

from __future__ import annotations

import asyncio
import time

from cni_operator.events import EventRecorder
from cni_operator.session import ClusterSession


class Runtime:
    """One ClusterSession with a counting reconciler and no API server (the loop and the feeding are under test)."""

    def __init__(self, min_interval: float):
        self.session = ClusterSession(kube=None, singleton="default", min_interval=min_interval,
                                      recorder=EventRecorder(kube=None, namespace="default"))

    def poke(self, _reason: str) -> None:
        self.session.loop.poke()

    def observe_clusternetwork(self, event_type: str, body: dict) -> None:
        self.session.observe_clusternetwork(body, deleted=event_type == "DELETED")


class CountingReconciler:
    def __init__(self, retry: float | None = None):
        self.passes: list[float] = []
        self.retry = retry

    async def step(self, cr):
        self.passes.append(time.monotonic())
        return self.retry


async def _run(runtime: Runtime, reconciler: CountingReconciler, body) -> None:
    runtime.session.reconciler = reconciler
    await runtime.session.loop.start()
    await body()
    await runtime.session.loop.stop()


def test_first_poke_is_not_held_back_by_the_interval():
    # With a 30 s interval, a pass that came at all within the deadline was not made to wait for the interval.
    runtime, reconciler = Runtime(min_interval=30.0), CountingReconciler()

    async def body():
        runtime.poke("x")
        deadline = time.monotonic() + 10
        while not reconciler.passes and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert reconciler.passes, "the first poke was not served"

    asyncio.run(_run(runtime, reconciler, body))


def test_churn_is_coalesced_to_about_one_pass_per_interval():
    runtime, reconciler = Runtime(min_interval=0.2), CountingReconciler()

    async def body():
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # 1 s of events every 5 ms
            runtime.poke("pod")
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)  # let the last folded pass run

    asyncio.run(_run(runtime, reconciler, body))
    gaps = [b - a for a, b in zip(reconciler.passes, reconciler.passes[1:])]
    assert 2 <= len(reconciler.passes) <= 8, reconciler.passes  # 200 pokes, folded into a handful of passes
    assert min(gaps) >= 0.19, gaps  # never closer than the interval


def test_a_pass_can_ask_to_be_run_again_later():
    runtime, reconciler = Runtime(min_interval=0.01), CountingReconciler(retry=0.05)

    async def body():
        runtime.poke("x")
        while len(reconciler.passes) < 3:
            await asyncio.sleep(0.01)

    asyncio.run(_run(runtime, reconciler, body))
    assert len(reconciler.passes) >= 3


def _cnet(uid: str, generation: int, rv: int) -> dict:
    return {"metadata": {"name": "default", "uid": uid, "generation": generation, "resourceVersion": str(rv)}}


def test_a_new_intent_is_not_held_back_by_the_spacing_but_churn_is():
    # With a 30 s interval, a second pass that came at all within the deadline did not wait for the interval.
    runtime, reconciler = Runtime(min_interval=30.0), CountingReconciler()

    async def wait_passes(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(reconciler.passes) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(reconciler.passes) >= n, f"pass {n} did not come"

    async def body():
        runtime.observe_clusternetwork("ADDED", _cnet("a", 1, 1))
        await wait_passes(1)
        runtime.observe_clusternetwork("MODIFIED", _cnet("a", 1, 2))  # status or metadata only: same intent
        runtime.poke("pod")
        await asyncio.sleep(0.3)  # an observation window: no pass may come in it
        assert len(reconciler.passes) == 1, "churn was not held back by the spacing"
        runtime.observe_clusternetwork("MODIFIED", _cnet("a", 2, 3))  # the user changed the spec
        await wait_passes(2)
        runtime.observe_clusternetwork("DELETED", _cnet("a", 2, 4))
        runtime.observe_clusternetwork("ADDED", _cnet("b", 1, 5))  # deleted and created again: a new uid
        await wait_passes(3)

    asyncio.run(_run(runtime, reconciler, body))
