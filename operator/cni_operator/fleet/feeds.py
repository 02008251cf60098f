"""Which collections of a target feed its cluster session, and how: the fleet's counterpart of handlers.py.

The same facts as in-cluster, from asynchronous watches against the target instead of kopf's (fleet/watch.py):
the CNI's workloads, config and RBAC in kube-system that carry our label, CNI pods, nodes, and known CNIs' DaemonSets
in every other namespace. Each watch lists its collection before the session's first pass, so a pass reads nothing
from the API server and the check for a foreign CNI before a first install sees the whole cluster, as in-cluster.
An imported target gets no watch of managed objects: nothing there is ours, and its identity may only read what
health reads (`cni-operator target-rbac --cluster-type imported`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..kube import ALL_NAMESPACES
from ..objects import CNI_NAMESPACE, MANAGED
from ..providers import describe_daemonset, is_cni_pod
from ..session import ClusterSession
from ..session.projections import workload_view

_MANAGED_SELECTOR = ",".join(f"{key}={value}" for key, value in MANAGED.items())


@dataclass(frozen=True)
class Feed:
    """One watched collection and the session method its objects go to."""

    api_version: str
    kind: str
    namespace: str = ""  # "" for cluster-scoped kinds
    label_selector: str = ""
    field_selector: str = ""
    managed_only: bool = False  # only for targets whose CNI the operator installs

    def deliver_to(self, session: ClusterSession) -> Callable[[str, dict], None]:
        """The watch's callback: (event type, object) -> the session."""
        if self.kind in ("DaemonSet", "Deployment") and self.namespace == ALL_NAMESPACES:
            def elsewhere(kind: str, body: dict) -> None:  # only known CNIs, and only what detection reads
                if describe_daemonset((body.get("metadata") or {}).get("name") or "") is not None:
                    session.observe_workload(workload_view(body), deleted=kind == "DELETED")
            return elsewhere
        if self.kind in ("DaemonSet", "Deployment"):
            return lambda kind, body: session.observe_workload(body, deleted=kind == "DELETED")
        if self.kind == "Pod":
            def pods(kind: str, body: dict) -> None:
                if is_cni_pod((body.get("metadata") or {}).get("labels") or {}):
                    session.observe_pod(body, deleted=kind == "DELETED")
            return pods
        if self.kind == "Node":
            return lambda kind, body: session.observe_node(body, deleted=kind == "DELETED")
        return lambda kind, body: session.observe_managed(body, deleted=kind == "DELETED")


FEEDS: tuple[Feed, ...] = (
    Feed("apps/v1", "DaemonSet", CNI_NAMESPACE),
    Feed("apps/v1", "Deployment", CNI_NAMESPACE),
    # Another CNI's DaemonSet wherever its installer put it (calico-system, kube-flannel, ...).
    Feed("apps/v1", "DaemonSet", ALL_NAMESPACES, field_selector=f"metadata.namespace!={CNI_NAMESPACE}"),
    # CNI pods carry one of several labels (providers.is_cni_pod): kube-system's pods are few, so all are watched
    # and the others dropped on arrival.
    Feed("v1", "Pod", CNI_NAMESPACE),
    Feed("v1", "Node"),
    Feed("v1", "ConfigMap", CNI_NAMESPACE, _MANAGED_SELECTOR, managed_only=True),
    Feed("v1", "ServiceAccount", CNI_NAMESPACE, _MANAGED_SELECTOR, managed_only=True),
    Feed("v1", "Service", CNI_NAMESPACE, _MANAGED_SELECTOR, managed_only=True),
    Feed("policy/v1", "PodDisruptionBudget", CNI_NAMESPACE, _MANAGED_SELECTOR, managed_only=True),
    Feed("rbac.authorization.k8s.io/v1", "ClusterRole", label_selector=_MANAGED_SELECTOR, managed_only=True),
    Feed("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", label_selector=_MANAGED_SELECTOR, managed_only=True),
    Feed("apiextensions.k8s.io/v1", "CustomResourceDefinition", label_selector=_MANAGED_SELECTOR,
         managed_only=True),
)


def feeds_for(cluster_type: str) -> tuple[Feed, ...]:
    return tuple(feed for feed in FEEDS if cluster_type != "imported" or not feed.managed_only)


def complete_kinds(cluster_type: str) -> frozenset[str]:
    """Kinds whose managed objects reach the session before its first pass (ClusterSession's complete_kinds)."""
    if cluster_type == "imported":
        return frozenset()
    return frozenset(feed.kind for feed in FEEDS if feed.namespace != ALL_NAMESPACES and feed.kind not in ("Pod", "Node"))
