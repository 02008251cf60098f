"""Pod problems as a pure function: CNI pods (facts, or dicts as the API returns them) -> grouped PodProblems.

No kopf, no kubernetes client, no clock: `now` is an argument. Messages stay the same while nothing changes (no
ages, no restart counts), because a new message is a status write.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable

from ..api import PodProblem
from ..objects import parse_time
from .facts import MAX_MESSAGE, PodFacts, Problem, pod_facts  # noqa: F401  (Problem, MAX_MESSAGE: vocabulary)

GRACE_SECONDS = 60  # a pod may be not ready, pending or unschedulable this long before it counts as a problem
MAX_POD_NAMES = 3  # pods named per problem group
MAX_PROBLEM_GROUPS = 5  # groups kept in status.unhealthy; the rest are counted in the Degraded message

_SEVERITY = {p.value: i for i, p in enumerate(Problem)}


def natural_key(name: str) -> list:
    """n2 before n10: sort names the way people count."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def pod_is_ready(pod: PodFacts | dict) -> bool:
    """Ready=True and not being deleted."""
    return pod_facts(pod).is_ready


def pod_label(pod: PodFacts) -> str:
    """pod@node, or just the pod name before it is scheduled."""
    return f"{pod.name}@{pod.node}" if pod.node else pod.name


def _aged(since, now: _dt.datetime, grace: float, waits: list[float] | None = None) -> bool:
    """Was `since` at least `grace` seconds ago? An unknown time never is: we cannot tell, so we do not accuse.
    When not yet, the seconds left go to `waits` (no event arrives when a grace period runs out)."""
    when = parse_time(since)
    if when is None:
        return False
    left = grace - (now - when).total_seconds()
    if left > 0 and waits is not None:
        waits.append(left)
    return left <= 0


def _problems_of(pod: PodFacts, now: _dt.datetime, grace: float,
                 waits: list[float] | None = None) -> list[tuple[Problem, str, str]]:
    """(problem, container, message) for one pod: one pod-level problem, or one per bad container."""
    if pod.terminating or pod.phase == "Succeeded":
        return []
    if pod.phase == "Failed":
        return [(Problem.FAILED, "", pod.failed_detail or "the pod failed and will not be restarted")]
    if pod.scheduled == "False" and pod.scheduled_reason == "Unschedulable":
        if _aged(pod.scheduled_since, now, grace, waits):
            return [(Problem.UNSCHEDULABLE, "", pod.scheduled_message or "no node can run it")]
        return []
    containers = (*pod.init_containers, *pod.containers)
    found = [(c.problem[0], c.name, c.problem[1]) for c in containers if c.problem]
    if found:
        return found
    if pod.phase == "Pending":
        since = pod.scheduled_since if pod.scheduled == "True" else None
        if not _aged(since, now, grace, waits):
            return []
        why = next((c.waiting_reason for c in containers if c.waiting_reason), "")
        return [(Problem.PENDING, "", f"still pending{' (' + why + ')' if why else ''} after {grace:g}s")]
    if pod.phase == "Running" and not pod.is_ready:
        not_ready = [c for c in pod.containers if not c.ready]
        since = pod.ready_since
        if since is None:
            started = (parse_time(c.started_at) for c in not_ready)
            since = max((t for t in started if t), default=None)
        if _aged(since, now, grace, waits):
            container = not_ready[0].name if not_ready else ""
            return [(Problem.NOT_READY, container, f"running but not ready for more than {grace:g}s")]
    return []


def pod_problems(pods: Iterable[PodFacts | dict], now: _dt.datetime | str, grace_seconds: float = GRACE_SECONDS,
                 limit: int | None = MAX_PROBLEM_GROUPS) -> list[PodProblem]:
    """Pod problems grouped per (reason, container): count, up to 3 pod@node names, one short message.

    Order: most severe reason first, then most pods, then container name; pods in natural name order and the
    message from the first of them. `limit=None` keeps every group.
    """
    now = parse_time(now)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pod in map(pod_facts, pods):
        for problem, container, message in _problems_of(pod, now, grace_seconds):
            groups.setdefault((problem.value, container), []).append((pod_label(pod), message))
    result = []
    for (reason, container), hits in groups.items():
        hits.sort(key=lambda hit: natural_key(hit[0]))
        result.append(PodProblem(reason=reason, count=len(hits), container=container, message=hits[0][1],
                                 pods=[label for label, _ in hits[:MAX_POD_NAMES]]))
    result.sort(key=lambda p: (_SEVERITY[p.reason], -p.count, p.container))
    return result if limit is None else result[:limit]


def grace_left(pods: Iterable[PodFacts | dict], now: _dt.datetime | str,
               grace_seconds: float = GRACE_SECONDS) -> float | None:
    """Seconds until the next pod passes its grace period and may become a problem; None when none is waiting.
    The operator re-assesses then, because no watch event marks that moment."""
    now, waits = parse_time(now), []
    for pod in map(pod_facts, pods):
        _problems_of(pod, now, grace_seconds, waits)
    return min(waits, default=None)


def describe_problem(problem: PodProblem) -> str:
    """'canal-x@n2 CrashLoopBackOff in calico-node: exited with code 1 (Error)', for condition messages."""
    who = ", ".join(problem.pods)
    if problem.count > len(problem.pods):
        who += f" and {problem.count - len(problem.pods)} more"
    where = f" in {problem.container}" if problem.container else ""
    return f"{who} {problem.reason}{where}" + (f": {problem.message}" if problem.message else "")
