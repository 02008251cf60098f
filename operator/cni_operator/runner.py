"""`cni-operator run`: start kopf with our handlers and explicit settings.

Namespaced resources are watched in the CNI namespace only (kube-system), so the operator needs a Role there rather
than cluster-wide rights on ConfigMaps, Pods or DaemonSets; cluster-scoped ones (ClusterNetwork, Nodes, CRDs,
ClusterRoles) are watched cluster-wide. Replicas coordinate through kopf peering (a KopfPeering object in the CNI
namespace): each gets a random priority, so exactly one acts and the others wait, never two with equal priority.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys

PEERING_NAME = os.environ.get("CNI_OPERATOR_PEERING_NAME", "cni-operator")


class StartupError(RuntimeError):
    """The operator cannot start; the message says what to do."""


def ensure_peering_object(namespace: str) -> None:
    """kopf only patches its peering object and pauses until it exists; the kubectl bundle cannot ship it (a custom
    resource cannot be applied in the same run as its CRD), so the operator creates it, once, if it is missing."""
    from .kube import Kube, KubeError, load_api_client
    from .render import ObjectRef

    kube = Kube(load_api_client())
    ref = ObjectRef("kopf.dev/v1", "KopfPeering", PEERING_NAME, namespace)
    try:
        if kube.get(ref) is None:
            kube.apply({"apiVersion": ref.api_version, "kind": ref.kind,
                        "metadata": {"name": ref.name, "namespace": namespace}})
    except KubeError as exc:
        if exc.status == 404:
            raise StartupError(
                "peering needs the KopfPeering CRD (charts/cni-operator/crds/kopfpeerings.yaml, also in "
                "manifests/install.yaml): install it, or run a single replica with --standalone") from None
        raise StartupError(f"cannot create the peering object {namespace}/{PEERING_NAME}: {exc}") from None


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(fmt: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # kopf is chatty at INFO about every watch event handler; keep its warnings and errors.
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def run(*, standalone: bool = False, namespace: str | None = None, health_port: int | None = None,
        priority: int | None = None, verbose: bool = False) -> int:
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers)

    configure_logging(os.environ.get("CNI_OPERATOR_LOG_FORMAT", "plain"), verbose)
    namespace = namespace or os.environ.get("CNI_OPERATOR_CNI_NAMESPACE", "kube-system")
    if health_port is None:
        health_port = int(os.environ.get("CNI_OPERATOR_HEALTH_PORT", "8080"))
    liveness = f"http://0.0.0.0:{health_port}/healthz" if health_port else None
    priority = priority if priority is not None else random.SystemRandom().randint(1, 2**31 - 1)
    if not standalone:
        from .runtime import RUNTIME, Peering

        ensure_peering_object(namespace)
        RUNTIME.peering = Peering(PEERING_NAME, namespace, priority)
    kopf.run(
        clusterwide=False,
        namespaces=[namespace],
        standalone=standalone,
        peering_name=None if standalone else PEERING_NAME,
        priority=priority,
        liveness_endpoint=liveness,
    )
    return 0
