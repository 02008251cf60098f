"""`cni-operator run`: check what it needs, then serve /healthz and /metrics, take the Lease, wait for the CRD, run kopf.

Namespaced resources are watched in the CNI namespace only (kube-system, where upstream's manifests put the CNI), so
the operator needs a Role there rather than cluster-wide rights on ConfigMaps, Pods or Deployments; cluster-scoped ones
(ClusterNetwork, Nodes, CRDs, ClusterRoles) are watched cluster-wide, and so are DaemonSets, read only, to see another
CNI wherever its installer put it (handlers.py, docs/rbac.md).

Who acts: every process first takes the Lease kube-system/cni-operator (`session/leader.py`) and writes nothing before
it holds it, so a second `cni-operator run` next to a running operator waits instead of acting. With replicas, kopf's
peering (a KopfPeering object, each replica a random priority) is kept as a second guard: it keeps apart a replica of
an operator version from before the Lease during a rolling upgrade.

The process ends, with a line saying why, on SIGTERM (exit 0, Lease released so a successor takes over at once), when
the ClusterNetwork CRD is deleted (exit 3: kopf cannot watch a resource that appears again, a new process can), and
when the Lease is lost (exit 4, at once: another process may already be acting).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import socket
import sys

from . import lifecycle
from .lifecycle import EXIT_LEASE_LOST

PEERING_NAME = os.environ.get("CNI_OPERATOR_PEERING_NAME", "cni-operator")
# Fleet mode: its own Lease, in the operator's namespace of the management cluster (not kube-system, where an
# in-cluster operator of the management cluster itself may hold cni-operator).
FLEET_LEASE_NAME = "cni-operator-fleet"
FLEET_NAMESPACE = "cni-operator"


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
    # "Connection pool is full, discarding connection": a burst of parallel applies to one fleet target opens more
    # connections than its pool keeps idle (by design: an idle target holds few); not a problem to report.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


# ---------------------------------------------------------------- what the process needs before it starts

def endpoint(what: str, flag: str, host: str | None, port: int | None, default_port: int) -> lifecycle.Endpoint:
    """The flag's value, else CNI_OPERATOR_<WHAT>_BIND_ADDRESS / _PORT, else loopback and DEFAULT_PORT: the pod uses
    the node's network, so anything but loopback is reachable from wherever the node is."""
    env = f"CNI_OPERATOR_{what.upper()}"
    host = host or os.environ.get(f"{env}_BIND_ADDRESS") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise StartupError(f"{flag} (or {env}_BIND_ADDRESS) must be an IP address such as 127.0.0.1 (the node "
                           f"only, the default), 0.0.0.0 (every interface) or the pod's IP; got {host!r}") from None
    if port is None:
        raw = os.environ.get(f"{env}_PORT", "")
        try:
            port = int(raw) if raw else default_port
        except ValueError:
            raise StartupError(f"{env}_PORT must be a port number (0: off), not {raw!r}") from None
    if not 0 <= port <= 65535:
        raise StartupError(f"the {what} port must be between 0 (off) and 65535, not {port}")
    return lifecycle.Endpoint(host, port)


