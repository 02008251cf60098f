"""Which CNI already runs here, and what kind of cluster is this: pure functions over workload and node dicts.

Used before a first install (never install a second CNI, never install the wrong one) and to report the CNI of an
imported cluster. No kopf, no kubernetes client: callers pass DaemonSets/Deployments (with kind and namespace) and
nodes as plain camelCase dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .api import ClusterType, DetectedCNI
from .render import MANAGED_BY, MANAGED_BY_LABEL

# provider -> (how its node agent DaemonSet is named, the container whose image tag is the version)
# Most live in kube-system; Tigera installs calico-node in calico-system, kube-flannel.yml uses kube-flannel:
# names are matched in any namespace (they are specific enough).
_KNOWN: list[tuple[str, str, str]] = [
    # (provider, DaemonSet name or name prefix ending in '*', main container)
    ("canal", "canal", "calico-node"),
    ("calico", "calico-node", "calico-node"),
    ("aws-vpc-cni", "aws-node", "aws-node"),
    ("cilium", "cilium", "cilium-agent"),
    ("flannel", "kube-flannel*", "kube-flannel"),
]
_EKS_LABEL_PREFIXES = ("eks.amazonaws.com/", "alpha.eksctl.io/")


def image_tag(image: str) -> str:
    """The tag of an image reference: 'quay.io:443/calico/node:v3.32.1@sha256:...' -> 'v3.32.1'.

    Digest only -> 'sha256:' + the first 12 hex digits; no tag and no digest -> 'latest' (what the runtime pulls).
    """
    image = (image or "").strip()
    if not image:
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]  # a registry port ('host:5000/') sits before the last slash
    if ":" in last:
        return last.rsplit(":", 1)[1]
    if digest:
        algo, _, hexpart = digest.partition(":")
        return f"{algo}:{hexpart[:12]}" if hexpart else digest
    return "latest"


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _is_daemonset(workload: dict) -> bool:
    kind = workload.get("kind")
    return kind == "DaemonSet" or (not kind and (workload.get("spec") or {}).get("replicas") is None)


def _provider_of(name: str) -> tuple[str, str] | None:
    for provider, pattern, container in _KNOWN:
        if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            return provider, container
    return None


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


def is_ours(workload: dict) -> bool:
    """Labelled app.kubernetes.io/managed-by=cni-operator (every object apply writes carries it)."""
    return (_meta(workload).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def foreign_cnis(workloads: Iterable[dict], provider: str | None) -> list[DetectedCNI]:
    """Detected CNIs the operator must not install next to: not ours, and not the provider it installs.

    A same-provider DaemonSet that is not ours (EKS ships aws-node; a hand-installed canal) is not foreign: apply
    adopts it through server-side apply. With provider None (imported) every CNI not ours is listed.
    """
    workloads = list(workloads)
    ours = {f"{_meta(w).get('namespace') or ''}/{_meta(w).get('name')}" for w in workloads if is_ours(w)}
    return [d for d in detect_cnis(workloads) if d.workload not in ours and d.provider != provider]


def primary_workload(workloads: Iterable[dict], provider: str | None = None) -> dict | None:
    """The DaemonSet whose health to report: `provider`'s if given, else the first detected CNI in the order of
    _KNOWN (canal before calico, because a canal DaemonSet is the whole CNI)."""
    candidates = {}
    for w in workloads:
        hit = _provider_of(_meta(w).get("name") or "") if _is_daemonset(w) else None
        if hit:
            candidates.setdefault(hit[0], []).append(w)
    order = [provider] if provider else [p for p, _, _ in _KNOWN]
    for name in order:
        if candidates.get(name):
            return min(candidates[name], key=lambda w: (_meta(w).get("namespace") or "", _meta(w).get("name")))
    return None


def eks_markers(workloads: Iterable[dict], nodes: Iterable[dict]) -> list[str]:
    """Evidence that this is Amazon EKS: the aws-node DaemonSet, or nodes labelled eks.amazonaws.com/* or
    alpha.eksctl.io/*. An aws:/// providerID alone is not evidence: any Kubernetes on EC2 has it."""
    markers = [f"DaemonSet {_meta(w).get('namespace')}/aws-node" for w in workloads
               if _is_daemonset(w) and _meta(w).get("name") == "aws-node"]
    for node in nodes:
        labels = _meta(node).get("labels") or {}
        label = next((k for k in sorted(labels) if k.startswith(_EKS_LABEL_PREFIXES)), None)
        if label:
            markers.append(f"node {_meta(node).get('name')} labelled {label}")
            break  # one node is enough to say so
    return markers


def looks_like_eks(workloads: Iterable[dict], nodes: Iterable[dict]) -> bool:
    return bool(eks_markers(workloads, nodes))


def runs_on_aws(nodes: Iterable[dict]) -> bool:
    """Some node has an aws:/// providerID or an EKS label: EC2 instances (EKS or a cluster built on EC2)."""
    return any(
        ((n.get("spec") or {}).get("providerID") or "").startswith("aws://")
        or any(k.startswith(_EKS_LABEL_PREFIXES) for k in (_meta(n).get("labels") or {}))
        for n in nodes
    )


def cluster_type_mismatch(cluster_type: ClusterType | str, workloads: Sequence[dict],
                          nodes: Sequence[dict]) -> str | None:
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
