"""An in-memory stand-in for cni_operator.kube.Kube: the API server the reconciler talks to, without a cluster.

It answers the calls the operator makes (get, list, apply, delete, merge_patch, and `_call` for the Event POST of
EventRecorder) the way the API server does where the decisions depend on it:

    get of a missing object      None (Kube.get turns the 404 into None)
    delete of a missing object   False (Kube.delete turns the 404 into False)
    merge_patch of a missing one KubeError 404 NotFound
    merge_patch with a stale metadata.resourceVersion   KubeError 409 Conflict
    apply                        creates or merges (maps merged, lists replaced), status kept; resourceVersion bumped,
                                 generation bumped when anything but metadata and status changed
    delete of an object with finalizers   sets deletionTimestamp; it goes once a patch empties its finalizers

Every call of the operator is recorded in `requests`, in order; `fail(ref, verb)` makes a call on one object answer
with a KubeError. What other actors do (a user creating or editing the ClusterNetwork, someone changing a DaemonSet,
the DaemonSet controller filling its status) goes through `put`, `edit` and `remove`: not recorded as the operator's
requests, but seen by the watches. Every change is queued as a watch event; `deliver(kube, session)` feeds them to a
ClusterSession the way the kopf handlers do (handlers.py).

Thread-safe: the applier calls it from a pool of threads.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

from cni_operator.kube import ALL_NAMESPACES, KubeError, collection_path
from cni_operator.objects import ObjectRef
from cni_operator.providers import is_cni_pod

WRITE_VERBS = ("apply", "delete", "patch")

WORKLOAD_KINDS = ("DaemonSet", "Deployment")


@dataclass(frozen=True)
class Request:
    verb: str  # get, list, apply, delete, patch, post
    ref: ObjectRef | None
    body: dict | None = None
    subresource: str = ""

    def __repr__(self) -> str:  # short, for assertion messages
        where = self.ref.describe() if self.ref else "?"
        return f"{self.verb} {where}{'/' + self.subresource if self.subresource else ''}"


def merge(base: dict, patch: dict) -> dict:
    """JSON merge patch (RFC 7386): maps merged key by key, null removes a key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _content(obj: dict) -> dict:
    """What a change of bumps metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[ObjectRef, dict] = {}
        self.requests: list[Request] = []
        self.events: list[dict] = []  # Event bodies POSTed, in order
        self.watch: list[tuple[str, dict]] = []  # (ADDED | MODIFIED | DELETED, body) not yet delivered
        self._failures: dict[tuple[str, ObjectRef], KubeError] = {}
        self.instances: dict[str, int] = {}  # CRD name -> objects of its kind (users' data a delete would take)
        self._rv = 1000
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ what the operator calls

    def get(self, ref: ObjectRef) -> dict | None:
        with self._lock:
            self._record("get", ref)
            obj = self.objects.get(ref)
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, api_version: str, kind: str, namespace: str = "", label_selector: str = "") -> list[dict]:
        with self._lock:
            collection_path(api_version, kind, namespace)  # an unknown kind is an error, as in Kube
            self.requests.append(Request("list", ObjectRef(api_version, kind, "", namespace)))
            wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
            return [copy.deepcopy(o) for r, o in self.objects.items()
                    if (r.api_version, r.kind) == (api_version, kind)
                    and (namespace in ("", ALL_NAMESPACES) or r.namespace == namespace)
                    and all(((o["metadata"].get("labels") or {}).get(k) == v) for k, v in wanted.items())]

    def apply(self, obj: dict, *, force: bool = True) -> dict:
        ref = ObjectRef.of(obj)
        with self._lock:
            self._record("apply", ref, obj)
            live = self.objects.get(ref)
            if live is None:
                return self._store(copy.deepcopy(obj))
            merged = merge(live, {k: v for k, v in obj.items() if k != "status"})
            return self._store(merged, previous=live)

    def dry_run_apply(self, obj: dict) -> dict:
        """What apply would return, nothing stored (recorded as "dry-run", which is not a write)."""
        ref = ObjectRef.of(obj)
        with self._lock:
            self._record("dry-run", ref, obj)
            live = self.objects.get(ref)
            if live is None:
                return copy.deepcopy(obj)
            return merge(live, {k: v for k, v in obj.items() if k != "status"})

    def delete(self, ref: ObjectRef) -> bool:
        with self._lock:
            self._record("delete", ref)
            return self._delete(ref)

    def count_instances(self, crd: dict) -> int:
        ref = ObjectRef.of(crd)
        with self._lock:
            self._record("count", ref)
            return self.instances.get(ref.name, 0)

    def merge_patch(self, ref: ObjectRef, patch: dict, *, subresource: str = "") -> dict:
        with self._lock:
            self._record("patch", ref, patch, subresource)
            live = self.objects.get(ref)
            if live is None:
                raise KubeError(404, "NotFound", f"{ref.describe()} not found")
            patch = copy.deepcopy(patch)
            want_rv = (patch.get("metadata") or {}).pop("resourceVersion", None)
            if want_rv is not None and want_rv != live["metadata"]["resourceVersion"]:
                raise KubeError(409, "Conflict", "the object has been modified; please apply your changes to the "
                                "latest version and try again")
            if subresource == "status":
                updated = merge(live, {"status": patch.get("status") or {}})
            else:  # the main resource: status is the status subresource's
                updated = merge(live, {k: v for k, v in patch.items() if k != "status"})
            return self._store(updated, previous=live)

    def _call(self, method: str, path: str, *, query=None, body=None, content_type: str | None = None):
        """Only the Event POST of EventRecorder goes through here."""
        if method != "POST" or not path.endswith("/events"):
            raise AssertionError(f"the fake does not serve {method} {path}")
        with self._lock:
            ref = ObjectRef("v1", "Event", body["metadata"]["name"], body["metadata"]["namespace"])
            self._record("post", ref, body)
            self.events.append(copy.deepcopy(body))
            return body

    # ------------------------------------------------------------------ what tests and other actors do

    def fail(self, ref: ObjectRef, verb: str, status: int = 500, reason: str = "InternalError",
             message: str = "injected failure") -> None:
        """Make the operator's `verb` (get, apply, delete, patch) on `ref` answer with a KubeError from now on."""
        self._failures[(verb, ref)] = KubeError(status, reason, message)

    def heal(self, ref: ObjectRef, verb: str) -> None:
        self._failures.pop((verb, ref), None)

    def put(self, obj: dict) -> dict:
        """Create or replace an object as another actor (a user, a controller): seen by the watches, not a request."""
        with self._lock:
            ref = ObjectRef.of(obj)
            return self._store(copy.deepcopy(obj), previous=self.objects.get(ref))

    def edit(self, ref: ObjectRef, change) -> dict:
        """Change a live object as another actor: `change(body)` edits a copy in place."""
        with self._lock:
            body = copy.deepcopy(self.objects[ref])
            change(body)
            return self._store(body, previous=self.objects[ref])

    def remove(self, ref: ObjectRef) -> None:
        """`kubectl delete` by another actor: with finalizers the object stays, marked for deletion."""
        with self._lock:
            self._delete(ref)

    def writes(self) -> list[Request]:
        """The operator's writes to objects, in order (Event POSTs are in `events`)."""
        return [r for r in self.requests if r.verb in WRITE_VERBS]

    # ------------------------------------------------------------------ the server's bookkeeping

    def _record(self, verb: str, ref: ObjectRef, body: dict | None = None, subresource: str = "") -> None:
        if ref.kind != "Event":
            collection_path(ref.api_version, ref.kind, ref.namespace)  # unknown kind or missing namespace: error
        self.requests.append(Request(verb, ref, copy.deepcopy(body), subresource))
        failure = self._failures.get((verb, ref))
        if failure is not None:
            raise failure

    def _store(self, body: dict, previous: dict | None = None) -> dict:
        self._rv += 1
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = str(self._rv)
        if previous is None:
            meta.setdefault("uid", f"uid-{self._rv}")
            meta.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
            meta.setdefault("generation", 1)
        else:
            old_meta = previous["metadata"]
            for key in ("uid", "creationTimestamp"):
                meta[key] = old_meta.get(key)
            meta["generation"] = (old_meta.get("generation") or 1) + (_content(body) != _content(previous))
        self.objects[ObjectRef.of(body)] = body
        self.watch.append(("MODIFIED" if previous is not None else "ADDED", copy.deepcopy(body)))
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):  # the last finalizer went: deleted
            del self.objects[ObjectRef.of(body)]
            self.watch.append(("DELETED", copy.deepcopy(body)))
        return copy.deepcopy(body)

    def _delete(self, ref: ObjectRef) -> bool:
        live = self.objects.get(ref)
        if live is None:
            return False
        if live["metadata"].get("finalizers"):
            if not live["metadata"].get("deletionTimestamp"):
                self._store(merge(live, {"metadata": {"deletionTimestamp": "2025-01-01T01:00:00Z"}}), previous=live)
            return True
        del self.objects[ref]
        self.watch.append(("DELETED", copy.deepcopy(live)))
        return True


def deliver(kube: FakeKube, session) -> None:
    """Feed the queued watch events to the session as the kopf handlers do (handlers.py), oldest first."""
    with kube._lock:
        events, kube.watch = kube.watch, []
    for event_type, body in events:
        deleted = event_type == "DELETED"
        kind = body.get("kind")
        if kind == "ClusterNetwork":
            session.observe_clusternetwork(body, deleted=deleted)
        elif kind in WORKLOAD_KINDS:
            session.observe_workload(body, deleted=deleted)
        elif kind == "Pod":
            if is_cni_pod((body.get("metadata") or {}).get("labels") or {}):
                session.observe_pod(body, deleted=deleted)
        elif kind == "Node":
            session.observe_node(body, deleted=deleted)
        else:
            session.observe_managed(body, deleted=deleted)


def flush_events(recorder) -> None:
    """Wait until every Event queued so far has been sent. EventRecorder sends from one thread, in order (events.py):
    once a no-op queued after the posts has run, they have all reached the fake. No sleeping."""
    recorder._sender.submit(lambda: None).result()
