"""One RemoteClusterNetwork in fleet mode: its credentials, its connection to the target, the session that runs there.

A task of its own walks these states, and only ever one at a time:
    credentials  read the Secret (and Cluster): unusable -> CredentialsValid=False, read again every 30 s
    connect      one authenticated probe: refused, timed out, TLS... -> Reachable=False, retried with back-off (5 s
                 doubling to 5 minutes); 401/403 -> CredentialsValid=False
    serve        the cluster session of in-cluster mode, fed by remote watches listed before its first pass; a probe
                 every 5 s; two failed in a row -> the session stops, Reachable=False, Ready=Unknown; the Secret
                 read again every 30 s: a rotated kubeconfig reconnects
Nothing is written to the target outside the session, and the session writes only what in-cluster mode would (an
imported target: nothing). What is written about the target goes to the RemoteClusterNetwork's status in the
management cluster. A target that is away never holds up another: each has its own task, client and rate limit,
and only connecting and first listings share a bound (the manager's gate).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import time

from .. import __version__
from ..events import NORMAL, WARNING, EventRecorder
from ..health.conditions import merge_conditions, status_differs
from ..kube import Kube, KubeError
from ..objects import FINALIZER, ObjectRef, parse_time, rfc3339, utcnow
from ..registry_policy import RegistryPolicy
from ..session import ClusterSession, Home
from . import conditions as cond
from . import source
from .client import TargetClient
from .credentials import CredentialsError
from .feeds import complete_kinds, feeds_for
from .reach import Reach, classify
from .settings import FleetSettings
from .watch import RemoteWatch

API_VERSION = "cni-operator.io/v1alpha1"
KIND = "RemoteClusterNetwork"
CREDENTIALS_CONFIRM_SECONDS = 2.0
SPARE_CONNECTIONS = 4  # beside one per watch: the probe, and a relist while a watch reconnects
NOT_TRIED = ("Unknown", "NotTried", "not tried: the target's kubeconfig cannot be used")


def rcn_ref(body: dict) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(API_VERSION, KIND, meta["name"], meta["namespace"])


def without_target(body: dict) -> dict:
    """The RemoteClusterNetwork as the cluster session reads it: a ClusterNetwork's spec, without spec.target."""
    spec = {k: v for k, v in (body.get("spec") or {}).items() if k != "target"}
    return {**body, "spec": spec}


def _intent(body: dict) -> tuple:
    """What a change must touch to matter to the task: the spec (generation), deletion, finalizers."""
    meta = body.get("metadata") or {}
    return meta.get("generation"), meta.get("deletionTimestamp"), tuple(meta.get("finalizers") or ())


class _Reconnect(Exception):
    """Serving ended: the target went away, its credentials or its spec.target changed; connect again."""


