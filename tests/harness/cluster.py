"""The cluster under test (or under benchmark): which one, reached how, and the fake nodes on it.

Which cluster: KUBECONFIG_TESTS if set (a disposable cluster of your own, with AUDIT_LOG_TESTS for its audit log),
else this checkout's local control plane (hack/localcluster.py, .cluster/). A kubeconfig whose server is not a
loopback address is refused unless CNI_OPERATOR_TESTS_ALLOW_REMOTE=1: tests and the bench create and delete
cluster-scoped objects (CRDs, ClusterRoles, Nodes), never on a real cluster by accident.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from .repo import REPO, localcluster, toolchain

ALLOW_REMOTE_ENV = "CNI_OPERATOR_TESTS_ALLOW_REMOTE"
KUBECONFIG_ENV = "KUBECONFIG_TESTS"
AUDIT_LOG_ENV = "AUDIT_LOG_TESTS"


class ClusterUnavailable(Exception):
    """No kubeconfig, or nothing answers at its server: one message saying what to do."""


class RemoteClusterRefused(Exception):
    """The kubeconfig points at a non-loopback server and CNI_OPERATOR_TESTS_ALLOW_REMOTE is not 1."""


def is_loopback(server: str) -> bool:
    host = urlparse(server).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cluster_entry(kubeconfig: Path) -> dict:
    """The `cluster` entry (server, CA) of the kubeconfig's current context."""
    import yaml

    cfg = yaml.safe_load(kubeconfig.read_text()) or {}
    ctx_name = cfg.get("current-context")
    ctx = next((c["context"] for c in cfg.get("contexts", []) if c["name"] == ctx_name), None)
    if ctx is None:
        raise ClusterUnavailable(f"{kubeconfig}: current-context {ctx_name!r} not found")
    cluster = next((c["cluster"] for c in cfg.get("clusters", []) if c["name"] == ctx["cluster"]), None)
    if cluster is None:
        raise ClusterUnavailable(f"{kubeconfig}: cluster {ctx['cluster']!r} not found")
    return cluster


