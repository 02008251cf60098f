"""Which CNI already runs here, and what kind of cluster is this: pure functions over workload and node dicts.

Used before a first install (never install a second CNI, never install the wrong one) and to report the CNI of an
imported cluster. No kopf, no kubernetes client: callers pass DaemonSets/Deployments (with kind and namespace) as
plain camelCase dicts and nodes as facts or dicts. The CNIs it knows are providers.KNOWN, recognised by their
DaemonSet's name in any namespace: the operator sees DaemonSets cluster-wide (Tigera's calico-system, kube-flannel,
...), while the CNI it installs lives in objects.CNI_NAMESPACE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..api import ClusterType, DetectedCNI
from ..images import image_tag
from ..objects import CNI_NAMESPACE, is_managed
from ..providers import KNOWN, describe_daemonset
from .facts import NodeFacts, node_facts


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _is_daemonset(workload: dict) -> bool:
    kind = workload.get("kind")
    return kind == "DaemonSet" or (not kind and (workload.get("spec") or {}).get("replicas") is None)


def _provider_of(name: str) -> tuple[str, str] | None:
    known = describe_daemonset(name)
    return (known.name, known.main_container) if known else None


def _version(workload: dict, container: str) -> str:
    containers = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    main = next((c for c in containers if c.get("name") == container), containers[0] if containers else {})
    return image_tag(main.get("image", ""))


def detect_cnis(workloads: Iterable[dict]) -> list[DetectedCNI]:
    """Every known CNI DaemonSet among `workloads`, as DetectedCNI, ordered by namespace/name."""
    found = []
    for w in workloads:
        meta = _meta(w)
        hit = _provider_of(meta.get("name") or "") if _is_daemonset(w) else None
        if hit is None:
            continue
        status = w.get("status") or {}
        found.append(DetectedCNI(
            provider=hit[0],
            version=_version(w, hit[1]),
            workload=f"{meta.get('namespace') or ''}/{meta.get('name')}",
            ready=int(status.get("numberReady") or 0),
            desired=int(status.get("desiredNumberScheduled") or 0),
        ))
    return sorted(found, key=lambda d: d.workload)


def foreign_cnis(workloads: Iterable[dict], provider: str | None,
                 inventory: Iterable[str] | None = None) -> list[DetectedCNI]:
    """Detected CNIs the operator must not install next to: not ours, and not the provider it installs.

    A same-provider DaemonSet in the CNI namespace that is not ours (EKS ships aws-node; a hand-installed canal) is
    not foreign: spec.adoption decides, as apply writes the same object. One in another namespace is foreign whatever its
    provider: the operator installs into the CNI namespace only, so it would run a second copy next to it. With
    provider None (imported) every CNI not ours is listed.
    `inventory` ("namespace/name" of the workloads the current ClusterNetwork applied): when given, ours means
    managed *and* in it, so a DaemonSet an earlier ClusterNetwork left behind (deleted with Orphan) is foreign even
    though it carries our label, and so is one carrying our label in any other namespace (the operator never writes
    there).
    """
    workloads = list(workloads)
    current = None if inventory is None else set(inventory)
    ours = {f"{CNI_NAMESPACE}/{_meta(w).get('name')}" for w in workloads
            if is_managed(w) and _meta(w).get("namespace") == CNI_NAMESPACE}
    if current is not None:
        ours &= current
    return [d for d in detect_cnis(workloads) if d.workload not in ours and not _adoptable(d, provider)]


def _adoptable(cni: DetectedCNI, provider: str | None) -> bool:
    """The provider the operator installs, where it installs it: the same object, taken over by apply."""
    return cni.provider == provider and cni.workload.startswith(f"{CNI_NAMESPACE}/")


def primary_workload(workloads: Iterable[dict], provider: str | None = None) -> dict | None:
    """The DaemonSet whose health to report: `provider`'s if given, else the first detected CNI in the order of
    providers.KNOWN (canal before calico, because a canal DaemonSet is the whole CNI); of one CNI, the copy in the CNI
    namespace first (its pods are the ones the operator watches), then by namespace/name."""
    candidates = {}
    for w in workloads:
        hit = _provider_of(_meta(w).get("name") or "") if _is_daemonset(w) else None
        if hit:
            candidates.setdefault(hit[0], []).append(w)
    order = [provider] if provider else [d.name for d in KNOWN]
    for name in order:
        if candidates.get(name):
            return min(candidates[name], key=lambda w: (_meta(w).get("namespace") != CNI_NAMESPACE,
                                                        _meta(w).get("namespace") or "", _meta(w).get("name")))
    return None


def eks_markers(workloads: Iterable[dict], nodes: Iterable[NodeFacts | dict]) -> list[str]:
    """Evidence that this is Amazon EKS: the aws-node DaemonSet, or nodes labelled eks.amazonaws.com/* or
    alpha.eksctl.io/*. An aws:/// providerID alone is not evidence: any Kubernetes on EC2 has it."""
    markers = [f"DaemonSet {_meta(w).get('namespace')}/aws-node" for w in workloads
               if _is_daemonset(w) and _meta(w).get("name") == "aws-node"]
    labelled = next((n for n in map(node_facts, nodes) if n.eks_label), None)
    if labelled is not None:  # one node is enough to say so
        markers.append(f"node {labelled.name} labelled {labelled.eks_label}")
    return markers


def looks_like_eks(workloads: Iterable[dict], nodes: Iterable[NodeFacts | dict]) -> bool:
    return bool(eks_markers(workloads, nodes))


def runs_on_aws(nodes: Iterable[NodeFacts | dict]) -> bool:
    """Some node has an aws:/// providerID or an EKS label: EC2 instances (EKS or a cluster built on EC2)."""
    return any(n.provider_id.startswith("aws://") or n.eks_label for n in map(node_facts, nodes))


def cluster_type_mismatch(cluster_type: ClusterType | str, workloads: Sequence[dict],
                          nodes: Sequence[NodeFacts | dict]) -> str | None:
    """Why `cluster_type` does not fit this cluster (a message for people), or None when it fits or we cannot tell.

    mks on a cluster with EKS markers is refused; eks on nodes that are not EC2 instances at all is refused.
    With no nodes yet, nothing is concluded. imported always fits.
    """
    cluster_type = ClusterType(cluster_type)
    if cluster_type is ClusterType.MKS:
        markers = eks_markers(workloads, nodes)
        if markers:
            return (f"clusterType is mks but this cluster looks like Amazon EKS ({'; '.join(markers)}); "
                    f"use clusterType: eks, or imported to only observe it")
    elif cluster_type is ClusterType.EKS and nodes and not runs_on_aws(nodes) and not looks_like_eks(workloads, ()):
        return ("clusterType is eks but no node is an EC2 instance (no aws:/// providerID, no EKS labels); "
                "use clusterType: mks, or imported to only observe it")
    return None
