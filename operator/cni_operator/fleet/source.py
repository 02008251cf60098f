"""Where a target's credentials come from: the RemoteClusterNetwork's Secret (or its Cluster API Cluster's), read
from the management cluster with `get` only (the chart grants no list or watch of Secrets), then judged by
credentials.py. Read again on every reconnect and every `credentials_recheck` seconds, so a rotated Secret is
picked up without a restart; the fingerprint says whether it changed."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from ..api.remote import ClusterTarget
from ..kube import Kube, KubeError
from ..objects import ObjectRef
from .credentials import (
    CLUSTER_NOT_FOUND,
    SECRET_NOT_FOUND,
    CredentialsError,
    TargetCredentials,
    from_secret_data,
)

CLUSTER_API_VERSION = "cluster.x-k8s.io/v1beta1"  # served by every Cluster API release that serves v1beta2 too


@dataclass(frozen=True)
class Source:
    credentials: TargetCredentials
    fingerprint: str  # changes when the kubeconfig in the Secret changes
    secret: str  # <namespace>/<name>, for messages


def target_of(body: dict) -> ClusterTarget:
    """spec.target, parsed (the CRD has checked it; a stale object without one fails here, in words)."""
    return ClusterTarget.model_validate((body.get("spec") or {}).get("target") or {}, by_alias=True, by_name=False)


async def read(home: Kube, body: dict, *, allow_unsafe: bool) -> Source:
    """The target's credentials, or CredentialsError with a reason for CredentialsValid=False."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    target = target_of(body)
    if target.cluster_ref is not None:
        cluster = target.cluster_ref.name
        try:
            found = await asyncio.to_thread(home.get, ObjectRef(CLUSTER_API_VERSION, "Cluster", cluster, namespace))
        except KubeError as exc:
            if exc.status != 403:
                raise
            raise CredentialsError(CLUSTER_NOT_FOUND, f"the operator may not read Cluster {namespace}/{cluster} "
                                   "(cluster.x-k8s.io): grant it get on clusters, as the chart does with "
                                   "fleet.enabled") from None
        if found is None:
            raise CredentialsError(CLUSTER_NOT_FOUND, f"Cluster {namespace}/{cluster} (cluster.x-k8s.io) does not "
                                   "exist, or Cluster API is not installed in this cluster; spec.target.clusterRef "
                                   "names a Cluster in the RemoteClusterNetwork's namespace")
    name, key = target.secret()
    where = f"{namespace}/{name}"
    try:
        secret = await asyncio.to_thread(home.get, ObjectRef("v1", "Secret", name, namespace))
    except KubeError as exc:
        if exc.status != 403:
            raise
        raise CredentialsError(SECRET_NOT_FOUND, f"the operator may not read Secret {where}: grant it get on "
                               "secrets in this namespace (the chart does with fleet.enabled)") from None
    if secret is None:
        made_by = " (Cluster API writes it once the cluster is provisioned)" if target.cluster_ref else ""
        raise CredentialsError(SECRET_NOT_FOUND, f"Secret {where} does not exist{made_by}; create it with kubectl "
                               f"create secret generic {name} -n {namespace} --from-file={key}=KUBECONFIG")
    data = secret.get("data") or {}
    credentials = from_secret_data(data, key, secret=where, allow_unsafe=allow_unsafe)
    return Source(credentials, hashlib.sha256(str(data.get(key)).encode()).hexdigest(), where)
