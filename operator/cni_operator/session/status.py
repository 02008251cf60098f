"""The ClusterNetwork's status has one author: build it from its parts here, patch it only when it changed.

Health owns the judgement (phase, conditions, counts, problems); this module adds what the pass did (provider,
version, what is applied, what is left unreverted) and writes the whole status with one merge patch of the status
subresource, never when a person would read the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import api
from ..apply.diff import canonical_hash
from ..health.conditions import merge_conditions, status_differs
from ..kube import Kube, KubeError
from ..metrics import METRICS
from ..objects import ObjectRef, rfc3339, utcnow

MAX_UNREVERTED_NAMES = 10


def clusternetwork_ref(cr: dict) -> ObjectRef:
    return ObjectRef(f"{api.GROUP}/{api.VERSION}", api.KIND, cr["metadata"]["name"])


def installed_version(status: dict | None) -> tuple[str, str] | None:
    """(provider, version) of the CNI the operator installed, once it applied something: what a spec without
    cni.version keeps (validation.check)."""
    status = status or {}
    if ((status.get("applied") or {}).get("inventory")) and status.get("provider") and status.get("version"):
        return status["provider"], status["version"]
    return None


def applied_generation(status: dict | None) -> int | None:
    """The spec generation last applied successfully (status.applied.generation, else the Applied condition)."""
    recorded = ((status or {}).get("applied") or {}).get("generation")
    if recorded is not None:
        return recorded
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == "Applied" and condition.get("status") == "True":
            return condition.get("observedGeneration")
    return None


@dataclass
class PassRecord:
    """What one pass did, for the status: set by the reconciler, read by build()."""

    provider: str | None = None
    version: str | None = None
    inventory: list[ObjectRef] | None = None  # None: nothing rendered this pass (the old record stays)
    digest: str = ""
    generation: int | None = None  # the spec generation this inventory was applied for (None: not all applied)
    wrote: bool = False  # the apply step changed something (moves lastAppliedTime)
    ignored: list[ObjectRef] | None = None  # None: not looked at this pass (the old list stays)
    unreverted: list[str] = field(default_factory=list)  # "<object>: <why it is left as it is>"
    retained: list[tuple[ObjectRef, int | None]] = field(default_factory=list)  # CRDs kept for their objects
    spec: str | None = None  # the effective spec applied (JSON), what a rollback renders again
    adopted: list[ObjectRef] = field(default_factory=list)  # taken over this pass (spec.adoption)


def build(old: dict | None, health_status: dict, record: PassRecord) -> dict:
    """The whole status: health's part, then provider, version, applied, ignored and drift."""
    old = old or {}
    status = dict(health_status)
    if record.provider is not None:
        status["provider"] = record.provider
        status["version"] = record.version
    applied = dict(old.get("applied") or {})
    if record.inventory is not None:
        keep_time = not record.wrote and applied.get("lastAppliedTime")
        applied = {
            "objects": len(record.inventory),
            **({"generation": record.generation} if record.generation is not None else {}),
            "hash": record.digest,
            "lastAppliedTime": applied["lastAppliedTime"] if keep_time else rfc3339(utcnow()),
            "inventory": [ref.as_status() for ref in record.inventory],
            **({"spec": record.spec} if record.spec is not None else {}),
        }
    if applied:
        status["applied"] = applied
    if old.get("rollout") and "rollout" not in status:
        status["rollout"] = old["rollout"]  # only the pass that drives an update changes it
    if record.ignored is not None:
        status["ignored"] = sorted(ref.describe() for ref in record.ignored)
    elif old.get("ignored"):
        status["ignored"] = old["ignored"]
    retained = {entry["name"]: entry for entry in old.get("retained") or []}
    for ref, count in record.retained:
        entry = {"name": ref.name, "since": rfc3339(utcnow())}
        if count is not None:  # unknown is left out: a null in a list entry is not valid status
            entry["objects"] = count
        retained[ref.name] = entry
    if retained:
        status["retained"] = sorted(retained.values(), key=lambda entry: entry["name"])
    adopted = {(e.get("kind"), e.get("namespace") or "", e.get("name")): e for e in old.get("adopted") or []}
    for ref in record.adopted:
        adopted.setdefault((ref.kind, ref.namespace, ref.name), {**ref.as_status(), "since": rfc3339(utcnow())})
    if adopted:
        status["adopted"] = [adopted[key] for key in sorted(adopted)]
    if record.provider is not None:
        status["drift"] = {"unreverted": len(record.unreverted),
                           "objects": record.unreverted[:MAX_UNREVERTED_NAMES]}
    return status


def digest_of(objects: list[dict]) -> str:
    return canonical_hash(objects)


class StatusWriter:
    """Patches status when it differs; feeds the response back so the next pass compares against it.

    `kube` is the API server that holds the ClusterNetwork (in fleet mode the management cluster, not the target the
    CNI runs in) and `ref_of` names the object (a namespaced RemoteClusterNetwork in fleet mode). `decorate` adds what
    the feeder knows and health does not (fleet mode: Reachable, CredentialsValid) to every status before it is
    compared; `stamp` adds fields only to a patch that is sent anyway (fleet mode: lastSeenTime), so they never cause
    a write by themselves."""

    def __init__(self, kube: Kube, on_written: Callable[[dict], None], metric_labels: dict | None = None, *,
                 ref_of: Callable[[dict], ObjectRef] = clusternetwork_ref,
                 decorate: Callable[[dict], None] | None = None, stamp: Callable[[], dict] | None = None):
        self.kube = kube
        self.on_written = on_written
        self.labels = metric_labels or {}
        self.ref_of = ref_of
        self.decorate = decorate
        self.stamp = stamp

    async def patch(self, cr: dict, patch: dict) -> dict:
        """A merge patch of the object itself (its finalizers), where it lives."""
        return await asyncio.to_thread(self.kube.merge_patch, self.ref_of(cr), patch)

    async def publish(self, cr: dict, status: dict) -> bool:
        """True when a patch was sent."""
        old = cr.get("status") or {}
        if self.decorate is not None:
            self.decorate(status)
        status["conditions"] = merge_conditions(old.get("conditions") or [], status.get("conditions") or [], utcnow())
        status.setdefault("observedGeneration", cr["metadata"].get("generation"))
        if not status_differs(old, status):
            return False
        if self.stamp is not None:
            status.update(self.stamp())
        try:
            result = await asyncio.to_thread(self.kube.merge_patch, self.ref_of(cr), {"status": status},
                                             subresource="status")
        except KubeError as exc:
            if exc.status == 404:
                return False  # deleted meanwhile
            raise
        METRICS.inc("cni_operator_status_patches_total", **self.labels)
        # Our own patch is newer than the body this pass read: without this the next pass would compare against it.
        self.on_written(result)
        return True
