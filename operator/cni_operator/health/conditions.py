"""Condition vocabulary and helpers: the fixed list of reasons, metav1.Condition dicts, and change detection.

Pure: no kopf, no kubernetes client (an import-linter contract enforces it). Conditions are plain dicts in the
wire shape (camelCase) so they can go straight into a status patch. docs/health.md explains every reason.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum
from typing import Any

from ..objects import parse_time, rfc3339  # noqa: F401  (part of this module's vocabulary)

READY, PROGRESSING, DEGRADED, APPLIED = "Ready", "Progressing", "Degraded", "Applied"
# The kstatus pair (sigs.k8s.io/cli-utils): what Flux, Argo CD and kpt read to tell "in progress" from "failed".
RECONCILING, STALLED = "Reconciling", "Stalled"
CONDITION_TYPES = (READY, PROGRESSING, DEGRADED, APPLIED, RECONCILING, STALLED)
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


class Reason(str, Enum):
    """Every reason the operator may put on a condition. Adding one means documenting it in docs/health.md."""

    # Ready
    ALL_NODES_READY = "AllNodesReady"
    NODES_NOT_READY = "NodesNotReady"
    CONTROLLERS_NOT_READY = "ControllersNotReady"
    NOT_APPLIED = "NotApplied"
    # Progressing
    APPLYING = "Applying"
    ROLLING_OUT = "RollingOut"
    PODS_STARTING = "PodsStarting"
    STABLE = "Stable"
    # Degraded
    AS_EXPECTED = "AsExpected"
    PODS_FAILING = "PodsFailing"
    NODES_WITHOUT_CNI = "NodesWithoutCNI"
    # Applied
    APPLIED = "Applied"
    # Shared by several conditions
    WORKLOAD_MISSING = "WorkloadMissing"
    APPLY_FAILED = "ApplyFailed"
    RECONCILE_ERROR = "ReconcileError"
    INVALID_CONFIGURATION = "InvalidConfiguration"
    REGISTRY_NOT_ALLOWED = "RegistryNotAllowed"
    FOREIGN_CNI_DETECTED = "ForeignCNIDetected"
    CLUSTER_TYPE_MISMATCH = "ClusterTypeMismatch"
    # A first install meets objects it renders that someone else made (spec.adoption, session/adoption.py)
    ADOPTION_BLOCKED = "AdoptionBlocked"
    ADOPTION_REFUSED = "AdoptionRefused"
    PAUSED = "Paused"
    UNMANAGED = "Unmanaged"
    NO_CNI_DETECTED = "NoCNIDetected"
    DELETING = "Deleting"
    # An update of an installed CNI that failed its health gates or its deadline
    UPGRADE_ROLLED_BACK = "UpgradeRolledBack"
    UPGRADE_FAILED = "UpgradeFailed"

    def __str__(self) -> str:  # f-strings and str() give the wire value
        return self.value


# The operator refuses to write while one of these holds; only the user can clear them (phase Failed).
REFUSALS = frozenset({Reason.INVALID_CONFIGURATION, Reason.REGISTRY_NOT_ALLOWED, Reason.FOREIGN_CNI_DETECTED,
                      Reason.CLUSTER_TYPE_MISMATCH, Reason.ADOPTION_BLOCKED, Reason.ADOPTION_REFUSED})
# What an apply attempt can end with besides success; the last two are retried by the operator itself.
APPLY_ERRORS = REFUSALS | {Reason.APPLY_FAILED, Reason.RECONCILE_ERROR}
RETRIED = frozenset({Reason.APPLY_FAILED, Reason.RECONCILE_ERROR})


def condition(type_: str, status: str, reason: Reason | str, message: str, generation: int | None,
              now: _dt.datetime | str | None) -> dict:
    """One metav1.Condition as a wire dict (without `now`, lastTransitionTime is left for merge_conditions)."""
    return {
        "type": type_,
        "status": status,
        "reason": str(reason),
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": None if now is None else rfc3339(now),
    }


def find(conditions: list[dict] | None, type_: str) -> dict | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def merge_conditions(old: list[dict] | None, new: list[dict], now: _dt.datetime | str) -> list[dict]:
    """The new conditions, each keeping the old lastTransitionTime when its status did not change.

    Standard semantics: lastTransitionTime moves only when status moves; reason, message and observedGeneration
    are always the new ones. The operator owns the whole list, so types missing from `new` are dropped.
    """
    merged = []
    for cond in new:
        out = dict(cond)
        previous = find(old, cond["type"])
        if previous is not None and previous.get("status") == cond.get("status") and previous.get("lastTransitionTime"):
            out["lastTransitionTime"] = previous["lastTransitionTime"]
        elif not out.get("lastTransitionTime"):
            out["lastTransitionTime"] = rfc3339(now)
        merged.append(out)
    return merged


def _normalise(value: Any) -> Any:
    """Drop what a round trip through the API server would not preserve or that means 'nothing': None, [], {}."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        out = {k: _normalise(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None} or None
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value] or None
    return value


def _conditions_by_type(conditions: Any, keep_time_of: dict[str, str] | None = None) -> dict | None:
    out = {}
    for cond in conditions or []:
        cond = dict(cond)
        if keep_time_of is not None and keep_time_of.get(cond.get("type")) == cond.get("status"):
            cond.pop("lastTransitionTime", None)  # same status: the timestamp is not a change
        out[cond.get("type")] = _normalise(cond)
    return out or None


def changed_keys(old_status: dict | None, new_status: dict) -> list[str]:
    """Top-level keys of `new_status` whose value differs from `old_status`.

    Only keys the new status names are compared (others, such as kopf's bookkeeping, are not ours); None, [] and
    {} all mean "empty"; conditions are compared per type, ignoring lastTransitionTime when the status is the same.
    """
    old_status = old_status or {}
    changed = []
    for key in sorted(new_status):
        old_value, new_value = old_status.get(key), new_status[key]
        if key == "conditions":
            old_statuses = {c.get("type"): c.get("status") for c in old_value or []}
            new_statuses = {c.get("type"): c.get("status") for c in new_value or []}
            same = {t: s for t, s in new_statuses.items() if old_statuses.get(t) == s}
            if _conditions_by_type(old_value, same) != _conditions_by_type(new_value, same):
                changed.append(key)
        elif _normalise(old_value) != _normalise(new_value):
            changed.append(key)
    return changed


def status_differs(old_status: dict | None, new_status: dict) -> bool:
    """True when patching `new_status` would change what a person reads; False lets the operator skip the write."""
    return bool(changed_keys(old_status, new_status))
