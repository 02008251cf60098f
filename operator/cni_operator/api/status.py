"""The ClusterNetwork status models: what the operator observed, written only by the operator.

The CRD's status schema is generated from them, so every field the operator writes is kept by the API server
(an undeclared one would be pruned, and the operator would patch it again on every pass).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import _Model

Phase = Literal["Pending", "Installing", "Ready", "Degraded", "Unmanaged", "Paused", "Failed"]


class Condition(_Model):
    """One condition in the shape of metav1.Condition: Ready, Progressing, Degraded, Applied, Reconciling or Stalled."""

    type: str = Field(
        ..., description="Condition type: Ready, Progressing, Degraded, Applied, Reconciling or Stalled."
    )
    status: Literal["True", "False", "Unknown"] = Field(..., description="True, False or Unknown.")
    reason: str = Field(..., description="One-word CamelCase reason from a fixed list.")
    message: str = Field("", description="What is wrong and what to do about it, for people.")
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation of the ClusterNetwork this condition was computed from."
    )
    last_transition_time: str | None = Field(None, description="When status last changed (RFC 3339).")


class AppliedObject(_Model):
    """One entry of the inventory: what the operator applied, so a later render can prune what it no longer lists."""

    api_version: str = Field(..., description="apiVersion of the applied object.")
    kind: str = Field(..., description="Kind of the applied object.")
    name: str = Field(..., description="Name of the applied object.")
    namespace: str = Field(
        "", description="Namespace of the applied object; empty for cluster-scoped objects."
    )


class AdoptedObject(_Model):
    """An object that existed before the operator's first install and was taken over under spec.adoption."""

    api_version: str = Field(..., description="apiVersion of the adopted object.")
    kind: str = Field(..., description="Kind of the adopted object.")
    name: str = Field(..., description="Name of the adopted object.")
    namespace: str = Field("", description="Namespace of the adopted object; empty for cluster-scoped objects.")
    since: str = Field(..., description="When the operator took it over (RFC 3339).")


class AppliedStatus(_Model):
    """What the operator last applied."""

    objects: int = Field(0, description="Number of objects applied.")
    generation: int | None = Field(
        None, ge=0, description="metadata.generation of the spec last applied successfully."
    )
    hash: str = Field(
        "", description="Hash of the rendered objects; changes when the desired manifests change."
    )
    last_applied_time: str | None = Field(
        None, description="When an apply last changed something (RFC 3339)."
    )
    inventory: list[AppliedObject] = Field(
        default_factory=list,
        description="Every object applied, so objects a later version drops can be pruned.",
    )
    spec: str | None = Field(
        None, max_length=16384, description="The effective spec last applied (JSON): what a rollback renders again."
    )


RolloutPhase = Literal["Canary", "Soaking", "Rolling", "Complete", "RolledBack", "Failed"]


class RolloutStatus(_Model):
    """The operator-driven update of the CNI DaemonSet: canary nodes, a soak, then batches, or a rollback."""

    from_: str = Field("", alias="from", description="The version the update started from (what a rollback restores).")
    to: str = Field("", description="The version being rolled out.")
    generation: int | None = Field(None, ge=0, description="metadata.generation of the spec being rolled out.")
    phase: RolloutPhase = Field("Canary", description="Canary, Soaking, Rolling, Complete, RolledBack or Failed.")
    nodes_updated: int = Field(0, ge=0, description="Nodes running a pod of the new template.")
    nodes_total: int = Field(0, ge=0, description="Nodes the CNI DaemonSet runs on.")
    message: str = Field("", description="Where the update stands, or why it failed, naming pods and nodes.")
    from_revision: str = Field(
        "", description="controller-revision-hash of the pods before the update: pods with another one are new."
    )
    stale_revisions: list[str] = Field(
        default_factory=list, description="The revisions the pods ran when the update started: replaced."
    )
    from_spec: str | None = Field(None, description="The effective spec before the update (JSON), for a rollback.")
    started_at: str | None = Field(None, description="When the update started (RFC 3339).")
    soak_started_at: str | None = Field(None, description="When the canary pods were all Ready (RFC 3339).")
    canary_nodes: list[str] = Field(default_factory=list, description="The nodes updated first.")


class NodeCounts(_Model):
    """Nodes and whether a Ready CNI pod runs on them."""

    total: int = Field(0, description="Nodes in the cluster.")
    with_ready_cni: int = Field(0, alias="withReadyCNI", description="Nodes with a Ready CNI pod.")
    without_ready_cni: list[str] = Field(
        default_factory=list, alias="withoutReadyCNI", description="Up to 10 nodes with no Ready CNI pod."
    )


