"""Back to a cluster without a CNI: no ClusterNetwork, no object carrying the managed-by label, no CNI pod.

Every k8s test that runs the operator, and every bench install, starts from here, whoever installed what before (the
operator, the bench's kubectl baseline, an earlier test that failed half-way). The reset is done when the cluster
*shows* nothing is left, not when the deletes were sent: a CRD still terminating would make the next install's
apply of the same CRD fail or wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .cluster import Cluster
from .managed import CLUSTER_KINDS, CNI_APPS, CNI_NAMESPACE, MANAGED_SELECTOR, NAMESPACED_KINDS
from .polling import wait_for

RESET_TIMEOUT = 180
STUCK_AFTER = 15  # seconds before a CRD that failed to delete its instances is released by hand
RESEND_AFTER = 10  # seconds before the deletes are sent again for what is left (deleting twice is harmless)
# Fully qualified: tests create CRDs of other groups with the same plural (tests/integration/test_crd_rules.py), and
# kubectl's cached discovery may still resolve a bare `clusternetworks` to one of those after it is gone.
CLUSTERNETWORKS = "clusternetworks.cni-operator.io"


def _names(cluster: Cluster, *args: str) -> list[str]:
    """`kubectl get ARGS -o name`; a resource type the server does not know (no ClusterNetwork CRD yet) has
    none. Any other failure raises AssertionError: polled, that is "try again" (the API server may be restarting)."""
    res = cluster.kubectl("get", *args, "-o", "name", check=False)
    if res.returncode != 0:
        if "the server doesn't have a resource type" in res.stderr:
            return []
        raise AssertionError(f"kubectl get {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.split()


def _crds(cluster: Cluster, which: tuple[str, ...]) -> list[dict]:
    """The CRDs `kubectl get WHICH` names: a label selector (`-l ...`) or a manifest (`-f FILE`, its other kinds
    left out); those not there are left out."""
    if which[0] == "-f":
        # With --ignore-not-found kubectl prints nothing when none of the file's objects is left, and the object
        # itself, not a List, when one is.
        out = cluster.kubectl("get", *which, "--ignore-not-found", "-o", "json").stdout
        found = json.loads(out) if out.strip() else {"items": []}
        items = found.get("items", [found])
        return [i for i in items if i["kind"] == "CustomResourceDefinition"]
    return cluster.get_json("crd", *which)["items"]


def _failing_to_delete(crd: dict) -> bool:
    return bool(crd["metadata"].get("deletionTimestamp")) and any(
        c["type"] == "Terminating" and c.get("reason") == "InstanceDeletionFailed"
        for c in (crd.get("status") or {}).get("conditions") or [])


def requeue_stuck_crds(cluster: Cluster, which: tuple[str, ...] = ("-l", MANAGED_SELECTOR)) -> list[str]:
    """CRDs terminating with InstanceDeletionFailed: delete them again, which puts them back in the API server's
    cleanup queue at once.

    Deleting a CRD whose storage is still being (re)initialised (created or changed a moment ago) fails its
    customresourcecleanup finalizer ("storage is (re)initializing" in kube-apiserver's log), and the finalizer then
    backs off for up to minutes; any write to the CRD, a second delete included, ends the back-off."""
    stuck = [crd["metadata"]["name"] for crd in _crds(cluster, which) if _failing_to_delete(crd)]
    if stuck:
        cluster.kubectl("delete", "crd", *stuck, "--ignore-not-found", "--wait=false", check=False)
    return stuck


def release_stuck_crds(cluster: Cluster, which: tuple[str, ...] = ("-l", MANAGED_SELECTOR)) -> list[str]:
    """CRDs still terminating with InstanceDeletionFailed after requeue_stuck_crds(): drop their finalizer (the
    test clusters' CRDs hold no instances)."""
    released = []
    for crd in _crds(cluster, which):
        if _failing_to_delete(crd):
            cluster.kubectl("patch", "crd", crd["metadata"]["name"], "--type=merge",
                            "-p", '{"metadata":{"finalizers":null}}', check=False)
            released.append(crd["metadata"]["name"])
    return released


def wait_crds_serving(cluster: Cluster, timeout: float = 60, which: tuple[str, ...] = ("-l", MANAGED_SELECTOR)) -> None:
    """Until every CRD WHICH names (default: the managed ones) serves its list of instances, so that a following
    delete does not catch a CRD whose storage is still initialising (see release_stuck_crds)."""
    import kubernetes

    api = kubernetes.client.CustomObjectsApi(cluster.api_client)
    deadline = time.monotonic() + timeout
    for crd in _crds(cluster, which):
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("served", True))

        def serving(spec=spec, version=version) -> bool:
            try:
                api.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"], limit=1)
            except kubernetes.client.exceptions.ApiException as e:
                raise AssertionError(f"HTTP {e.status} {e.reason}") from e
            return True

        wait_for(serving, timeout=max(0.1, deadline - time.monotonic()), interval=0.1, what=f"CRD {crd['metadata']['name']} to serve")


def reset_cluster(cluster: Cluster, *, timeout: float = RESET_TIMEOUT,
                  log: Callable[[str], None] = lambda msg: print(f">> {msg}", flush=True)) -> None:
    """Remove every ClusterNetwork and everything the operator (or anyone, by its label) installed, as the admin;
    return once the cluster shows none of it. Raises AssertionError naming what is left after TIMEOUT."""
    deadline = time.monotonic() + timeout
    # The ClusterNetwork first, and gone before the rest: while it exists a running operator (the bench keeps one
    # up across resets) would put back what is deleted next. Its finalizer is dropped (no operator needs to run for
    # it to go), on every poll while it is there, in case an operator still running adds it back.
    def no_clusternetwork() -> bool:
        left = _names(cluster, CLUSTERNETWORKS)
        for name in left:
            cluster.kubectl("patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
            cluster.kubectl("delete", name, "--ignore-not-found", "--wait=false", check=False)
        assert not left, f"still there: {' '.join(left)}"
        return True

    wait_for(no_clusternetwork, timeout=max(1.0, deadline - time.monotonic()), what="reset: the ClusterNetwork to go")
    # Then everything else at once, without waiting per kind, so the CRD finalizers run concurrently; sent again
    # now and then while objects are left, in case a delete was refused (an API server restarting under a fault test).
    def delete_labelled() -> float:
        cluster.kubectl("delete", "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR, "--wait=false",
                        check=False)
        cluster.kubectl("delete", CLUSTER_KINDS, "-l", MANAGED_SELECTOR, "--wait=false", check=False)
        return time.monotonic()

    started = deleted = delete_labelled()

    def nothing_left() -> bool:
        nonlocal deleted
        requeue_stuck_crds(cluster)
        if time.monotonic() - started > STUCK_AFTER:
            for name in release_stuck_crds(cluster):
                log(f"reset: CRD {name} stuck terminating (InstanceDeletionFailed); removed its finalizer")
        labelled = _names(cluster, "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR)
        labelled += _names(cluster, CLUSTER_KINDS, "-l", MANAGED_SELECTOR)
        if labelled and time.monotonic() - deleted > RESEND_AFTER:
            deleted = delete_labelled()
        left = _names(cluster, "pods", "-n", CNI_NAMESPACE, "-l", CNI_APPS) + labelled
        left += _names(cluster, CLUSTERNETWORKS)
        assert not left, f"still there: {' '.join(left[:10])}{' ...' if len(left) > 10 else ''}"
        return True

    wait_for(nothing_left, timeout=max(1.0, deadline - time.monotonic()),
             what="reset: the previous install's objects and CNI pods to go")
