"""A token bucket per target cluster: QPS tokens a second, at most BURST saved up (pure).

Fleet mode talks to many API servers from one process; each target gets its own bucket so one busy target (a rollout,
a relist after an outage) never spends another's budget, and no target sees more than its QPS from the operator.
Cluster API's per-cluster client uses 20 QPS with a burst of 30; so do we by default.

A request takes a token before it goes: `reserve()` takes it at once, even when the bucket is empty (the count goes
below zero), and says how long the caller must wait for its turn. So the waiting happens outside the lock, threads
(`take`, the synchronous kube client) and coroutines (`take_async`, aiohttp) share one bucket, and callers are
served in the order they asked.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs qps > 0 and burst >= 1, not qps={qps} burst={burst}")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it (0.0 when one was there)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.qps)
            self._stamp = now
            self._tokens -= 1.0
            return max(0.0, -self._tokens / self.qps)

    def take(self) -> None:
        """Take a token, sleeping (this thread) until it is due."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)

    async def take_async(self) -> None:
        """Take a token, waiting (this coroutine) until it is due."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
