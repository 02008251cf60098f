"""What the operator manages, as the cluster shows it: the managed-by label on the kinds it renders, and the CNI's
pods. One definition, so the reset deletes exactly what the tests list and the bench counts."""

from __future__ import annotations

import json

CNI_NAMESPACE = "kube-system"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=cni-operator"
NAMESPACED_KINDS = "ds,deploy,cm,sa,svc,pdb"  # in CNI_NAMESPACE
CLUSTER_KINDS = "clusterrole,clusterrolebinding,crd"
CNI_APPS = "k8s-app in (canal,aws-node,calico-kube-controllers)"  # the CNI's pods (they carry no managed-by label)

# kind -> the kind.group form `kubectl get -o name` prints, for every kind the operator renders.
_NAME_FORM = {"DaemonSet": "daemonset.apps", "Deployment": "deployment.apps", "ConfigMap": "configmap",
              "ServiceAccount": "serviceaccount", "Service": "service",
              "PodDisruptionBudget": "poddisruptionbudget.policy",
              "ClusterRole": "clusterrole.rbac.authorization.k8s.io",
              "ClusterRoleBinding": "clusterrolebinding.rbac.authorization.k8s.io",
              "CustomResourceDefinition": "customresourcedefinition.apiextensions.k8s.io"}


def managed_objects(cluster, *, terminating: bool = False) -> set[str]:
    """kind/name of everything in the cluster carrying the operator's managed-by label. Objects already being
    deleted (the API server still finalizing them, e.g. a CRD whose instances are being cleaned up) are left out
    unless terminating=True."""
    names = set()
    for scope in (["-n", CNI_NAMESPACE, NAMESPACED_KINDS], [CLUSTER_KINDS]):
        out = cluster.kubectl("get", *scope, "-l", MANAGED_SELECTOR, "-o", "json").stdout
        for item in json.loads(out)["items"]:
            if terminating or not item["metadata"].get("deletionTimestamp"):
                group = item["apiVersion"].split("/")[0] if "/" in item["apiVersion"] else ""
                names.add(f"{item['kind'].lower()}{'.' + group if group else ''}/{item['metadata']['name']}")
    return names


def rendered_names(rendered) -> set[str]:
    """The same kind/name form as managed_objects(), for what render() produced."""
    return {f"{_NAME_FORM[o['kind']]}/{o['metadata']['name']}" for o in rendered.apply}


def count_managed(cluster) -> int:
    """How many objects of the kinds we render carry the managed-by label (one quick call per scope, for reports)."""
    out = cluster.kubectl("get", CLUSTER_KINDS, "-l", MANAGED_SELECTOR, "-o", "name").stdout
    out += cluster.kubectl("get", "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR, "-o", "name").stdout
    return len(out.split())
