"""`cni-operator run`: start kopf with our handlers and explicit settings.

Namespaced resources are watched in the CNI namespace only (kube-system, where upstream's manifests put the CNI), so the operator needs a Role there rather
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
    from .objects import ObjectRef

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


def run(*, standalone: bool = False, health_port: int | None = None, priority: int | None = None,
        verbose: bool = False) -> int:
    import kopf

    from . import __version__, handlers  # noqa: F401  (registers the handlers)
    from .objects import CNI_NAMESPACE
    from .session.peering import Peering

    configure_logging(os.environ.get("CNI_OPERATOR_LOG_FORMAT", "plain"), verbose)
    if health_port is None:
        health_port = int(os.environ.get("CNI_OPERATOR_HEALTH_PORT", "8080"))
    liveness = f"http://0.0.0.0:{health_port}/healthz" if health_port else None
    priority = priority if priority is not None else random.SystemRandom().randint(1, 2**31 - 1)
    memo = kopf.Memo()
    if not standalone:
        ensure_peering_object(CNI_NAMESPACE)
        memo.peering = Peering(PEERING_NAME, CNI_NAMESPACE, priority)
    logging.getLogger("cni_operator").info(
        "cni-operator %s starting: mode in-cluster, cluster %s, identity %s, %s", __version__, _server(),
        _identity(), "standalone" if standalone else f"peering {CNI_NAMESPACE}/{PEERING_NAME} priority {priority}")
    kopf.run(
        clusterwide=False,
        namespaces=[CNI_NAMESPACE],
        standalone=standalone,
        peering_name=None if standalone else PEERING_NAME,
        priority=priority,
        liveness_endpoint=liveness,
        memo=memo,
    )
    return 0


def _server() -> str:
    """The API server this process talks to, for the start-up line."""
    try:
        from .kube import load_api_client

        return load_api_client().configuration.host
    except Exception as exc:  # noqa: BLE001 - the start-up line must not be what fails
        return f"unknown ({exc})"


def _identity() -> str:
    """Who the operator acts as: the ServiceAccount in a pod, else the kubeconfig user."""
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(sa):
        with open(sa, encoding="utf-8") as handle:
            return f"serviceaccount {handle.read().strip()}/{os.environ.get('CNI_OPERATOR_SERVICE_ACCOUNT', '?')}"
    try:
        import kubernetes

        _, current = kubernetes.config.list_kube_config_contexts()
        return f"kubeconfig user {current['context'].get('user')}"
    except Exception:  # noqa: BLE001
        return "unknown"
