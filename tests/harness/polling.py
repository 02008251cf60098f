"""Waiting the only two ways the harness allows: poll a check until a deadline, or watch a window of time pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str | None = None, interval: float = 0.2) -> Any:
    """Poll CHECK until it returns something truthy without raising AssertionError; return that value.

    Write the condition as the asserts a user would make: the last failed assert is in the timeout message,
    so a failing test says what it saw, not just "timed out". This is polling with a deadline, never a sleep
    standing in for synchronisation.
    """
    deadline = time.monotonic() + timeout
    last: str = "condition was falsy"
    while True:
        try:
            value = check()
            if value:
                return value
            last = f"got {value!r}"
        except AssertionError as e:
            last = str(e) or "assertion failed"
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what or getattr(check, '__name__', 'condition')}: not true after {timeout:.0f}s; last: {last}")
        time.sleep(interval)


def wait_quiet(seconds: float) -> None:
    """Let a window of wall time pass (an observation window, not synchronisation: what is checked after it is
    that nothing happened during it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, deadline - time.monotonic()))