def credentials():
    """The API client, or a StartupError saying in one line what is missing (never a traceback)."""
    import kubernetes

    from .kube import load_api_client

    try:
        return load_api_client()
    except kubernetes.config.ConfigException as exc:
        if "No configuration found" in str(exc):
            if os.environ.get("KUBECONFIG"):
                raise StartupError(f"no Kubernetes credentials: KUBECONFIG={os.environ['KUBECONFIG']} names no "
                                   "readable kubeconfig; point it at one, or run inside a cluster") from None
            raise StartupError("no Kubernetes credentials: set KUBECONFIG or run inside a cluster") from None
        raise StartupError(f"cannot use the Kubernetes credentials: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a malformed kubeconfig raises whatever its parser raises
        raise StartupError(f"cannot use the Kubernetes credentials ({os.environ.get('KUBECONFIG') or '~/.kube/config'}): "
                           f"{exc}") from None


def lease_identity() -> str:
    from .session.lease import identity

    return identity(os.environ.get("POD_NAME") or socket.gethostname(), os.getpid())


# ---------------------------------------------------------------- run

def run(*, standalone: bool = False, health_port: int | None = None, health_address: str | None = None,
        metrics_port: int | None = None, metrics_address: str | None = None, priority: int | None = None,
        verbose: bool = False, fleet: bool = False, watch_namespaces: tuple[str, ...] = (),
        allow_unsafe_kubeconfigs: bool = False, lease_namespace: str | None = None) -> int:
    from .fleet.settings import FleetSettings
    from .objects import CNI_NAMESPACE
    from .session.lease import DEFAULT_NAME, LeaseTiming, parse_duration

    configure_logging(os.environ.get("CNI_OPERATOR_LOG_FORMAT", "plain"), verbose)
    # Settings first, then the credentials: a mistake in either is one line, before anything is contacted.
    health = endpoint("health", "--health-bind-address", health_address, health_port, 8080)
    metrics = endpoint("metrics", "--metrics-bind-address", metrics_address, metrics_port, 0)
    try:
        timing = LeaseTiming(parse_duration(os.environ.get("CNI_OPERATOR_LEASE_DURATION")))
    except ValueError as exc:
        raise StartupError(f"CNI_OPERATOR_LEASE_DURATION: {exc}") from None
    if not fleet and (watch_namespaces or allow_unsafe_kubeconfigs or lease_namespace):
        raise StartupError("--watch-namespace, --allow-unsafe-kubeconfigs and --lease-namespace are for fleet mode: "
                           "add --fleet, or drop them (the in-cluster operator serves kube-system)")
    fleet_settings = None
    if fleet:
        try:
            fleet_settings = FleetSettings.from_env(namespaces=watch_namespaces,
                                                    allow_unsafe=allow_unsafe_kubeconfigs)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    plan = lifecycle.Plan(
        api_client=credentials(),
        health=health,
        metrics=metrics,
        standalone=standalone,
        priority=priority if priority is not None else random.SystemRandom().randint(1, 2**31 - 1),
        peering_name=PEERING_NAME,
        lease_name=os.environ.get("CNI_OPERATOR_LEASE_NAME") or (FLEET_LEASE_NAME if fleet else DEFAULT_NAME),
        lease_timing=timing,
        identity=lease_identity(),
        startup_line=_startup_line,
        ensure_peering=ensure_peering_object,
        on_lease_lost=_lease_lost,
        fleet=fleet_settings,
        lease_namespace=(lease_namespace or os.environ.get("POD_NAMESPACE") or FLEET_NAMESPACE) if fleet
        else CNI_NAMESPACE,
    )
    try:
        return asyncio.run(lifecycle.operate(plan))
    except lifecycle.CannotListen as exc:
        raise StartupError(str(exc)) from None


def _startup_line(plan: lifecycle.Plan) -> str:
    from . import __version__
    from .objects import CNI_NAMESPACE

    mode = "standalone" if plan.standalone or plan.fleet else \
        f"peering {CNI_NAMESPACE}/{plan.peering_name} priority {plan.priority}"
    where = "in-cluster" if plan.fleet is None else \
        f"fleet ({', '.join(plan.fleet.namespaces) or 'every namespace'})"
    return (f"cni-operator {__version__} starting: mode {where}, cluster {plan.api_client.configuration.host}, "
            f"identity {_identity()}, {mode}, lease {plan.lease_namespace}/{plan.lease_name} as {plan.identity} "
            f"({plan.lease_timing.duration}s), /healthz on {plan.health}, /metrics on {plan.metrics}")


def _lease_lost(reason: str) -> None:
    """From the renewing thread: end the process now. Whatever is in flight must not land after another process may
    have taken over, and a clean shutdown would take longer than the margin left before the Lease expires."""
    logging.getLogger("cni_operator").error(
        "lost the Lease: %s; exiting with code %d at once so that two operators never write together (a restarted "
        "operator waits for the Lease again)", reason, EXIT_LEASE_LOST)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_LEASE_LOST)


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
