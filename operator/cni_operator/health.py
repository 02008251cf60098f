"""CNI health as pure functions: workload, node and pod dicts (camelCase, as the API returns them) -> the status.

No kopf, no kubernetes client, no I/O, no clock (`now` is an argument), so every rule is testable with plain dicts.
assess() is the entry point for the operator: counts, grouped pod problems (problems.py), the four conditions
(Ready, Progressing, Degraded, Applied) with reasons from conditions.Reason, and a phase. docs/health.md explains it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .api import DetectedCNI, HealthStatus, NodeCounts, PodProblem
from .conditions import (
    APPLIED,
    DEGRADED,
    FALSE,
    PROGRESSING,
    READY,
    REFUSALS,
    TRUE,
    UNKNOWN,
    Reason,
    condition,
    find,
    parse_time,
)
from .problems import (  # noqa: F401
    GRACE_SECONDS,
    MAX_PROBLEM_GROUPS,
    Problem,
    describe_problem,
    grace_left,
    natural_key,
    pod_is_ready,
    pod_problems,
)

MAX_NODE_NAMES = 10  # nodes named in status.health.nodes.withoutReadyCNI and in messages


# ---------------------------------------------------------------- workloads


@dataclass(frozen=True)
class WorkloadCounts:
    """Replica counts of a DaemonSet or Deployment. `present=False` is a missing workload, never a healthy zero."""

    present: bool
    name: str = ""
    desired: int = 0
    ready: int = 0
    updated: int = 0
    unavailable: int = 0
    observed: bool = False  # its controller has seen the latest spec (status.observedGeneration >= generation)

    @property
    def rolling_out(self) -> bool:
        """Pods are being replaced by a new template, or the controller has not caught up with the spec yet."""
        return self.present and (not self.observed or self.updated < self.desired)

    @property
    def progressing(self) -> bool:
        """Tigera's rule: rolling out, or some pods unavailable."""
        return self.present and (self.rolling_out or self.unavailable > 0)

    @property
    def available(self) -> bool:
        return self.present and self.desired > 0 and self.ready >= self.desired


MISSING = WorkloadCounts(present=False)


def _int(value) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def _is_deployment(workload: dict) -> bool:
    kind = workload.get("kind")
    return kind == "Deployment" or (not kind and (workload.get("spec") or {}).get("replicas") is not None)


def workload_counts(workload: dict | None) -> WorkloadCounts:
    """desired/ready/updated/unavailable of a DaemonSet or a Deployment dict; MISSING for None."""
    if not workload:
        return MISSING
    meta, spec, status = workload.get("metadata") or {}, workload.get("spec") or {}, workload.get("status") or {}
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    seen = observed is not None and (generation is None or observed >= generation)
    name = meta.get("name") or ""
    if _is_deployment(workload):
        desired = 1 if spec.get("replicas") is None else _int(spec["replicas"])
        if "unavailableReplicas" in status:
            unavailable = _int(status["unavailableReplicas"])
        else:
            unavailable = max(desired - _int(status.get("availableReplicas")), 0)
        return WorkloadCounts(True, name, desired, _int(status.get("readyReplicas")),
                              _int(status.get("updatedReplicas")), unavailable, seen)
    return WorkloadCounts(True, name, _int(status.get("desiredNumberScheduled")), _int(status.get("numberReady")),
                          _int(status.get("updatedNumberScheduled")), _int(status.get("numberUnavailable")), seen)


def select_pods(workload: dict, pods: Iterable[dict]) -> list[dict]:
    """Pods in the workload's namespace matching its spec.selector.matchLabels (matchExpressions are ignored:
    no CNI manifest we know uses them). Needs the selector's labels on the pods, so projections must keep them."""
    meta = workload.get("metadata") or {}
    wanted = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not wanted:
        return []
    return [p for p in pods
            if (p.get("metadata") or {}).get("namespace", meta.get("namespace")) == meta.get("namespace")
            and all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in wanted.items())]


# ---------------------------------------------------------------- nodes


def _coverage(nodes: Iterable[dict], pods: Iterable[dict]) -> tuple[dict[str, dict], set[str]]:
    by_name = {n["metadata"]["name"]: n for n in nodes if (n.get("metadata") or {}).get("name")}
    covered = {(p.get("spec") or {}).get("nodeName") for p in pods if pod_is_ready(p)} & by_name.keys()
    return by_name, covered


