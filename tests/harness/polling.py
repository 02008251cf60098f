"""Waiting the only ways the harness allows: poll a check until a deadline, poll a check throughout a window of time,
or let a window of time pass."""

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


def holds_for(check: Callable[[], Any], seconds: float, what: str | None = None, interval: float = 0.5,
              min_checks: int = 3) -> int:
    """Poll CHECK throughout a window of SECONDS, and at least MIN_CHECKS times however slow each check is: every call
    must return something truthy without raising AssertionError. The first one that does not raises AssertionError
    saying when, and what it saw. Returns how many checks passed.

    For "this never happens": one look after a sleep would miss a state that comes and goes within the window.
    """
    start = time.monotonic()
    deadline = start + seconds
    checks = 0
    while checks < min_checks or time.monotonic() < deadline:
        try:
            value = check()
            failure = None if value else f"got {value!r}"
        except AssertionError as e:
            failure = str(e) or "assertion failed"
        if failure is not None:
            raise AssertionError(f"{what or getattr(check, '__name__', 'condition')}: stopped holding after "
                                 f"{time.monotonic() - start:.1f}s ({checks} checks passed): {failure}")
        checks += 1
        time.sleep(interval)
    return checks
