"""Facts: the few fields of a node or a CNI pod that health decisions read, kept instead of the object.

With 5,000 nodes and 5,000 CNI pods the operator would otherwise hold every pod's conditions and container states
as nested dicts (kilobytes each). A fact is a small slotted object built once per watch event; comparing two facts
tells whether an event changed anything we report (most node updates are heartbeats that change nothing).

Health accepts either facts or the API's plain dicts (tests and the CLI pass dicts): `node_facts` and `pod_facts`
return a fact unchanged and build one from a dict.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import Enum

EKS_LABEL_PREFIXES = ("eks.amazonaws.com/", "alpha.eksctl.io/")
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


# ErrImagePull and ImagePullBackOff alternate for the same broken image: one group, so status does not flap.
_IMAGE_WAITING = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
_CREATE_WAITING = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError"}


def short(text: str | None) -> str:
    """The first line of a message, cut to MAX_MESSAGE characters."""
    lines = (text or "").strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _image_message(waiting: dict) -> str:
    found = re.search(r'image "([^"]+)"', waiting.get("message") or "")
    return f'cannot pull image "{found.group(1)}"' if found else short(waiting.get("message")) or "cannot pull image"


def _exit_message(terminated: dict) -> str:
    code, why = terminated.get("exitCode"), terminated.get("reason") or "Error"
    text = f"exited with code {code} ({why})" if code is not None else f"terminated ({why})"
    detail = short(terminated.get("message"))
    return f"{text}: {detail}" if detail else text


def container_problem(status: dict) -> tuple[Problem, str] | None:
    """The problem of one container (or init container) status, or None. Needs no clock: judged once per event.

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
        return Problem.CREATE_CONTAINER_ERROR, short(waiting.get("message")) or reason
    if terminated.get("exitCode") not in (0, None):
        if terminated.get("reason") == "OOMKilled":
            return Problem.OOM_KILLED, "killed for exceeding its memory limit"
        return Problem.ERROR, _exit_message(terminated)
    return None


def _shared(text: str | None) -> str | None:
    """One copy of a string many facts repeat (namespaces, phases, container names, timestamps of a rollout)."""
    return sys.intern(text) if isinstance(text, str) else text


# ---------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class NodeFacts:
    name: str
    ready: str  # the Ready condition's status: "True", "False" or "Unknown"
    created: str | None  # creationTimestamp: a node that just joined gets a grace period
    eks_label: str | None  # the first eks.amazonaws.com/* or alpha.eksctl.io/* label, evidence of EKS
    provider_id: str  # aws:///... on EC2


def node_facts(node: NodeFacts | dict) -> NodeFacts:
    if isinstance(node, NodeFacts):
        return node
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    labels = meta.get("labels") or {}
    return NodeFacts(
        name=meta.get("name") or "",
        ready=_shared(ready.get("status", "Unknown")),
        created=_shared(meta.get("creationTimestamp")),
        eks_label=next((k for k in sorted(labels) if k.startswith(EKS_LABEL_PREFIXES)), None),
        provider_id=spec.get("providerID") or "",
    )


# ---------------------------------------------------------------- pods


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    name: str
    ready: bool
    problem: tuple[Problem, str] | None  # container_problem() of its status
    waiting_reason: str | None  # why it waits (ContainerCreating, PodInitializing, ...), for "still pending"
    started_at: str | None  # state.running.startedAt


@dataclass(frozen=True, slots=True)
class PodFacts:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]  # KEPT_LABELS: what CNI workloads select by, and the template revision
    node: str
    terminating: bool
    phase: str | None
    failed_detail: str  # "reason: message" of a Failed pod
    ready: bool  # the Ready condition is True (terminating pods count as not ready elsewhere)
    ready_since: str | None  # the Ready condition's lastTransitionTime
    scheduled: str | None  # the PodScheduled condition's status
    scheduled_reason: str | None
    scheduled_message: str
    scheduled_since: str | None
    init_containers: tuple[ContainerFacts, ...]
    containers: tuple[ContainerFacts, ...]

    def label(self, key: str) -> str | None:
        return next((v for k, v in self.labels if k == key), None)

    @property
    def is_ready(self) -> bool:
        """Ready=True and not being deleted: the pod serves its node."""
        return self.ready and not self.terminating


SELECTOR_LABELS = ("k8s-app", "app")
# The DaemonSet controller's label naming the template revision a pod runs: which pods an update has replaced.
REVISION_LABEL = "controller-revision-hash"
KEPT_LABELS = (*SELECTOR_LABELS, REVISION_LABEL)


def _containers(statuses) -> tuple[ContainerFacts, ...]:
    return tuple(
        ContainerFacts(
            name=_shared(s.get("name") or ""),
            ready=bool(s.get("ready")),
            problem=container_problem(s),
            waiting_reason=_shared(((s.get("state") or {}).get("waiting") or {}).get("reason")),
            started_at=_shared(((s.get("state") or {}).get("running") or {}).get("startedAt")),
        )
        for s in statuses or []
    )


def pod_facts(pod: PodFacts | dict) -> PodFacts:
    if isinstance(pod, PodFacts):
        return pod
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready, scheduled = conditions.get("Ready") or {}, conditions.get("PodScheduled") or {}
    labels = meta.get("labels") or {}
    return PodFacts(
        name=meta.get("name") or "?",
        namespace=_shared(meta.get("namespace") or ""),
        labels=tuple((k, _shared(labels[k])) for k in KEPT_LABELS if k in labels),
        node=spec.get("nodeName") or "",
        terminating=bool(meta.get("deletionTimestamp")),
        phase=_shared(status.get("phase")),
        failed_detail=": ".join(x for x in (status.get("reason"), short(status.get("message"))) if x),
        ready=ready.get("status") == "True",
        ready_since=_shared(ready.get("lastTransitionTime")),
        scheduled=_shared(scheduled.get("status")),
        scheduled_reason=_shared(scheduled.get("reason")),
        scheduled_message=_shared(short(scheduled.get("message"))),
        scheduled_since=_shared(scheduled.get("lastTransitionTime")),
        init_containers=_containers(status.get("initContainerStatuses")),
        containers=_containers(status.get("containerStatuses")),
    )


def pod_labels(pod: PodFacts | dict) -> tuple[str | None, dict]:
    """(namespace, selector labels) of a fact or a dict, without building a fact (selection runs per pass).
    A dict without a namespace gives None: it is taken to be in its workload's namespace."""
    if isinstance(pod, PodFacts):
        return pod.namespace, dict(pod.labels)
    meta = pod.get("metadata") or {}
    return meta.get("namespace"), meta.get("labels") or {}

