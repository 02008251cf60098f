"""The one place that writes managed objects: server-side apply of what render produced, prune of what it dropped.

Rules: write only when the live object departs from what we want (so an idle cluster sees no writes); never touch an
object someone opted out with the ignore annotation; delete only objects that carry our managed-by label, were not
adopted from someone else's install (those are released instead, session/adoption.py) and are not a CRD the catalog
says the provider does not own (released: our labels removed) nor one that holds objects, nor an ENIConfig (released
too: nodes may select it); and do not fight a
conflicting writer in a hot loop (back off, and say so).
"""

from __future__ import annotations

import collections
import datetime
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..api import Provider
from ..catalog import load_catalog
from ..kube import Kube, KubeError
from ..objects import (
    HASH_ANNOTATION,
    MANAGED_BY_LABEL,
    PROVIDER_LABEL,
    REESTABLISH_ANNOTATION,
    RETAINED_ANNOTATION,
    VERSION_LABEL,
    ObjectRef,
    is_adopted,
    is_ignored,
    is_managed,
    kind_rank,
    parse_time,
    rfc3339,
    utcnow,
)
from .diff import contains, first_difference, with_hash_annotation

# A CRD whose names are accepted but which is not Established gets written again (REESTABLISH_ANNOTATION, the time)
# once it has waited this long: Kubernetes queues a CRD for establishing only on an update event, so one whose API
# server restarted in between stays "Installing", its API not served, until something writes it. (HA API servers
# wait 5 s.)
ESTABLISH_GRACE = 10.0

logger = logging.getLogger(__name__)

RELEASED_LABELS = (MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL)
# Kinds the operator creates from the spec but never deletes (prune or deletionPolicy Delete): an ENIConfig removed
# from spec.awsVpcCni.eniConfigs may still be what nodes' labels select, and deleting it would stop ipamd attaching
# ENIs there. It is released instead (docs/providers/aws-vpc-cni.md); the chart grants no delete on it either.
NEVER_DELETED_KINDS = frozenset({"ENIConfig"})


def establishing_for(crd: dict | None, now: datetime.datetime) -> float | None:
    """Seconds a CRD has had its names accepted without being Established (since our last nudge, if later);
    None when it is Established or its names are not accepted (a conflict the API server reports itself)."""
    status = (crd or {}).get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    names = conditions.get("NamesAccepted") or {}
    if names.get("status") != "True" or (conditions.get("Established") or {}).get("status") == "True":
        return None
    annotations = ((crd or {}).get("metadata") or {}).get("annotations") or {}
    since = [t for t in (parse_time(names.get("lastTransitionTime")),
                         parse_time(annotations.get(REESTABLISH_ANNOTATION))) if t is not None]
    return (now - max(since)).total_seconds() if since else ESTABLISH_GRACE


@dataclass
class ApplyOutcome:
    in_sync: list[ObjectRef] = field(default_factory=list)  # already as wanted: no write
    created: list[ObjectRef] = field(default_factory=list)
    updated: list[ObjectRef] = field(default_factory=list)  # what we want changed (upgrade, option change)
    reverted: list[tuple[ObjectRef, str]] = field(default_factory=list)  # drift put back: (object, first field)
    pruned: list[ObjectRef] = field(default_factory=list)
    # CRDs a prune or a delete left in place because objects of their kind exist (users' data): (CRD, how many,
    # or None when the operator may not count them). They are released: no longer labelled as ours.
    retained: list[tuple[ObjectRef, int | None]] = field(default_factory=list)
    # Adopted objects (someone else's before the first install) a prune or a delete left in place, released from
    # our labels: they are never deleted.
    released: list[ObjectRef] = field(default_factory=list)
    ignored: list[ObjectRef] = field(default_factory=list)
    ignored_drift: list[tuple[ObjectRef, str]] = field(default_factory=list)  # ignored and differing: (object, field)
    deferred: list[tuple[ObjectRef, float]] = field(default_factory=list)  # conflicting writer: retry at time
    errors: list[tuple[ObjectRef, str]] = field(default_factory=list)
    recheck_in: list[float] = field(default_factory=list)  # seconds until an object needs another look (CRDs)

    @property
    def writes(self) -> int:
        return (len(self.created) + len(self.updated) + len(self.reverted) + len(self.pruned) + len(self.retained)
                + len(self.released))

    @property
    def ok(self) -> bool:
        return not self.errors


