"""Fixtures shared by every test tier.

Tests under tests/integration, tests/e2e and tests/faults are marked `k8s` automatically: they need the real local
control plane (`make cluster-up`, see docs/local-cluster.md). Fixtures:

    cluster             session  the cluster: kubeconfig, API clients, kubectl(), fake node helpers
    wait_for            function wait_for(check, timeout=60, what="...") -> polls check until it passes
    cleanup             function cleanup.add(fn, *args) runs at teardown, newest first; 404s are ignored
    namespace           function a fresh namespace, deleted after the test
    sa_kubeconfig       function sa_kubeconfig(namespace, name, rbac=None, *, seconds=3600) -> Path
    audit_log           session  audit_log.mark(), .entries(user=, verb=, ..., since=), .wait_for(...)

Which cluster: KUBECONFIG_TESTS if set, else .cluster/kubeconfig. A kubeconfig whose server is not a loopback
address is refused (tests create and delete cluster-scoped objects) unless CNI_OPERATOR_TESTS_ALLOW_REMOTE=1.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from support import wait_for

# Fixtures that start the real operator under the chart's RBAC (start_operator, operator_kubeconfig).
pytest_plugins = ["operator_harness"]

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
K8S_TIERS = ("integration", "e2e", "faults")

sys.path.insert(0, str(REPO / "hack"))
import localcluster
import toolchain

ALLOW_REMOTE_ENV = "CNI_OPERATOR_TESTS_ALLOW_REMOTE"
KUBECONFIG_ENV = "KUBECONFIG_TESTS"
AUDIT_LOG_ENV = "AUDIT_LOG_TESTS"


# ---------------------------------------------------------------------------------------------------------- marker


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            tier = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in K8S_TIERS:
            item.add_marker(pytest.mark.k8s)


# --------------------------------------------------------------------------------------------------------- polling


# wait_for lives in support.py so helper modules (which cannot import this conftest by name) share it.


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


# --------------------------------------------------------------------------------------------------------- cluster


def _is_loopback(server: str) -> bool:
    host = urlparse(server).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _current_cluster_entry(kubeconfig: Path) -> dict:
    import yaml

    cfg = yaml.safe_load(kubeconfig.read_text()) or {}
    ctx_name = cfg.get("current-context")
    ctx = next((c["context"] for c in cfg.get("contexts", []) if c["name"] == ctx_name), None)
    if ctx is None:
        raise pytest.UsageError(f"{kubeconfig}: current-context {ctx_name!r} not found")
    cluster = next((c["cluster"] for c in cfg.get("clusters", []) if c["name"] == ctx["cluster"]), None)
    if cluster is None:
        raise pytest.UsageError(f"{kubeconfig}: cluster {ctx['cluster']!r} not found")
    return cluster


@dataclass
class Cluster:
    """The cluster under test, reached with an admin kubeconfig."""

    kubeconfig: Path
    server: str
    local: bool  # started by hack/localcluster.py: node scaling and the audit log are ours
    expected_nodes: int | None = None
    _clients: dict = field(default_factory=dict)

    @cached_property
    def api_client(self):
        import kubernetes

        # An explicit client: never the library's global default, which kopf's login may rewrite.
        return kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))

    def client_for(self, kubeconfig: Path | str):
        """An ApiClient authenticated by another kubeconfig (e.g. one from sa_kubeconfig)."""
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

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run the toolchain's kubectl (or KUBECTL_BIN) against this cluster, as a user would."""
        cmd = [str(toolchain.resolve("kubectl")), f"--kubeconfig={self.kubeconfig}", *args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    # -- fake nodes (kwok manages every Node annotated kwok.x-k8s.io/node=fake)
    def fake_nodes(self) -> list:
        key, val = localcluster.NODE_LABEL
        return [
            n
            for n in self.core.list_node(label_selector=f"{key}={val}").items
            if n.metadata.deletion_timestamp is None
        ]

    def add_fake_nodes(self, count: int) -> list[str]:
        """Create COUNT more fake nodes (names continue the kwok-node-N sequence); kwok makes them Ready.

        The caller owns them: pass each name to cleanup (see `cleanup.add(cluster.delete_node, name)`).
        """
        taken = {localcluster._node_index(n.metadata.name) for n in self.core.list_node().items}
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

        try:
            self.core.delete_node(name)
        except ApiException as e:
            if e.status != 404:
                raise


def _node_ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    env = os.environ.get(KUBECONFIG_ENV)
    kubeconfig = Path(env) if env else localcluster.P.kubeconfig
    if not kubeconfig.is_file():
        pytest.fail(
            f"no cluster: {kubeconfig} does not exist. Run `make cluster-up` (or `bash hack/run-tests.sh`), "
            f"or set {KUBECONFIG_ENV} to the kubeconfig of a disposable cluster.",
            pytrace=False,
        )
    server = _current_cluster_entry(kubeconfig).get("server", "")
    if not _is_loopback(server) and os.environ.get(ALLOW_REMOTE_ENV) != "1":
        # These tests create and delete cluster-scoped objects (CRDs, ClusterRoles, Nodes): never point them at a
        # real cluster by accident. Stop the whole session, not just this test.
        pytest.exit(
            f"refusing to run k8s tests against {server} (from {kubeconfig}): not a loopback address. "
            f"If this cluster is disposable, set {ALLOW_REMOTE_ENV}=1.",
            returncode=4,
        )
    local = not env or Path(env).resolve() == localcluster.P.kubeconfig.resolve()
    state = localcluster.read_state() if local else None
    c = Cluster(kubeconfig=kubeconfig, server=server, local=local, expected_nodes=(state or {}).get("nodes"))
    try:
        c.version.get_code()
    except Exception as e:  # noqa: BLE001 - any failure here means the same thing to the user
        pytest.fail(f"cluster at {server} (from {kubeconfig}) is not reachable: {e}. Is it up? "
                    "`python3 hack/localcluster.py status`", pytrace=False)  # fmt: skip
    return c


# --------------------------------------------------------------------------------------------------------- cleanup


class Cleanup:
    """Teardown actions, run newest first after the test; a 404 means it is already gone, which is fine."""

    def __init__(self) -> None:
        self._actions: list[tuple[Callable[..., Any], tuple, dict]] = []

    def add(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._actions.append((fn, args, kwargs))

    __call__ = add

    def run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        errors = []
        while self._actions:
            fn, args, kwargs = self._actions.pop()
            try:
                fn(*args, **kwargs)
            except ApiException as e:
                if e.status != 404:
                    errors.append(f"{getattr(fn, '__name__', fn)}{args}: HTTP {e.status} {e.reason}")
            except Exception as e:  # noqa: BLE001 - report every failed clean-up, not just the first
                errors.append(f"{getattr(fn, '__name__', fn)}{args}: {e!r}")
        if errors:
            raise AssertionError("clean-up failed:\n  " + "\n  ".join(errors))


@pytest.fixture
def cleanup() -> Iterable[Cleanup]:
    c = Cleanup()
    yield c
    c.run()


def unique_name(prefix: str, hint: str = "") -> str:
    """A DNS-1123 label: prefix, a readable hint (e.g. the test name) and a random suffix, at most 63 chars."""
    hint = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")
    suffix = uuid.uuid4().hex[:6]
    return f"{prefix}-{hint}"[: 63 - len(suffix) - 1].rstrip("-") + f"-{suffix}"


@pytest.fixture
def namespace(cluster: Cluster, cleanup: Cleanup, request: pytest.FixtureRequest) -> str:
    """A new namespace for this test (labelled cni-operator.io/test=true), deleted afterwards without waiting."""
    name = unique_name("t", request.node.name.removeprefix("test_"))
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"cni-operator.io/test": "true"}}})
    cleanup.add(cluster.core.delete_namespace, name)
    return name


