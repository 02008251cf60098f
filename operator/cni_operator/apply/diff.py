"""Pure comparison of what we want against what the API server has.

Drift is "a field we set has another value (or is gone)"; fields others set, and defaults the server adds, are not
drift. So the check is containment: every key of the desired object must be in the live object with an equal value.
Lists are compared element by element at equal length (containers, rules, ports keep their order on the server).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..objects import HASH_ANNOTATION


def _is_empty(value: Any) -> bool:
    # The API server omits zero values of `omitempty` fields (nulls, empty maps/lists/strings, false), e.g. a CRD's
    # preserveUnknownFields: false or an env var's value: "". Wanting such a value is satisfied by its absence.
    return value is None or value is False or (isinstance(value, (dict, list, str)) and len(value) == 0)


def contains(desired: Any, live: Any) -> bool:
    """True when live carries every field of desired with an equal value."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return _is_empty(desired) and live is None
        for key, want in desired.items():
            if key not in live:
                if _is_empty(want):
                    continue
                return False
            if not contains(want, live[key]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list):
            return not desired and live is None
        return len(desired) == len(live) and all(contains(w, h) for w, h in zip(desired, live))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    return desired == live


def first_difference(desired: Any, live: Any, path: str = "") -> str | None:
    """A human-readable path of the first field where live departs from desired, for Events and logs."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return None if _is_empty(desired) and live is None else (path or ".")
        for key, want in desired.items():
            here = f"{path}.{key}"
            if key not in live:
                if _is_empty(want):
                    continue
                return f"{here} (removed)"
            found = first_difference(want, live[key], here)
            if found:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return None if (not desired and live is None) else f"{path} (length)"
        for index, (want, have) in enumerate(zip(desired, live)):
            found = first_difference(want, have, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if contains(desired, live) else path


def canonical_hash(value: Any) -> str:
    """sha256 of canonical JSON: equal content gives an equal hash whatever the key order."""
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def with_hash_annotation(obj: dict) -> dict:
    """A copy of obj annotated with the hash of its own content, so a later reader can tell our updates from drift."""
    digest = canonical_hash(obj)
    copy = json.loads(json.dumps(obj))
    copy.setdefault("metadata", {}).setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return copy
