"""The operator process from its start-up line to its exit code, in this order:

1. serve /healthz and /metrics (loopback unless told otherwise): a standby can be probed and scraped too;
2. take the Lease, writing nothing before (`session/leader.py`); SIGTERM meanwhile ends it with code 0;
3. wait for the ClusterNetwork CRD (fleet mode: RemoteClusterNetwork) to be Established, /healthz answering 503 meanwhile: kopf (with scanning off, as
   the chart grants no cluster-wide namespace rights) only ever watches the resources that exist when it starts;
4. run kopf until a signal (exit 0), or until the CRD is deleted or replaced (exit 3: kopf cannot serve a resource
   that comes back, a new process can, and it waits for the CRD as in 3);
5. release the Lease, so a successor takes over at once, and say why the process ended.

A lost Lease does not come back here: the renewing thread ends the process at once (`on_lease_lost`, exit 4).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf
import kubernetes

from . import api, metrics, probes
from .fleet.handlers import REGISTRY as FLEET_REGISTRY
from .fleet.settings import FleetSettings
from .handlers import CRD_NAME  # importing handlers registers them with kopf
from .kube import ALL_NAMESPACES, Kube, KubeError
from .metrics import METRICS
from .objects import CNI_NAMESPACE, ObjectRef
from .session.leader import LeaseKeeper
from .session.lease import LeaseTiming
from .session.peering import Peering

EXIT_OK, EXIT_ERROR, EXIT_CRD_GONE, EXIT_LEASE_LOST = 0, 1, 3, 4
CRD_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Served:
    """The custom resource a mode serves: kopf starts once its CRD is Established and stops when it goes."""

    kind: str
    crd_name: str
    namespace: str  # where to try a list (namespaced kinds)
    install_hint: str

    @property
    def crd_ref(self) -> ObjectRef:
        return ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", self.crd_name)


IN_CLUSTER = Served(api.KIND, CRD_NAME, "", "install it with kubectl apply --server-side -f crds/clusternetworks.yaml, "
                    "or helm upgrade the chart (crds.enabled=true)")


def fleet_served(settings: FleetSettings) -> Served:
    from .api import remote

    return Served(remote.KIND, f"{remote.PLURAL}.{api.GROUP}", (settings.namespaces or (ALL_NAMESPACES,))[0],
                  "install it with kubectl apply --server-side -f crds/remoteclusternetworks.yaml, or helm upgrade "
                  "the chart with fleet.enabled=true")


class CannotListen(RuntimeError):
    """/healthz or /metrics cannot listen where asked; the message says where and why."""


@dataclass(frozen=True)
class Endpoint:
    """Where /healthz or /metrics listens; port 0: not served."""

    host: str
    port: int

    def __str__(self) -> str:
        if not self.port:
            return "off"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Plan:
    """Everything `run` worked out before the event loop starts."""

    api_client: Any
    health: Endpoint
    metrics: Endpoint
    standalone: bool
    priority: int
    peering_name: str
    lease_name: str
    lease_timing: LeaseTiming
    identity: str
    startup_line: Callable[[Plan], str]
    ensure_peering: Callable[[str], None]
    on_lease_lost: Callable[[str], None]
    fleet: FleetSettings | None = None  # fleet mode: RemoteClusterNetworks in this (management) cluster
    lease_namespace: str = CNI_NAMESPACE


class _Stop:
    """Why the process is ending, set once: a signal (before kopf runs; kopf handles them itself after)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.why = ""

    def set(self, why: str) -> None:
        self.why = self.why or why
        self.event.set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, cut short by a stop; True when stopping."""
        try:
            await asyncio.wait_for(self.event.wait(), seconds)
        except TimeoutError:
            pass
        return self.event.is_set()


async def operate(plan: Plan) -> int:
    log = logging.getLogger("cni_operator")
    health = probes.Health("starting")
    servers = await _listen(plan, health)
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set, sig.name)
    timing = plan.lease_timing
    # Its own connection pool and short timeouts: a renewal never queues behind a slow apply.
    keeper = LeaseKeeper(Kube(kubernetes.client.ApiClient(plan.api_client.configuration),
                              timeout=max(2.0, min(10.0, timing.renew_deadline / 3))),
                         plan.lease_name, plan.lease_namespace, plan.identity, timing, logger=log,
                         on_lost=plan.on_lease_lost)
    METRICS.set("cni_operator_lease_held", 0)
    log.info(plan.startup_line(plan))
    held, code, why = False, EXIT_OK, ""
    try:
        health.state(f"standby: waiting for the Lease {keeper.where}")
        held = await _acquire(keeper, stop)
        if held:
            keeper.start_renewing()
            METRICS.set("cni_operator_lease_held", 1)
        if held and not stop.why:
            code, why = await _serve(plan, keeper, health, stop, log)
        else:
            why = f"{stop.why} right after taking the Lease" if held else \
                f"{stop.why} while waiting for the Lease; it wrote nothing"
    finally:
        if held:
            METRICS.set("cni_operator_lease_held", 0)
            await asyncio.to_thread(keeper.release)
        for server in servers:
            await server.cleanup()
    log.info("cni-operator stopped (%s); exit code %d", why or stop.why, code)
    return code


async def _listen(plan: Plan, health: probes.Health) -> list:
    servers: list = []
    for what, where, start in (
            ("/healthz", plan.health, lambda e: probes.start_server(health, e.port, e.host)),
            ("/metrics", plan.metrics, lambda e: metrics.start_server(e.port, e.host))):
        if not where.port:
            continue
        try:
            servers.append(await start(where))
        except OSError as exc:
            for server in servers:
                await server.cleanup()
            raise CannotListen(f"cannot serve {what} on {where}: {exc.strerror or exc}") from None
    return servers


async def _acquire(keeper: LeaseKeeper, stop: _Stop) -> bool:
    """Wait for the Lease in a thread, giving up when the process is told to stop."""
    cancel = threading.Event()
    taking = asyncio.ensure_future(asyncio.to_thread(keeper.acquire, cancel))
    stopping = asyncio.ensure_future(stop.event.wait())
    await asyncio.wait({taking, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    cancel.set()
    return await taking


async def _wait_for_crd(kube: Kube, served: Served, health: probes.Health, stop: _Stop,
                        log: logging.Logger) -> str | None:
    """The CRD's uid once it is Established and its objects can be listed (a new CRD's storage answers 429 for a
    moment after that, which kopf would log as an error), or None when told to stop first. A terminating CRD still
    counts: the finalizers of its objects need the operator."""
    said, what = "", f"the {served.kind} CRD {served.crd_name}"
    while True:
        crd = None
        try:
            crd = await asyncio.to_thread(kube.get, served.crd_ref)
            problem = "" if crd is not None and _established(crd) else (
                f"{what} is not installed" if crd is None else f"{what} is not Established yet")
            if not problem:
                await asyncio.to_thread(kube.list, f"{api.GROUP}/{api.VERSION}", served.kind, served.namespace)
        except KubeError as exc:
            problem = f"{what} is not served yet: {exc}" if crd is not None and \
                _established(crd) else f"cannot read {what}: {exc}"
        except Exception as exc:  # noqa: BLE001 - the API server is away: keep looking, and say so
            problem = f"cannot read {what}: {exc}"
        health.problem("crd", problem or None)
        if not problem:
            if said:
                log.info("%s is served: serving %ss", what, served.kind)
            return crd["metadata"]["uid"]
        if problem != said:
            hint = f"; {served.install_hint}" if crd is None else ""
            log.warning("%s; waiting for it (/healthz answers 503 meanwhile)%s", problem, hint)
            said = problem
        if await stop.sleep(CRD_POLL_SECONDS):
            return None


def _established(crd: dict) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


async def _serve(plan: Plan, keeper: LeaseKeeper, health: probes.Health, stop: _Stop,
                 log: logging.Logger) -> tuple[int, str]:
    kube = Kube(plan.api_client)
    served = fleet_served(plan.fleet) if plan.fleet is not None else IN_CLUSTER
    uid = await _wait_for_crd(kube, served, health, stop, log)
    if uid is None:
        return EXIT_OK, f"{stop.why} while waiting for the {served.kind} CRD"
    peering = plan.fleet is None and not plan.standalone  # fleet mode: the Lease alone keeps writers apart
    if peering:
        await asyncio.to_thread(plan.ensure_peering, CNI_NAMESPACE)
    gone = asyncio.Event()  # kopf's stop flag
    lost_crd = []

    def crd_event(kind: str | None, body: dict) -> None:
        """From the handlers, for every event of the served CRD (on the event loop)."""
        if gone.is_set() or (kind != "DELETED" and (body.get("metadata") or {}).get("uid") == uid):
            return
        lost_crd.append(f"the {served.kind} CRD {served.crd_name} was "
                        f"{'deleted' if kind == 'DELETED' else 'replaced'}")
        health.problem("crd", lost_crd[0])
        gone.set()

    memo = kopf.Memo()
    memo.lease, memo.crd_event, memo.stop_flag = keeper, crd_event, gone
    if peering:
        memo.peering = Peering(plan.peering_name, CNI_NAMESPACE, plan.priority)
    if plan.fleet is not None:
        memo.fleet_settings = plan.fleet
        scope = {"clusterwide": not plan.fleet.namespaces, "namespaces": list(plan.fleet.namespaces),
                 "registry": FLEET_REGISTRY}
    else:
        scope = {"clusterwide": False, "namespaces": [CNI_NAMESPACE]}
    health.state(f"serving {served.kind}s")
    loop = asyncio.get_running_loop()
    # In-cluster, handlers.py hears of the CRD through kopf (the chart grants list/watch on CRDs for Canal's). A
    # fleet operator may only `get` its one CRD, so it reads it every few seconds instead.
    polling = asyncio.create_task(_poll_crd(kube, served, uid, crd_event, gone)) if plan.fleet is not None else None
    try:  # kopf handles SIGTERM and SIGINT itself while it runs (replacing our handlers), and then returns
        await kopf.operator(standalone=not peering, peering_name=plan.peering_name if peering else None,
                            priority=plan.priority, stop_flag=gone, memo=memo, **scope)
    except Exception:
        if not gone.is_set() and await asyncio.to_thread(_crd_missing, kube, served):
            crd_event("DELETED", {})
        if not gone.is_set():
            log.exception("the operator stopped on an error")
            return EXIT_ERROR, "an error"
    finally:
        if polling is not None:
            polling.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):  # ours again while the Lease is released
            loop.add_signal_handler(sig, stop.set, sig.name)
    if lost_crd:
        log.error("%s: exiting with code %d; a restarted operator waits for the CRD and serves %ss once it is back",
                  lost_crd[0], EXIT_CRD_GONE, served.kind)
        return EXIT_CRD_GONE, lost_crd[0]
    return EXIT_OK, "SIGTERM or SIGINT"


async def _poll_crd(kube: Kube, served: Served, uid: str, crd_event: Callable[[str | None, dict], None],
                    gone: asyncio.Event) -> None:
    """Until kopf stops: report the CRD deleted (or replaced: another uid) as handlers.py's CRD handler does."""
    while not gone.is_set():
        await asyncio.sleep(CRD_POLL_SECONDS * 5)
        try:
            crd = await asyncio.to_thread(kube.get, served.crd_ref)
        except Exception as exc:  # noqa: BLE001 - the API server is away: not a reason to blame the CRD
            logging.getLogger("cni_operator").debug("cannot read %s: %s", served.crd_name, exc)
            continue
        if crd is None:
            crd_event("DELETED", {})
        elif (crd.get("metadata") or {}).get("uid") != uid:
            crd_event("MODIFIED", crd)


def _crd_missing(kube: Kube, served: Served) -> bool:
    try:
        return kube.get(served.crd_ref) is None
    except Exception:  # noqa: BLE001 - cannot tell: not a reason to blame the CRD
        return False
