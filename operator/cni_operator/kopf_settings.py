"""The kopf settings both modes share (in-cluster handlers.py, fleet fleet/handlers.py), each with its reason."""

from __future__ import annotations

import os

import kopf

from .objects import ANNOTATION_PREFIX

# kopf removes "its" finalizer from any object that needs none, so it must never share a name with the finalizer
# the reconciler manages itself (objects.FINALIZER, for deletionPolicy: Delete).
KOPF_FINALIZER = "kopf.cni-operator.io/finalizer"


def configure(settings: kopf.OperatorSettings) -> None:
    # kopf keeps no state on our objects (no changing handlers), but if it ever does, keep it under our prefix.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = KOPF_FINALIZER
    # Watch streams can freeze silently: make the server end them, and the client give up on a dead one.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 15
    # No namespace/CRD scanning: the served namespaces are known, so kopf needs no cluster-wide list/watch of
    # namespaces (and the chart does not grant it). kopf then watches only the resources that exist at startup:
    # the runner starts it once the CRD is Established, and ends the process when the CRD goes, so a new process
    # picks it up when it is back.
    settings.scanning.disabled = True
    # Events are posted deliberately by the session; kopf's log-to-Event bridge would write on every handler run.
    settings.posting.enabled = False
    settings.networking.request_timeout = 60
    # kopf keeps one worker per object alive this long after its last event, holding that event's whole body; with
    # thousands of nodes heartbeating that is thousands of bodies held at any moment. The facts are taken at once,
    # so a worker has nothing left to wait for.
    settings.queueing.idle_timeout = 0.5
    # Peering: how long a replica that stopped sending keep-alives (killed, partitioned) blocks the others; kopf's
    # default is 60 s. Keep-alives go out every lifetime minus 5..10 s (at least every second).
    settings.peering.lifetime = int(os.environ.get("CNI_OPERATOR_PEERING_LIFETIME", "60"))
