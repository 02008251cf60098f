"""One cluster's coalescing, level-based loop: pokes in, passes out.

The first poke is served at once (low latency), a burst of pokes is folded into one pass, and passes are spaced at
least `min_interval` apart so status is patched at most about once a second under churn. A change of what the user
asks for (a new ClusterNetwork, a new generation, a deletion) is not held back by the spacing: it comes at the rate
people and their tools edit the resource, not at the rate pods flap, and it is what they wait for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable


class CoalescingLoop:
    def __init__(self, run_pass: Callable[[], Awaitable[float | None]], intent: Callable[[], object], *,
                 min_interval: float = 1.0, logger: logging.Logger | None = None, name: str = "reconcile"):
        """`run_pass` does one pass and returns the seconds until another is needed without any event (or None);
        `intent` says what the user currently asks for (compared between passes to cut the spacing short)."""
        self.run_pass = run_pass
        self.intent = intent
        self.min_interval = min_interval
        self.logger = logger or logging.getLogger("cni_operator")
        self.name = name
        self._wake: asyncio.Event | None = None
        self._new_intent: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._timers: list[asyncio.TimerHandle] = []

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._new_intent = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"cni-operator-{self.name}")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def poke(self, delay: float = 0.0) -> None:
        """Ask for a pass now, or in `delay` seconds (no event marks the end of a grace period or a back-off)."""
        if self._wake is None or self._loop is None:
            return
        if delay > 0:
            self._timers = [t for t in self._timers if not t.cancelled()]
            self._timers.append(self._loop.call_later(delay, self._wake.set))
        else:
            self._wake.set()

    def intent_changed(self) -> None:
        if self._new_intent is not None:
            self._new_intent.set()

    def call_soon(self, callback: Callable, *args) -> None:
        """Run `callback` on the loop's thread (the apply step runs in worker threads)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback, *args)

    async def _run(self) -> None:
        last_pass, served = 0.0, None
        failures = 0
        while True:
            await self._wake.wait()
            spacing = self.min_interval - (time.monotonic() - last_pass)
            if spacing > 0 and self.intent() == served:
                # Rate limit under churn (the pass then sees every change so far), cut short by a new intent.
                self._new_intent.clear()
                try:
                    await asyncio.wait_for(self._new_intent.wait(), spacing)
                except TimeoutError:
                    pass
            self._wake.clear()
            last_pass, served = time.monotonic(), self.intent()
            try:
                retry_in = await self.run_pass()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                retry_in = min(2 ** failures, 60)
                self.logger.exception("reconcile pass failed; retrying in %ss", retry_in)
            if retry_in:
                self.poke(delay=retry_in)
