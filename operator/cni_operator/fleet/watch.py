"""One collection of one target cluster, listed and then watched, on the event loop (no thread per watch).

Fleet mode watches a handful of collections in each of hundreds of targets, so a watch is a coroutine over the
target's aiohttp session (client.TargetClient), and keeps no copy of the objects: only their keys with their
resourceVersions (a Ledger) and where the watch stands, so a relist can tell what vanished and what changed.

    list_initial()  list the collection (pages of PAGE_SIZE), deliver("ADDED", obj) each; through connect_gate
    run()           watch from there until cancelled: ADDED / MODIFIED / DELETED go to deliver(type, obj) on the
                    loop; BOOKMARK only moves the resourceVersion; 410 Gone lists again and delivers what changed
                    meanwhile (DELETED for what vanished); connection trouble, timeouts, 5xx, 401 and 403 go to
                    on_trouble(Reach) and are retried with back-off (1 s doubling to 30 s, jittered), listing again
                    through connect_gate once the target answers

A stopped (SIGSTOPped, hung) API server keeps the TCP connection open and sends nothing. The server sends a BOOKMARK
about once a minute on a quiet watch (allowWatchBookmarks), so a stream silent for IDLE_TIMEOUT (90 s) is ended by the
client and watched again from the same resourceVersion; only if that fails is it trouble, so a server that sends no
bookmarks costs a request every 90 s, never a false alarm. A request whose answer does not start within the client's
timeout is trouble at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import aiohttp

from ..kube import ALL_NAMESPACES, KubeError, collection_path
from .client import raise_for_status
from .reach import Reach, classify

if TYPE_CHECKING:
    from .client import TargetClient

PAGE_SIZE = 500
SERVER_TIMEOUT = (240, 300)  # seconds: timeoutSeconds of each watch request, drawn anew each time (no herd)
IDLE_TIMEOUT = 90.0  # seconds without a byte (not even the minutely bookmark): end the stream, watch again
LIST_TIMEOUT = 60.0  # seconds for one page of a list
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0

Key = tuple[str, str]  # (namespace, name)


def key_of(obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class Ledger:
    """What the consumer has been told exists: key -> resourceVersion (pure; no objects kept).

    A relist goes through `listed` for each item, then `vanished` once the last page is in: an object listed again
    with the resourceVersion it had is not delivered again (nothing changed), a new one is ADDED, a changed one
    MODIFIED, and one the consumer knows but the list no longer has is DELETED."""

    def __init__(self) -> None:
        self.versions: dict[Key, str] = {}

    def __len__(self) -> int:
        return len(self.versions)

    def listed(self, key: Key, version: str, seen: set[Key]) -> str | None:
        """The event an item of a relist is ("ADDED", "MODIFIED", or None when unchanged); notes it as SEEN."""
        seen.add(key)
        before = self.versions.get(key)
        self.versions[key] = version
        if before is None:
            return "ADDED"
        return "MODIFIED" if before != version or not version else None

    def vanished(self, seen: set[Key]) -> list[Key]:
        """After the last page: the keys the consumer knows that the list did not have (now forgotten)."""
        gone = sorted(k for k in self.versions if k not in seen)
        for k in gone:
            del self.versions[k]
        return gone

    def event(self, kind: str, key: Key, version: str) -> None:
        """A watch event seen: remember or forget the key."""
        if kind == "DELETED":
            self.versions.pop(key, None)
        else:
            self.versions[key] = version


class Gone(Exception):
    """410: the resourceVersion (or a list's continue token) is too old; list again from now."""


def backoff(failures: int, rand: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after FAILURES failures in a row: 1, 2, 4, ... 30, each within +-20 %."""
    return min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX) * rand(0.8, 1.2)


def lines(buffer: bytearray, chunk: bytes) -> Iterator[bytes]:
    """The whole lines CHUNK completes in BUFFER (which keeps the rest): a watch event can be far longer than
    aiohttp's line limit (a CRD, a ConfigMap of 1 MiB), so the stream is split here."""
    buffer.extend(chunk)
    while (end := buffer.find(b"\n")) >= 0:
        line = bytes(buffer[:end])
        del buffer[:end + 1]
        if line.strip():
            yield line


class RemoteWatch:
    def __init__(self, client: TargetClient, *, api_version: str, kind: str, namespace: str = "",
                 label_selector: str = "", field_selector: str = "", deliver: Callable[[str, dict], None],
                 on_trouble: Callable[[Reach], None] | None = None, on_recovered: Callable[[], None] | None = None,
                 logger: logging.Logger | None = None, connect_gate: asyncio.Semaphore | None = None,
                 idle_timeout: float = IDLE_TIMEOUT, server_timeout: tuple[int, int] = SERVER_TIMEOUT) -> None:
        """NAMESPACE: "" for a cluster-scoped kind, kube.ALL_NAMESPACES for every namespace. DELIVER(type, obj) and
        ON_TROUBLE(reach) are called on the event loop and must be quick; ON_RECOVERED() after trouble, once the
        watch runs again. CONNECT_GATE bounds, across all targets, how many connects and lists run at once."""
        self.client = client
        self.api_version, self.kind = api_version, kind
        self.path = collection_path(api_version, kind, namespace)
        self.selectors = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
                          if v}
        self.deliver, self.on_trouble, self.on_recovered = deliver, on_trouble, on_recovered
        self.logger = logger or logging.getLogger(__name__)
        self.connect_gate = connect_gate
        self.idle_timeout, self.server_timeout = idle_timeout, server_timeout
        self.resource_version = ""
        self.ledger = Ledger()
        self.troubled = False
        self.what = f"{kind} {namespace + ' ' if namespace and namespace != ALL_NAMESPACES else ''}of {client.server}"

    # ---- listing

    async def list_initial(self) -> None:
        """List the collection and deliver every object (ADDED; on a later relist only what changed, and DELETED
        for what vanished). Raises what the request raised (KubeError, aiohttp, timeouts)."""
        if self.connect_gate is None:
            await self._relist()
            return
        async with self.connect_gate:
            await self._relist()

    async def _relist(self) -> None:
        for attempt in (1, 2):
            try:
                await self._list_pages()
                return
            except Gone:  # the continue token expired between two pages: once more from the start
                if attempt == 2:
                    raise

    async def _list_pages(self) -> None:
        seen: set[Key] = set()
        token, version = "", ""
        while True:
            params = {**self.selectors, "limit": str(PAGE_SIZE), **({"continue": token} if token else {})}
            response = await self.client.request("GET", self.path, params=params,
                                                 timeout=aiohttp.ClientTimeout(total=LIST_TIMEOUT))
            async with response:
                if response.status == 410:
                    raise Gone()
                await raise_for_status(response)
                page = json.loads(await response.read())
            meta = page.get("metadata") or {}
            version = meta.get("resourceVersion") or version
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.api_version)  # list items carry neither (as kube.Kube.list)
                item.setdefault("kind", self.kind)
                event = self.ledger.listed(key_of(item), (item.get("metadata") or {}).get("resourceVersion", ""),
                                           seen)
                if event:
                    self._deliver(event, item)
            del page
            token = meta.get("continue") or ""
            if not token:
                break
        for namespace, name in self.ledger.vanished(seen):
            self._deliver("DELETED", {"apiVersion": self.api_version, "kind": self.kind,
                                      "metadata": {"namespace": namespace, "name": name} if namespace else
                                      {"name": name}})
        self.resource_version = version

    # ---- watching

    async def run(self) -> None:
        """Watch until cancelled (list first if list_initial was not called or trouble made it stale)."""
        failures = 0
        while True:
            try:
                if not self.resource_version:
                    await self.list_initial()
                    self._recovered()
                await self._watch_once()
                failures = 0
            except Gone:
                self.logger.debug("the watch of %s is too old (410 Gone); listing again", self.what)
                self.resource_version = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any trouble is classified, reported and retried
                failures += 1
                self.resource_version = ""  # list again once it answers: events may have been missed
                reach = classify(exc, self.client.server)
                delay = backoff(failures)
                self.logger.warning("the watch of %s failed: %s; retrying in %.1fs", self.what, reach.message, delay)
                self.troubled = True
                if self.on_trouble is not None:
                    self.on_trouble(reach)
                await asyncio.sleep(delay)

    def _recovered(self) -> None:
        if self.troubled:
            self.troubled = False
            self.logger.info("the watch of %s runs again", self.what)
            if self.on_recovered is not None:
                self.on_recovered()

    async def _watch_once(self) -> None:
        """One watch request, streamed until the server ends it (normal) or it is silent for idle_timeout (also
        normal: watched again from the same place; only a failure to connect again is trouble)."""
        params = {**self.selectors, "watch": "true", "allowWatchBookmarks": "true",
                  "resourceVersion": self.resource_version,
                  "timeoutSeconds": str(random.randint(*self.server_timeout))}
        # The answer's headers come at once from a healthy server: waiting longer than the client's timeout for them
        # is trouble. Then sock_read bounds the silence between two chunks of the stream.
        async with asyncio.timeout(self.client.timeout + 1):
            response = await self.client.request(
                "GET", self.path, params=params,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.client.timeout,
                                              sock_read=self.idle_timeout))
        async with response:
            ended = False  # by the server, at timeoutSeconds: the connection goes back to the pool
            try:
                if response.status == 410:
                    raise Gone()
                await raise_for_status(response)
                self._recovered()
                buffer = bytearray()
                async for chunk in response.content.iter_any():
                    for line in lines(buffer, chunk):
                        self._event(json.loads(line))
                ended = True
            except aiohttp.SocketTimeoutError:
                self.logger.debug("the watch of %s was silent for %gs; watching again", self.what,
                                  self.idle_timeout)
            finally:
                if not ended:
                    response.close()  # never back to the pool half read (also on cancellation)

    def _event(self, event: dict) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            if code == 410:
                raise Gone()
            raise KubeError(code, obj.get("reason", ""), obj.get("message", ""))
        version = (obj.get("metadata") or {}).get("resourceVersion", "")
        if version:
            self.resource_version = version
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return  # BOOKMARK: only where we stand
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        self.ledger.event(kind, key_of(obj), version)
        self._deliver(kind, obj)

    def _deliver(self, kind: str, obj: dict) -> None:
        try:
            self.deliver(kind, obj)
        except Exception:  # the consumer's bug must not look like the target's trouble
            self.logger.exception("delivering %s %s/%s of %s failed", kind, *key_of(obj), self.what)
