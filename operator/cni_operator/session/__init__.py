"""The per-cluster session: everything the operator knows and does about ONE cluster.

    projections  what the cluster's watches said (workloads, CNI pods, nodes, managed objects, the ClusterNetwork)
    loop         one coalescing, level-based loop: pokes in, passes out
    reconciler   the decision table of one pass: render -> apply -> health -> status
    announcer    Events and log lines; status writer; metric labels
    foreign_crds a Warning when a CRD the CNI needs but the operator never owns is missing (foreign_crds.py)

Whoever watches the cluster feeds it through the `observe_*` methods: kopf's handlers when the operator runs inside
the cluster (handlers.py); the fleet's own watches for a remote one. It holds no module globals, so a process can
run one session per cluster, each with its own API client.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..apply import Applier
from ..events import EventRecorder
from ..kube import Kube, KubeError
from ..objects import ObjectRef
from ..registry_policy import RegistryPolicy
from .announce import Announcer
from .foreign_crds import ForeignCRDCheck
from .loop import CoalescingLoop
from .peering import Peering, outranked
from .projections import Projections, intent
from .reconcile import Reconciler
from .status import StatusWriter, clusternetwork_ref

# API trouble a later pass can get past by itself: logged as a WARNING with the retry, not as an ERROR with a trace.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Passes in a row that trouble of that kind must fail before status says so: a blip does not flap the phase.
REPORT_TRANSIENT_AFTER = 3


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, KubeError):
        return exc.status in TRANSIENT_STATUS
    return isinstance(exc, (ConnectionError, TimeoutError, OSError)) or type(exc).__module__.startswith("urllib3")


def _as_is(body: dict) -> dict:
    return body


@dataclass(frozen=True)
class Home:
    """Where the object driving a session lives and how the session sees it. In-cluster: the cluster itself, the
    ClusterNetwork as it is. Fleet mode: the management cluster, a RemoteClusterNetwork seen without its
    spec.target (the rest of its spec is a ClusterNetwork's), with Reachable/CredentialsValid added to its status
    (`decorate`) and lastSeenTime to every status patch (`stamp`)."""

    kube: Kube
    ref_of: Callable[[dict], ObjectRef] = clusternetwork_ref
    view: Callable[[dict], dict] = _as_is
    decorate: Callable[[dict], None] | None = None
    stamp: Callable[[], dict] | None = None


class ClusterSession:
    def __init__(self, kube: Kube, *, name: str = "in-cluster", singleton: str | None = None,
                 min_interval: float = 1.0, peering: Peering | None = None, recorder: EventRecorder | None = None,
                 metric_labels: dict | None = None, logger: logging.Logger | None = None,
                 complete_kinds: frozenset[str] = frozenset(), spec_quiet: float = 0.0,
                 registry_policy: RegistryPolicy | None = None, may_act: Callable[[], bool] | None = None,
                 home: Home | None = None):
        """`singleton`: the only ClusterNetwork name this session acts on (in-cluster: "default").
        `peering`: check kopf's peering object before every pass (replicas), None when standalone.
        `may_act`: asked before every pass; False skips it (this process no longer holds the Lease).
        `complete_kinds`: kinds whose managed objects the feeder lists completely before the first pass, so the
        projections answer for them and a pass reads nothing from the API server.
        `spec_quiet`: how long a spec must stay unchanged before a change that restarts the CNI's pods is applied.
        `registry_policy`: where the CNI's images may come from; None reads CNI_OPERATOR_ALLOWED_REGISTRIES
        (registry_policy.py; `cni-operator run` has checked it before starting).
        `home`: where the object that drives this session lives, when not in the cluster itself (fleet mode)."""
        self.name = name
        self.kube = kube
        self.home = home or Home(kube)
        self.singleton = singleton
        self.peering = peering
        self.may_act = may_act
        self.logger = logger or logging.getLogger("cni_operator")
        self.projections = Projections()
        self.recorder = recorder if recorder is not None else EventRecorder(self.home.kube)
        self._owns_recorder = recorder is None  # a given one is shared (fleet: one per namespace): not ours to close
        labels = metric_labels or {}
        if registry_policy is None:  # given: the feeder has said it once for all its sessions
            registry_policy = RegistryPolicy.from_env()
            self.logger.info("the CNI's images may come from: %s", registry_policy.describe())
        self.applier = Applier(kube, lookup=self.projections.lookup, remember=self._remember,
                               complete=lambda ref: ref.kind in complete_kinds)
        self.reconciler = Reconciler(
            kube, self.projections, self.applier, Announcer(self.recorder, self.logger, labels),
            StatusWriter(self.home.kube, self._own_clusternetwork_write, labels, ref_of=self.home.ref_of,
                         decorate=self.home.decorate, stamp=self.home.stamp), self.logger, labels, registry_policy,
            spec_quiet=spec_quiet)
        self.foreign_crds = ForeignCRDCheck(kube, self.reconciler.announcer)  # CRDs the CNI needs, never ours
        self.loop = CoalescingLoop(self._pass, lambda: intent(self.projections.clusternetwork),
                                   min_interval=min_interval, logger=self.logger)
        self._transient_failures = 0

    # ---- lifecycle

    async def start(self) -> None:
        await self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        self.applier.pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_recorder:
            await asyncio.to_thread(self.recorder.close)

    # ---- what the watches report (each pokes the loop only when something the operator reads changed)

    def observe_clusternetwork(self, body: dict, *, deleted: bool = False) -> None:
        body = self.home.view(body)
        if self.singleton and (body.get("metadata") or {}).get("name") != self.singleton:
            return  # admission rejects others; an older CRD without the rule must not make us act on them
        before = intent(self.projections.clusternetwork)
        if self.projections.update_clusternetwork(body, deleted=deleted):
            if intent(self.projections.clusternetwork) != before:
                self.loop.intent_changed()
            self.loop.poke()

    def observe_node(self, body: dict, *, deleted: bool = False) -> None:
        name = (body.get("metadata") or {}).get("name") or ""
        if self.projections.drop_node(name) if deleted else self.projections.put_node(body):
            self.loop.poke()

    def observe_pod(self, body: dict, *, deleted: bool = False) -> None:
        meta = body.get("metadata") or {}
        if self.projections.drop_pod(meta.get("namespace") or "", meta.get("name")) if deleted \
                else self.projections.put_pod(body):
            self.loop.poke()

    def observe_workload(self, body: dict, *, deleted: bool = False) -> None:
        """A DaemonSet or Deployment: ours (drift, rollout progress) or a foreign CNI appearing."""
        meta = body.get("metadata") or {}
        self.projections.observe_managed(body, deleted=deleted)
        changed = self.projections.drop_workload(meta.get("namespace") or "", meta.get("name"), body.get("kind")) \
            if deleted else self.projections.put_workload(body)
        if changed:
            self.loop.poke()

    def observe_managed(self, body: dict, *, deleted: bool = False) -> None:
        """Any other object we manage: only ours matter, and only for drift."""
        if self.projections.observe_managed(body, deleted=deleted):
            self.loop.poke()

    # ---- the pass

    async def _pass(self) -> float | None:
        if self.may_act is not None and not self.may_act():
            self.logger.warning("this process does not hold the Lease (any more): skipping a pass, writing nothing")
            return None
        if await self._paused_by_peer():
            self.logger.info("a higher-priority replica is active: skipping a pass")
            return None  # resumed, kopf re-lists everything: those events start the next pass
        try:
            retry_in = await self.reconciler.step(self.projections.clusternetwork)
            await self.foreign_crds.check(self.projections.clusternetwork)
        except Exception as exc:
            transient = is_transient(exc)
            if transient:
                self._transient_failures += 1
            if not transient or self._transient_failures >= REPORT_TRANSIENT_AFTER:
                await self.reconciler.report_failure(self.projections.clusternetwork, exc)
            if not transient:
                raise  # the loop logs it and retries with back-off
            delay = min(2 ** self._transient_failures, 60)
            self.logger.warning("the API server did not answer as expected (%s); retrying in %ss", exc, delay)
            return delay
        self._transient_failures = 0
        return retry_in

    async def _paused_by_peer(self) -> bool:
        if self.peering is None:
            return False
        ref = ObjectRef("kopf.dev/v1", "KopfPeering", self.peering.name, self.peering.namespace)
        try:
            body = await asyncio.to_thread(self.kube.get, ref)
        except Exception:  # noqa: BLE001 - cannot tell: act, as a single replica must (the pass will retry anyway)
            return False
        return outranked((body or {}).get("status") or {}, self.peering.priority,
                         datetime.datetime.now(datetime.UTC))

    # ---- our own writes, fed back

    def _remember(self, body: dict) -> None:
        """An apply response is the newest live object: cache it so the watch lagging behind is not seen as drift.
        Called from the apply step's worker threads; runs on the loop before the pass resumes, so the pass's own
        health judgement sees the workloads it just wrote (a fresh install is not "missing", an upgrade not
        "settled" before its controller has seen it)."""
        self.loop.call_soon(self._own_object_write, body)

    def _own_object_write(self, body: dict) -> None:
        self.projections.observe_managed(body)
        if body.get("kind") in ("DaemonSet", "Deployment"):
            self.projections.put_workload(body)

    def _own_clusternetwork_write(self, body: dict) -> None:
        body = self.home.view(body)
        before = intent(self.projections.clusternetwork)
        if self.projections.update_clusternetwork(body) and intent(self.projections.clusternetwork) != before:
            self.loop.intent_changed()
