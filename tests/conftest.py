"""Fixtures shared by every test tier: thin pytest wrappers over the harness in tests/harness/ (which `make bench`
uses too), turning its errors into pytest's fail/skip/exit.

Tests under tests/integration, tests/e2e and tests/faults are marked `k8s` automatically: they need the real local
control plane (`make cluster-up`, see docs/local-cluster.md). Fixtures:

    cluster             session  the cluster: kubeconfig, API clients, kubectl(), fake node helpers (harness/cluster.py)
    wait_for            function wait_for(check, timeout=60, what="...") -> polls check until it passes
    cleanup             function cleanup.add(fn, *args) runs at teardown, newest first; 404s are ignored
    namespace           function a fresh namespace, deleted after the test
    sa_kubeconfig       function sa_kubeconfig(namespace, name, rbac=None, *, seconds=3600) -> Path
    audit_log           session  audit_log.mark(), .entries(user=, verb=, ..., since=), .wait_for(...), .follow(mark)
    operator_kubeconfig function the CRDs, and a kubeconfig for kube-system/cni-operator-test with the chart's RBAC
    start_operator      function start_operator(**OperatorProcess kwargs) -> a running operator (harness/operator.py)

Which cluster: KUBECONFIG_TESTS if set, else .cluster/kubeconfig. A kubeconfig whose server is not a loopback
address is refused (tests create and delete cluster-scoped objects) unless CNI_OPERATOR_TESTS_ALLOW_REMOTE=1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.access import grant
from tests.harness.audit import AuditLog
from tests.harness.cleanup import Cleanup, unique_name
from tests.harness.cluster import AUDIT_LOG_ENV, Cluster, ClusterUnavailable, RemoteClusterRefused, connect
from tests.harness.operator import Operators
from tests.harness.operator import operator_kubeconfig as chart_operator_kubeconfig
from tests.harness.polling import wait_for
from tests.harness.reset import reset_cluster

TESTS = Path(__file__).resolve().parent
K8S_TIERS = ("integration", "e2e", "faults")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            tier = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in K8S_TIERS:
            item.add_marker(pytest.mark.k8s)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    try:
        return connect()
    except RemoteClusterRefused as e:
        # Never point these tests at a real cluster by accident: stop the whole session, not just this test.
        pytest.exit(str(e), returncode=4)
    except ClusterUnavailable as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def cleanup() -> Iterable[Cleanup]:
    c = Cleanup()
    yield c
    c.run()


@pytest.fixture
def namespace(cluster: Cluster, cleanup: Cleanup, request: pytest.FixtureRequest) -> str:
    """A new namespace for this test (labelled cni-operator.io/test=true), deleted afterwards without waiting."""
    name = unique_name("t", request.node.name.removeprefix("test_"))
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"cni-operator.io/test": "true"}}})
    cleanup.add(cluster.core.delete_namespace, name)
    return name


@pytest.fixture
def sa_kubeconfig(cluster: Cluster, cleanup: Cleanup, tmp_path: Path) -> Callable[..., Path]:
    """Factory: sa_kubeconfig(namespace, name, rbac=None, *, seconds=3600) -> Path to a kubeconfig for the
    ServiceAccount NAMESPACE/NAME holding RBAC once it is effective (harness/access.py: grant); cleaned up."""

    def make(namespace: str, name: str, rbac: Any = None, *, seconds: int = 3600) -> Path:
        return grant(cluster, cleanup, namespace, name, rbac, path=tmp_path / f"{namespace}-{name}.kubeconfig",
                     seconds=seconds)

    return make


@pytest.fixture(scope="session")
def audit_log(cluster: Cluster) -> AuditLog:
    path = cluster.audit_log_path
    if path is None:
        pytest.skip(f"no audit log for {cluster.server}: set {AUDIT_LOG_ENV} to the API server's audit log path")
    if not path.exists():
        # Our own cluster always writes one (the apiserver's own lease writes alone create it): missing is a bug.
        pytest.fail(f"audit log {path} does not exist; is kube-apiserver running with --audit-log-path?",
                    pytrace=False)
    return AuditLog(path)


@pytest.fixture
def operator_kubeconfig(cluster: Cluster, cleanup: Cleanup, tmp_path: Path) -> Path:
    return chart_operator_kubeconfig(cluster, cleanup, tmp_path / "operator.kubeconfig")


@pytest.fixture
def start_operator(cluster: Cluster, operator_kubeconfig: Path, tmp_path: Path) -> Iterable[Callable[..., Any]]:
    """Factory: start_operator(**OperatorProcess kwargs) -> a running operator; all are stopped at teardown, the
    cluster is reset before and after, and the operators' logs are printed when the test failed."""
    reset_cluster(cluster)
    operators = Operators(operator_kubeconfig, tmp_path)
    yield operators.start
    operators.stop_all()
    sys.stderr.write(operators.logs())  # pytest shows captured teardown output only when the test failed
    reset_cluster(cluster)