# -------------------------------------------------------------------------------------------- ServiceAccount access


def _rbac_documents(rbac: Any) -> tuple[list[dict], list[dict]]:
    """Normalise RBAC input into (ClusterRole rules lists, Role documents).

    Accepts: None; a list of PolicyRule dicts; a ClusterRole/Role dict; YAML text (or a path to a YAML file) with
    one or more ClusterRole/Role documents (e.g. the chart's rendered RBAC) or a bare list of rules.
    """
    import yaml

    if rbac is None:
        return [], []
    if isinstance(rbac, Path) or (isinstance(rbac, str) and "\n" not in rbac and Path(rbac).is_file()):
        rbac = Path(rbac).read_text()
    if isinstance(rbac, str):
        docs = [d for d in yaml.safe_load_all(rbac) if d]
        if len(docs) == 1 and isinstance(docs[0], list):
            docs = docs[0]
    elif isinstance(rbac, dict):
        docs = [rbac]
    else:
        docs = list(rbac)
    if docs and all(isinstance(d, dict) and "kind" not in d for d in docs):
        return [docs], []  # a bare list of rules
    cluster_rules = [d.get("rules") or [] for d in docs if d.get("kind") == "ClusterRole"]
    roles = [d for d in docs if d.get("kind") == "Role"]
    # Other kinds (bindings, ServiceAccounts of a rendered chart) are skipped: we bind to the test SA ourselves.
    return cluster_rules, roles


