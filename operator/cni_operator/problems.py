"""Pod problems as a pure function: CNI pod dicts (camelCase, as the API returns them) -> grouped PodProblems.

Part of health (health.py re-exports it). No kopf, no kubernetes client, no clock: `now` is an argument.
Messages stay the same while nothing changes (no ages, no restart counts), because a new message is a status write.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from enum import Enum

from .api import PodProblem
from .conditions import parse_time

GRACE_SECONDS = 60  # a pod may be not ready, pending or unschedulable this long before it counts as a problem
MAX_POD_NAMES = 3  # pods named per problem group
MAX_PROBLEM_GROUPS = 5  # groups kept in status.unhealthy; the rest are counted in the Degraded message
MAX_MESSAGE = 160  # characters of a kubelet/scheduler message kept in a problem


class Problem(str, Enum):
    """Pod problem reasons, most severe first (the order of status.unhealthy)."""

    FAILED = "Failed"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    OOM_KILLED = "OOMKilled"
    ERROR = "Error"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    UNSCHEDULABLE = "Unschedulable"
    PENDING = "Pending"
    NOT_READY = "NotReady"

    def __str__(self) -> str:
        return self.value


_SEVERITY = {p.value: i for i, p in enumerate(Problem)}
# ErrImagePull and ImagePullBackOff alternate for the same broken image: one group, so status does not flap.
_IMAGE_WAITING = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
_CREATE_WAITING = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError"}


def natural_key(name: str) -> list:
    """n2 before n10: sort names the way people count."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def condition_of(obj: dict, type_: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def terminating(pod: dict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_is_ready(pod: dict) -> bool:
    """Ready=True and not being deleted."""
    ready = condition_of(pod, "Ready")
    return bool(ready and ready.get("status") == "True" and not terminating(pod))


def pod_label(pod: dict) -> str:
    """pod@node, or just the pod name before it is scheduled."""
    name, node = (pod.get("metadata") or {}).get("name", "?"), (pod.get("spec") or {}).get("nodeName")
    return f"{name}@{node}" if node else name


def _short(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _image_message(waiting: dict) -> str:
    found = re.search(r'image "([^"]+)"', waiting.get("message") or "")
    return f'cannot pull image "{found.group(1)}"' if found else _short(waiting.get("message")) or "cannot pull image"


def _exit_message(terminated: dict) -> str:
    code, why = terminated.get("exitCode"), terminated.get("reason") or "Error"
    text = f"exited with code {code} ({why})" if code is not None else f"terminated ({why})"
    detail = _short(terminated.get("message"))
    return f"{text}: {detail}" if detail else text


def _container_problem(status: dict) -> tuple[Problem, str] | None:
    """The problem of one container (or init container) status, or None.

    lastState alone is history: it only explains a container that is waiting to restart right now.
    """
    state = status.get("state") or {}
    waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    reason = waiting.get("reason")
    if reason == "CrashLoopBackOff":
        if last.get("reason") == "OOMKilled":
            return Problem.OOM_KILLED, "killed for exceeding its memory limit; restarting with back-off"
        return Problem.CRASH_LOOP_BACK_OFF, _exit_message(last) if last else "restarting with back-off"
    if reason in _IMAGE_WAITING:
        return Problem.IMAGE_PULL_BACK_OFF, _image_message(waiting)
    if reason in _CREATE_WAITING:
        return Problem.CREATE_CONTAINER_ERROR, _short(waiting.get("message")) or reason
    if terminated.get("exitCode") not in (0, None):
        if terminated.get("reason") == "OOMKilled":
            return Problem.OOM_KILLED, "killed for exceeding its memory limit"
        return Problem.ERROR, _exit_message(terminated)
    return None


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


def _problems_of(pod: dict, now: _dt.datetime, grace: float,
                 waits: list[float] | None = None) -> list[tuple[Problem, str, str]]:
    """(problem, container, message) for one pod: one pod-level problem, or one per bad container."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if terminating(pod) or phase == "Succeeded":
        return []
    if phase == "Failed":
        detail = ": ".join(x for x in (status.get("reason"), _short(status.get("message"))) if x)
        return [(Problem.FAILED, "", detail or "the pod failed and will not be restarted")]
    scheduled = condition_of(pod, "PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        if _aged(scheduled.get("lastTransitionTime"), now, grace, waits):
            return [(Problem.UNSCHEDULABLE, "", _short(scheduled.get("message")) or "no node can run it")]
        return []
    containers = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    found = [(hit[0], cs.get("name") or "", hit[1]) for cs in containers if (hit := _container_problem(cs))]
    if found:
        return found
    if phase == "Pending":
        since = scheduled.get("lastTransitionTime") if scheduled.get("status") == "True" else None
        if not _aged(since, now, grace, waits):
            return []
        why = next((w for cs in containers if (w := ((cs.get("state") or {}).get("waiting") or {}).get("reason"))), "")
        return [(Problem.PENDING, "", f"still pending{' (' + why + ')' if why else ''} after {grace:g}s")]
    if phase == "Running" and not pod_is_ready(pod):
        not_ready = [cs for cs in status.get("containerStatuses") or [] if not cs.get("ready")]
        since = (condition_of(pod, "Ready") or {}).get("lastTransitionTime")
        if since is None:
            started = (parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt")) for cs in not_ready)
            since = max((t for t in started if t), default=None)
        if _aged(since, now, grace, waits):
            container = not_ready[0].get("name", "") if not_ready else ""
            return [(Problem.NOT_READY, container, f"running but not ready for more than {grace:g}s")]
    return []


def pod_problems(pods: Iterable[dict], now: _dt.datetime | str, grace_seconds: float = GRACE_SECONDS,
                 limit: int | None = MAX_PROBLEM_GROUPS) -> list[PodProblem]:
    """Pod problems grouped per (reason, container): count, up to 3 pod@node names, one short message.

    Order: most severe reason first, then most pods, then container name; pods in natural name order and the
    message from the first of them. `limit=None` keeps every group.
    """
    now = parse_time(now)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pod in pods:
        for problem, container, message in _problems_of(pod, now, grace_seconds):
            groups.setdefault((problem.value, container), []).append((pod_label(pod), message))
    result = []
    for (reason, container), hits in groups.items():
        hits.sort(key=lambda hit: natural_key(hit[0]))
        result.append(PodProblem(reason=reason, count=len(hits), container=container, message=hits[0][1],
                                 pods=[label for label, _ in hits[:MAX_POD_NAMES]]))
    result.sort(key=lambda p: (_SEVERITY[p.reason], -p.count, p.container))
    return result if limit is None else result[:limit]


def grace_left(pods: Iterable[dict], now: _dt.datetime | str, grace_seconds: float = GRACE_SECONDS) -> float | None:
    """Seconds until the next pod passes its grace period and may become a problem; None when none is waiting.
    The operator re-assesses then, because no watch event marks that moment."""
    now, waits = parse_time(now), []
    for pod in pods:
        _problems_of(pod, now, grace_seconds, waits)
    return min(waits, default=None)


def describe_problem(problem: PodProblem) -> str:
    """'canal-x@n2 CrashLoopBackOff in calico-node: exited with code 1 (Error)', for condition messages."""
    who = ", ".join(problem.pods)
    if problem.count > len(problem.pods):
        who += f" and {problem.count - len(problem.pods)} more"
    where = f" in {problem.container}" if problem.container else ""
    return f"{who} {problem.reason}{where}" + (f": {problem.message}" if problem.message else "")
