"""Replica counts of the CNI's workloads (DaemonSet, Deployment) and the pods they select: pure functions of dicts.

Workloads are kept as small dicts (session.projections.workload_view): there are a handful of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .facts import PodFacts, pod_labels


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


def select_pods(workload: dict, pods: Iterable[PodFacts | dict]) -> list:
    """Pods in the workload's namespace matching its spec.selector.matchLabels (matchExpressions are ignored:
    no CNI manifest we know uses them). Needs the selector's labels on the pods, so projections must keep them."""
    namespace = (workload.get("metadata") or {}).get("namespace")
    wanted = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not wanted:
        return []
    selected = []
    for pod in pods:
        pod_namespace, labels = pod_labels(pod)
        if (pod_namespace is None or pod_namespace == namespace) and all(labels.get(k) == v for k, v in wanted.items()):
            selected.append(pod)
    return selected