def _first_concrete_rule(rules: list[dict]) -> dict | None:
    for r in rules:
        verbs, resources = r.get("verbs") or [], r.get("resources") or []
        if verbs and resources and "*" not in verbs[:1] and not r.get("nonResourceURLs"):
            return r
    return None


@pytest.fixture
def sa_kubeconfig(cluster: Cluster, cleanup: Cleanup, tmp_path: Path) -> Callable[..., Path]:
    """Factory: sa_kubeconfig(namespace, name, rbac=None, *, seconds=3600) -> Path to a kubeconfig.

    Creates the namespace (if missing) and the ServiceAccount, grants it RBAC (see _rbac_documents: rules, a
    ClusterRole/Role, or rendered chart YAML; ClusterRoles are bound cluster-wide, Roles in their namespace),
    waits until the grant is effective, and mints a token with the TokenRequest API. The API server (and its
    audit log) then sees the user system:serviceaccount:NAMESPACE:NAME. Everything created is cleaned up.
    """
    from kubernetes.client.exceptions import ApiException

    def make(namespace: str, name: str, rbac: Any = None, *, seconds: int = 3600) -> Path:
        core, rbacapi = cluster.core, cluster.rbac
        try:
            core.create_namespace(
                {"metadata": {"name": namespace, "labels": {"cni-operator.io/test": "true"}}}
            )
            cleanup.add(core.delete_namespace, namespace)
        except ApiException as e:
            if e.status != 409:
                raise
        try:
            core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
            cleanup.add(core.delete_namespaced_service_account, name, namespace)
        except ApiException as e:
            if e.status != 409:
                raise
        subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
        cluster_rules, roles = _rbac_documents(rbac)
        all_rules: list[dict] = []
        for i, rules in enumerate(cluster_rules):
            role_name = unique_name(f"test-{namespace}-{name}", str(i))
            rbacapi.create_cluster_role({"metadata": {"name": role_name}, "rules": rules})
            cleanup.add(rbacapi.delete_cluster_role, role_name)
            rbacapi.create_cluster_role_binding({
                "metadata": {"name": role_name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
                "subjects": subject,
            })  # fmt: skip
            cleanup.add(rbacapi.delete_cluster_role_binding, role_name)
            all_rules += rules
        for role in roles:
            ns = role.get("metadata", {}).get("namespace") or namespace
            role_name = unique_name(f"test-{name}", role.get("metadata", {}).get("name", "role"))
            rbacapi.create_namespaced_role(
                ns, {"metadata": {"name": role_name}, "rules": role.get("rules") or []}
            )
            cleanup.add(rbacapi.delete_namespaced_role, role_name, ns)
            rbacapi.create_namespaced_role_binding(ns, {
                "metadata": {"name": role_name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                "subjects": subject,
            })  # fmt: skip
            cleanup.add(rbacapi.delete_namespaced_role_binding, role_name, ns)
        user = f"system:serviceaccount:{namespace}:{name}"
        probe = _first_concrete_rule(all_rules)
        if probe:
            # RBAC is evaluated from an informer cache: wait until the grant is visible, or the first call of the
            # test may be refused for a few milliseconds.
            attrs = {
                "verb": probe["verbs"][0],
                "group": (probe.get("apiGroups") or [""])[0],
                "resource": probe["resources"][0].split("/")[0],
                "namespace": namespace,
            }
            review = {
                "spec": {
                    "user": user,
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{namespace}",
                        "system:authenticated",
                    ],
                    "resourceAttributes": attrs,
                }
            }

            def allowed() -> bool:
                assert cluster.authz.create_subject_access_review(review).status.allowed, (
                    f"{user} may not {attrs}"
                )
                return True

            wait_for(allowed, timeout=15, what="RBAC grant for the test ServiceAccount")
        token = core.create_namespaced_service_account_token(
            name, namespace, {"spec": {"expirationSeconds": seconds}}
        ).status.token
        return _write_token_kubeconfig(
            cluster, tmp_path / f"{namespace}-{name}.kubeconfig", user, token, namespace
        )

    return make


def _write_token_kubeconfig(cluster: Cluster, path: Path, user: str, token: str, namespace: str) -> Path:
    import yaml

    entry = dict(_current_cluster_entry(cluster.kubeconfig))
    ca = entry.pop("certificate-authority", None)
    if ca:  # inline it, so the file works from any directory
        ca_path = Path(ca) if Path(ca).is_absolute() else cluster.kubeconfig.parent / ca
        entry["certificate-authority-data"] = base64.b64encode(ca_path.read_bytes()).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user, "namespace": namespace}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