class HealthStatus(_Model):
    """Counts of the CNI DaemonSet and the nodes it covers."""

    desired: int = Field(0, description="CNI pods the DaemonSet wants (desiredNumberScheduled).")
    ready: int = Field(0, description="CNI pods Ready (numberReady).")
    updated: int = Field(0, description="CNI pods running the current template (updatedNumberScheduled).")
    unavailable: int = Field(0, description="CNI pods not available (numberUnavailable).")
    nodes: NodeCounts = Field(
        default_factory=NodeCounts, description="Nodes with and without a Ready CNI pod."
    )


class PodProblem(_Model):
    """CNI pods failing for one reason, grouped."""

    reason: str = Field(
        ..., description="Why the pods fail, e.g. CrashLoopBackOff, ImagePullBackOff, NotReady."
    )
    count: int = Field(..., description="Number of pods affected.")
    pods: list[str] = Field(default_factory=list, description="Up to 3 affected pods as pod@node.")
    container: str = Field("", description="The failing container, when one is to blame.")
    message: str = Field("", description="The latest message from the kubelet or the container.")


class DetectedCNI(_Model):
    """A CNI found running in the cluster (imported clusters, and adoption checks)."""

    provider: str = Field(..., description="Which CNI, e.g. calico, canal, cilium, flannel, aws-vpc-cni.")
    version: str = Field("", description="Version read from its image tag, when known.")
    workload: str = Field("", description="The DaemonSet that runs it, as namespace/name.")
    ready: int = Field(0, description="Its Ready pods.")
    desired: int = Field(0, description="Its desired pods.")


class DriftStatus(_Model):
    """Managed objects that differ from the render and that the operator is leaving as they are, and why."""

    unreverted: int = Field(0, description="How many managed objects differ from the render and are not reverted.")
    objects: list[str] = Field(
        default_factory=list,
        description="Up to 10 of them, each with why: paused, opted out with cni-operator.io/ignore, or backing off "
        "from a conflicting writer.",
    )


class RetainedCRD(_Model):
    """A CRD the operator stopped managing instead of deleting: objects of its kind existed, or the provider never
    owns it (catalog neverOwn, e.g. EKS's PolicyEndpoint CRDs, released even when empty)."""

    name: str = Field(..., description="Name of the CustomResourceDefinition.")
    objects: int | None = Field(
        None, description="How many objects of its kind existed when it was kept; unset when the operator may not "
        "count them (it keeps such a CRD too).")
    since: str = Field(..., description="When the operator let go of it (RFC 3339).")


class ClusterNetworkStatus(_Model):
    """What the operator observed; written only by the operator."""

    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation of the spec this status reflects."
    )
    phase: Phase | None = Field(None, description="One-word summary of the conditions.")
    ready_summary: str | None = Field(
        None,
        description="Nodes with a Ready CNI pod / all nodes, e.g. 3/3 (the READY column of kubectl get).",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded and Applied, each with its reason; Reconciling and Stalled as "
        "kstatus (Flux, Argo CD, kpt) reads them.",
    )
    provider: str | None = Field(
        None, description="The CNI installed (canal or aws-vpc-cni); unset when imported."
    )
    version: str | None = Field(None, description="The CNI version installed.")
    applied: AppliedStatus | None = Field(None, description="What the operator last applied.")
    rollout: RolloutStatus | None = Field(
        None, description="Progress of the last update of an installed CNI (canary, soak, batches, rollback)."
    )
    health: HealthStatus | None = Field(None, description="Counts of CNI pods and nodes.")
    unhealthy: list[PodProblem] = Field(
        default_factory=list,
        description="Failing CNI pods grouped by reason, so one bad node does not hide the rest.",
    )
    detected: list[DetectedCNI] = Field(
        default_factory=list, description="CNIs found running in the cluster (imported clusters)."
    )
    ignored: list[str] = Field(
        default_factory=list,
        description="Managed objects opted out with the cni-operator.io/ignore=true annotation.",
    )
    drift: DriftStatus | None = Field(
        None, description="Managed objects that differ from the render and are left as they are, and why."
    )
    adopted: list[AdoptedObject] = Field(
        default_factory=list,
        description="Objects that existed before the first install, not made by the operator, and taken over under "
        "spec.adoption (also annotated cni-operator.io/adopted): updated like the others but never pruned or deleted.",
    )
    retained: list[RetainedCRD] = Field(
        default_factory=list,
        description="CRDs an upgrade or a deletion no longer needed but left in place, because deleting a CRD "
        "deletes every object of its kind (users' policies, IP pools). No longer managed: delete them yourself "
        "once their objects are migrated or unneeded.",
    )
