"""CNI health as pure functions: workloads, nodes and pods (facts, or camelCase dicts as the API returns them) ->
the status.

No kopf, no kubernetes client, no I/O, no clock (`now` is an argument), so every rule is testable with plain dicts.
`assess` gathers the evidence once (evidence.py), judges each condition with its own function (verdict.py) and
returns the picture: counts, grouped pod problems (problems.py), six conditions with reasons from
conditions.Reason, and a phase. docs/health.md explains it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

from ..api import DetectedCNI, HealthStatus, PodProblem
from ..objects import parse_time
from . import verdict
from .conditions import (
    APPLIED,
    DEGRADED,
    FALSE,
    PROGRESSING,
    READY,
    RECONCILING,
    STALLED,
    TRUE,
    Reason,
    condition,
    find,
)
from .evidence import NEVER_APPLIED, ApplyState, gather
from .facts import NodeFacts, PodFacts
from .nodes import MAX_NODE_NAMES, describe_coverage, node_coverage  # noqa: F401  (the health vocabulary)
from .problems import GRACE_SECONDS, MAX_PROBLEM_GROUPS, describe_problem, grace_left, pod_problems  # noqa: F401
from .verdict import NO_CNI, UNMANAGED_TEXT  # noqa: F401
from .workloads import MISSING, WorkloadCounts, select_pods, workload_counts  # noqa: F401


@dataclass(frozen=True)
class Assessment:
    phase: str
    ready_summary: str  # nodes with a ready CNI pod / nodes, e.g. "3/3"
    conditions: list[dict]  # lastTransitionTime=now, see merge_conditions
    health: HealthStatus
    problems: list[PodProblem]  # at most MAX_PROBLEM_GROUPS, most severe first
    verdict: str  # one line for logs and Events: "Degraded: 1 of 3 nodes has no ready canal pod: n2"
    recheck_after: float | None  # seconds until a grace period runs out and the verdict may change; None: never
    generation: int | None
    daemonset: WorkloadCounts
    controllers: WorkloadCounts | None

    def condition(self, type_: str) -> dict:
        return find(self.conditions, type_) or {}

    def is_true(self, type_: str) -> bool:
        return self.condition(type_).get("status") == TRUE

    @property
    def status(self) -> dict:
        """The status fields health owns (a fresh dict), camelCase, ready for merge_conditions and a patch."""
        return {
            "observedGeneration": self.generation,
            "phase": self.phase,
            "readySummary": self.ready_summary,
            "conditions": [dict(c) for c in self.conditions],
            "health": self.health.model_dump(by_alias=True),
            "unhealthy": [p.model_dump(by_alias=True) for p in self.problems],
        }


def assess(daemonset: dict | None, nodes: Sequence[NodeFacts | dict], pods: Sequence[PodFacts | dict],
           now: _dt.datetime | str | None, *, generation: int | None, applied: ApplyState | bool = NEVER_APPLIED,
           apply_error: str | None = None, deployment: dict | None = None,
           controller_pods: Sequence[PodFacts | dict] = (), expect_deployment: str | None = None,
           provider: str | None = None, paused: bool = False, imported: bool = False, foreign: Sequence[str] = (),
           unreverted: Sequence[str] = (), grace_seconds: float = GRACE_SECONDS, pods_seen: bool = True) -> Assessment:
    """The whole health picture: counts, pod problems, the conditions, phase and readySummary.

    `pods` are the CNI DaemonSet's pods (node coverage comes from them); `controller_pods` those of the controllers
    Deployment (problems only). `expect_deployment` names the Deployment the provider must have (e.g.
    calico-kube-controllers); None when it has none. `provider` names the CNI in messages while its DaemonSet is
    missing. `applied=True` is short for ApplyState(generation=generation), `apply_error` for an ApplyFailed state.
    Imported clusters: pass the detected CNI's workloads; nothing is expected to be applied. `foreign` names other
    CNIs found running next to the managed one ("cilium (kube-system/cilium)"): Degraded, whatever else holds.
    `unreverted` names managed objects that differ from the render and are left as they are (paused, ignored,
    a conflicting writer): not a problem, but said instead of "no problems found". `pods_seen` False: `pods` cannot
    be read where the DaemonSet runs, so coverage is the DaemonSet's count (evidence.gather).
    """
    now = parse_time(now)
    if now is None and (nodes or pods or controller_pods):
        raise ValueError("assess needs `now` to judge grace periods")
    if isinstance(applied, bool):
        applied = ApplyState(generation=generation if applied else None)
    if apply_error:
        applied = ApplyState(applied.generation, applied.hash, applied.objects, Reason.APPLY_FAILED, apply_error)
    e = gather(daemonset, nodes, pods, now, generation=generation, applied=applied, deployment=deployment,
               controller_pods=controller_pods, expect_deployment=expect_deployment, provider=provider,
               paused=paused, imported=imported, foreign=foreign, unreverted=unreverted,
               grace_seconds=grace_seconds, pods_seen=pods_seen)
    progress = verdict.progressing(e)
    verdicts = {READY: verdict.ready(e), PROGRESSING: progress, DEGRADED: verdict.degraded(e),
                APPLIED: verdict.applied(e), RECONCILING: verdict.reconciling(e, progress),
                STALLED: verdict.stalled(e)}
    made = {t: condition(t, *v, generation, now) for t, v in verdicts.items()}
    phase, why = verdict.phase(e, made)
    return Assessment(
        phase=phase, ready_summary=f"{e.coverage.with_ready_cni}/{e.coverage.total}", conditions=list(made.values()),
        health=HealthStatus(desired=e.ds.desired, ready=e.ds.ready, updated=e.ds.updated,
                            unavailable=e.ds.unavailable, nodes=e.coverage),
        problems=e.problems[:MAX_PROBLEM_GROUPS], verdict=f"{phase}: {why['message']}",
        recheck_after=round(min(e.waits) + 0.5, 3) if e.waits else None, generation=generation,
        daemonset=e.ds, controllers=e.dep)


# ---------------------------------------------------------------- status for the other paths


def refused(reason: Reason | str, message: str, *, generation: int | None, now: _dt.datetime | None = None,
            daemonset: dict | None = None, nodes: Sequence[NodeFacts | dict] = (),
            pods: Sequence[PodFacts | dict] = (), **inputs) -> dict:
    """Status when the operator will not write (InvalidConfiguration, RegistryNotAllowed, ForeignCNIDetected,
    ClusterTypeMismatch): phase Failed, the reason on Ready, Progressing, Degraded, Applied and Stalled, and the health
    of whatever runs. Any other reason of conditions.APPLY_ERRORS is not a refusal: the phase is Degraded."""
    state = ApplyState(error=Reason(reason), message=message)
    return assess(daemonset, nodes, pods, now, generation=generation, applied=state, **inputs).status


def pass_failed(message: str, *, generation: int | None, **inputs) -> dict:
    """Status when a pass ended in an error before it could report (an API error, a bug): Degraded and Reconciling
    with reason ReconcileError and the error in words, phase Degraded, and the health of what runs. The operator
    retries with back-off; what the last good pass applied stays in status."""
    return refused(Reason.RECONCILE_ERROR, message, generation=generation, **inputs)


def invalid_configuration(message: str, *, generation: int | None, **inputs) -> dict:
    return refused(Reason.INVALID_CONFIGURATION, f"the spec is invalid, nothing is applied until it is fixed: "
                   f"{message}", generation=generation, **inputs)


def unmanaged(detected: Sequence[DetectedCNI], *, generation: int | None, now: _dt.datetime | str | None,
              daemonset: dict | None, nodes: Sequence[NodeFacts | dict], pods: Sequence[PodFacts | dict],
              **inputs) -> dict:
    """Status of an imported cluster: phase Unmanaged, every detected CNI, and the health of `daemonset`
    (the CNI being reported, e.g. detect.primary_workload) over `pods` (its pods) and `nodes`."""
    status = assess(daemonset, nodes, pods, now, generation=generation, imported=True, **inputs).status
    status["detected"] = [d.model_dump(by_alias=True) for d in detected]
    return status


def deleting(message: str, *, generation: int | None, now: _dt.datetime | str | None = None) -> dict:
    """Status while the ClusterNetwork waits to be deleted; says why. The phase is left as it was."""
    text = f"deleting: {message}"
    return {"observedGeneration": generation, "conditions": [
        condition(READY, FALSE, Reason.DELETING, text, generation, now),
        condition(PROGRESSING, TRUE, Reason.DELETING, text, generation, now),
        condition(DEGRADED, FALSE, Reason.DELETING, text, generation, now),
        condition(APPLIED, FALSE, Reason.DELETING, text, generation, now),
        condition(RECONCILING, TRUE, Reason.DELETING, text, generation, now),
        condition(STALLED, FALSE, Reason.DELETING, text, generation, now),
    ]}


def with_rollout(status: dict, phase: str, message: str, *, generation: int | None,
                 now: _dt.datetime | str | None = None) -> dict:
    """Status while the operator replaces the CNI's pods itself (session/rollout.py), from the rollout's phase.

    Canary, Soaking, Rolling: Ready False and Progressing/Reconciling True (RollingOut), whatever the counts say (a
    one-node canary is all of the DaemonSet, and the soak still decides). RolledBack, Failed: the update of this
    generation is over without a person (Stalled, Degraded, UpgradeRolledBack or UpgradeFailed), and Ready is False
    so that `kubectl wait --for=condition=Ready` does not take the old version for the new one. Complete: as health
    judged it."""
    if phase in ("Canary", "Soaking", "Rolling"):
        why = f"rollout {phase}: {message}"
        replaced = {READY: (FALSE, Reason.ROLLING_OUT, why), PROGRESSING: (TRUE, Reason.ROLLING_OUT, why),
                    RECONCILING: (TRUE, Reason.ROLLING_OUT, why)}
        summary = "Degraded" if status.get("phase") == "Degraded" else "Installing"
    elif phase in ("RolledBack", "Failed"):
        reason = Reason.UPGRADE_ROLLED_BACK if phase == "RolledBack" else Reason.UPGRADE_FAILED
        replaced = {READY: (FALSE, reason, message), PROGRESSING: (FALSE, reason, message),
                    DEGRADED: (TRUE, reason, message), RECONCILING: (FALSE, reason, message),
                    STALLED: (TRUE, reason, message)}
        summary = "Degraded"
    else:
        return status
    made = {c["type"]: c for c in status.get("conditions") or []}
    made.update({t: condition(t, *v, generation, now) for t, v in replaced.items()})
    order = (READY, PROGRESSING, DEGRADED, APPLIED, RECONCILING, STALLED)
    return {**status, "phase": summary, "conditions": [made[t] for t in order if t in made]}