# ------------------------------------------------------------------------------------------------------- audit log


@dataclass(frozen=True)
class AuditMark:
    time: dt.datetime
    offset: int


class AuditLog:
    """The API server's audit log (JSON lines, every write at Metadata level; see hack/localcluster.py)."""

    def __init__(self, path: Path):
        self.path = path

    def mark(self) -> AuditMark:
        """A point in time to pass as `since=`: only entries for requests received after it will match."""
        size = self.path.stat().st_size if self.path.exists() else 0
        return AuditMark(dt.datetime.now(dt.UTC), size)

    def entries(self, *, user: str | None = None, verb: str | None = None, resource: str | None = None,
                subresource: str | None = None, namespace: str | None = None, name: str | None = None,
                api_group: str | None = None, since: AuditMark | dt.datetime | None = None) -> list[dict]:  # fmt: skip
        """Audit events matching every given filter, oldest first."""
        if not self.path.exists():
            return []
        offset = 0
        if isinstance(since, AuditMark):
            offset = since.offset if self.path.stat().st_size >= since.offset else 0  # rotated: read it all
            since = since.time
        out = []
        with open(self.path, "rb") as f:
            f.seek(offset)
            for raw in f:
                try:
                    ev = json.loads(raw)
                except ValueError:  # a line still being written
                    continue
                ref = ev.get("objectRef") or {}
                if user is not None and ev.get("user", {}).get("username") != user:
                    continue
                if verb is not None and ev.get("verb") != verb:
                    continue
                if resource is not None and ref.get("resource") != resource:
                    continue
                if subresource is not None and ref.get("subresource") != subresource:
                    continue
                if namespace is not None and ref.get("namespace") != namespace:
                    continue
                if name is not None and ref.get("name") != name:
                    continue
                if api_group is not None and ref.get("apiGroup", "") != api_group:
                    continue
                if since is not None and _ts(ev.get("requestReceivedTimestamp")) < since:
                    continue
                out.append(ev)
        return out

    def wait_for(self, timeout: float = 10, **filters: Any) -> list[dict]:
        """Entries matching FILTERS, waiting up to TIMEOUT for at least one to appear."""
        return wait_for(
            lambda: self.entries(**filters), timeout=timeout, what=f"audit entries matching {filters}"
        )


def _ts(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(value)  # Python 3.11 parses the trailing Z


@pytest.fixture(scope="session")
def audit_log(cluster: Cluster) -> AuditLog:
    env = os.environ.get(AUDIT_LOG_ENV)
    path = Path(env) if env else (localcluster.P.audit_log if cluster.local else None)
    if path is None:
        pytest.skip(
            f"no audit log for {cluster.server}: set {AUDIT_LOG_ENV} to the API server's audit log path"
        )
    if not path.exists():
        # Our own cluster always writes one (the apiserver's own lease writes alone create it): missing is a bug.
        pytest.fail(
            f"audit log {path} does not exist; is kube-apiserver running with --audit-log-path?",
            pytrace=False,
        )
    return AuditLog(path)
