"""kopf wiring for the in-cluster mode: startup settings, and watch events fed into the cluster's session.

Why only indexes and `on.event` handlers (no on.create/on.update/daemons): kopf persists progress for changing
handlers and adds finalizers for daemons, both writes to the ClusterNetwork itself. An imported cluster must see no
write but status, so all state lives in memory (the session's projections) and one level-based loop decides.

Why the index handlers store nothing in kopf's indexes: kopf runs every index handler for the whole initial listing
before it calls any other handler, so feeding the session from them guarantees that the first pass (and the check
for a foreign CNI before a first install) sees all of kube-system and every node. The facts live once, in the
session; kopf's indexes stay empty (a handler returning None indexes nothing). Deletions come as events.

Why one watch outside kopf: kopf serves every namespaced resource in the same namespaces (kube-system, where the
operator's Role is), but a CNI runs wherever its installer puts it (Tigera's calico-system, kube-flannel, ...). So
DaemonSets outside kube-system come from a watch of their own (kube_watch.py, every namespace but kube-system, whose
DaemonSets kopf serves), which keeps only known CNIs' DaemonSets (providers.describe_daemonset), as the same small
views; its first listing is done in the startup handler, before kopf lists anything, so the first pass sees it too.

The session lives in kopf's `memo` (one per operator process), not in a module global.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os

import kopf

from . import api, kopf_settings
from .kube import Kube, load_api_client
from .kube_watch import CollectionWatch
from .objects import CNI_NAMESPACE, MANAGED
from .providers import describe_daemonset, is_cni_pod
from .session import ClusterSession
from .session.projections import workload_view


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    kopf_settings.configure(settings)
    memo.session = ClusterSession(
        Kube(load_api_client()), name="in-cluster", singleton=api.SINGLETON_NAME,
        min_interval=float(os.environ.get("CNI_OPERATOR_MIN_INTERVAL", "1.0")),
        peering=memo.get("peering"), logger=logging.getLogger("cni_operator"), complete_kinds=COMPLETE_KINDS,
        spec_quiet=float(os.environ.get("CNI_OPERATOR_SPEC_QUIET_SECONDS", "2.0")),
        may_act=memo.lease.held if memo.get("lease") is not None else None)
    await memo.session.start()
    memo.elsewhere = await watch_cni_daemonsets_elsewhere(memo.session)


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_) -> None:
    if memo.get("elsewhere") is not None:
        memo.elsewhere.stop()
    if memo.get("session") is not None:
        await memo.session.stop()
    if memo.get("stop_flag") is not None:
        # Stopping on a signal, kopf still waits for its watcher of our stop flag, for 5 s, before it cancels it: a
        # raised flag lets it finish at once (every restart and rolling update of the operator is 5 s shorter).
        memo.stop_flag.set()


# ---- known CNIs' DaemonSets in every other namespace (calico-system, kube-flannel, ...): a watch of our own

ELSEWHERE = f"DaemonSets outside {CNI_NAMESPACE}"
ELSEWHERE_GRANT = "list and watch on daemonsets (apps) cluster-wide"


def _is_cni_daemonset(body: dict) -> bool:
    return describe_daemonset((body.get("metadata") or {}).get("name") or "") is not None


async def watch_cni_daemonsets_elsewhere(session: ClusterSession) -> CollectionWatch:
    """List them now (so the first pass, and its check for a foreign CNI, sees them), then watch from there."""
    loop = asyncio.get_running_loop()

    def deliver(kind: str, body: dict) -> None:  # from the watch's thread
        loop.call_soon_threadsafe(functools.partial(session.observe_workload, workload_view(body),
                                                    deleted=kind == "DELETED"))

    watch = CollectionWatch(load_api_client(), api_version="apps/v1", kind="DaemonSet", path="/apis/apps/v1/daemonsets",
                            field_selector=f"metadata.namespace!={CNI_NAMESPACE}", keep=_is_cni_daemonset,
                            deliver=deliver, logger=session.logger, what=ELSEWHERE, grant=ELSEWHERE_GRANT)
    try:
        for body in await asyncio.to_thread(watch.list_now):
            session.observe_workload(workload_view(body))
    except Exception as exc:  # noqa: BLE001 - the watch's thread lists again, says why (what to grant), backs off
        session.logger.debug("the first listing of %s failed: %s", ELSEWHERE, exc)
    watch.start()
    return watch


# ---- the ClusterNetwork CRD itself: deleted or replaced, kopf stops serving it; the runner ends the process

CRD_NAME = f"{api.PLURAL}.{api.GROUP}"


def _is_our_crd(name, **_) -> bool:
    return name == CRD_NAME


@kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", when=_is_our_crd)
async def clusternetwork_crd(event, body, memo: kopf.Memo, **_) -> None:
    if memo.get("crd_event") is not None:
        memo.crd_event(event.get("type"), dict(body))


def _deleted(event: dict) -> bool:
    return event.get("type") == "DELETED"


# ---- the facts health and detection read: fed during kopf's initial listing, before any other handler runs

@kopf.index("apps", "v1", "daemonsets")
def daemonsets(body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_workload(dict(body))


@kopf.index("apps", "v1", "deployments")
def deployments(body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_workload(dict(body))


def _is_cni_pod(labels, **_) -> bool:
    return is_cni_pod(labels)


@kopf.index("", "v1", "pods", when=_is_cni_pod)
def cni_pods(body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_pod(body)


@kopf.index("", "v1", "nodes")
def nodes(body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_node(body)


# ---- events: the ClusterNetwork, deletions, and managed objects (drift)

@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
def clusternetwork_changed(event, body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_clusternetwork(dict(body), deleted=_deleted(event))


@kopf.on.event("apps", "v1", "daemonsets")
@kopf.on.event("apps", "v1", "deployments")
def workload_deleted(event, body, memo: kopf.Memo, **_) -> None:
    if _deleted(event):
        memo.session.observe_workload(dict(body), deleted=True)


@kopf.on.event("", "v1", "pods", when=_is_cni_pod)
def pod_deleted(event, body, memo: kopf.Memo, **_) -> None:
    if _deleted(event):
        memo.session.observe_pod(body, deleted=True)


@kopf.on.event("", "v1", "nodes")
def node_deleted(event, body, memo: kopf.Memo, **_) -> None:
    if _deleted(event):
        memo.session.observe_node(body, deleted=True)


# Managed objects that are not workloads: only ours matter, and only for drift. Indexed like the workloads, so the
# session's cache of them is complete before the first pass: a miss then means "absent", and a pass reads nothing.
_MANAGED_KINDS = (
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("", "v1", "services", "Service"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition"),
)
# Every kind whose managed objects reach the session before its first pass (the workloads through their own index).
COMPLETE_KINDS = frozenset({kind for *_, kind in _MANAGED_KINDS} | {"DaemonSet", "Deployment"})


def managed_listed(body, memo: kopf.Memo, **_) -> None:
    memo.session.observe_managed(dict(body))


def managed_deleted(event, body, memo: kopf.Memo, **_) -> None:
    if _deleted(event):
        memo.session.observe_managed(dict(body), deleted=True)


for _group, _version, _plural, _kind in _MANAGED_KINDS:
    kopf.index(_group, _version, _plural, labels=MANAGED, id=f"managed-{_plural}")(managed_listed)
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"managed-{_plural}-deleted")(managed_deleted)
