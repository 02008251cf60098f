"""Helpers shared by test modules and fixtures (importable by name, unlike the conftest modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


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
            raise AssertionError(f"{what or getattr(check, '__name__', 'condition')}: not true after {timeout:.0f}s; last: {last}")
        time.sleep(interval)
