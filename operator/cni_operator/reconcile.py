"""One level-based pass: read the ClusterNetwork, decide, write only what differs, report status.

    validate -> (imported: observe only) -> (paused: observe only) -> safety checks -> render -> apply/prune
             -> health -> status (patched only when it changed)

Everything the pass reads comes from the watch-fed runtime (indexes, caches); it issues API calls only to write,
or to GET a managed object the caches have not seen.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time

from . import api, detect, health
from .api import ClusterType, Provider
from .apply import Applier, ApplyOutcome
from .catalog import resolve
from .conditions import merge_conditions, status_differs
from .diff import canonical_hash
from .events import NORMAL, WARNING, EventRecorder
from .kube import Kube, KubeError, load_api_client
from .metrics import METRICS, start_server
from .render import ObjectRef, render
from .validation import summary, validate

FINALIZER = "cni-operator.io/finalizer"
CNI_NAMESPACE = "kube-system"

# Per provider: the node agent DaemonSet, its pods' k8s-app label, and the controllers Deployment (if any).
WORKLOADS: dict[Provider, tuple[str, str, str | None]] = {
    Provider.CANAL: ("canal", "canal", "calico-kube-controllers"),
    Provider.AWS_VPC_CNI: ("aws-node", "aws-node", None),
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ref_of(cr: dict) -> ObjectRef:
    return ObjectRef(f"{api.GROUP}/{api.VERSION}", api.KIND, cr["metadata"]["name"])


def _describe(ref: ObjectRef) -> str:
    return f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def _inventory(status: dict) -> list[ObjectRef]:
    items = ((status or {}).get("applied") or {}).get("inventory") or []
    return [ObjectRef(i["apiVersion"], i["kind"], i["name"], i.get("namespace", "")) for i in items]


def _inventory_status(refs: list[ObjectRef]) -> list[dict]:
    return [
        {"apiVersion": r.api_version, "kind": r.kind, "name": r.name, **({"namespace": r.namespace} if r.namespace else {})}
        for r in refs
    ]


class Reconciler:
    def __init__(self, runtime, kube: Kube, logger: logging.Logger):
        self.runtime = runtime
        self.kube = kube
        self.logger = logger
        self.recorder = EventRecorder(kube)
        self.applier = Applier(kube, lookup=runtime.lookup, remember=runtime.remember)
        self._metrics_runner = None
        self._deletion_attempts = 0

    @classmethod
    def from_environment(cls, runtime, logger: logging.Logger) -> Reconciler:
        return cls(runtime, Kube(load_api_client()), logger)

    async def start(self) -> None:
        port = int(os.environ.get("CNI_OPERATOR_METRICS_PORT", "0") or 0)
        if port:
            self._metrics_runner = await start_server(port)

    async def stop(self) -> None:
        if self._metrics_runner:
            await self._metrics_runner.cleanup()
        self.applier.pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.recorder.close)

    # ---- what the watches saw

    def _index_values(self, name: str) -> list[dict]:
        index = self.runtime.indexes.get(name)
        if index is None:
            return []
        return [store_item for key in index for store_item in index[key]]

    def _workloads(self) -> list[dict]:
        return self._index_values("daemonsets") + self._index_values("deployments")

    def _workload(self, kind: str, name: str) -> dict | None:
        index = self.runtime.indexes.get("daemonsets" if kind == "DaemonSet" else "deployments")
        if index is None or (CNI_NAMESPACE, name) not in index:
            return None
        return next(iter(index[(CNI_NAMESPACE, name)]), None)

    def _pods(self, app: str) -> list[dict]:
        return [p for p in self._index_values("cni_pods") if p["metadata"]["labels"].get("k8s-app") == app]

    def _nodes(self) -> list[dict]:
        return self._index_values("nodes")

    def _health_inputs(self, provider: Provider) -> dict:
        """What health.assess reads for the CNI we install: its DaemonSet and pods, its controllers, the nodes."""
        ds_name, app, controllers = WORKLOADS[provider]
        inputs = {
            "daemonset": self._workload("DaemonSet", ds_name),
            "pods": self._pods(app),
            "nodes": self._nodes(),
            "provider": provider.value,
        }
        if controllers:
            inputs.update(deployment=self._workload("Deployment", controllers),
                          controller_pods=self._pods(controllers), expect_deployment=controllers)
        return inputs

    def _observed_inputs(self, spec_raw: dict) -> dict:
        """Health inputs for a spec we will not act on: whatever CNI is running keeps being reported."""
        try:
            provider = api.parse_spec(spec_raw).provider
        except (ValueError, TypeError):  # an invalid spec (pydantic errors are ValueErrors): report what runs
            provider = None
        if provider is not None:
            return self._health_inputs(provider)
        primary = detect.primary_workload(self._workloads())
        pods = health.select_pods(primary, self._index_values("cni_pods")) if primary else []
        return {"daemonset": primary, "pods": pods, "nodes": self._nodes()}

    # ---- the pass

    async def step(self, cr: dict | None) -> float | None:
        """Run one pass; return seconds until another pass is needed without any event (or None)."""
        if cr is None:
            return None
        METRICS.inc("cni_operator_reconciles_total", result="started")
        if cr["metadata"].get("deletionTimestamp"):
            return await self._finalize(cr)
        spec_raw = cr.get("spec") or {}
        problems = validate(spec_raw)
        if problems:
            text = summary(problems)
            await self._publish(cr, health.invalid_configuration(
                text, generation=cr["metadata"].get("generation"), now=_now(), **self._observed_inputs(spec_raw)))
            return None
        spec = resolve(api.parse_spec(spec_raw))
        if spec.cluster_type is ClusterType.IMPORTED:
            return await self._observe_imported(cr)
        provider = spec.provider
        status = cr.get("status") or {}
        inventory = _inventory(status)
        if spec.paused:
            return await self._report(cr, spec, provider, inventory, None, applied_error=None, paused=True)

        blocked = self._safety_check(spec, provider, inventory)
        if blocked:
            reason, message = blocked
            await self._publish(cr, health.refused(reason, message, generation=cr["metadata"].get("generation"),
                                                   now=_now(), **self._health_inputs(provider)))
            return None

        rendered = render(spec)
        await self._ensure_finalizer(cr, spec)
        started = time.monotonic()
        outcome = await asyncio.to_thread(self.applier.sync, rendered.apply, list(inventory) + rendered.prune,
                                          frozenset(inventory))
        METRICS.observe("cni_operator_apply_duration_seconds", time.monotonic() - started)
        self._announce(cr, spec, outcome, first_install=not inventory)

        applied_refs = [ObjectRef.of(o) for o in rendered.apply]
        if outcome.ok:
            new_inventory = applied_refs
        else:  # keep what may still exist, so a later pass can prune it
            new_inventory = list(dict.fromkeys(inventory + outcome.created + outcome.updated + outcome.in_sync))
        applied_error = outcome.errors[0] if outcome.errors else None
        retry = await self._report(cr, spec, provider, new_inventory, rendered, applied_error=applied_error,
                                   outcome=outcome)
        delays = [retry] if retry else []
        if outcome.errors:
            delays.append(10.0)
        if outcome.deferred:
            delays.append(max(0.5, min(at for _, at in outcome.deferred) - time.monotonic()))
        if outcome.recheck_in:
            delays.append(max(0.5, min(outcome.recheck_in)))
        return min(delays) if delays else None

    # ---- safety before a first install

    def _safety_check(self, spec: api.ClusterNetworkSpec, provider: Provider,
                      inventory: list[ObjectRef]) -> tuple[str, str] | None:
        if inventory:
            return None  # installed already: these checks guard the first install only
        workloads = self._workloads()
        foreign = detect.foreign_cnis(workloads, provider.value)
        if foreign:
            names = ", ".join(f"{d.provider} ({d.workload})" for d in foreign)
            message = (f"another CNI is already running: {names}. cni-operator will not install a second CNI; "
                       f"remove it first, or set clusterType: imported to only observe it.")
            return ("ForeignCNIDetected", message)
        mismatch = detect.cluster_type_mismatch(spec.cluster_type, workloads, self._nodes())
        if mismatch:
            return ("ClusterTypeMismatch", mismatch)
        return None

    # ---- status

    async def _report(self, cr: dict, spec, provider: Provider, inventory: list[ObjectRef], rendered,
                      *, applied_error, paused: bool = False, outcome: ApplyOutcome | None = None) -> float | None:
        old = cr.get("status") or {}
        now = _now()
        generation = cr["metadata"].get("generation")
        digest = canonical_hash(rendered.apply) if rendered is not None else ""
        ok = applied_error is None and not paused
        picture = health.assess(
            **self._health_inputs(provider),
            # Installed, a second CNI appearing later is reported (never removed: it is not ours).
            foreign=[f"{d.provider} ({d.workload})" for d in detect.foreign_cnis(self._workloads(), provider.value)],
            now=now,
            generation=generation,
            applied=health.ApplyState(generation=generation if ok else None, hash=digest, objects=len(inventory)),
            apply_error=f"{_describe(applied_error[0])}: {applied_error[1]}" if applied_error else None,
            paused=paused,
        )
        status = picture.status
        status["provider"] = provider.value
        status["version"] = spec.cni.version
        applied = dict(old.get("applied") or {})
        if rendered is not None:
            inventory_status = _inventory_status(inventory)
            changed = outcome is not None and outcome.writes > 0
            applied = {
                "objects": len(inventory_status),
                "hash": digest,
                "lastAppliedTime": now.strftime("%Y-%m-%dT%H:%M:%SZ") if changed or not applied.get("lastAppliedTime")
                else applied["lastAppliedTime"],
                "inventory": inventory_status,
            }
        if applied:
            status["applied"] = applied
        if outcome is not None:
            status["ignored"] = sorted(_describe(r) for r in outcome.ignored)
        elif old.get("ignored"):
            status["ignored"] = old["ignored"]
        self._record_health_metrics(status)
        await self._publish(cr, status)
        return picture.recheck_after

    def _record_health_metrics(self, status: dict) -> None:
        h = status.get("health") or {}
        METRICS.set("cni_operator_cni_pods_ready", h.get("ready", 0))
        METRICS.set("cni_operator_cni_pods_desired", h.get("desired", 0))

    async def _publish(self, cr: dict, status: dict) -> None:
        old = cr.get("status") or {}
        status["conditions"] = merge_conditions(old.get("conditions") or [], status.get("conditions") or [], _now())
        status.setdefault("observedGeneration", cr["metadata"].get("generation"))
        if not status_differs(old, status):
            return
        previous_phase = old.get("phase")
        try:
            result = await asyncio.to_thread(self.kube.merge_patch, _ref_of(cr), {"status": status},
                                             subresource="status")
        except KubeError as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        METRICS.inc("cni_operator_status_patches_total")
        # Our own patch is newer than the body this pass read: without this the next pass would compare against it.
        self.runtime.update_clusternetwork(result)
        self._announce_phase(cr, previous_phase, status)

    def _announce_phase(self, cr: dict, previous: str | None, status: dict) -> None:
        phase = status.get("phase")
        if phase == previous or status.get("phase") == "Unmanaged":
            return  # Events mark transitions only; imported clusters get none (no writes but status)
        if phase in ("Degraded", "Failed"):
            degraded = next((c for c in status["conditions"] if c["type"] == "Degraded"), {})
            self.recorder.post(cr, WARNING, degraded.get("reason", "Degraded"), degraded.get("message", ""))
        elif phase == "Ready":
            reason = "Recovered" if previous in ("Degraded", "Failed") else "Ready"
            self.recorder.post(cr, NORMAL, reason, f"{status.get('provider')} {status.get('version')}: "
                               f"{status.get('readySummary', '')} CNI pods ready")

    # ---- events for what the apply did

    def _announce(self, cr: dict, spec, outcome: ApplyOutcome, first_install: bool) -> None:
        what = f"{spec.provider.value} {spec.cni.version}"
        if outcome.created and first_install:
            self.recorder.post(cr, NORMAL, "Installing", f"installing {what}: created {len(outcome.created)} objects")
        elif outcome.created or outcome.updated:
            changed = [_describe(r) for r in outcome.created + outcome.updated]
            self.recorder.post(cr, NORMAL, "Updating", f"applied {what}: {len(changed)} objects changed "
                               f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''})")
        for ref, field in outcome.reverted:
            METRICS.inc("cni_operator_drift_reverts_total", kind=ref.kind)
            self.recorder.post(cr, WARNING, "DriftReverted",
                               f"{_describe(ref)} was changed outside cni-operator ({field}); put it back. To keep a "
                               f"manual change, annotate the object cni-operator.io/ignore=true.")
        if outcome.pruned:
            self.recorder.post(cr, NORMAL, "Pruned", "removed objects the new render no longer has: "
                               + ", ".join(_describe(r) for r in outcome.pruned))
        for ref, _ in outcome.deferred:
            self.recorder.post(cr, WARNING, "ConflictingWriter",
                               f"{_describe(ref)} keeps being changed by another writer; cni-operator reverts it "
                               f"with growing delays instead of fighting. Find the other writer, or annotate the "
                               f"object cni-operator.io/ignore=true.")
        for ref, message in outcome.errors:
            self.recorder.post(cr, WARNING, "ApplyFailed", f"{_describe(ref)}: {message}")
        for action, refs in (("created", outcome.created), ("updated", outcome.updated), ("pruned", outcome.pruned)):
            if refs:
                METRICS.inc("cni_operator_objects_applied_total", len(refs), action=action)
        if outcome.reverted:
            METRICS.inc("cni_operator_objects_applied_total", len(outcome.reverted), action="reverted")

    # ---- imported clusters: observe only, write nothing but status

    async def _observe_imported(self, cr: dict) -> float | None:
        workloads = self._workloads()
        primary = detect.primary_workload(workloads)
        pods = health.select_pods(primary, self._index_values("cni_pods")) if primary else []
        status = health.unmanaged(detect.detect_cnis(workloads), generation=cr["metadata"].get("generation"),
                                  now=_now(), daemonset=primary, nodes=self._nodes(), pods=pods)
        await self._publish(cr, status)
        return None

    # ---- finalizer and deletion

    async def _ensure_finalizer(self, cr: dict, spec: api.ClusterNetworkSpec) -> None:
        finalizers = list(cr["metadata"].get("finalizers") or [])
        want = spec.deletion_policy is api.DeletionPolicy.DELETE
        if want == (FINALIZER in finalizers):
            return
        updated = finalizers + [FINALIZER] if want else [f for f in finalizers if f != FINALIZER]
        patch = {"metadata": {"finalizers": updated, "resourceVersion": cr["metadata"]["resourceVersion"]}}
        try:
            result = await asyncio.to_thread(self.kube.merge_patch, _ref_of(cr), patch)
            self.runtime.update_clusternetwork(result)
        except KubeError as exc:
            if exc.status not in (404, 409):  # 409: a newer version exists; the next pass sees it
                raise

    async def _finalize(self, cr: dict) -> float | None:
        finalizers = cr["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return None
        policy = (cr.get("spec") or {}).get("deletionPolicy", "Orphan")
        inventory = _inventory(cr.get("status") or {})
        if policy == "Delete" and inventory:
            outcome = await asyncio.to_thread(self.applier.delete_all, inventory)
            self._deletion_attempts += 1
            if outcome.errors and self._deletion_attempts < 5:
                message = (f"deleting the CNI: {len(outcome.errors)} objects could not be removed yet "
                           f"(attempt {self._deletion_attempts}/5): {outcome.errors[0][1]}")
                await self._publish(cr, health.deleting(message, generation=cr["metadata"].get("generation")))
                return 5.0 * self._deletion_attempts
            if outcome.errors:
                self.recorder.post(cr, WARNING, "DeleteIncomplete",
                                   "gave up deleting after 5 attempts; left behind: "
                                   + ", ".join(_describe(r) for r, _ in outcome.errors))
            else:
                self.recorder.post(cr, NORMAL, "Deleted", f"removed {len(outcome.pruned)} CNI objects")
        remaining = [f for f in finalizers if f != FINALIZER]
        try:
            await asyncio.to_thread(self.kube.merge_patch, _ref_of(cr), {"metadata": {"finalizers": remaining}})
        except KubeError as exc:
            if exc.status != 404:
                raise
        self._deletion_attempts = 0
        return None
