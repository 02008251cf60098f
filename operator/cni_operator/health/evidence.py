"""Everything the conditions are judged on, gathered once per pass from workloads, nodes and pods.

Each condition (verdict.py) is a small function of this one record, so no condition recomputes coverage or problems,
and a change to one rule touches one function.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

from ..api import NodeCounts, PodProblem
from ..objects import parse_time
from .conditions import Reason
from .facts import NodeFacts, PodFacts
from .nodes import counts, coverage, describe_coverage, names
from .problems import GRACE_SECONDS, grace_left, natural_key, pod_problems
from .workloads import WorkloadCounts, workload_counts


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


NEVER_APPLIED = ApplyState()


@dataclass(frozen=True)
class Evidence:
    generation: int | None
    applied: ApplyState
    ds: WorkloadCounts
    dep: WorkloadCounts | None  # None: the provider has no controllers Deployment
    dep_name: str
    cni: str  # how messages name the CNI: its DaemonSet, else the provider
    coverage: NodeCounts
    lacking: int  # nodes without a ready CNI pod
    coverage_text: str
    problems: list[PodProblem]  # every group, most severe first
    waits: list[float]  # seconds until a grace period ends
    joining: list[str]  # nodes younger than the grace period without a ready CNI pod
    rolling: list[str]  # workloads rolling out, in words
    starting: list[str]  # workloads with pods unavailable (not rolling out), and joining nodes, in words
    missing: list[str]  # workloads we applied that are gone, in words
    settled: bool  # no workload rolling out or starting pods (joining nodes aside)
    foreign: Sequence[str]
    unreverted: Sequence[str]  # managed objects that differ from the render and are left as they are, and why
    paused: bool
    imported: bool
    grace_seconds: float

    @property
    def managed(self) -> bool:
        return not self.imported

    @property
    def error(self) -> Reason | None:
        return None if self.imported else self.applied.error

    @property
    def this_generation(self) -> bool:
        """The spec generation being judged has been applied."""
        return self.applied.generation is not None and self.applied.generation == self.generation

    @property
    def judge_network(self) -> bool:
        """Paused: nothing is written, so judge the network that runs (if any) rather than a generation."""
        return self.imported or self.this_generation or (self.paused and self.ds.present)

    @property
    def unseen(self) -> bool:
        """An imported cluster with no CNI we know."""
        return self.imported and not self.ds.present

    @property
    def paused_text(self) -> str:
        return f"spec.paused is true: the operator writes nothing (generation {self.generation})"

    @property
    def not_applied_text(self) -> str:
        return f"generation {self.generation} is not applied yet"


def _rollout_text(w: WorkloadCounts) -> str:
    if not w.observed:
        return f"{w.name}: waiting for its controller to pick up the new spec"
    if w.updated < w.desired:
        return f"{w.name}: {w.updated} of {w.desired} pods updated"
    return f"{w.name}: {w.unavailable} of {w.desired} pods unavailable"


def _age(node: NodeFacts, now: _dt.datetime) -> float | None:
    created = parse_time(node.created)
    return None if created is None else (now - created).total_seconds()


def gather(daemonset: dict | None, nodes: Sequence[NodeFacts | dict], pods: Sequence[PodFacts | dict],
           now: _dt.datetime | None, *, generation: int | None, applied: ApplyState,
           deployment: dict | None, controller_pods: Sequence[PodFacts | dict], expect_deployment: str | None,
           provider: str | None, paused: bool, imported: bool, foreign: Sequence[str],
           unreverted: Sequence[str] = (), grace_seconds: float = GRACE_SECONDS, pods_seen: bool = True) -> Evidence:
    """`pods_seen` False: the DaemonSet runs where the operator does not read pods (an imported cluster's CNI outside
    kube-system), so node coverage is the DaemonSet's own count of ready pods, without node names."""
    ds = workload_counts(daemonset)
    dep = workload_counts(deployment) if deployment is not None or expect_deployment else None
    dep_name = (dep.name if dep and dep.name else expect_deployment) or "controllers"
    cni = ds.name or provider or "CNI"

    by_name, covered = coverage(nodes, pods)
    node_counts = counts(by_name, covered)
    if not pods_seen:
        node_counts = NodeCounts(total=len(by_name), with_ready_cni=min(ds.ready, len(by_name)), without_ready_cni=[])
        by_name = {}  # no node is named, none is judged as joining
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
        starting.append(f"{names(joining)} joined less than {grace_seconds:g}s ago and "
                        f"{'has' if len(joining) == 1 else 'have'} no ready {cni} pod yet")
    missing = []
    if not imported and applied.generation is not None:
        missing += [] if ds.present else [f"the {cni} DaemonSet is missing"]
        missing += [] if dep is None or dep.present else [f"the {dep_name} Deployment is missing"]
    return Evidence(
        generation=generation, applied=applied, ds=ds, dep=dep, dep_name=dep_name, cni=cni, coverage=node_counts,
        lacking=node_counts.total - node_counts.with_ready_cni, coverage_text=describe_coverage(node_counts, cni),
        problems=found, waits=waits, joining=joining, rolling=rolling, starting=starting, missing=missing, settled=settled,
        foreign=foreign, unreverted=unreverted, paused=paused, imported=imported, grace_seconds=grace_seconds)
