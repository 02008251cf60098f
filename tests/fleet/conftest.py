"""Fleet tier: the management cluster and the target clusters t1..tN of the local substrate (hack/localtargets.py).

Every test here is marked `k8s`. Fixtures, beside the shared ones of tests/conftest.py (`cluster` is the management
cluster):

    targets   session  the targets, at least MIN_TARGETS, each a tests.harness.targets.Target: .name, .cluster (a
                       Cluster of its own: kubeconfig, clients, kubectl), .paths, .audit_log_path, .ca, .pid(component),
                       .frozen(component) (SIGSTOP for a block), .restart(component, kill=, down=, wait=)

Without enough healthy targets the tier fails, never skips: `python3 hack/localcluster.py up --targets 3` starts
them, and hack/run-tests.sh does it itself when the fleet tier is selected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.fleet_env import (
    FLEET_NAMESPACE,
    FLEET_SA,
    RCN_NAMESPACE,
    TEST_PACING,
    Fleet,
    chart_fleet_rbac,
)
from tests.harness.access import grant
from tests.harness.cleanup import Cleanup
from tests.harness.cluster import Cluster
from tests.harness.operator import OperatorProcess
from tests.harness.repo import REPO
from tests.harness.reset import reset_cluster
from tests.harness.targets import Target, TargetsUnavailable, connect_targets

FLEET = Path(__file__).resolve().parent
MIN_TARGETS = 3  # the fleet tests drive three targets at once (an mks, an eks and an imported one)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if FLEET in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.k8s)


@pytest.fixture(scope="session")
def targets(cluster: Cluster) -> list[Target]:
    try:
        return connect_targets(MIN_TARGETS)
    except TargetsUnavailable as e:
        problem = str(e)
    pytest.fail(problem, pytrace=False)  # outside the except: the message alone, no exception chain


@pytest.fixture(scope="module")
def fleet(cluster: Cluster, targets: list[Target], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The fleet operator, running for the whole module as the chart's fleet identity (tests/fleet/fleet_env.py);
    every Secret, RemoteClusterNetwork, identity and namespace it used is gone afterwards."""
    workdir = tmp_path_factory.mktemp("fleet")
    cleanup = Cleanup()
    try:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                        str(REPO / "crds" / "remoteclusternetworks.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                        "crd/remoteclusternetworks.cni-operator.io")
        # An earlier run's namespace may still be terminating.
        cluster.kubectl("wait", "--for=delete", f"namespace/{RCN_NAMESPACE}", "--timeout=60s", check=False)
        cluster.kubectl("create", "namespace", RCN_NAMESPACE)
        cleanup.add(cluster.kubectl, "delete", "namespace", RCN_NAMESPACE, "--wait=false", check=False)
        kubeconfig = grant(cluster, cleanup, FLEET_NAMESPACE, FLEET_SA, chart_fleet_rbac(),
                           path=workdir / "fleet-operator.kubeconfig")
        operator = OperatorProcess(kubeconfig, workdir / "fleet-operator.log", args=("--fleet",),
                                   env={"POD_NAMESPACE": FLEET_NAMESPACE, **TEST_PACING}).start()
        env = Fleet(cluster=cluster, operator=operator, workdir=workdir, cleanup=cleanup)
        yield env
        # RemoteClusterNetworks first, while the operator still runs: a Delete policy's finalizer needs it.
        cluster.kubectl("delete", "rcn", "--all", "-n", RCN_NAMESPACE, "--timeout=60s", check=False)
        operator.stop()
    finally:
        cleanup.run()
        # The targets as they were: no CNI of ours or the imported one's, no EKS labels (the demo's test and a
        # re-run start from there).
        for target in targets:
            reset_cluster(target.cluster, log=lambda _: None)
            target.cluster.kubectl("delete", "ds", "calico-node", "-n", "kube-system", "--ignore-not-found",
                                   check=False)
            target.cluster.kubectl("label", "nodes", "--all", "eks.amazonaws.com/nodegroup-", check=False)
