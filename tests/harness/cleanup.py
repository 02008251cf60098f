"""Undo actions for what a test or a bench run created in the shared cluster, and names that never collide."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any


class Cleanup:
    """Teardown actions, run newest first; a 404 means it is already gone, which is fine."""

    def __init__(self) -> None:
        self._actions: list[tuple[Callable[..., Any], tuple, dict]] = []

    def add(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._actions.append((fn, args, kwargs))

    __call__ = add

    def run(self) -> None:
        """Run every action (one failing does not stop the others); raise AssertionError listing the failures."""
        from kubernetes.client.exceptions import ApiException

        errors = []
        while self._actions:
            fn, args, kwargs = self._actions.pop()
            try:
                fn(*args, **kwargs)
            except ApiException as e:
                if e.status != 404:
                    errors.append(f"{getattr(fn, '__name__', fn)}{args}: HTTP {e.status} {e.reason}")
            except Exception as e:  # noqa: BLE001 - report every failed clean-up, not just the first
                errors.append(f"{getattr(fn, '__name__', fn)}{args}: {e!r}")
        if errors:
            raise AssertionError("clean-up failed:\n  " + "\n  ".join(errors))


def unique_name(prefix: str, hint: str = "") -> str:
    """A DNS-1123 label: prefix, a readable hint (e.g. the test name) and a random suffix, at most 63 chars."""
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")
    suffix = uuid.uuid4().hex[:6]
    return f"{prefix}-{hint}"[: 63 - len(suffix) - 1].rstrip("-") + f"-{suffix}"
