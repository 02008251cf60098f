"""Is another replica active? kopf's peering rule, read from its KopfPeering object, checked before every pass.

kopf stops delivering events while a higher-priority peer is alive, but a retry or back-off timer this replica set
while it was active still fires, and a poke that came just before the pause is served up to min_interval later. So
before every pass (with peering only: one GET) the session looks at the peering object the way kopf does: a paused
replica never acts on what it saw before the pause.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ..objects import parse_time


@dataclass(frozen=True)
class Peering:
    """Where this replica's kopf peering lives and its priority (None when run --standalone)."""

    name: str
    namespace: str
    priority: int


def outranked(peers: dict, priority: int, now: datetime.datetime) -> bool:
    """kopf's rule, from a KopfPeering object's status: a live peer (last seen within its lifetime) with a higher
    priority pauses us. (Equal priorities are not told apart from ourselves: replicas take distinct priorities.)"""
    for info in (peers or {}).values():
        try:
            seen = parse_time(info.get("lastseen"))
            alive = seen + datetime.timedelta(seconds=int(info.get("lifetime", 60))) > now
            if alive and int(info.get("priority", 0)) > priority:
                return True
        except (TypeError, ValueError, AttributeError):
            continue  # a malformed entry is not a live peer
    return False