def _counts(by_name: dict[str, dict], covered: set[str]) -> NodeCounts:
    without = sorted(by_name.keys() - covered, key=natural_key)
    return NodeCounts(total=len(by_name), with_ready_cni=len(covered), without_ready_cni=without[:MAX_NODE_NAMES])


def node_coverage(nodes: Iterable[dict], pods: Iterable[dict]) -> NodeCounts:
    """Nodes in total vs nodes running a Ready (not terminating) CNI pod; names up to 10 without one, n2 before n10."""
    return _counts(*_coverage(nodes, pods))


def describe_coverage(nodes: NodeCounts, cni: str) -> str:
    """'2 of 3 nodes have no ready canal pod: n2, n3' ('' when every node has one)."""
    lacking = nodes.total - nodes.with_ready_cni
    if lacking <= 0:
        return ""
    names = ", ".join(nodes.without_ready_cni)
    more = lacking - len(nodes.without_ready_cni)
    names += f" and {more} more" if more > 0 else ""
    return f"{lacking} of {nodes.total} node{'s' if nodes.total > 1 else ''} " \
           f"{'has' if lacking == 1 else 'have'} no ready {cni} pod: {names}"


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class ApplyState:
    """What the apply step reports. `generation`: the spec generation last applied successfully (None: never).
    `error`: how the last attempt ended when it did not succeed (one of conditions.APPLY_ERRORS), with a message
    for people saying what to do."""

    generation: int | None = None
    hash: str = ""
    objects: int = 0
    error: Reason | None = None
    message: str = ""


@dataclass(frozen=True)
class Assessment:
    phase: str
    ready_summary: str  # nodes with a ready CNI pod / nodes, e.g. "3/3"
    conditions: list[dict]  # Ready, Progressing, Degraded, Applied; lastTransitionTime=now, see merge_conditions
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


def _rollout_text(w: WorkloadCounts) -> str:
    if not w.observed:
        return f"{w.name}: waiting for its controller to pick up the new spec"
    if w.updated < w.desired:
        return f"{w.name}: {w.updated} of {w.desired} pods updated"
    return f"{w.name}: {w.unavailable} of {w.desired} pods unavailable"


def _names(names: list[str]) -> str:
    more = len(names) - MAX_NODE_NAMES
    return ", ".join(names[:MAX_NODE_NAMES]) + (f" and {more} more" if more > 0 else "")


def _age(obj: dict, now: _dt.datetime) -> float | None:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return None if created is None else (now - created).total_seconds()


_DEGRADED_ORDER = [Reason.INVALID_CONFIGURATION, Reason.FOREIGN_CNI_DETECTED, Reason.CLUSTER_TYPE_MISMATCH,
                   Reason.APPLY_FAILED, Reason.WORKLOAD_MISSING, Reason.PODS_FAILING, Reason.NODES_WITHOUT_CNI]
UNMANAGED_TEXT = "clusterType is imported: the operator never writes to this cluster and only reports its CNI"
NO_CNI = "no known CNI DaemonSet found (calico-node, canal, kube-flannel, aws-node, cilium)"


