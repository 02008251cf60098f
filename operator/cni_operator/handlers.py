"""kopf wiring only: startup settings, indexes of what health reads, and events that wake the reconcile loop.

Why only `on.event` handlers and indexes (no on.create/on.update/daemons): kopf persists progress for changing
handlers and adds finalizers for daemons, both writes to the ClusterNetwork itself. An imported cluster must see no
write but status, so all state lives in memory and the one reconcile loop (runtime.py) is level-based.
"""

from __future__ import annotations

import logging
import os

import kopf

from . import api
from .projections import is_cni_pod, node_view, pod_view, workload_view
from .render import MANAGED_BY, MANAGED_BY_LABEL
from .runtime import RUNTIME

ANNOTATION_PREFIX = "cni-operator.io"
# kopf removes "its" finalizer from any object that needs none, so it must never share a name with the finalizer
# the reconciler manages itself (reconcile.FINALIZER, for deletionPolicy: Delete).
KOPF_FINALIZER = "kopf.cni-operator.io/finalizer"
MANAGED = {MANAGED_BY_LABEL: MANAGED_BY}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_) -> None:
    # kopf keeps no state on our objects (no changing handlers), but if it ever does, keep it under our prefix.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = KOPF_FINALIZER
    # Watch streams can freeze silently: make the server end them, and the client give up on a dead one.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 15
    # No namespace/CRD scanning: the served namespace is known (kube-system) and every resource we watch exists at
    # startup, so kopf needs no cluster-wide list/watch of namespaces (and the chart does not grant it).
    settings.scanning.disabled = True
    # Events are posted deliberately by events.py; kopf's log-to-Event bridge would write on every handler run.
    settings.posting.enabled = False
    settings.networking.request_timeout = 60
    # Peering: how long a replica that stopped sending keep-alives (killed, partitioned) blocks the others; kopf's
    # default is 60 s. Keep-alives go out every lifetime minus 5..10 s (at least every second).
    settings.peering.lifetime = int(os.environ.get("CNI_OPERATOR_PEERING_LIFETIME", "60"))
    await RUNTIME.start(logging.getLogger("cni_operator"))


@kopf.on.cleanup()
async def shutdown(**_) -> None:
    await RUNTIME.stop()


# ---- indexes: kopf fills them completely before any handler runs, so the first reconcile (and the foreign-CNI
# check before a first install) never sees a half-listed kube-system.

@kopf.index("apps", "v1", "daemonsets")
def daemonsets(namespace, name, body, **_):
    return {(namespace, name): workload_view(body)}


@kopf.index("apps", "v1", "deployments")
def deployments(namespace, name, body, **_):
    return {(namespace, name): workload_view(body)}


def _is_cni_pod(labels, **_) -> bool:
    return is_cni_pod(labels)


@kopf.index("", "v1", "pods", when=_is_cni_pod)
def cni_pods(namespace, name, body, **_):
    return {(namespace, name): pod_view(body)}


@kopf.index("", "v1", "nodes")
def nodes(name, body, **_):
    return {name: node_view(body)}


# ---- events that wake the loop

@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
def clusternetwork_changed(event, body, **kwargs) -> None:
    RUNTIME.attach_indexes(kwargs)
    RUNTIME.observe_clusternetwork(event.get("type"), body)


@kopf.on.event("", "v1", "nodes")
def node_changed(event, name, body, **kwargs) -> None:
    RUNTIME.attach_indexes(kwargs)
    RUNTIME.observe_node(event.get("type"), name, node_view(body))


@kopf.on.event("", "v1", "pods", when=_is_cni_pod)
def pod_changed(event, body, **kwargs) -> None:
    RUNTIME.attach_indexes(kwargs)
    RUNTIME.poke("pod")


@kopf.on.event("apps", "v1", "daemonsets")
@kopf.on.event("apps", "v1", "deployments")
def workload_changed(event, body, **kwargs) -> None:
    # Any kube-system workload: ours (drift, rollout progress) or a foreign CNI appearing.
    RUNTIME.attach_indexes(kwargs)
    RUNTIME.observe_managed(event.get("type"), body)
    RUNTIME.poke("workload")


# Managed objects that are not workloads: only ours matter, and only for drift.
@kopf.on.event("", "v1", "configmaps", labels=MANAGED)
@kopf.on.event("", "v1", "serviceaccounts", labels=MANAGED)
@kopf.on.event("", "v1", "services", labels=MANAGED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=MANAGED)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "clusterroles", labels=MANAGED)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "clusterrolebindings", labels=MANAGED)
@kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", labels=MANAGED)
def managed_changed(event, body, **kwargs) -> None:
    RUNTIME.attach_indexes(kwargs)
    if RUNTIME.observe_managed(event.get("type"), body):
        RUNTIME.poke("drift")
