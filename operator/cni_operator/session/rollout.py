"""The operator-driven update of an installed CNI's DaemonSet: pure decisions, one step per reconcile pass.

The DaemonSet is rendered with `updateStrategy: OnDelete`, so applying a new template restarts nothing; this module
says which old pods to delete now:

    Canary     delete the old pods of the canary nodes (spec.rollout.canary, chosen when the update starts)
    Soaking    the canary pods stay Ready, without a restart or a problem, for soakSeconds
    Rolling    delete old pods in batches; a batch goes only as far as maxUnavailable allows
    Complete   every node runs the new template, Ready
    RolledBack a gate failed, or progressDeadlineSeconds passed: the previous render is applied again and the new
               pods are deleted; this generation is not tried again
    Failed     as RolledBack with autoRollback false: the operator stops where it is and reports

Never more than maxUnavailable nodes are without a Ready CNI pod because of a deletion: a pod is deleted only while
(desired - Ready pods) is below maxUnavailable, counting the pods deleted and not yet replaced. Everything here is
derived from the pods' controller-revision-hash (old = the revision recorded when the update started) and what
status.rollout recorded, so a restarted operator resumes where the last one stopped.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..api import RolloutOptions
from ..health.facts import REVISION_LABEL, PodFacts, Problem
from ..objects import parse_time, rfc3339

ACTIVE = ("Canary", "Soaking", "Rolling")
STOPPED = ("RolledBack", "Failed")
# What fails a gate at once: the new template does not run. NotReady and Pending are waited for (the deadline).
GATE_PROBLEMS = frozenset({Problem.FAILED, Problem.CRASH_LOOP_BACK_OFF, Problem.OOM_KILLED, Problem.ERROR,
                           Problem.IMAGE_PULL_BACK_OFF, Problem.CREATE_CONTAINER_ERROR})
MAX_NAMED = 5  # pods named in a failure message
RECHECK_SECONDS = 2.0  # while deleted pods are replaced: their events poke sooner


def scaled(value: int | str, total: int) -> int:
    """A count or a percentage of `total`, rounded up as the DaemonSet controller does, at least 1."""
    if isinstance(value, str) and value.endswith("%"):
        return max(1, math.ceil(total * int(value[:-1]) / 100))
    return max(1, int(value))


@dataclass
class Plan:
    """status.rollout, in Python."""

    from_version: str
    to_version: str
    generation: int | None
    from_revision: str
    stale_revisions: list[str]  # what the pods ran when the update started: every pod of these is replaced
    from_spec: str | None
    started_at: str
    canary_nodes: list[str]
    phase: str = "Canary"
    soak_started_at: str | None = None
    nodes_updated: int = 0
    nodes_total: int = 0
    message: str = ""

    def as_status(self) -> dict:
        status = {"from": self.from_version, "to": self.to_version, "generation": self.generation,
                  "phase": self.phase, "nodesUpdated": self.nodes_updated, "nodesTotal": self.nodes_total,
                  "message": self.message, "fromRevision": self.from_revision,
                  "staleRevisions": list(self.stale_revisions), "startedAt": self.started_at,
                  "canaryNodes": list(self.canary_nodes)}
        if self.from_spec is not None:
            status["fromSpec"] = self.from_spec
        if self.soak_started_at is not None:
            status["soakStartedAt"] = self.soak_started_at
        return {k: v for k, v in status.items() if v is not None}

    @classmethod
    def of(cls, status: dict | None) -> Plan | None:
        recorded = (status or {}).get("rollout")
        if not recorded or not recorded.get("startedAt"):
            return None
        return cls(from_version=recorded.get("from", ""), to_version=recorded.get("to", ""),
                   generation=recorded.get("generation"), from_revision=recorded.get("fromRevision", ""),
                   stale_revisions=list(recorded.get("staleRevisions") or [recorded.get("fromRevision", "")]),
                   from_spec=recorded.get("fromSpec"), started_at=recorded["startedAt"],
                   canary_nodes=list(recorded.get("canaryNodes") or []), phase=recorded.get("phase", "Canary"),
                   soak_started_at=recorded.get("soakStartedAt"), nodes_updated=recorded.get("nodesUpdated", 0),
                   nodes_total=recorded.get("nodesTotal", 0), message=recorded.get("message", ""))

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE


def running_revision(pods: Iterable[PodFacts]) -> str:
    """The revision most serving pods run: the old template when an update starts."""
    counts = Counter(p.label(REVISION_LABEL) for p in pods if not p.terminating and p.label(REVISION_LABEL))
    return counts.most_common(1)[0][0] if counts else ""


def start(*, previous: Plan | None, from_version: str, to_version: str, generation: int | None,
          from_spec: str | None, to_spec: str, pods: Sequence[PodFacts], options: RolloutOptions,
          now: _dt.datetime) -> Plan:
    """A new update, started before its template is applied: every revision the pods run now is replaced.

    One that replaces an unfinished or rolled-back update keeps that one's starting point (version, spec, revision):
    what a rollback restores. Going back to exactly that starting point replaces every other revision."""
    running = {p.label(REVISION_LABEL) or "" for p in pods if not p.terminating}
    if previous is not None and previous.phase != "Complete":
        from_version, from_spec, revision = previous.from_version, previous.from_spec, previous.from_revision
        running |= set(previous.stale_revisions)
    else:
        revision = running_revision(pods)
    stale = sorted(running - {revision}) if from_spec is not None and to_spec == from_spec else sorted(running)
    hosts = sorted({p.node for p in pods if p.node and (p.label(REVISION_LABEL) or "") in stale})
    wanted = scaled(options.canary, len(hosts))
    canary = hosts[:wanted]
    # Admission cannot know the node count: a canary as large as the cluster is the whole cluster, and said so.
    note = f" (canary {options.canary} is more than the {len(hosts)} nodes: all of them)" if wanted > len(hosts) else ""
    return Plan(from_version=from_version, to_version=to_version, generation=generation, from_revision=revision,
                stale_revisions=stale, from_spec=from_spec, started_at=rfc3339(now), canary_nodes=canary,
                message=f"updating {len(canary)} canary node(s) first: {', '.join(canary[:MAX_NAMED])}{note}")


@dataclass
class Step:
    """What to do in this pass: the pods to delete, when to look again, and whether the update just failed."""

    delete: list[PodFacts] = field(default_factory=list)
    recheck: float | None = None
    failed: bool = False


def _problem(pod: PodFacts) -> str | None:
    if pod.phase == "Failed":
        return f"{Problem.FAILED}: {pod.failed_detail}" if pod.failed_detail else str(Problem.FAILED)
    for container in (*pod.init_containers, *pod.containers):
        if container.problem and container.problem[0] in GATE_PROBLEMS:
            return f"{container.problem[0]} ({container.name}: {container.problem[1]})"
    return None


def _budget(pods: Sequence[PodFacts], desired: int, max_unavailable: int, deleting: set[str]) -> int:
    serving = {p.node for p in pods if p.is_ready and p.name not in deleting}
    return max_unavailable - max(desired - len(serving), 0)


def advance(plan: Plan, pods: Sequence[PodFacts], *, desired: int, observed: bool, options: RolloutOptions,
            now: _dt.datetime, deleting: set[str]) -> Step:
    """One step of an active or rolled-back update; changes `plan` (phase, counts, message) in place.

    `observed`: the DaemonSet controller has seen the template last applied; until then a deleted pod would come
    back with the template being replaced, so nothing is deleted. `deleting`: pods deleted by an earlier pass that
    the watch may still show as running."""
    live = [p for p in pods if not p.terminating and p.name not in deleting]
    stale = {plan.from_revision} if plan.phase == "RolledBack" else set(plan.stale_revisions)
    new = [p for p in live if (p.label(REVISION_LABEL) or "") not in stale]
    old = [p for p in live if (p.label(REVISION_LABEL) or "") in stale]
    desired = max(desired, len({p.node for p in pods if p.node}))
    max_unavailable = scaled(options.max_unavailable, desired)
    plan.nodes_total, plan.nodes_updated = desired, len({p.node for p in new})
    if plan.phase == "RolledBack":
        return _roll_back(plan, new, pods, desired, max_unavailable, observed, deleting)
    if not plan.active:
        return Step()

    failing = [(p, why) for p in new if (why := _problem(p))]
    if failing:
        return _fail(plan, options, f"{len(failing)} new pod(s) failing: " + "; ".join(
            f"{p.name} on {p.node}: {why}" for p, why in failing[:MAX_NAMED]))
    started = parse_time(plan.started_at) or now
    elapsed = (now - started).total_seconds()
    if elapsed > options.progress_deadline_seconds:
        waiting = [p for p in new if not p.is_ready]
        named = "; ".join(f"{p.name} on {p.node} not Ready" for p in waiting[:MAX_NAMED])
        return _fail(plan, options, f"progressDeadlineSeconds ({options.progress_deadline_seconds}s) passed with "
                     f"{plan.nodes_updated} of {desired} nodes updated" + (f": {named}" if named else ""))
    deadline_in = options.progress_deadline_seconds - elapsed + 0.5

    if plan.phase == "Canary":
        canary = set(plan.canary_nodes)
        if all(any(p.node == n and p.is_ready for p in new) for n in canary) or not canary:
            plan.phase, plan.soak_started_at = "Soaking", rfc3339(now)
            plan.message = f"canary node(s) {', '.join(plan.canary_nodes[:MAX_NAMED])} updated and Ready: soaking " \
                           f"for {options.soak_seconds}s"
            return advance(plan, pods, desired=desired, observed=observed, options=options, now=now,
                           deleting=deleting)
        plan.message = f"updating canary node(s) {', '.join(plan.canary_nodes[:MAX_NAMED])}"
        targets = [p for p in old if p.node in canary]
        return _delete(targets, pods, desired, max_unavailable, observed, deleting, deadline_in)

    if plan.phase == "Soaking":
        soak_start = parse_time(plan.soak_started_at) or now
        # The canary's pods only: a node joining meanwhile gets a new pod that is still starting, not a failure.
        restarted = [p for p in new if p.node in plan.canary_nodes and
                     (not p.is_ready or (parse_time(p.ready_since) or soak_start) > soak_start)]
        if restarted:
            return _fail(plan, options, "new pod(s) not Ready throughout the soak (restarted or failing): " + "; ".join(
                f"{p.name} on {p.node}" for p in restarted[:MAX_NAMED]))
        left = options.soak_seconds - (now - soak_start).total_seconds()
        if left > 0:
            plan.message = f"canary healthy, soaking: {math.ceil(left)}s left"
            return Step(recheck=min(left + 0.1, deadline_in))
        plan.phase = "Rolling"

    # Rolling: every old pod goes, as fast as maxUnavailable allows; new pods not yet Ready hold the next batch.
    if not old and all(p.is_ready for p in new) and plan.nodes_updated >= desired:
        plan.phase, plan.message = "Complete", f"all {desired} nodes run {plan.to_version}"
        return Step()
    plan.message = f"{plan.nodes_updated} of {desired} nodes updated, at most {max_unavailable} at a time"
    return _delete(sorted(old, key=lambda p: p.node), pods, desired, max_unavailable, observed, deleting,
                   deadline_in)


def _delete(targets: list[PodFacts], pods: Sequence[PodFacts], desired: int, max_unavailable: int, observed: bool,
            deleting: set[str], recheck: float) -> Step:
    if not observed:
        return Step(recheck=min(RECHECK_SECONDS, recheck))
    budget = _budget(pods, desired, max_unavailable, deleting)
    # A pod that is not Ready serves nothing: replacing it makes no node lose its CNI.
    chosen = [p for p in targets if not p.is_ready]
    chosen += [p for p in targets if p.is_ready][: max(budget, 0)]
    return Step(delete=chosen, recheck=min(RECHECK_SECONDS, recheck))


def _fail(plan: Plan, options: RolloutOptions, why: str) -> Step:
    if options.auto_rollback and plan.from_spec:
        plan.phase = "RolledBack"
        plan.message = f"{plan.to_version} failed, rolled back to {plan.from_version}: {why}"
    else:
        plan.phase = "Failed"
        cause = "autoRollback is false" if options.auto_rollback is False else "no previous spec is recorded"
        plan.message = f"{plan.to_version} failed, stopped ({cause}): {why}"
    return Step(failed=True)


def _roll_back(plan: Plan, new: list[PodFacts], pods: Sequence[PodFacts], desired: int, max_unavailable: int,
               observed: bool, deleting: set[str]) -> Step:
    """Replace every pod of the failed template, as the forward direction does: failing ones at once, Ready ones
    within maxUnavailable."""
    if not new:
        return Step()
    return _delete(new, pods, desired, max_unavailable, observed, deleting, RECHECK_SECONDS)
