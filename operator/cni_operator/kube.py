"""A small, synchronous Kubernetes REST layer: get, list, server-side apply, delete, status patch, by object reference.

Why not the generated typed APIs: we handle every object as the plain dict the renderer made, and server-side apply
needs the raw `application/apply-patch+yaml` call anyway. Callers in async code run these in threads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import kubernetes

from .objects import ObjectRef

FIELD_MANAGER = "cni-operator"


@dataclass(frozen=True)
class Kind:
    plural: str
    namespaced: bool


# Every kind the renderers produce or the operator reads. Unknown kinds are a programming error, not a runtime lookup:
# the RBAC in the chart is written for exactly these.
KINDS: dict[tuple[str, str], Kind] = {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): Kind("customresourcedefinitions", False),
    ("v1", "Namespace"): Kind("namespaces", False),
    ("v1", "Node"): Kind("nodes", False),
    ("v1", "ServiceAccount"): Kind("serviceaccounts", True),
    ("v1", "Secret"): Kind("secrets", True),
    ("v1", "ConfigMap"): Kind("configmaps", True),
    ("v1", "Service"): Kind("services", True),
    ("v1", "Pod"): Kind("pods", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): Kind("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): Kind("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): Kind("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): Kind("rolebindings", True),
    ("apps/v1", "DaemonSet"): Kind("daemonsets", True),
    ("apps/v1", "Deployment"): Kind("deployments", True),
    ("policy/v1", "PodDisruptionBudget"): Kind("poddisruptionbudgets", True),
    ("scheduling.k8s.io/v1", "PriorityClass"): Kind("priorityclasses", False),
    ("crd.k8s.amazonaws.com/v1alpha1", "ENIConfig"): Kind("eniconfigs", False),  # spec.awsVpcCni.eniConfigs
    ("cni-operator.io/v1alpha1", "ClusterNetwork"): Kind("clusternetworks", False),
    ("cni-operator.io/v1alpha1", "RemoteClusterNetwork"): Kind("remoteclusternetworks", True),  # fleet mode
    ("cluster.x-k8s.io/v1beta1", "Cluster"): Kind("clusters", True),  # fleet mode: spec.target.clusterRef
    ("kopf.dev/v1", "KopfPeering"): Kind("kopfpeerings", True),
    ("coordination.k8s.io/v1", "Lease"): Kind("leases", True),
}


class KubeError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


ALL_NAMESPACES = "*"  # as the namespace of a list: a namespaced kind in every namespace


def collection_path(api_version: str, kind: str, namespace: str = "") -> str:
    info = KINDS[(api_version, kind)]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if info.namespaced and namespace != ALL_NAMESPACES:
        if not namespace:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        return f"{prefix}/namespaces/{namespace}/{info.plural}"
    return f"{prefix}/{info.plural}"


def object_path(ref: ObjectRef) -> str:
    return f"{collection_path(ref.api_version, ref.kind, ref.namespace)}/{ref.name}"


def load_api_client() -> kubernetes.client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config, as kubectl does."""
    configuration = kubernetes.client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ):
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    else:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = 16  # one connection per parallel apply (apply.Applier)
    return kubernetes.client.ApiClient(configuration)


class Kube:
    def __init__(self, api_client: kubernetes.client.ApiClient, timeout: float = 30.0):
        self.api = api_client
        self.timeout = timeout

    def _call(self, method: str, path: str, *, query=None, body=None, content_type: str | None = None):
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        url, headers, body = serialized[1], serialized[2], serialized[3]  # (method, url, headers, body, post_params)
        response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout)
        raw = response.read()
        if response.status >= 400:
            try:
                status = json.loads(raw)
                raise KubeError(response.status, status.get("reason", ""), status.get("message", raw.decode()))
            except ValueError:
                raise KubeError(response.status, "", raw.decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def get(self, ref: ObjectRef) -> dict | None:
        try:
            return self._call("GET", object_path(ref))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str = "", label_selector: str = "") -> list[dict]:
        query = [("labelSelector", label_selector)] if label_selector else []
        result = self._call("GET", collection_path(api_version, kind, namespace), query=query)
        items = result.get("items", [])
        for item in items:  # list items carry no apiVersion/kind; callers treat them as whole objects
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def apply(self, obj: dict, *, force: bool = True) -> dict:
        """Server-side apply as field manager cni-operator; force takes back fields another manager took."""
        query = [("fieldManager", FIELD_MANAGER)]
        if force:
            query.append(("force", "true"))
        return self._call(
            "PATCH", object_path(ObjectRef.of(obj)), query=query, body=obj, content_type="application/apply-patch+yaml"
        )

    def dry_run_apply(self, obj: dict) -> dict:
        """What apply(obj) would make of the object, computed by the API server (dryRun=All: admission, defaulting
        and field ownership as for the real write, nothing stored). Needs the same create/patch rights as apply."""
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), ("dryRun", "All")]
        return self._call(
            "PATCH", object_path(ObjectRef.of(obj)), query=query, body=obj, content_type="application/apply-patch+yaml"
        )

    def create(self, obj: dict) -> dict:
        """POST: fails with 409 when the object exists (how two processes racing for one Lease learn who won)."""
        ref = ObjectRef.of(obj)
        return self._call("POST", collection_path(ref.api_version, ref.kind, ref.namespace), body=obj,
                          content_type="application/json")

    def replace(self, obj: dict) -> dict:
        """PUT of a whole object read before: fails with 409 when its metadata.resourceVersion is no longer current,
        so a write based on what someone else has since changed never lands."""
        return self._call("PUT", object_path(ObjectRef.of(obj)), body=obj, content_type="application/json")

    def delete(self, ref: ObjectRef) -> bool:
        """Delete in the background (dependents via GC). False when it was already gone."""
        try:
            self._call("DELETE", object_path(ref), body={"propagationPolicy": "Background"},
                       content_type="application/json")
            return True
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise

    def count_instances(self, crd: dict) -> int:
        """How many objects of the kind a CRD defines exist, in all namespaces: one list request with limit=1 (the
        API server tells how many remain). Raises KubeError when the operator may not list them."""
        spec = crd.get("spec") or {}
        versions = [v["name"] for v in spec.get("versions") or [] if v.get("served")]
        if not versions:
            return 0  # nothing is served, so nothing can be stored through it
        path = f"/apis/{spec['group']}/{versions[0]}/{spec['names']['plural']}"
        try:
            result = self._call("GET", path, query=[("limit", "1")])
        except KubeError as exc:
            if exc.status == 404:  # the kind is not served (yet, or any more): no objects reachable through it
                return 0
            raise
        meta = result.get("metadata") or {}
        items = len(result.get("items") or [])
        if meta.get("remainingItemCount") is not None:
            return items + int(meta["remainingItemCount"])
        return items + (1 if meta.get("continue") else 0)  # more remain, count unknown: at least one more

    def merge_patch(self, ref: ObjectRef, patch: dict, *, subresource: str = "") -> dict:
        path = object_path(ref) + (f"/{subresource}" if subresource else "")
        return self._call("PATCH", path, body=patch, content_type="application/merge-patch+json")
