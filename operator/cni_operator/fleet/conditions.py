"""What a RemoteClusterNetwork's status says about reaching its target (pure).

Two conditions only fleet mode has: `Reachable` (the target's API server answers) and `CredentialsValid` (its
kubeconfig is usable and the target accepts it). While the target is reached, the cluster session writes the status
as in-cluster and these two are added to it (`connected`). When the target cannot be reached, or its credentials
cannot be used, nothing about the CNI is known any more: `Ready` turns Unknown, the phase says why, and every other
part of the status (health, counts, problems, what was applied) is left as last seen, with `status.lastSeenTime`
saying how old it is. Never Degraded: an unreachable cluster is not a broken network (docs/fleet.md).
"""

from __future__ import annotations

import datetime as _dt

from ..api.remote import CREDENTIALS_VALID, REACHABLE
from ..health.conditions import READY, RECONCILING, STALLED, condition, find
from ..objects import rfc3339

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

# Reasons of Reachable / CredentialsValid when all is well, and of Ready/Reconciling when the target is away.
CONNECTED = "Connected"
ACCEPTED = "Accepted"
TARGET_UNREACHABLE = "TargetUnreachable"
CREDENTIALS_INVALID = "CredentialsInvalid"
CONNECTING = "Connecting"

# Phases of a RemoteClusterNetwork beside a ClusterNetwork's (api/remote.py).
PHASE_UNREACHABLE = "Unreachable"
PHASE_CREDENTIALS_INVALID = "CredentialsInvalid"


def connected(status: dict, generation: int | None) -> None:
    """Add Reachable=True and CredentialsValid=True to a status the cluster session built (StatusWriter.decorate)."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") not in (REACHABLE, CREDENTIALS_VALID)]
    conditions += [
        condition(REACHABLE, TRUE, CONNECTED, "the target's API server answers", generation, None),
        condition(CREDENTIALS_VALID, TRUE, ACCEPTED, "the target accepts the kubeconfig's credentials", generation,
                  None),
    ]
    status["conditions"] = conditions


def away(old: dict | None, *, reachable: tuple[str, str, str], credentials: tuple[str, str, str],
         generation: int | None, last_seen: _dt.datetime | None, now: _dt.datetime) -> dict:
    """The status while the target is not served: REACHABLE and CREDENTIALS are (status, reason, message) of the two
    conditions. Ready turns Unknown saying why and since when the health below was seen; Reconciling says the
    operator keeps trying; Stalled is True only when a person must fix the credentials. Every other field of OLD
    stays as it is."""
    old = dict(old or {})
    credentials_bad = credentials[0] == FALSE
    problem = credentials if credentials_bad else reachable
    seen = (f"the health below was last seen {rfc3339(last_seen)}" if last_seen is not None
            else "the operator has not reached it yet")
    reason = CREDENTIALS_INVALID if credentials_bad else TARGET_UNREACHABLE
    ready = f"the target is not served: {problem[2]}; {seen}"
    conditions = [c for c in old.get("conditions") or []
                  if c.get("type") not in (READY, REACHABLE, CREDENTIALS_VALID, RECONCILING, STALLED)]
    conditions += [
        condition(READY, UNKNOWN, reason, ready, generation, now),
        condition(REACHABLE, reachable[0], reachable[1], reachable[2], generation, now),
        condition(CREDENTIALS_VALID, credentials[0], credentials[1], credentials[2], generation, now),
        condition(RECONCILING, FALSE if credentials_bad else TRUE, reason,
                  "waiting for the kubeconfig to be fixed" if credentials_bad else
                  "retrying with back-off (at most every 5 minutes)", generation, now),
        condition(STALLED, TRUE if credentials_bad else FALSE, reason,
                  problem[2] if credentials_bad else "the operator keeps retrying", generation, now),
    ]
    old["conditions"] = conditions
    old["phase"] = PHASE_CREDENTIALS_INVALID if credentials_bad else PHASE_UNREACHABLE
    if last_seen is not None:
        old["lastSeenTime"] = rfc3339(last_seen)
    return old


def condition_status(status: dict | None, type_: str) -> str | None:
    found = find((status or {}).get("conditions"), type_)
    return found.get("status") if found else None
