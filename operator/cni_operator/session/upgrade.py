"""The reconciler's side of an operator-driven update (the decisions are rollout.py's): which render a pass applies,
when an update starts, deleting the pods a step names, and the Events and status of the update.

Reads only the session's caches (the DaemonSet and its pods are watched); its only requests are pod deletions.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging

from .. import api, health
from ..apply.diff import contains, with_hash_annotation
from ..events import NORMAL, WARNING
from ..kube import Kube, KubeError
from ..objects import CNI_NAMESPACE, HASH_ANNOTATION, ObjectRef
from ..providers import for_provider
from ..registry_policy import RegistryPolicy, refused_images
from ..render import Rendered, render
from ..validation import check
from .announce import Announcer
from .projections import Projections
from .rollout import Plan, advance, start


def effective_spec(spec: api.ClusterNetworkSpec) -> str:
    """The resolved spec as JSON: rendering it again gives the same objects (what a rollback applies)."""
    return json.dumps(spec.model_dump(by_alias=True, mode="json", exclude_none=True), sort_keys=True,
                      separators=(",", ":"))


class Rollouts:
    def __init__(self, kube: Kube, projections: Projections, announcer: Announcer, logger: logging.Logger,
                 policy: RegistryPolicy):
        self.kube, self.projections, self.announcer, self.logger, self.policy = \
            kube, projections, announcer, logger, policy
        self.deleting: set[str] = set()  # pods this process deleted that the watch may still show serving
        self._last_applied: tuple[str | None, dict | None] = (None, None)  # status.applied.spec -> its pod template

    def _daemonset(self, spec: api.ClusterNetworkSpec, rendered: Rendered) -> dict | None:
        name = for_provider(spec.provider).daemonset
        return next((o for o in rendered.apply if o.get("kind") == "DaemonSet" and
                     o["metadata"].get("name") == name), None)

    def plan_for(self, cr: dict, spec: api.ClusterNetworkSpec, rendered: Rendered, inventory: list[ObjectRef],
                 now: _dt.datetime, takeover: tuple[str, str | None, dict | None] | None = None,
                 ) -> tuple[Plan | None, Rendered, api.ClusterNetworkSpec]:
        """The update this pass works on (None: none), the render to apply and the spec it comes from.

        A generation whose update was rolled back is not tried again: the previous render is applied until the
        spec changes. A change of the CNI DaemonSet's pod template since the last apply starts an update; the first
        install, config-only changes and drift repair do not (the template of status.applied.spec's render tells
        our change from someone else's; without it, the DaemonSet's hash annotation). `takeover` (adoption.py, spec.adoption Takeover): the first install takes over someone
        else's DaemonSet, which is the update's starting point: (its version, the spec whose render has its pod
        templates or None, the live DaemonSet)."""
        generation = cr["metadata"].get("generation")
        status = cr.get("status") or {}
        plan = Plan.of(status)
        if plan is not None and plan.generation == generation:
            if plan.phase == "RolledBack":
                previous = check(json.loads(plan.from_spec or "{}"))
                if previous.ok:
                    again = render(previous.spec)
                    if not refused_images(again.apply, self.policy):
                        return plan, again, previous.spec
                plan.phase = "Failed"
                plan.message += "; the previous spec cannot be rendered again, so nothing was rolled back"
            return plan, rendered, spec
        desired = self._daemonset(spec, rendered)
        if (not inventory and takeover is None) or desired is None:
            return plan, rendered, spec
        live = self.projections.lookup(ObjectRef.of(desired)) or (takeover[2] if takeover else None)
        if live is None:
            return plan, rendered, spec
        before = None if takeover else self._applied_template(status)
        if before is not None:
            # What this operator applied last decides, not the live object: someone else's change (even one that
            # copies our hash annotation) is drift to revert, never an update; and a template applied by a pass
            # that died before its status was written is still an update to finish.
            if before == desired["spec"]["template"]:
                return plan, rendered, spec
        else:
            want = with_hash_annotation(desired)["metadata"]["annotations"][HASH_ANNOTATION]
            live_hash = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
            if live_hash == want or contains(desired["spec"]["template"], (live.get("spec") or {}).get("template") or {}):
                return plan, rendered, spec
        pods = self.projections.pods_of(for_provider(spec.provider).pod_app)
        from_version, from_spec = takeover[:2] if takeover else (status.get("version") or "",
                                                                  (status.get("applied") or {}).get("spec"))
        plan = start(previous=plan, from_version=from_version, to_version=spec.cni.version,
                     generation=generation, from_spec=from_spec,
                     to_spec=effective_spec(spec), pods=pods, options=spec.rollout, now=now)
        self.announcer.say(cr, NORMAL, "RolloutStarted",
                           f"updating {spec.provider.value} {plan.from_version} -> {plan.to_version}: {plan.message}")
        return plan, rendered, spec

    async def drive(self, cr: dict, plan: Plan, spec: api.ClusterNetworkSpec, rendered: Rendered,
                    now: _dt.datetime) -> float | None:
        """One step of the update: delete the pods it names; a failed gate is said in a Warning Event. Returns
        seconds until the next look (None: nothing to wait for)."""
        cni = for_provider(spec.provider)
        pods = self.projections.pods_of(cni.pod_app)
        self.deleting &= {p.name for p in pods if not p.terminating}
        workload = self.projections.workload(CNI_NAMESPACE, cni.daemonset, "DaemonSet") or {}
        desired = self._daemonset(spec, rendered)
        step = advance(plan, pods, desired=(workload.get("status") or {}).get("desiredNumberScheduled") or 0,
                       observed=self._observed(workload, desired), options=spec.rollout, now=now,
                       deleting=self.deleting)
        if step.failed:
            reason = health.Reason.UPGRADE_ROLLED_BACK if plan.phase == "RolledBack" else health.Reason.UPGRADE_FAILED
            self.announcer.say(cr, WARNING, str(reason), plan.message)
            return 0.1  # the next pass applies the previous render (or reports the stop)
        for pod in step.delete:
            await self._delete(pod.name, pod.node)
        return step.recheck

    def _applied_template(self, status: dict) -> dict | None:
        """The CNI DaemonSet's pod template in the render of status.applied.spec (the last successful apply); None
        when there is none or it cannot be rendered again. Remembered per spec: a render is not free."""
        applied = (status.get("applied") or {}).get("spec")
        if not applied:
            return None
        if self._last_applied[0] != applied:
            previous = check(json.loads(applied))
            template = None
            if previous.ok:
                ds = self._daemonset(previous.spec, render(previous.spec))
                template = ds["spec"]["template"] if ds else None
            self._last_applied = (applied, template)
        return self._last_applied[1]

    def _observed(self, workload: dict, desired: dict | None) -> bool:
        """The DaemonSet controller has seen the template we applied last: a pod deleted now comes back with it."""
        if not workload or desired is None:
            return False
        meta, status = workload.get("metadata") or {}, workload.get("status") or {}
        want = with_hash_annotation(desired)["metadata"]["annotations"][HASH_ANNOTATION]
        return (meta.get("annotations") or {}).get(HASH_ANNOTATION) == want and \
            (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)

    async def _delete(self, name: str, node: str) -> None:
        self.logger.info("rollout: deleting pod %s/%s on %s", CNI_NAMESPACE, name, node)
        try:
            await asyncio.to_thread(self.kube.delete, ObjectRef("v1", "Pod", name, CNI_NAMESPACE))
        except KubeError as exc:
            if exc.status != 404:
                raise
        self.deleting.add(name)

    @staticmethod
    def report(status: dict, plan: Plan | None, generation: int | None, now: _dt.datetime) -> dict:
        """status.rollout, and the conditions of an update in progress or stopped for this generation."""
        if plan is None:
            return status
        status = {**status, "rollout": plan.as_status()}
        if plan.generation != generation:
            return status
        return health.with_rollout(status, plan.phase, plan.message, generation=generation, now=now)
