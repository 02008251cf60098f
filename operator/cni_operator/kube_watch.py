"""One collection listed, then watched from the list's resourceVersion, in a thread of its own.

For a watch kopf cannot make: kopf watches every namespaced resource in the same namespaces (kube-system for this
operator), and the operator needs one resource, DaemonSets, in every namespace to see a CNI wherever it runs
(docs/rbac.md says why cluster-wide, and why DaemonSets only). The thread speaks plain HTTP through the kubernetes
client's ApiClient (the same credentials as everything else), parses each event, and hands on only the objects
`keep` accepts: the rest are dropped as they arrive, so memory holds what the consumer keeps and nothing else.

    list_now()  the first listing (called before the first pass, so the pass sees the whole collection); returns
                the kept objects, remembers the resourceVersion to watch from
    start()     watch from there in a daemon thread: ADDED/MODIFIED/DELETED of kept objects go to `deliver`;
                410 Gone (the resourceVersion is too old) lists again and reports what disappeared as DELETED;
                a 403 is logged with what to grant and retried every minute; other trouble with back-off
    stop()      deliver nothing more
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import kubernetes
from kubernetes.watch.watch import iter_resp_lines

from .kube import KubeError

SERVER_TIMEOUT = 270  # seconds: the server ends a watch after this (kopf's setting), the client gives up at +30
FORBIDDEN_RETRY = 60.0
MAX_BACKOFF = 30.0

Key = tuple[str, str]  # (namespace, name)


def _key(body: dict) -> Key:
    meta = body.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class CollectionWatch:
    def __init__(self, api_client: kubernetes.client.ApiClient, *, api_version: str, kind: str, path: str,
                 field_selector: str = "", keep: Callable[[dict], bool], deliver: Callable[[str, dict], None],
                 logger: logging.Logger, what: str, grant: str):
        """`path`: the collection's URL path, e.g. /apis/apps/v1/daemonsets (every namespace). `deliver(type,
        body)` is called from the thread ("ADDED", "MODIFIED", "DELETED"); it must hand over to its own loop.
        `what` and `grant` word the log lines ("DaemonSets outside kube-system", the RBAC rule that allows it)."""
        self.api = api_client
        self.api_version, self.kind, self.path = api_version, kind, path
        self.field_selector = field_selector
        self.keep, self.deliver, self.logger = keep, deliver, logger
        self.what, self.grant = what, grant
        self.resource_version = ""
        self.kept: set[Key] = set()  # keys of the kept objects the consumer holds, to report deletions on a relist
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- HTTP

    def _request(self, query: list[tuple[str, str]], timeout):
        params = [*query, *([("fieldSelector", self.field_selector)] if self.field_selector else [])]
        _, url, headers, body, _ = self.api.param_serialize(
            method="GET", resource_path=self.path, query_params=params, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"])
        response = self.api.call_api("GET", url, header_params=headers, body=body, _request_timeout=timeout)
        if response.status >= 400:
            raw = response.read()
            try:
                status = json.loads(raw)
                raise KubeError(response.status, status.get("reason", ""), status.get("message", ""))
            except ValueError:
                raise KubeError(response.status, "", raw.decode(errors="replace")) from None
        return response

    def _typed(self, body: dict) -> dict:
        body.setdefault("apiVersion", self.api_version)  # list items carry neither
        body.setdefault("kind", self.kind)
        return body

    # ---- listing

    def list_now(self) -> list[dict]:
        """List the collection; remember where to watch from; return the kept objects (as the consumer's first
        facts). Objects kept before and missing now are delivered as DELETED. Raises KubeError."""
        result = json.loads(self._request([], timeout=60).read())
        self.resource_version = (result.get("metadata") or {}).get("resourceVersion", "")
        items = [self._typed(item) for item in result.get("items") or [] if self.keep(self._typed(item))]
        now = {_key(item) for item in items}
        for namespace, name in sorted(self.kept - now):
            self.deliver("DELETED", self._typed({"metadata": {"namespace": namespace, "name": name}}))
        self.kept = now
        return items

    # ---- watching

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"watch {self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deliver nothing more; the thread ends at the next event or server timeout (a daemon: it never holds up
        the process's exit)."""
        self._stop.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.resource_version:
                    for item in self.list_now():
                        self.deliver("ADDED", item)
                self._watch_once()
                failures = 0
            except KubeError as exc:
                if exc.status == 410:  # our resourceVersion is too old: list again
                    self.resource_version = ""
                    continue
                if exc.status == 403:
                    self.logger.error("cannot list and watch %s: %s. A CNI there is not seen until the operator "
                                      "may: grant %s (the chart's ClusterRole does); retrying in %gs",
                                      self.what, exc, self.grant, FORBIDDEN_RETRY)
                    self.resource_version = ""
                    self._stop.wait(FORBIDDEN_RETRY)
                    continue
                failures += 1
                self._back_off(failures, exc)
            except Exception as exc:  # noqa: BLE001 - connection trouble of any kind: back off, list again
                failures += 1
                self.resource_version = "" if failures > 2 else self.resource_version
                self._back_off(failures, exc)

    def _back_off(self, failures: int, exc: BaseException) -> None:
        delay = min(2.0 ** failures, MAX_BACKOFF)
        self.logger.warning("the watch of %s failed (%s); retrying in %gs", self.what, exc, delay)
        self._stop.wait(delay)

    def _watch_once(self) -> None:
        query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", self.resource_version),
                 ("timeoutSeconds", str(SERVER_TIMEOUT))]
        response = self._request(query, timeout=(15, SERVER_TIMEOUT + 30))
        try:
            for line in iter_resp_lines(response.response):
                if self._stop.is_set():
                    return
                if line:
                    self._event(json.loads(line))
        finally:
            response.response.release_conn()

    def _event(self, event: dict) -> None:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise KubeError(int(body.get("code") or 500), body.get("reason", ""), body.get("message", ""))
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind == "BOOKMARK" or not self.keep(self._typed(body)):
            return
        key = _key(body)
        if kind == "DELETED":
            self.kept.discard(key)
        else:
            self.kept.add(key)
        self.deliver(kind, body)
