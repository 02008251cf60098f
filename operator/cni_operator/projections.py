"""Keep only what the operator reads from watched objects: small, comparable views of nodes, pods and workloads.

With thousands of nodes the watch caches would otherwise hold every node's full body (images, conditions history),
and comparing views tells us whether an event changed anything we report on (most node heartbeats do not).
"""

from __future__ import annotations

# kube-system workloads whose pods are CNI pods (ours or a foreign CNI's), by their k8s-app label.
CNI_POD_APPS = frozenset({"canal", "calico-node", "calico-kube-controllers", "aws-node", "cilium", "flannel",
                          "kube-flannel", "cilium-operator"})

_EKS_LABEL_PREFIXES = ("eks.amazonaws.com/", "alpha.eksctl.io/")


def is_cni_pod(labels: dict) -> bool:
    """CNI pods carry k8s-app (Calico, Canal, aws-node, Cilium) or app: flannel (upstream kube-flannel)."""
    return labels.get("k8s-app") in CNI_POD_APPS or labels.get("app") == "flannel"


def node_view(body: dict) -> dict:
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status", {})
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    labels = meta.get("labels") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "labels": {k: v for k, v in labels.items() if k.startswith(_EKS_LABEL_PREFIXES)},
            "creationTimestamp": meta.get("creationTimestamp"),  # a node that just joined gets a grace period
        },
        "spec": {"providerID": spec.get("providerID", "")},
        "status": {"conditions": [{"type": "Ready", "status": ready.get("status", "Unknown")}]},
    }


def pod_view(body: dict) -> dict:
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status", {})

    def containers(statuses):
        return [
            {k: s.get(k) for k in ("name", "ready", "restartCount", "state", "lastState", "started") if k in s}
            for s in statuses or []
        ]

    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            # the labels CNI DaemonSets select their pods by (canal/aws-node/calico: k8s-app; flannel: app)
            "labels": {k: v for k, v in (meta.get("labels") or {}).items() if k in ("k8s-app", "app")},
            "deletionTimestamp": meta.get("deletionTimestamp"),
        },
        "spec": {"nodeName": spec.get("nodeName", "")},
        "status": {
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": status.get("message"),
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
                for c in status.get("conditions") or []
            ],
            "containerStatuses": containers(status.get("containerStatuses")),
            "initContainerStatuses": containers(status.get("initContainerStatuses")),
        },
    }


def workload_view(body: dict) -> dict:
    meta, spec = body.get("metadata", {}), body.get("spec", {})
    template = (spec.get("template") or {}).get("spec") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels") or {},
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("cni-operator.io/")},
            "generation": meta.get("generation"),
        },
        "spec": {
            "replicas": spec.get("replicas"),
            "selector": spec.get("selector"),
            "template": {
                "metadata": {"labels": ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}},
                "spec": {"containers": [{"name": c.get("name"), "image": c.get("image")}
                                        for c in template.get("containers") or []]},
            },
        },
        "status": body.get("status") or {},
    }