def assess(daemonset: dict | None, nodes: Sequence[dict], pods: Sequence[dict], now: _dt.datetime | str | None, *,
           generation: int | None, applied: ApplyState | bool = ApplyState(), apply_error: str | None = None,
           deployment: dict | None = None, controller_pods: Sequence[dict] = (),
           expect_deployment: str | None = None, provider: str | None = None, paused: bool = False,
           imported: bool = False, foreign: Sequence[str] = (),
           grace_seconds: float = GRACE_SECONDS) -> Assessment:
    """The whole health picture: counts, pod problems, four conditions, phase and readySummary.

    `pods` are the CNI DaemonSet's pods (node coverage comes from them); `controller_pods` those of the controllers
    Deployment (problems only). `expect_deployment` names the Deployment the provider must have (e.g.
    calico-kube-controllers); None when it has none. `provider` names the CNI in messages while its DaemonSet is
    missing. `applied=True` is short for ApplyState(generation=generation), `apply_error` for an ApplyFailed state.
    Imported clusters: pass the detected CNI's workloads; nothing is expected to be applied. `foreign` names other
    CNIs found running next to the managed one ("cilium (kube-system/cilium)"): Degraded, whatever else holds.
    """
    now = parse_time(now)
    if now is None and (nodes or pods or controller_pods):
        raise ValueError("assess needs `now` to judge grace periods")
    if isinstance(applied, bool):
        applied = ApplyState(generation=generation if applied else None)
    if apply_error:
        applied = ApplyState(applied.generation, applied.hash, applied.objects, Reason.APPLY_FAILED, apply_error)
    ds = workload_counts(daemonset)
    dep = workload_counts(deployment) if deployment is not None or expect_deployment else None
    dep_name = (dep.name if dep and dep.name else expect_deployment) or "controllers"
    cni = ds.name or provider or "CNI"
    managed, error = not imported, None if imported else applied.error
    this_gen = applied.generation is not None and applied.generation == generation
    # Paused: nothing is written, so judge the network that runs (if any) rather than a generation.
    judge_network = imported or this_gen or (paused and ds.present)
    unseen = imported and not ds.present

    by_name, covered = _coverage(nodes, pods)
    coverage = _counts(by_name, covered)
    lacking = coverage.total - coverage.with_ready_cni
    coverage_text = describe_coverage(coverage, cni)
    found = pod_problems([*pods, *controller_pods], now, grace_seconds, limit=None)
    waits = [w for w in (grace_left([*pods, *controller_pods], now, grace_seconds),) if w is not None]
    # A node that joined within the grace period may not have its CNI pod yet: starting, not broken.
    joining = []
    for name in sorted(by_name.keys() - covered, key=natural_key):
        age = _age(by_name[name], now)
        if age is not None and age < grace_seconds:
            joining.append(name)
            waits.append(grace_seconds - age)
    workloads = [w for w in (ds, dep) if w is not None and w.present]
    rolling = [_rollout_text(w) for w in workloads if w.rolling_out]
    starting = [_rollout_text(w) for w in workloads if not w.rolling_out and w.unavailable > 0]
    settled = not rolling and not starting
    if joining:
        starting.append(f"{_names(joining)} joined less than {grace_seconds:g}s ago and "
                        f"{'has' if len(joining) == 1 else 'have'} no ready {cni} pod yet")
    missing = []
    if managed and applied.generation is not None:
        missing += [] if ds.present else [f"the {cni} DaemonSet is missing"]
        missing += [] if dep is None or dep.present else [f"the {dep_name} Deployment is missing"]
    paused_text = f"spec.paused is true: the operator writes nothing (generation {generation})"
    not_applied = f"generation {generation} is not applied yet"

    # Ready: applied for this generation, every node has a ready CNI pod, controllers available.
    if unseen:
        ready = (UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI)
    elif error in REFUSALS or (error and not this_gen):
        ready = (FALSE, error, applied.message)
    elif not judge_network:
        ready = (FALSE, Reason.PAUSED, paused_text) if paused else (FALSE, Reason.NOT_APPLIED, not_applied)
    elif not ds.present:
        ready = (FALSE, Reason.WORKLOAD_MISSING, f"the {cni} DaemonSet is missing")
    elif coverage.total == 0:
        ready = (FALSE, Reason.NODES_NOT_READY, "the cluster has no nodes yet")
    elif lacking:
        ready = (FALSE, Reason.NODES_NOT_READY, coverage_text)
    elif dep is not None and not dep.present:
        ready = (FALSE, Reason.WORKLOAD_MISSING, f"the {dep_name} Deployment is missing")
    elif dep is not None and not dep.available:
        ready = (FALSE, Reason.CONTROLLERS_NOT_READY, f"{dep_name}: {dep.ready} of {dep.desired} replicas ready")
    else:
        ready = (TRUE, Reason.ALL_NODES_READY, f"{coverage.total}/{coverage.total} nodes have a ready {cni} pod")

    # Progressing: Tigera's rule (updated < desired or unavailable > 0), joining nodes, or an apply to come.
    if unseen:
        progressing = (UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI)
    elif error in REFUSALS:
        progressing = (FALSE, error, "nothing is applied until this is resolved")
    elif rolling or starting:
        progressing = (TRUE, Reason.ROLLING_OUT if rolling else Reason.PODS_STARTING, "; ".join(rolling + starting))
    elif paused:
        progressing = (FALSE, Reason.PAUSED, paused_text)
    elif managed and not this_gen:
        applying = f"applying generation {generation}"
        progressing = (FALSE, error, applied.message) if error else (TRUE, Reason.APPLYING, applying)
    elif missing:
        progressing = (FALSE, Reason.WORKLOAD_MISSING, "; ".join(missing))
    else:
        progressing = (FALSE, Reason.STABLE, "all CNI pods are updated and available")

    # Degraded: every problem at once (one bad node must not hide the rest); the reason is the most severe.
    # Nodes without a ready CNI pod count once the rollout has settled and the node is past its grace period.
    causes: list[tuple[Reason, str]] = [(error, applied.message or str(error))] if error else []
    causes += [(Reason.WORKLOAD_MISSING, text) for text in missing]
    if ds.present and lacking > len(joining) and (settled or causes or found):
        causes.append((Reason.NODES_WITHOUT_CNI, coverage_text))
    if foreign and managed:
        text = (f"another CNI runs next to {cni}: {', '.join(foreign)}; two CNIs on a node fight over pod "
                "networking: remove it (cni-operator never removes what it did not install)")
        causes.append((Reason.FOREIGN_CNI_DETECTED, text))
    if found:
        more = len(found) - MAX_PROBLEM_GROUPS
        causes.append((Reason.PODS_FAILING, "; ".join(describe_problem(p) for p in found[:MAX_PROBLEM_GROUPS])
                       + (f"; and {more} more problem groups" if more > 0 else "")))
    if unseen:
        degraded = (UNKNOWN, Reason.NO_CNI_DETECTED, NO_CNI)
    elif causes:
        top = min((reason for reason, _ in causes), key=_DEGRADED_ORDER.index)
        degraded = (TRUE, top, "; ".join(text for _, text in causes))
    else:
        degraded = (FALSE, Reason.AS_EXPECTED, "no problems found")

    if imported:
        applied_c = (FALSE, Reason.UNMANAGED, UNMANAGED_TEXT)
    elif paused:
        applied_c = (TRUE if this_gen else FALSE, Reason.PAUSED, paused_text)
    elif error:
        applied_c = (FALSE, error, applied.message)
    elif this_gen:
        applied_c = (TRUE, Reason.APPLIED,
                     f"generation {generation} applied: {applied.objects} objects, hash {applied.hash[:12]}")
    else:
        applied_c = (FALSE, Reason.NOT_APPLIED, not_applied)

    made = {t: condition(t, *c, generation, now) for t, c in
            ((READY, ready), (PROGRESSING, progressing), (DEGRADED, degraded), (APPLIED, applied_c))}
    if imported:
        phase, why = "Unmanaged", made[DEGRADED if degraded[0] == TRUE else READY]
    elif error in REFUSALS:
        phase, why = "Failed", made[DEGRADED]
    elif paused:
        phase, why = "Paused", made[APPLIED]
    elif degraded[0] == TRUE:
        phase, why = "Degraded", made[DEGRADED]
    elif applied.generation is None:
        phase, why = "Pending", made[PROGRESSING]
    elif ready[0] == TRUE:
        phase, why = "Ready", made[READY]
    else:
        phase, why = "Installing", made[PROGRESSING if progressing[0] == TRUE else READY]

    return Assessment(
        phase=phase, ready_summary=f"{coverage.with_ready_cni}/{coverage.total}", conditions=list(made.values()),
        health=HealthStatus(desired=ds.desired, ready=ds.ready, updated=ds.updated, unavailable=ds.unavailable,
                            nodes=coverage),
        problems=found[:MAX_PROBLEM_GROUPS], verdict=f"{phase}: {why['message']}",
        recheck_after=round(min(waits) + 0.5, 3) if waits else None, generation=generation,
        daemonset=ds, controllers=dep)


# ---------------------------------------------------------------- status for the other paths


def refused(reason: Reason | str, message: str, *, generation: int | None, now: _dt.datetime | None = None,
            daemonset: dict | None = None, nodes: Sequence[dict] = (), pods: Sequence[dict] = (),
            **inputs) -> dict:
    """Status when the operator will not write (InvalidConfiguration, ForeignCNIDetected, ClusterTypeMismatch):
    phase Failed, the reason on Ready, Progressing, Degraded and Applied, and the health of whatever runs."""
    state = ApplyState(error=Reason(reason), message=message)
    return assess(daemonset, nodes, pods, now, generation=generation, applied=state, **inputs).status


def invalid_configuration(message: str, *, generation: int | None, **inputs) -> dict:
    return refused(Reason.INVALID_CONFIGURATION, f"the spec is invalid, nothing is applied until it is fixed: "
                   f"{message}", generation=generation, **inputs)


def unmanaged(detected: Sequence[DetectedCNI], *, generation: int | None, now: _dt.datetime | str | None,
              daemonset: dict | None, nodes: Sequence[dict], pods: Sequence[dict], **inputs) -> dict:
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
    ]}
