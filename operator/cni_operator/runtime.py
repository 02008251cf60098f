"""The operator's in-memory state and its single reconcile loop.

Handlers only record what they saw and poke the loop. The loop runs one level-based pass for the ClusterNetwork:
the first poke is served at once (low latency), a burst of pokes is folded into one pass, and passes are spaced at
least `min_interval` apart so status is patched at most about once a second under churn. A change of what the user
asks for (a new ClusterNetwork, a new generation, a deletion) is not held back by the spacing: it comes at the rate
people and their tools edit the resource, not at the rate pods flap, and it is what they wait for.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from dataclasses import dataclass

from . import api
from .conditions import parse_time
from .render import MANAGED_BY, MANAGED_BY_LABEL, ObjectRef


def intent(body: dict | None) -> tuple | None:
    """What the user asks for, as far as pacing goes: which ClusterNetwork, which generation, being deleted or not."""
    if body is None:
        return None
    meta = body.get("metadata") or {}
    return (meta.get("uid"), meta.get("generation"), bool(meta.get("deletionTimestamp")))


def _rv(body: dict | None) -> int:
    try:
        return int(((body or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


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


class Runtime:
    def __init__(self, min_interval: float = 1.0):
        self.min_interval = min_interval
        self.logger = logging.getLogger("cni_operator")
        self.clusternetwork: dict | None = None
        self._clusternetwork_rv = 0  # newest resourceVersion seen, deletions included
        self.indexes: dict = {}
        self.managed: dict[ObjectRef, dict] = {}
        self.node_views: dict[str, dict] = {}
        self._wake: asyncio.Event | None = None
        self._new_intent: asyncio.Event | None = None  # set when the ClusterNetwork's intent changes
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self.reconciler = None
        self.peering: Peering | None = None  # set by the runner unless --standalone

    # ---- lifecycle

    async def start(self, logger: logging.Logger) -> None:
        from .reconcile import Reconciler  # late: keeps handler import light for `cni-operator --help`

        self.logger = logger
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._new_intent = asyncio.Event()
        self.reconciler = Reconciler.from_environment(self, logger)
        await self.reconciler.start()
        self._task = asyncio.create_task(self._run(), name="cni-operator-reconcile")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.reconciler:
            await self.reconciler.stop()

    # ---- what handlers report

    def attach_indexes(self, kwargs: dict) -> None:
        if not self.indexes:
            self.indexes = {k: kwargs[k] for k in ("daemonsets", "deployments", "cni_pods", "nodes") if k in kwargs}

    def observe_clusternetwork(self, event_type: str | None, body: dict) -> None:
        if body.get("metadata", {}).get("name") != api.SINGLETON_NAME:
            return  # admission rejects others; an older CRD without the rule must not make us act on them
        if self.update_clusternetwork(body, deleted=event_type == "DELETED"):
            self.poke("clusternetwork")

    def update_clusternetwork(self, body: dict, *, deleted: bool = False) -> bool:
        """Keep the newest ClusterNetwork we know of: from watch events and from our own patch responses.

        A patch response can be older than an event that arrived while the patch was in flight (say, the user's
        delete); taking it would make the next pass act on a ClusterNetwork that is already being deleted.
        """
        rv = _rv(body)
        if rv and rv < self._clusternetwork_rv:
            return False
        self._clusternetwork_rv = max(rv, self._clusternetwork_rv)
        before = intent(self.clusternetwork)
        self.clusternetwork = None if deleted else dict(body)
        if intent(self.clusternetwork) != before and self._new_intent is not None:
            self._new_intent.set()
        return True

    def observe_node(self, event_type: str | None, name: str, view: dict) -> None:
        if event_type == "DELETED":
            self.node_views.pop(name, None)
            self.poke("node")
        elif self.node_views.get(name) != view:  # most node updates are heartbeats: nothing we report changes
            self.node_views[name] = view
            self.poke("node")

    def observe_managed(self, event_type: str | None, body: dict) -> bool:
        """Keep the newest body of each managed object; True when it is ours (so a change may be drift)."""
        labels = (body.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            return False
        ref = ObjectRef.of(body)
        if event_type == "DELETED":
            self.managed.pop(ref, None)
        elif _rv(body) >= _rv(self.managed.get(ref)):
            self.managed[ref] = dict(body)
        return True

    def lookup(self, ref: ObjectRef) -> dict | None:
        return self.managed.get(ref)

    def remember(self, body: dict) -> None:
        """An apply response is the newest live object: cache it so the watch lagging behind is not seen as drift."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.observe_managed, "MODIFIED", body)

    # ---- the loop

    def poke(self, reason: str = "", delay: float = 0.0) -> None:
        if self._wake is None or self._loop is None:
            return
        if delay > 0:
            self._timers = [t for t in self._timers if not t.cancelled()]
            self._timers.append(self._loop.call_later(delay, self._wake.set))
        else:
            self._wake.set()

    async def _paused_by_peer(self) -> bool:
        """kopf stops delivering events while a higher-priority peer is alive, but a retry or back-off timer this
        replica set while it was active still fires, and a poke that came just before the pause is served up to
        min_interval later. So before every pass (with peering only: one GET), look at the peering object the way
        kopf does: a paused replica never acts on what it saw before the pause."""
        if self.peering is None or self.reconciler is None:
            return False
        ref = ObjectRef("kopf.dev/v1", "KopfPeering", self.peering.name, self.peering.namespace)
        try:
            body = await asyncio.to_thread(self.reconciler.kube.get, ref)
        except Exception:  # noqa: BLE001 - cannot tell: act, as a single replica must (the pass will retry anyway)
            return False
        return outranked((body or {}).get("status") or {}, self.peering.priority, datetime.datetime.now(datetime.UTC))

    async def _run(self) -> None:
        last_pass, served = 0.0, None
        failures = 0
        if self._new_intent is None:
            self._new_intent = asyncio.Event()
        while True:
            await self._wake.wait()
            spacing = self.min_interval - (time.monotonic() - last_pass)
            if spacing > 0 and intent(self.clusternetwork) == served:
                # Rate limit under churn (the pass then sees every change so far), cut short by a new intent.
                self._new_intent.clear()
                try:
                    await asyncio.wait_for(self._new_intent.wait(), spacing)
                except TimeoutError:
                    pass
            self._wake.clear()
            last_pass, served = time.monotonic(), intent(self.clusternetwork)
            if await self._paused_by_peer():
                self.logger.info("a higher-priority replica is active: skipping a pass")
                continue  # resumed, kopf re-lists everything: those events start the next pass
            try:
                retry_in = await self.reconciler.step(self.clusternetwork)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                retry_in = min(2 ** failures, 60)
                self.logger.exception("reconcile pass failed; retrying in %ss", retry_in)
            if retry_in:
                self.poke("retry", delay=retry_in)


RUNTIME = Runtime(min_interval=float(os.environ.get("CNI_OPERATOR_MIN_INTERVAL", "1.0")))
