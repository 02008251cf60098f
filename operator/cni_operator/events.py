"""Kubernetes Events on the ClusterNetwork: what the operator did and why, for `kubectl describe cnet default`.

Posted with our own client rather than kopf's log bridge so that only deliberate, human-worded events go out, and so
nothing is posted for imported clusters (where the operator must not write anything but status). Repeats of the same
event within a short window are folded into one (count bumped by the server-side series is not needed here). The
memory of what was posted is pruned of entries older than that window whenever it grows past `max_recent`, so a
long-running operator whose messages keep changing (pod names, counts) does not grow it forever.

`post` is called from the asyncio loop kopf's watches share, so it only queues: one background thread sends, in
order. A synchronous POST stalled every watch for a round trip and sat between an install's last object and its
Applied status patch.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from .kube import Kube, KubeError

logger = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, kube: Kube, namespace: str | None = None, component: str = "cni-operator",
                 fold_seconds: float = 30.0, max_recent: int = 256, clock=time.monotonic):
        self.kube = kube
        # Events of a cluster-scoped object must live in "default" with an empty involvedObject.namespace: that is
        # the only place the API server accepts them and `kubectl describe cnet default` looks for them.
        self.namespace = namespace or os.environ.get("CNI_OPERATOR_EVENTS_NAMESPACE", "default")
        self.component = component
        self.fold_seconds = fold_seconds
        self.max_recent = max_recent
        self.clock = clock
        # key -> when it was last posted, oldest first (a re-post moves its key to the end), so pruning stops at
        # the first entry still inside the window.
        self._recent: dict[tuple, float] = {}
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")  # one thread: kept in order

    def post(self, involved: dict, type_: str, reason: str, message: str) -> None:
        key = (involved.get("metadata", {}).get("uid"), type_, reason, message)
        now = self.clock()
        if now - self._recent.get(key, -1e9) < self.fold_seconds:
            return
        self._recent.pop(key, None)
        self._recent[key] = now
        if len(self._recent) > self.max_recent:
            self._prune(now)
        meta = involved.get("metadata", {})
        timestamp = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta.get('name', 'unknown')}.{uuid.uuid4().hex[:12]}", "namespace": self.namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta.get("name"),
                **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": os.environ.get("POD_NAME", self.component),
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
        }
        self._sender.submit(self._send, reason, event)

    def _prune(self, now: float) -> None:
        """Forget what was posted longer ago than the fold window; those would be posted again anyway. If a burst
        of distinct events within one window still leaves too many, forget the oldest too: the cost is at most one
        repeated Event, while the memory stays bounded by max_recent."""
        for key, posted in list(self._recent.items()):
            if now - posted < self.fold_seconds and len(self._recent) <= self.max_recent:
                break
            del self._recent[key]

    def _send(self, reason: str, event: dict) -> None:
        try:
            self.kube._call("POST", f"/api/v1/namespaces/{self.namespace}/events", body=event,
                            content_type="application/json")
        except KubeError as exc:  # an Event is best effort: never let it break a reconcile
            logger.warning("could not post event %s: %s", reason, exc)
        except Exception:  # nobody waits for this future: say it in the log, not nowhere
            logger.exception("could not post event %s", reason)

    def close(self) -> None:
        """Send what is queued (on a clean stop), then stop the sender."""
        self._sender.shutdown(wait=True)
