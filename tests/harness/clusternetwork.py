"""The ClusterNetwork as a user handles it: kubectl apply, kubectl get, its conditions, its Events."""

from __future__ import annotations

import json
import subprocess

import yaml

from .cluster import Cluster
from .polling import wait_for

# For tests whose subject is not the pace of an update (pruning, data safety, a SIGKILL mid-upgrade): the canary
# gate still runs, but without the default 30 s soak and one node at a time. tests/integration/test_operator_lifecycle.py
# keeps one upgrade on the defaults; the rollout tests set their own.
QUICK_ROLLOUT = {"canary": 1, "soakSeconds": 1, "maxUnavailable": "100%"}


def apply_clusternetwork(cluster: Cluster, spec: dict, name: str = "default") -> subprocess.CompletedProcess:
    doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": name},
           "spec": spec}
    return cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)


def find_clusternetwork(cluster: Cluster) -> dict | None:
    """The ClusterNetwork `default` from the API, or None when it does not exist (any other error raises)."""
    from kubernetes.client.exceptions import ApiException

    try:
        return cluster.custom.get_cluster_custom_object("cni-operator.io", "v1alpha1", "clusternetworks", "default")
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def get_clusternetwork(cluster: Cluster) -> dict:
    """The ClusterNetwork `default`, or {} when there is none."""
    out = cluster.kubectl("get", "cnet", "default", "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def condition(cnet: dict | None, type_: str) -> dict:
    """The condition TYPE_ of a ClusterNetwork (as read, or as a watch delivered it; None reads as none), or {}."""
    return next((c for c in ((cnet or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def wait_condition(cluster: Cluster, type_: str, status: str, reason: str | None = None,
                   timeout: float = 60) -> dict:
    def check() -> dict:
        cnet = get_clusternetwork(cluster)
        found = condition(cnet, type_)
        assert found.get("status") == status and (reason is None or found.get("reason") == reason), (
            f"{type_} is {found.get('status')}/{found.get('reason')}: {found.get('message')} "
            f"(phase {(cnet.get('status') or {}).get('phase')})")
        return cnet

    return wait_for(check, timeout=timeout, what=f"ClusterNetwork {type_}={status}" + (f"/{reason}" if reason else ""))


def install(cluster: Cluster, spec: dict, timeout: float = 90) -> dict:
    """Apply the ClusterNetwork and wait until it is Ready; returns it."""
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode == 0, result.stderr
    return wait_condition(cluster, "Ready", "True", timeout=timeout)


def events_for(cluster: Cluster, reason: str | None = None, *, cnet: dict | None = None) -> list[dict]:
    """Events (with REASON, if given) about CNET, by default the ClusterNetwork there is now; none if there is none.

    Matched by uid: Events outlive their object by an hour, so one about an earlier ClusterNetwork of the same name
    (an earlier test's) must not count. Looked for in `default`, the namespace the operator posts them to and where
    `kubectl describe cnet default` looks: an Event anywhere else would not be seen by a user."""
    if cnet is None:
        cnet = get_clusternetwork(cluster)
    uid = (cnet.get("metadata") or {}).get("uid")
    if not uid:
        return []
    selector = f"involvedObject.kind=ClusterNetwork,involvedObject.uid={uid}" + (f",reason={reason}" if reason else "")
    out = cluster.kubectl("get", "events", "-n", "default", "--field-selector", selector, "-o", "json").stdout
    return json.loads(out)["items"]