class ConflictGuard:
    """Counts reverts per object; past a budget a revert waits, doubling the wait, so two writers cannot hot-loop."""

    def __init__(self, budget: int = 3, window: float = 60.0, max_backoff: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.budget, self.window, self.max_backoff, self.clock = budget, window, max_backoff, clock
        self._reverts: dict[ObjectRef, collections.deque] = collections.defaultdict(collections.deque)
        self._backoff: dict[ObjectRef, float] = {}

    def next_allowed(self, ref: ObjectRef) -> float:
        """0 when a revert may happen now, else the monotonic time it may."""
        now = self.clock()
        history = self._reverts[ref]
        while history and now - history[0] > self.window:
            history.popleft()
        if len(history) < self.budget:
            self._backoff.pop(ref, None)
            return 0.0
        wait = self._backoff.get(ref, 5.0)
        allowed = history[-1] + wait
        return 0.0 if now >= allowed else allowed

    def record(self, ref: ObjectRef) -> None:
        history = self._reverts[ref]
        if len(history) >= self.budget:
            self._backoff[ref] = min(self._backoff.get(ref, 5.0) * 2, self.max_backoff)
        history.append(self.clock())

    def is_conflicted(self, ref: ObjectRef) -> bool:
        return len(self._reverts[ref]) >= self.budget


_WORKLOADS_RANK = kind_rank("DaemonSet")


def catalog_never_owns(name: str, provider: str | None) -> bool:
    """manifests/catalog.yaml neverOwn for that provider; for an unknown provider label, any provider's list."""
    try:
        known = Provider(provider) if provider else None
    except ValueError:
        known = None
    return load_catalog().never_owns(name, known)


def _rank(ref: ObjectRef) -> int:
    return kind_rank(ref.kind)


class Applier:
    def __init__(self, kube: Kube, *, lookup: Callable[[ObjectRef], dict | None] | None = None,
                 remember: Callable[[dict], None] | None = None, parallelism: int = 16,
                 guard: ConflictGuard | None = None, complete: Callable[[ObjectRef], bool] | None = None,
                 never_owns: Callable[[str, str | None], bool] | None = None):
        # lookup: a watch-fed cache of live objects (saves a GET per object per reconcile); remember: feeds the
        # apply response back into it so the next pass does not mistake our own fresh write for drift;
        # complete: whether the cache holds every managed object of that kind (watched and listed), so that a miss
        # means "absent" and needs no GET either.
        self.kube = kube
        self.lookup = lookup
        self.complete = complete or (lambda ref: False)
        self.remember = remember or (lambda obj: None)
        self.pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="apply")
        self.guard = guard or ConflictGuard()
        # never_owns(crd name, provider label value or None): a CRD the catalog says that provider never owns.
        self.never_owns = never_owns or catalog_never_owns
        # The hash this process last applied (or found in place) per object. The live hash annotation alone cannot
        # tell drift from our own change: a writer that rewrites it too would pass for an upgrade every time and
        # never meet the guard. Memory only: after a restart the first revert of such a writer counts as an update.
        self._applied: dict[ObjectRef, str] = {}

    def _live(self, ref: ObjectRef) -> dict | None:
        if self.lookup is not None:
            cached = self.lookup(ref)
            if cached is not None or self.complete(ref):
                return cached
        return self.kube.get(ref)

    def _sync_one(self, desired: dict, outcome: ApplyOutcome, installed: frozenset[ObjectRef]) -> None:
        ref = ObjectRef.of(desired)
        want = with_hash_annotation(desired)
        try:
            live = self._live(ref)
            if live is not None and is_ignored(live):
                outcome.ignored.append(ref)
                if not contains(want, live):
                    outcome.ignored_drift.append((ref, first_difference(want, live) or "?"))
                return
            want_hash = want["metadata"]["annotations"][HASH_ANNOTATION]
            if live is not None and contains(want, live):
                self._applied[ref] = want_hash  # as we want it, whoever wrote it: a later departure is drift
                waited = establishing_for(live, datetime.datetime.now(datetime.UTC)) \
                    if ref.kind == "CustomResourceDefinition" else None
                if waited is None or waited < ESTABLISH_GRACE:
                    outcome.in_sync.append(ref)
                    if waited is not None:
                        outcome.recheck_in.append(ESTABLISH_GRACE - waited)
                    return
                logger.warning("%s has accepted names but is not Established after %.0fs: writing it again so the "
                               "API server establishes it", ref.name, waited)
                want["metadata"]["annotations"][REESTABLISH_ANNOTATION] = \
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                self.remember(self.kube.apply(want))
                outcome.updated.append(ref)
                return
            drift = None
            if live is None and ref in installed:
                drift = "deleted"  # we installed it and someone removed it: drift, not a first install
            if live is not None and self._is_drift(ref, want_hash, live):
                drift = first_difference(desired, live) or first_difference(want, live) or "?"
                retry_at = self.guard.next_allowed(ref)
                if retry_at:
                    outcome.deferred.append((ref, retry_at))
                    return
            result = self.kube.apply(want)
            self._applied[ref] = want_hash
            self.remember(result)
            if drift is not None:
                self.guard.record(ref)
                outcome.reverted.append((ref, drift))
            elif live is None:
                outcome.created.append(ref)
            else:
                outcome.updated.append(ref)
        except KubeError as exc:
            outcome.errors.append((ref, str(exc)))

    def _is_drift(self, ref: ObjectRef, want_hash: str, live: dict) -> bool:
        """Whether a live object that departs from the render was changed by someone else (drift: revert, counted
        by the guard) rather than being ours from before a change of what we want (upgrade, option change: update).

        Drift when it carries the hash we want (someone changed a field), or when we ourselves already applied, or
        found in place, exactly this render (someone changed fields and the hash annotation too). An update only
        when neither holds: a new render (our last hash differs), or one this process has not applied yet (first
        pass after a start, adoption of an object made by someone else)."""
        live_hash = ((live.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
        return live_hash == want_hash or self._applied.get(ref) == want_hash

    def sync(self, objects: list[dict], prune_candidates: list[ObjectRef],
             installed: frozenset[ObjectRef] = frozenset()) -> ApplyOutcome:
        """Apply objects (already in dependency order) and prune the candidates not among them.

        Two waves, each fully parallel: first what workloads depend on (CRDs, ServiceAccounts, RBAC, config), then
        the workloads; a failure in the first wave stops the second, so a workload never starts before the RBAC and
        config it needs. (Within a wave nothing depends on anything: a binding may name a role that arrives a few
        milliseconds later.) `installed` is the inventory of earlier passes: one of those found missing was deleted
        by someone (drift), not created for the first time.
        """
        outcome = ApplyOutcome()
        waves: dict[bool, list[dict]] = collections.defaultdict(list)
        for obj in objects:
            waves[_rank(ObjectRef.of(obj)) >= _WORKLOADS_RANK].append(obj)
        for is_workload in (False, True):
            list(self.pool.map(lambda obj: self._sync_one(obj, outcome, installed), waves[is_workload]))
            if outcome.errors:
                return outcome
        wanted = {ObjectRef.of(obj) for obj in objects}
        for ref in sorted(set(prune_candidates) - wanted, key=_rank, reverse=True):
            self._prune_one(ref, outcome)
        return outcome

    def differences(self, objects: list[dict]) -> list[tuple[ObjectRef, str]]:
        """(object, first differing field) for every rendered object the live one departs from, read from the
        watch-fed cache only (no request): what a paused operator would put back."""
        found = []
        for desired in objects:
            ref = ObjectRef.of(desired)
            live = self.lookup(ref) if self.lookup is not None else None
            if live is None:
                found.append((ref, "missing"))
            elif not contains(desired, live):
                found.append((ref, first_difference(desired, live) or "?"))
        return found

    def _prune_one(self, ref: ObjectRef, outcome: ApplyOutcome) -> None:
        try:
            live = self._live(ref)
            if live is None or not is_managed(live):
                return  # gone already, or not ours: never delete what we did not make
            if (live.get("metadata") or {}).get("deletionTimestamp"):
                return  # being deleted already (a CRD waits for its instances to go): asking again changes nothing
            if is_ignored(live):
                outcome.ignored.append(ref)
                return
            if is_adopted(live):
                self._release(ref)
                outcome.released.append(ref)
                return
            if ref.kind in NEVER_DELETED_KINDS:
                self._release(ref)  # users' nodes may still select it: left in place, no longer ours
                outcome.released.append(ref)
                return
            if ref.kind == "CustomResourceDefinition" and self._never_owned(ref, live):
                self._release_crd(ref, self._count(live), outcome)  # someone else's: never deleted, empty or not
                return
            if ref.kind == "CustomResourceDefinition" and self._retain_crd(ref, live, outcome):
                return
            if self.kube.delete(ref):
                self._applied.pop(ref, None)
                outcome.pruned.append(ref)
        except KubeError as exc:
            outcome.errors.append((ref, str(exc)))

    def _never_owned(self, ref: ObjectRef, crd: dict) -> bool:
        """Whether the catalog says the provider this CRD was labelled for never owns it (neverOwn: on EKS the
        control plane's PolicyEndpoint CRDs), so an older operator's label on it is a mistake to undo, not a claim."""
        provider = ((crd.get("metadata") or {}).get("labels") or {}).get(PROVIDER_LABEL)
        return self.never_owns(ref.name, provider)

    def _count(self, crd: dict) -> int | None:
        """How many objects of the CRD's kind exist; None when the operator may not count them."""
        try:
            return self.kube.count_instances(crd)
        except KubeError as exc:
            if exc.status != 403:
                raise
            return None  # cannot tell: keeping it is the only safe answer

    def _retain_crd(self, ref: ObjectRef, crd: dict, outcome: ApplyOutcome) -> bool:
        """Deleting a CRD deletes every object of its kind: users' policies, IP pools, ENIConfigs. So a CRD that
        holds objects (or whose objects the operator may not count) is kept and released instead: its managed-by,
        provider and version labels are removed, so no later prune or delete takes it, and the caller reports it."""
        count = self._count(crd)
        if count == 0:
            return False
        self._release_crd(ref, count, outcome)
        return True

    def _release_crd(self, ref: ObjectRef, count: int | None, outcome: ApplyOutcome) -> None:
        """Let go of a CRD kept with its objects (or one the provider never owns), marked retained, and report it."""
        self._release(ref, {RETAINED_ANNOTATION: rfc3339(utcnow())})
        outcome.retained.append((ref, count))

    def _release(self, ref: ObjectRef, annotations: dict | None = None) -> None:
        """Let go of an object: no managed-by, provider or version label, no hash, so no later prune or delete
        takes it; the cache forgets it (it is no longer labelled as ours)."""
        released = self.kube.merge_patch(ref, {"metadata": {
            "labels": {label: None for label in RELEASED_LABELS},
            "annotations": {HASH_ANNOTATION: None, **(annotations or {})},
        }})
        self.remember(released)
        self._applied.pop(ref, None)

    def delete_all(self, refs: list[ObjectRef]) -> ApplyOutcome:
        """Remove an installation (deletionPolicy Delete): workloads first, CRDs last."""
        outcome = ApplyOutcome()
        for ref in sorted(refs, key=_rank, reverse=True):
            self._prune_one(ref, outcome)
        return outcome
