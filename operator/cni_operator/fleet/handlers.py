"""kopf wiring for fleet mode: RemoteClusterNetworks in the management cluster, fed into the Fleet.

A registry of its own, so the in-cluster handlers (handlers.py, registered with kopf's default registry on import)
never run in a fleet process, nor these in an in-cluster one. Only an `on.event` handler, for the reason
handlers.py gives: kopf would otherwise keep progress in annotations and add finalizers, writes an idle fleet must
not make. Everything about a target happens in its TargetSession.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import kopf

from .. import kopf_settings
from ..api import GROUP, VERSION
from ..api.remote import PLURAL
from ..kube import Kube, load_api_client
from .manager import Fleet
from .settings import FleetSettings

REGISTRY = kopf.OperatorRegistry()


@kopf.on.login(registry=REGISTRY)
def login(**kwargs) -> kopf.ConnectionInfo | None:
    """A registry of our own has none of the fallback logins of kopf's default one: log in through the kubernetes
    client (in-cluster config or KUBECONFIG), as the in-cluster mode does by default."""
    return kopf.login_via_client(**kwargs)


@kopf.on.startup(registry=REGISTRY)
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    kopf_settings.configure(settings)
    options: FleetSettings = memo.fleet_settings
    # Sessions run their API calls in threads (asyncio.to_thread); the default pool has cores + 4 of them, so a few
    # targets that stopped answering, each call waiting out its timeout, would hold up every other target.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=options.threads, thread_name_prefix="fleet"))
    memo.fleet = Fleet(Kube(load_api_client()), options)


@kopf.on.cleanup(registry=REGISTRY)
async def shutdown(memo: kopf.Memo, **_) -> None:
    if memo.get("fleet") is not None:
        await memo.fleet.stop()
    if memo.get("stop_flag") is not None:
        memo.stop_flag.set()  # as handlers.shutdown: kopf would wait 5 s for its watcher of the flag


@kopf.on.event(GROUP, VERSION, PLURAL, registry=REGISTRY)
async def remoteclusternetwork(event, body, memo: kopf.Memo, **_) -> None:  # on the loop: it starts tasks
    memo.fleet.observe(dict(body), deleted=event.get("type") == "DELETED")
