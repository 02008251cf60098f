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

from pathlib import Path

import pytest

from tests.harness.cluster import Cluster
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