class TargetSession:
    def __init__(self, body: dict, *, home: Kube, settings: FleetSettings, gate: asyncio.Semaphore,
                 recorder: EventRecorder, policy: RegistryPolicy):
        meta = body["metadata"]
        self.name = f"{meta['namespace']}/{meta['name']}"
        self.uid = meta.get("uid")
        self.body = body
        self.home, self.settings, self.gate, self.recorder, self.policy = home, settings, gate, recorder, policy
        self.logger = logging.getLogger(f"cni_operator.fleet.{self.name}")
        self.session: ClusterSession | None = None
        self.last_seen: _dt.datetime | None = parse_time((body.get("status") or {}).get("lastSeenTime"))
        self._changed = asyncio.Event()  # the RemoteClusterNetwork changed: cut waits short
        self._trouble = asyncio.Event()  # a watch failed: probe now
        self._deleting_since: float | None = None
        self._task: asyncio.Task | None = None

    # ---- driven by the manager

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"target {self.name}")

    def observe(self, body: dict) -> None:
        before, self.body = self.body, body
        if self.session is not None and (body.get("spec") or {}).get("target") == \
                (before.get("spec") or {}).get("target"):
            self.session.observe_clusternetwork(body)
        if _intent(body) != _intent(before):  # not our own status patches: they would cut every back-off short
            self._changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # ---- the states

    async def _run(self) -> None:
        backoff = self.settings.probe_interval
        while True:
            self._changed.clear()
            try:
                found = await source.read(self.home, self.body, allow_unsafe=self.settings.allow_unsafe)
            except CredentialsError as exc:
                self.logger.warning("%s: %s", exc.reason, exc.message)
                await self._away(NOT_TRIED, ("False", exc.reason, exc.message))
                await self._wait_or_give_up(self.settings.credentials_recheck)
                continue
            except Exception as exc:  # noqa: BLE001 - the management cluster itself did not answer: try again
                self.logger.warning("cannot read the target's kubeconfig from the management cluster: %s", exc)
                await self._wait(min(backoff, 30.0))
                continue
            for unsafe in found.credentials.allowed_unsafe:
                self.logger.warning("using an unsafe kubeconfig (allowed by --allow-unsafe-kubeconfigs): %s", unsafe)
            cluster_type = (self.body.get("spec") or {}).get("clusterType", "")
            try:
                client = TargetClient(found.credentials, user_agent=f"cni-operator/{__version__} (fleet; {self.name})",
                                      qps=self.settings.qps, burst=self.settings.burst, timeout=10.0,
                                      connections=len(feeds_for(cluster_type)) + SPARE_CONNECTIONS)
            except CredentialsError as exc:
                await self._away(NOT_TRIED, ("False", exc.reason, exc.message))
                await self._wait_or_give_up(self.settings.credentials_recheck)
                continue
            try:
                async with self.gate:
                    reach = await client.probe(self.settings.probe_timeout)
                    if reach.credentials_problem:
                        # A kube-apiserver that just started refuses everyone for a moment (its authorizer's cache
                        # is still filling): only a refusal that persists is the credentials' fault.
                        await self._wait(CREDENTIALS_CONFIRM_SECONDS)
                        reach = await client.probe(self.settings.probe_timeout)
                if reach.ok:
                    backoff = self.settings.probe_interval
                    await self._serve(client, found)  # returns once it reported the target away
                else:
                    await self._report(reach)
            except _Reconnect as why:
                self.logger.info("reconnecting: %s", why)
                continue
            finally:
                await client.close()
            await self._wait_or_give_up(backoff)
            backoff = min(backoff * 2, self.settings.max_backoff)

    async def _serve(self, client: TargetClient, found: source.Source) -> None:
        cluster_type = (self.body.get("spec") or {}).get("clusterType", "")
        session = ClusterSession(
            client.kube, name=self.name, min_interval=self.settings.min_interval, recorder=self.recorder,
            logger=self.logger, complete_kinds=complete_kinds(cluster_type), spec_quiet=self.settings.spec_quiet,
            registry_policy=self.policy,
            home=Home(self.home, ref_of=rcn_ref, view=without_target,
                      decorate=lambda status: cond.connected(status, self.body["metadata"].get("generation")),
                      stamp=lambda: {"lastSeenTime": rfc3339(self.last_seen or utcnow())}))
        watches = [RemoteWatch(client, api_version=feed.api_version, kind=feed.kind, namespace=feed.namespace,
                               label_selector=feed.label_selector, field_selector=feed.field_selector,
                               deliver=feed.deliver_to(session), on_trouble=self._watch_trouble,
                               logger=self.logger, connect_gate=self.gate)
                   for feed in feeds_for(cluster_type)]
        tasks: list[asyncio.Task] = []
        away: Reach | None = None
        await session.start()
        try:
            try:
                for watch in watches:
                    await watch.list_initial()
            except Exception as exc:  # noqa: BLE001 - judged like a failed probe
                away = classify(exc, found.credentials.server)
            else:
                self.last_seen = utcnow()
                self.session = session
                session.observe_clusternetwork(self.body)
                self.logger.info("serving %s at %s", self.name, found.credentials.server)
                tasks = [asyncio.create_task(watch.run(), name=f"watch {self.name} {feed.kind}")
                         for watch, feed in zip(watches, feeds_for(cluster_type), strict=True)]
                away = await self._monitor(client, found)
        finally:
            self.session = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.stop()  # before the status says the target is away: no pass may write after that
        if away is not None:
            await self._report(away)

    async def _monitor(self, client: TargetClient, found: source.Source) -> Reach:
        """Probe while serving; return why when the target is away or refuses the credentials; raise _Reconnect
        when the Secret or spec.target changed."""
        target = (self.body.get("spec") or {}).get("target")
        failures, recheck_at = 0, time.monotonic() + self.settings.credentials_recheck
        while True:
            await self._wait(self.settings.probe_interval, also=self._trouble, on_change=False)
            self._trouble.clear()
            if (self.body.get("spec") or {}).get("target") != target:
                raise _Reconnect("spec.target changed")
            reach = await client.probe(self.settings.probe_timeout)
            if reach.ok:
                failures, self.last_seen = 0, utcnow()
                if time.monotonic() >= recheck_at:
                    recheck_at = time.monotonic() + self.settings.credentials_recheck
                    await self._recheck(found)
                continue
            failures += 1
            if failures >= self.settings.failures_to_unreachable:  # refused credentials too: see _run
                return reach
            self.logger.info("a probe of the target failed (%s); probing again", reach.message)

    async def _recheck(self, found: source.Source) -> None:
        try:
            now = await source.read(self.home, self.body, allow_unsafe=self.settings.allow_unsafe)
        except CredentialsError as exc:
            raise _Reconnect(f"the kubeconfig can no longer be used: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - the management cluster did not answer: keep serving
            self.logger.warning("cannot read the target's kubeconfig again: %s", exc)
            return
        if now.fingerprint != found.fingerprint:
            self.recorder.post(self.body, NORMAL, "CredentialsRotated",
                               f"the kubeconfig in Secret {now.secret} changed: reconnecting to the target with it")
            raise _Reconnect(f"the kubeconfig in Secret {now.secret} changed")

    def _watch_trouble(self, reach: Reach) -> None:
        if not reach.ok:
            self._trouble.set()

    # ---- reporting while the target is not served

    async def _report(self, reach: Reach) -> None:
        if reach.credentials_problem:
            await self._away(("True", cond.CONNECTED, "the target's API server answers, but refuses the credentials"),
                             ("False", reach.reason, reach.message))
        else:
            self.logger.warning("target unreachable (%s): %s", reach.reason, reach.message)
            await self._away(("False", reach.reason, reach.message), self._credentials_as_known())

    def _credentials_as_known(self) -> tuple[str, str, str]:
        """While the target is away, what was last known of its credentials stays."""
        for c in (self.body.get("status") or {}).get("conditions") or []:
            if c.get("type") == "CredentialsValid" and c.get("status") == "True":
                return "True", c.get("reason") or cond.ACCEPTED, c.get("message") or ""
        return "Unknown", cond.CONNECTING, "not known until the target answers"

    async def _away(self, reachable: tuple[str, str, str], credentials: tuple[str, str, str]) -> None:
        body, now = self.body, utcnow()
        if body["metadata"].get("deletionTimestamp"):
            return  # _wait_or_give_up says what deletion waits for
        old = body.get("status") or {}
        status = cond.away(old, reachable=reachable, credentials=credentials,
                           generation=body["metadata"].get("generation"), last_seen=self.last_seen, now=now)
        status["conditions"] = merge_conditions(old.get("conditions") or [], status["conditions"], now)
        if not status_differs(old, status):
            return
        try:
            result = await asyncio.to_thread(self.home.merge_patch, rcn_ref(body), {"status": status},
                                             subresource="status")
        except KubeError as exc:
            if exc.status != 404:
                self.logger.warning("cannot write the status: %s", exc)
            return
        if (result.get("metadata") or {}).get("uid") == self.uid:
            self.body = {**self.body, "status": result.get("status") or {}}

    # ---- waiting, and deletion while the target is away

    async def _wait(self, seconds: float, also: asyncio.Event | None = None, on_change: bool = True) -> None:
        """Sleep, cut short by a change of the RemoteClusterNetwork's spec or deletion (ON_CHANGE; a served target's
        session hears of those itself), or by ALSO."""
        waiters = ([asyncio.ensure_future(self._changed.wait())] if on_change else []) + \
            ([asyncio.ensure_future(also.wait())] if also is not None else [])
        if not waiters:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _wait_or_give_up(self, seconds: float) -> None:
        """Wait before trying again; a RemoteClusterNetwork being deleted (Delete policy: our finalizer) waits at
        most delete_timeout for its target, then its finalizer is released, saying what may be left there."""
        meta = self.body["metadata"]
        if not meta.get("deletionTimestamp") or FINALIZER not in (meta.get("finalizers") or []):
            self._deleting_since = None
            await self._wait(seconds)
            return
        if self._deleting_since is None:
            self._deleting_since = time.monotonic()
            self.logger.warning("deleting, but the target is not served: waiting up to %.0fs for it",
                                self.settings.delete_timeout)
        left = self._deleting_since + self.settings.delete_timeout - time.monotonic()
        if left > 0:
            await self._wait(min(seconds, left))
            return
        await self._release()

    async def _release(self) -> None:
        body = self.body
        inventory = ((body.get("status") or {}).get("applied") or {}).get("inventory") or []
        names = ", ".join(f"{o.get('kind')} {o.get('namespace') + '/' if o.get('namespace') else ''}{o.get('name')}"
                          for o in inventory[:20]) or "nothing recorded as applied"
        more = f" and {len(inventory) - 20} more" if len(inventory) > 20 else ""
        self.recorder.post(body, WARNING, "DeleteIncomplete",
                           f"the target was not reached within {self.settings.delete_timeout:.0f}s, so its CNI was "
                           f"not removed; released the finalizer. May be left in the target: {names}{more}")
        remaining = [f for f in body["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            await asyncio.to_thread(self.home.merge_patch, rcn_ref(body), {"metadata": {"finalizers": remaining}})
        except KubeError as exc:
            if exc.status != 404:
                self.logger.warning("cannot release the finalizer: %s", exc)
                await self._wait(self.settings.probe_interval)
                return
        self.logger.warning("released the finalizer of %s with its target away (DeleteIncomplete)", self.name)
        await asyncio.Event().wait()  # the manager stops this task when the object is gone
