"""One level-based pass over one cluster: read the ClusterNetwork, decide, write only what differs, report status.

The decision table, in order (tests/unit/test_reconcile.py has a row for each):

    no ClusterNetwork                 nothing
    being deleted                     finalize: with deletionPolicy Delete remove the (trusted) inventory, then the
                                      finalizer
    invalid spec                      Failed/InvalidConfiguration, health of whatever runs, nothing written
    imported                          Unmanaged: observe and report the detected CNI, nothing written
    an image from a registry the      Failed/RegistryNotAllowed, health of whatever runs, nothing written
      operator may not pull from
    paused                            Paused: report health and what differs from the render, nothing written
    first install next to a foreign   Failed/ForeignCNIDetected or ClusterTypeMismatch, nothing written
      CNI, or on the wrong cluster
    first install over objects that   spec.adoption (adoption.py): Failed/AdoptionBlocked or AdoptionRefused, nothing
      exist and are not ours          written; or adopted (annotated, status.adopted, never pruned), Takeover's
                                      template change rolled out from what ran
    otherwise                         render -> finalizer -> apply/prune -> Events -> status; retry in 10 s after
                                      an apply failure, keeping in the inventory what may exist
      a new pod template of an        the same, then the operator deletes the old pods itself (the DaemonSet is
      installed CNI                   OnDelete): canary, soak, batches within maxUnavailable (upgrade.py, rollout.py)
      its update failed (this         the previous render is applied instead: Degraded/Stalled UpgradeRolledBack
      generation)                     (UpgradeFailed with autoRollback false: nothing more is deleted)
    the pass fails (any exception)    Degraded/ReconcileError naming the error (report_failure, called by the
                                      session), then the exception goes on to the loop, which retries with back-off

The inventory read back from status is trusted only where it names objects the catalog renders for the provider
(inventory.py): other entries get a Warning Event, are never read, written or deleted, and drop out of the next
inventory written. Everything a pass reads comes from the projections the watches keep; it issues API calls only to
write, or to GET a managed object the caches have not seen.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .. import api, health
from ..api import ClusterType, DeletionPolicy, Provider
from ..apply import Applier, ApplyOutcome
from ..events import NORMAL, WARNING
from ..health import detect
from ..kube import Kube, KubeError
from ..metrics import METRICS
from ..objects import CNI_NAMESPACE, FINALIZER, ObjectRef, utcnow
from ..providers import for_provider
from ..registry_policy import RegistryPolicy, refusal, refused_images
from ..render import Rendered, render
from ..validation import Validated, check, summary
from .adoption import Adopter, marked
from .announce import Announcer
from .inventory import provider_of, read_inventory, trusted_refs
from .projections import Projections
from .rollout import Plan
from .status import (
    PassRecord,
    StatusWriter,
    applied_generation,
    build,
    digest_of,
    installed_version,
)
from .upgrade import Rollouts, effective_spec

APPLY_RETRY_SECONDS = 10.0
DELETE_ATTEMPTS = 5
MAX_ERROR_TEXT = 500  # characters of an exception's text in a condition message


def describe_error(exc: BaseException) -> str:
    """An exception in words for a condition: the API server's answer as it is, anything else with its type."""
    text = str(exc) if isinstance(exc, KubeError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "..."


class Reconciler:
    def __init__(self, kube: Kube, projections: Projections, applier: Applier, announcer: Announcer,
                 writer: StatusWriter, logger: logging.Logger, metric_labels: dict | None = None,
                 registry_policy: RegistryPolicy | None = None, spec_quiet: float = 0.0):
        """`spec_quiet`: seconds a new spec must stay unchanged before a change that restarts the CNI's pods is
        applied, so a burst of edits is one rollout (0: at once)."""
        self.spec_quiet = spec_quiet
        self._spec_seen: tuple[tuple, float] = ((), 0.0)  # (uid, generation) and when a pass first saw it
        self.kube = kube
        self.policy = registry_policy or RegistryPolicy()
        self.projections = projections
        self.applier = applier
        self.announcer = announcer
        self.writer = writer
        self.logger = logger
        self.labels = metric_labels or {}
        self._deletion_attempts: tuple[str | None, int] = (None, 0)  # (uid of the ClusterNetwork, attempts)
        self.rollouts = Rollouts(kube, projections, announcer, logger, self.policy)
        self.adopter = Adopter(kube, announcer, projections.lookup)

    # ---- what the watches saw

    def _health_inputs(self, provider: Provider) -> dict:
        """What health.assess reads for the CNI we install: its DaemonSet and pods, its controllers, the nodes."""
        cni, seen = for_provider(provider), self.projections
        inputs = {
            "daemonset": seen.workload(CNI_NAMESPACE, cni.daemonset, "DaemonSet"),
            "pods": seen.pods_of(cni.pod_app),
            "nodes": seen.node_list(),
            "provider": provider.value,
        }
        if cni.controllers:
            inputs.update(deployment=seen.workload(CNI_NAMESPACE, cni.controllers, "Deployment"),
                          controller_pods=seen.pods_of(cni.controllers), expect_deployment=cni.controllers)
        return inputs

    def _running_cni_inputs(self) -> dict:
        """Health inputs for whichever CNI runs, when the spec does not say which (imported, or unreadable). CNI pods
        are watched in CNI_NAMESPACE only: elsewhere (Tigera's calico-system) the DaemonSet's own counts stand in."""
        primary = detect.primary_workload(self.projections.workload_list())
        pods = health.select_pods(primary, self.projections.pod_list()) if primary else []
        seen = primary is None or (primary.get("metadata") or {}).get("namespace") == CNI_NAMESPACE
        return {"daemonset": primary, "pods": pods, "nodes": self.projections.node_list(), "pods_seen": seen}

    # ---- the pass

    async def step(self, cr: dict | None) -> float | None:
        """Run one pass; return seconds until another pass is needed without any event (or None)."""
        if cr is None:  # none, or deleted: no gauges that describe it (metrics.py)
            METRICS.forget_clusternetwork(**self.labels)
            return None
        METRICS.inc("cni_operator_reconciles_total", result="started", **self.labels)
        with METRICS.timed("cni_operator_reconcile_duration_seconds", **self.labels):
            return await self._step(cr)

    async def _step(self, cr: dict) -> float | None:
        if cr["metadata"].get("deletionTimestamp"):
            return await self._finalize(cr)
        checked = check(cr.get("spec") or {}, installed=installed_version(cr.get("status")))
        if not checked.ok:
            return await self._refuse_invalid(cr, checked)
        spec = checked.spec
        if spec.cluster_type is ClusterType.IMPORTED:
            return await self._observe_imported(cr)
        provider = spec.provider
        rendered = render(spec)
        refused = refused_images(rendered.apply, self.policy)
        if refused:
            return await self._refuse(cr, provider, health.Reason.REGISTRY_NOT_ALLOWED,
                                      refusal(spec, refused, self.policy))
        if spec.paused:
            return await self._report_paused(cr, spec, rendered)

        inventory = self._read_inventory(cr, provider, [ObjectRef.of(o) for o in rendered.apply], rendered.prune)
        blocked = self._safety_check(spec, provider, inventory)
        if blocked:
            return await self._refuse(cr, provider, *blocked)
        adoption = await self.adopter.first_install(cr, spec, rendered, inventory)
        if adoption and adoption.refusal:
            return await self._refuse(cr, provider, *adoption.refusal)

        wait = self._settling(cr, rendered, inventory)
        if wait is not None:
            await self._report_settling(cr, spec, inventory)
            return wait
        await self._ensure_finalizer(cr, spec)
        adopted = self.adopter.adopted(cr, rendered, trusted_refs(provider), adoption)
        start = adoption.start if adoption else None
        # An update of an installed CNI's pods is driven here (canary, soak, batches, rollback): upgrade.py.
        plan, rendered, spec = self.rollouts.plan_for(cr, spec, marked(rendered, adopted), inventory, utcnow(),
                                                      start and (start.version, start.spec, start.daemonset))
        rendered = marked(rendered, adopted)  # the previous render, when an update was rolled back
        started = time.monotonic()
        # A CRD released for its users' objects loses our label and leaves the cache, so no later pass (an update
        # takes many) finds it a prune candidate again.
        outcome = await asyncio.to_thread(self.applier.sync, rendered.apply, list(inventory) + rendered.prune,
                                          frozenset(inventory))
        METRICS.observe("cni_operator_apply_duration_seconds", time.monotonic() - started, **self.labels)
        self.announcer.apply_outcome(cr, f"{provider.value} {spec.cni.version}", outcome,
                                     first_install=not inventory)
        self.announcer.adoption(cr, adoption.adopt if adoption else [], outcome.released)
        taken = adoption.adopt if adoption else []
        if not outcome.ok:  # the update starts once its template is applied: a later pass
            return await self._report_applied(cr, spec, rendered, inventory, outcome, adopted=taken)
        recheck = await self.rollouts.drive(cr, plan, spec, rendered, utcnow()) if plan else None
        return await self._report_applied(cr, spec, rendered, inventory, outcome, plan, recheck, taken)

    def _settling(self, cr: dict, rendered: Rendered, inventory: list[ObjectRef]) -> float | None:
        """Seconds to wait before applying a spec younger than spec_quiet whose render would restart the CNI's pods
        (a workload's pod template differs); None to apply now. Installs, config-only changes and drift repair of
        an older spec go at once. Read from the cache: no request."""
        key = (cr["metadata"].get("uid"), cr["metadata"].get("generation"))
        now = time.monotonic()
        if key != self._spec_seen[0]:
            self._spec_seen = (key, now)
        wait = self._spec_seen[1] + self.spec_quiet - now
        if wait <= 0 or not inventory:
            return None
        workloads = [o for o in rendered.apply if o.get("kind") in ("DaemonSet", "Deployment")]
        if not any(where.startswith(".spec.template") for _, where in self.applier.differences(workloads)):
            return None
        return wait

    async def _refuse(self, cr: dict, provider: Provider, reason: str, message: str) -> None:
        await self._publish(cr, health.refused(reason, message, generation=cr["metadata"].get("generation"),
                                               now=utcnow(), **self._health_inputs(provider)))

    async def _refuse_invalid(self, cr: dict, checked: Validated) -> None:
        provider = checked.provider
        inputs = self._health_inputs(provider) if provider is not None else self._running_cni_inputs()
        await self._publish(cr, health.invalid_configuration(
            summary(checked.problems), generation=cr["metadata"].get("generation"), now=utcnow(), **inputs))

    # ---- what status says was applied, trusted only as far as the catalog goes

    def _read_inventory(self, cr: dict, provider: Provider | None, *also: list[ObjectRef]) -> list[ObjectRef]:
        inventory = read_inventory(cr.get("status"), trusted_refs(provider, *also))
        if inventory.ignored:
            self.announcer.say(cr, WARNING, "InventoryEntriesIgnored", inventory.warning(provider))
        return inventory.trusted

    # ---- safety before a first install

    def _safety_check(self, spec: api.ClusterNetworkSpec, provider: Provider,
                      inventory: list[ObjectRef]) -> tuple[str, str] | None:
        if inventory:
            return None  # installed already: these checks guard the first install only
        workloads = self.projections.workload_list()
        foreign = detect.foreign_cnis(workloads, provider.value, inventory=())
        if foreign:
            names = ", ".join(f"{d.provider} ({d.workload})" for d in foreign)
            message = (f"another CNI is already running: {names}. cni-operator will not install a second CNI; "
                       f"remove it first, or set clusterType: imported to only observe it.")
            return ("ForeignCNIDetected", message)
        mismatch = detect.cluster_type_mismatch(spec.cluster_type, workloads, self.projections.node_list())
        if mismatch:
            return ("ClusterTypeMismatch", mismatch)
        return None

    # ---- status

    def _foreign(self, provider: Provider, inventory: list[ObjectRef] | None = None) -> list[str]:
        """Installed, a second CNI appearing later is reported (never removed: it is not ours)."""
        ours = None if inventory is None else [f"{r.namespace}/{r.name}" for r in inventory]
        return [f"{d.provider} ({d.workload})"
                for d in detect.foreign_cnis(self.projections.workload_list(), provider.value, ours)]

    async def _report_paused(self, cr: dict, spec: api.ClusterNetworkSpec, rendered: Rendered) -> float | None:
        generation = cr["metadata"].get("generation")
        unreverted = [f"{ref.describe()}: paused ({field})" for ref, field in self.applier.differences(rendered.apply)]
        picture = health.assess(**self._health_inputs(spec.provider), foreign=self._foreign(spec.provider),
                                now=utcnow(), generation=generation,
                                applied=health.ApplyState(generation=None, hash=digest_of(rendered.apply)),
                                paused=True, unreverted=unreverted)
        record = PassRecord(provider=spec.provider.value, version=spec.cni.version, unreverted=unreverted)
        await self._publish(cr, self._gauged(build(cr.get("status"), picture.status, record)))
        return picture.recheck_after

    async def _report_settling(self, cr: dict, spec: api.ClusterNetworkSpec, inventory: list[ObjectRef]) -> None:
        """The new generation is not applied yet (Ready False, Progressing Applying), so nobody takes the old
        version's Ready for the new one; provider and version stay those that run."""
        old = cr.get("status") or {}
        picture = health.assess(
            **self._health_inputs(spec.provider), foreign=self._foreign(spec.provider, inventory), now=utcnow(),
            generation=cr["metadata"].get("generation"),
            applied=health.ApplyState(generation=applied_generation(old), hash=(old.get("applied") or {}).get("hash",
                                      ""), objects=len(inventory)))
        running = installed_version(old) or (spec.provider.value, spec.cni.version)
        await self._publish(cr, self._gauged(build(old, picture.status, PassRecord(*running))))

    async def _report_applied(self, cr: dict, spec: api.ClusterNetworkSpec, rendered: Rendered,
                              inventory: list[ObjectRef], outcome: ApplyOutcome, plan: Plan | None = None,
                              recheck: float | None = None, adopted: list[ObjectRef] = ()) -> float | None:
        generation = cr["metadata"].get("generation")
        if outcome.ok:
            new_inventory = [ObjectRef.of(o) for o in rendered.apply]
        else:  # keep what may still exist, so a later pass can prune it
            new_inventory = list(dict.fromkeys(inventory + outcome.created + outcome.updated + outcome.in_sync))
        error = outcome.errors[0] if outcome.errors else None
        digest = digest_of(rendered.apply)
        unreverted = [f"{ref.describe()}: ignored, cni-operator.io/ignore=true ({field})"
                      for ref, field in outcome.ignored_drift]
        unreverted += [f"{ref.describe()}: backing off from a conflicting writer" for ref, _ in outcome.deferred]
        picture = health.assess(
            **self._health_inputs(spec.provider), foreign=self._foreign(spec.provider, new_inventory), now=utcnow(),
            generation=generation,
            applied=health.ApplyState(generation=generation if error is None else None, hash=digest,
                                      objects=len(new_inventory)),
            apply_error=f"{error[0].describe()}: {error[1]}" if error else None, unreverted=unreverted)
        record = PassRecord(provider=spec.provider.value, version=spec.cni.version, inventory=new_inventory,
                            digest=digest, generation=generation if error is None else applied_generation(
                                cr.get("status")), wrote=outcome.writes > 0, ignored=outcome.ignored, unreverted=unreverted,
                            retained=outcome.retained, spec=effective_spec(spec) if error is None else None,
                            adopted=list(adopted))
        status = self.rollouts.report(build(cr.get("status"), picture.status, record), plan, generation, utcnow())
        await self._publish(cr, self._gauged(status))
        delays = [d for d in (picture.recheck_after, recheck) if d]
        if outcome.errors:
            delays.append(APPLY_RETRY_SECONDS)
        if outcome.deferred:
            delays.append(max(0.5, min(at for _, at in outcome.deferred) - time.monotonic()))
        if outcome.recheck_in:
            delays.append(max(0.5, min(outcome.recheck_in)))
        return min(delays) if delays else None

    def _gauged(self, status: dict) -> dict:
        counts = status.get("health") or {}
        METRICS.set("cni_operator_cni_pods_ready", counts.get("ready", 0), **self.labels)
        METRICS.set("cni_operator_cni_pods_desired", counts.get("desired", 0), **self.labels)
        return status

    async def _publish(self, cr: dict, status: dict) -> None:
        previous = (cr.get("status") or {}).get("phase")
        if await self.writer.publish(cr, status):
            self.announcer.phase_change(cr, previous, status)

    async def report_failure(self, cr: dict | None, exc: BaseException) -> None:
        """Say in status that a pass failed and why, instead of leaving the conditions at what an earlier pass saw.
        Best effort: what failed may be the API server itself, so a failure to report is logged, never raised."""
        if cr is None:
            return
        provider = provider_of(cr.get("spec"))
        message = f"the last reconcile pass failed and is retried with back-off: {describe_error(exc)}"
        try:
            inputs = self._health_inputs(provider) if provider is not None else self._running_cni_inputs()
            await self._publish(cr, health.pass_failed(message, generation=cr["metadata"].get("generation"),
                                                       now=utcnow(), **inputs))
        except Exception as report_exc:  # noqa: BLE001 - the pass's own error is what the caller raises
            self.logger.warning("could not report the failed pass in status: %s", describe_error(report_exc))

    # ---- imported clusters: observe only, write nothing but status

    async def _observe_imported(self, cr: dict) -> None:
        inputs = self._running_cni_inputs()
        status = health.unmanaged(detect.detect_cnis(self.projections.workload_list()),
                                  generation=cr["metadata"].get("generation"), now=utcnow(), **inputs)
        await self._publish(cr, status)

    # ---- finalizer and deletion

    async def _ensure_finalizer(self, cr: dict, spec: api.ClusterNetworkSpec) -> None:
        finalizers = list(cr["metadata"].get("finalizers") or [])
        want = spec.deletion_policy is DeletionPolicy.DELETE
        if want == (FINALIZER in finalizers):
            return
        updated = finalizers + [FINALIZER] if want else [f for f in finalizers if f != FINALIZER]
        patch = {"metadata": {"finalizers": updated, "resourceVersion": cr["metadata"]["resourceVersion"]}}
        try:
            result = await self.writer.patch(cr, patch)
            self.writer.on_written(result)
        except KubeError as exc:
            if exc.status not in (404, 409):  # 409: a newer version exists; the next pass sees it
                raise

    async def _finalize(self, cr: dict) -> float | None:
        finalizers = cr["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            return None
        policy = (cr.get("spec") or {}).get("deletionPolicy", "Orphan")
        inventory = self._read_inventory(cr, provider_of(cr.get("spec"))) if policy == "Delete" else []
        if inventory and (cr.get("spec") or {}).get("paused"):
            # paused stops every write, deletion included: the CNI stays as it is, as with Orphan.
            self.announcer.say(cr, WARNING, "DeletionPaused",
                               f"the ClusterNetwork is paused, so its deletion removed nothing: the "
                               f"{len(inventory)} CNI objects stay, no longer managed. To remove the CNI, unpause "
                               f"before deleting.")
        elif inventory:
            outcome = await asyncio.to_thread(self.applier.delete_all, inventory)
            self.announcer.retained(cr, outcome.retained)
            self.announcer.adoption(cr, [], outcome.released)
            uid, attempts = self._deletion_attempts
            attempts = attempts + 1 if uid == cr["metadata"].get("uid") else 1  # counted per ClusterNetwork
            self._deletion_attempts = (cr["metadata"].get("uid"), attempts)
            if outcome.errors and attempts < DELETE_ATTEMPTS:
                message = (f"deleting the CNI: {len(outcome.errors)} objects could not be removed yet "
                           f"(attempt {attempts}/{DELETE_ATTEMPTS}): {outcome.errors[0][1]}")
                self.logger.warning("%s", message)
                await self._publish(cr, health.deleting(message, generation=cr["metadata"].get("generation")))
                return 5.0 * attempts
            if outcome.errors:
                self.announcer.say(cr, WARNING, "DeleteIncomplete",
                                   f"gave up deleting after {DELETE_ATTEMPTS} attempts; left behind: "
                                   + ", ".join(r.describe() for r, _ in outcome.errors))
            else:
                kept = (f"; kept {len(outcome.retained)} CRDs instead of deleting them (see the CRDRetained and "
                        f"CRDReleased Events)" if outcome.retained else "")
                self.announcer.say(cr, NORMAL, "Deleted", f"removed {len(outcome.pruned)} CNI objects{kept}")
        remaining = [f for f in finalizers if f != FINALIZER]
        try:
            await self.writer.patch(cr, {"metadata": {"finalizers": remaining}})
        except KubeError as exc:
            if exc.status != 404:
                raise
        self._deletion_attempts = (None, 0)
        return None