@dataclass
class Cluster:
    """The cluster, reached with an admin kubeconfig."""

    kubeconfig: Path
    server: str
    local: bool  # hack/localcluster.py's: node scaling, component restarts and the audit log are ours
    expected_nodes: int | None = None
    audit_log_path: Path | None = None  # None: the API server's audit log is not readable from here
    started_here: bool = False  # connect(start_nodes=...) started it, so whoever connected stops it
    # kubectl's discovery cache (--cache-dir); None is kubectl's default. The bench pins one so both sides of its
    # install comparison start against the same warm cache.
    kubectl_cache: Path | None = None
    kubectl_timeout: float = 120
    _clients: dict = field(default_factory=dict)
    # Names of fake nodes deleted by this process: never given to a new node. kwok keys its per-node state (lease,
    # pods it plays) by name, and a node re-created under the name of one just deleted could be taken for the old one,
    # its pods never started (seen once: a 30-node test right after another that deleted its 27 extra nodes).
    _retired_nodes: set = field(default_factory=set)

    @cached_property
    def api_client(self):
        import kubernetes

        # An explicit client: never the library's global default, which kopf's login may rewrite.
        return kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))

    def client_for(self, kubeconfig: Path | str):
        """An ApiClient authenticated by another kubeconfig (e.g. a ServiceAccount's, see access.py)."""
        import kubernetes

        return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))

    def _api(self, name: str):
        import kubernetes

        if name not in self._clients:
            self._clients[name] = getattr(kubernetes.client, name)(self.api_client)
        return self._clients[name]

    core = property(lambda self: self._api("CoreV1Api"))
    apps = property(lambda self: self._api("AppsV1Api"))
    rbac = property(lambda self: self._api("RbacAuthorizationV1Api"))
    custom = property(lambda self: self._api("CustomObjectsApi"))
    apiext = property(lambda self: self._api("ApiextensionsV1Api"))
    authz = property(lambda self: self._api("AuthorizationV1Api"))
    version = property(lambda self: self._api("VersionApi"))

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run the toolchain's kubectl (or KUBECTL_BIN) against this cluster, as a user would.

        A failure raises AssertionError: inside wait_for() that is "not yet" (the API server may be restarting),
        elsewhere it fails the test with kubectl's own message."""
        cmd = [str(toolchain.resolve("kubectl")), f"--kubeconfig={self.kubeconfig}"]
        if self.kubectl_cache is not None:
            cmd.append(f"--cache-dir={self.kubectl_cache}")
        cmd += args
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, check=False,
                             timeout=timeout or self.kubectl_timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def check_reachable(self) -> None:
        try:
            self.version.get_code()
        except Exception as e:  # any failure here means the same thing to the user
            raise ClusterUnavailable(f"cluster at {self.server} (from {self.kubeconfig}) is not reachable: {e}. "
                                     "Is it up? `python3 hack/localcluster.py status`") from e

    # -- fake nodes (kwok manages every Node annotated kwok.x-k8s.io/node=fake)
    def fake_nodes(self) -> list:
        key, val = localcluster.NODE_LABEL
        return [
            n
            for n in self.core.list_node(label_selector=f"{key}={val}").items
            if n.metadata.deletion_timestamp is None
        ]

    def add_fake_nodes(self, count: int) -> list[str]:
        """Create COUNT more fake nodes (names continue the kwok-node-N sequence, never one this process deleted);
        kwok makes them Ready.

        The caller owns them: pass each name to cleanup (see `cleanup.add(cluster.delete_node, name)`).
        """
        taken = {localcluster._node_index(n.metadata.name) for n in self.core.list_node().items} | \
            {localcluster._node_index(name) for name in self._retired_nodes}
        names, i = [], 0
        while len(names) < count:
            if i not in taken:
                body = localcluster.node_manifest(i)
                self.core.create_node(body)
                names.append(body["metadata"]["name"])
            i += 1
        return names

    def delete_node(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        self._retired_nodes.add(name)
        try:
            self.core.delete_node(name)
        except ApiException as e:
            if e.status != 404:
                raise

    def stop_if_started(self) -> bool:
        """Stop the local cluster if connect() started it (someone else's is left running); True if stopped."""
        if not self.started_here:
            return False
        subprocess.run([sys.executable, str(REPO / "hack" / "localcluster.py"), "down"], check=False)
        return True


def connect(*, start_nodes: int | None = None) -> Cluster:
    """The cluster to use (see the module docstring), checked to answer.

    START_NODES: when no KUBECONFIG_TESTS is set, start the local cluster with that many fake nodes if it is not up
    (`localcluster.py up` reuses a running one); Cluster.started_here says whether this call started it.
    Raises ClusterUnavailable or RemoteClusterRefused.
    """
    env = os.environ.get(KUBECONFIG_ENV)
    kubeconfig = Path(env) if env else localcluster.P.kubeconfig
    local = not env or Path(env).resolve() == localcluster.P.kubeconfig.resolve()
    started_here = False
    if not env and start_nodes is not None:
        healthy, _ = localcluster.health()
        subprocess.run([sys.executable, str(REPO / "hack" / "localcluster.py"), "up", "--nodes", str(start_nodes)],
                       check=True)
        started_here = not healthy
    if not kubeconfig.is_file():
        raise ClusterUnavailable(
            f"no cluster: {kubeconfig} does not exist. Run `make cluster-up` (or `bash hack/run-tests.sh`), "
            f"or set {KUBECONFIG_ENV} to the kubeconfig of a disposable cluster.")
    server = cluster_entry(kubeconfig).get("server", "")
    if not is_loopback(server) and os.environ.get(ALLOW_REMOTE_ENV) != "1":
        raise RemoteClusterRefused(
            f"refusing to run against {server} (from {kubeconfig}): not a loopback address, and tests and the "
            f"bench create and delete cluster-scoped objects. If this cluster is disposable, set {ALLOW_REMOTE_ENV}=1.")
    state = localcluster.read_state() if local else None
    audit = os.environ.get(AUDIT_LOG_ENV)
    cluster = Cluster(kubeconfig=kubeconfig, server=server, local=local, expected_nodes=(state or {}).get("nodes"),
                      audit_log_path=Path(audit) if audit else (localcluster.P.audit_log if local else None),
                      started_here=started_here)
    cluster.check_reachable()
    return cluster
