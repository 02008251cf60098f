"""kube-apiserver, then etcd, crash in the middle of an install; the same operator process reconnects and converges
to exactly the rendered inventory with the CNI's APIs served (a CRD the API server was establishing when it crashed
stays "Installing" until written again: apply.py does), and once converged an idle window shows no write from it but
its Lease renewals. The outage is shorter than the Lease's renew deadline (45 s by default), so it keeps the Lease.

The crash is a SIGKILL of the component (`hack/localcluster.py restart COMPONENT --kill --down 2`), after the operator
has made a few of its install writes, so the outage lands while it is applying.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from faultkit import SUMMARY, acting_writes, status_changes, wait_converged

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import apply_clusternetwork, get_clusternetwork
from tests.harness.operator import OPERATOR_USER, operator_writes
from tests.harness.polling import wait_quiet
from tests.harness.repo import REPO

MKS = {"clusterType": "mks"}
IDLE_SECONDS = 10


def restart(component: str, down: float) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(REPO / "hack" / "localcluster.py"), "restart", component, "--kill",
                             "--down", str(down)], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"restart {component} failed: {result.stdout}{result.stderr}"
    return time.monotonic() - started


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_control_plane_crash_mid_install_operator_reconnects_and_converges(cluster, start_operator, audit_log,
                                                                           component):
    if not cluster.local:
        pytest.fail("this test restarts control plane components: it needs the local cluster (make cluster-up)")
    operator = start_operator()
    pid = operator.proc.pid
    follower = audit_log.follow(audit_log.mark())
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    seen, deadline = 0, time.monotonic() + 30
    while seen < 8:  # the crash lands after a few of the operator's install writes, while it applies the rest
        seen += len(acting_writes(follower.poll(), OPERATOR_USER))
        assert time.monotonic() < deadline, f"the operator made only {seen} writes in 30s"
        time.sleep(0.003)
    outage = restart(component, down=2)
    started = time.monotonic()
    settled = wait_converged(cluster, MKS, timeout=120)
    converged = time.monotonic() - started
    assert operator.alive() and operator.proc.pid == pid, "the operator process must survive the outage"

    mark = audit_log.mark()
    wait_quiet(IDLE_SECONDS)  # observation window: the converged operator must not write (but renew its Lease)
    idle = operator_writes(audit_log, mark, OPERATOR_USER)
    assert not idle, (f"writes by the operator in an idle window after the {component} restart: {describe_writes(idle)}; "
                      f"status changes: {status_changes(settled, get_clusternetwork(cluster))}")
    assert operator.alive()
    SUMMARY.add(f"{component} SIGKILLed after {seen} install writes, back after {outage:.1f}s; the same operator "
                f"converged {converged:.1f}s later (the CNI's APIs served); {IDLE_SECONDS}s idle window: 0 writes")
