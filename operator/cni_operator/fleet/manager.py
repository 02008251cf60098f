"""The fleet: one TargetSession per RemoteClusterNetwork, started, fed and stopped as kopf reports the objects.

kopf watches RemoteClusterNetworks in the management cluster (every namespace, or the ones named); each event is
routed here by (namespace, name). A new uid under a known name (deleted and created again) is a new target. Events
are posted in the object's namespace, one recorder (one sender thread) per namespace.
"""

from __future__ import annotations

import asyncio
import logging

from ..events import EventRecorder
from ..kube import Kube
from ..registry_policy import RegistryPolicy
from .settings import FleetSettings
from .target import TargetSession


class Fleet:
    def __init__(self, home: Kube, settings: FleetSettings, policy: RegistryPolicy | None = None,
                 logger: logging.Logger | None = None):
        self.home = home
        self.settings = settings
        self.policy = policy if policy is not None else RegistryPolicy.from_env()
        self.logger = logger or logging.getLogger("cni_operator.fleet")
        self.targets: dict[tuple[str, str], TargetSession] = {}
        self.gate = asyncio.Semaphore(settings.connect_concurrency)
        self._recorders: dict[str, EventRecorder] = {}
        self._stopping: set[asyncio.Task] = set()
        self.logger.info("the CNI's images may come from: %s", self.policy.describe())

    def observe(self, body: dict, *, deleted: bool = False) -> None:
        meta = body.get("metadata") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        current = self.targets.get(key)
        if current is not None and (deleted or current.uid != meta.get("uid")):
            self._stop(self.targets.pop(key))
            current = None
        if deleted:
            return
        if current is None:
            current = TargetSession(body, home=self.home, settings=self.settings, gate=self.gate,
                                    recorder=self._recorder(key[0]), policy=self.policy)
            self.targets[key] = current
            current.start()
        else:
            current.observe(body)

    def _recorder(self, namespace: str) -> EventRecorder:
        if namespace not in self._recorders:
            self._recorders[namespace] = EventRecorder(self.home, namespace=namespace)
        return self._recorders[namespace]

    def _stop(self, target: TargetSession) -> None:
        task = asyncio.create_task(target.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def stop(self) -> None:
        targets = list(self.targets.values())
        self.targets.clear()
        await asyncio.gather(*(t.stop() for t in targets), *self._stopping, return_exceptions=True)
        for recorder in self._recorders.values():
            await asyncio.to_thread(recorder.close)
