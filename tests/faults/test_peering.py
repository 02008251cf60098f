"""Two replicas with peering (not --standalone), as the chart runs them with replicaCount > 1.

Every process takes the Lease kube-system/cni-operator before it starts kopf, so of two replicas one acts and the
other only reads the Lease: it writes nothing at all, not even a peering keep-alive. When the active one is SIGKILLed
the other takes over once the Lease expires (CNI_OPERATOR_LEASE_DURATION shortens it to keep the test bounded).

kopf's peering stays as a second guard, for two processes that do not share the Lease (during a rolling upgrade
from an operator version without it). The second test gives each replica a Lease of its own to get exactly that, so
both run kopf, and checks that a replica paused by a higher-priority peer does not act on its own timers.

Each replica runs as its own ServiceAccount with the chart's RBAC, so the audit log names who wrote what.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

import pytest
from faultkit import SUMMARY, wait_converged

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import apply_clusternetwork, events_for, get_clusternetwork
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import LEASE_NAME, OperatorProcess, chart_rbac, operator_writes
from tests.harness.polling import wait_quiet

MKS = {"clusterType": "mks"}
CHANGED = {"clusterType": "mks", "canal": {"logSeverity": "Warning"}}
LIFETIME = 10  # kopf's peering lifetime
LEASE = 10  # the Lease's duration
HIGH, LOW = 200, 100


def _acting(audit_log, mark, user: str) -> list[dict]:
    """Writes other than peering keep-alives and Lease renewals (of whichever Lease the replica holds)."""
    return [e for e in operator_writes(audit_log, mark, user)
            if (e.get("objectRef") or {}).get("resource") not in ("kopfpeerings", "leases")]


def _peers(cluster) -> dict:
    out = cluster.kubectl("get", "kopfpeering", "cni-operator", "-n", CNI_NAMESPACE, "-o", "json", check=False)
    return (json.loads(out.stdout).get("status") or {}) if out.returncode == 0 else {}


def _delete_peering(cluster) -> None:
    cluster.kubectl("delete", "kopfpeering", "cni-operator", "-n", CNI_NAMESPACE, "--ignore-not-found")


@pytest.fixture
def replica(cluster, start_operator, sa_kubeconfig, tmp_path):
    """Factory: replica(name, priority, lease=LEASE_NAME, active=True) -> a peering operator running as
    ServiceAccount kube-system/NAME with the chart's RBAC for that Lease name.

    Depends on start_operator only for its cluster reset (before and after); stops its replicas first."""
    _delete_peering(cluster)  # no keep-alives of an earlier run's replicas
    started: list[OperatorProcess] = []
    leases: set[str] = set()

    def make(name: str, priority: int, lease: str = LEASE_NAME, active: bool = True) -> tuple[OperatorProcess, str]:
        kubeconfig = sa_kubeconfig(CNI_NAMESPACE, name, chart_rbac(f"lease.name={lease}"))
        process = OperatorProcess(kubeconfig, tmp_path / f"{name}.log", standalone=False, priority=priority,
                                  lease_duration=LEASE,
                                  env={"CNI_OPERATOR_PEERING_LIFETIME": str(LIFETIME), "CNI_OPERATOR_LEASE_NAME": lease})
        started.append(process)
        leases.add(lease)
        return process.start(active=active), f"system:serviceaccount:{CNI_NAMESPACE}:{name}"

    yield make
    for process in started:
        process.stop()
    for process in started:
        sys.stderr.write(f"\n---- replica log {process.log_path}\n{process.log_tail(80)}\n")
    _delete_peering(cluster)
    for lease in leases - {LEASE_NAME}:
        cluster.kubectl("delete", "lease", lease, "-n", CNI_NAMESPACE, "--ignore-not-found")


def test_two_replicas_only_the_lease_holder_acts_and_the_other_takes_over(cluster, replica, audit_log, wait_for):
    mark = audit_log.mark()
    high, high_user = replica("cni-operator-a", HIGH)
    low, low_user = replica("cni-operator-b", LOW, active=False)
    waiting = f"another cni-operator holds the Lease {CNI_NAMESPACE}/{LEASE_NAME}: {high.pod_name} (pid {high.pid})"
    wait_for(lambda: waiting in low.log_tail(), timeout=30, what="the second replica to say who holds the Lease")
    assert not low.holds_lease()

    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)
    by_high = _acting(audit_log, mark, high_user)
    assert by_high, "the replica holding the Lease did not install"
    by_low = operator_writes(audit_log, mark, low_user, lease=True)
    assert not by_low, f"the replica without the Lease wrote: {describe_writes(by_low)}"
    assert sorted(p["priority"] for p in _peers(cluster).values()) == [HIGH], "only the acting replica runs kopf"

    # Failover: SIGKILL the active replica (no goodbye: its Lease must expire), then change the spec.
    high.kill()
    killed = time.monotonic()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, CHANGED).returncode == 0
    first = wait_for(lambda: _acting(audit_log, mark, low_user), timeout=LEASE + 30,
                     what="the remaining replica to act")
    took_over = time.monotonic() - killed
    assert took_over <= LEASE + 15, f"takeover after {took_over:.1f}s; the Lease lasts {LEASE}s"
    wait_converged(cluster, CHANGED, timeout=90)
    assert low.alive() and low.holds_lease()
    SUMMARY.add(f"peering: 2 replicas (priorities {HIGH}/{LOW}, own ServiceAccounts): install written by the Lease "
                f"holder only ({len(by_high)} writes, 0 by the other, not even a peering keep-alive); after SIGKILL "
                f"of it the other acted {took_over:.1f}s later (Lease {LEASE}s; first write "
                f"{describe_writes(first[:1])[0]}) and converged")


def test_a_paused_replica_does_not_act_on_its_own_timers(cluster, replica, audit_log, wait_for):
    """Two replicas that do not share the Lease (as during a rolling upgrade from a version without it) both run kopf;
    peering keeps the lower one paused. A replica that was acting and then paused (a higher-priority one appeared)
    must not write when a retry or back-off timer it set while active fires: it would act on what it saw before."""
    _low, low_user = replica("cni-operator-b", LOW, lease="cni-operator-test-b")
    # The higher replica must join while the other's back-off timer (5 s) is pending, and a process takes longer than
    # that to start on a loaded machine. So it is started now and held back by its own Lease, which the test holds
    # until the timer is set; released, the Lease is taken within a second and kopf joins the peering.
    gate = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "cni-operator-test-a", "namespace": CNI_NAMESPACE},
            "spec": {"holderIdentity": "test-gate_1", "leaseDurationSeconds": 3600,
                     "renewTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(gate))
    high, high_user = replica("cni-operator-a", HIGH, lease="cni-operator-test-a", active=False)
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)

    # Make the active replica set a timer: a conflicting writer past its revert budget is re-checked after a back-off.
    def ds_patches_by_low(since) -> int:
        return len([e for e in _acting(audit_log, since, low_user)
                    if e["objectRef"].get("resource") == "daemonsets" and e["verb"] == "patch"])

    fight = audit_log.mark()
    for n in range(4):  # three reverts are free, the fourth change is deferred
        cluster.apps.patch_namespaced_daemon_set("canal", CNI_NAMESPACE, {"spec": {"template": {"spec": {
            "containers": [{"name": "calico-node", "image": f"registry.example/other-writer/node:v{n}"}]}}}})
        if n < 3:
            wait_for(lambda n=n: ds_patches_by_low(fight) > n, timeout=30, what=f"revert {n + 1} by the replica")

    cnet = get_clusternetwork(cluster)

    def deferred() -> bool:
        assert events_for(cluster, "ConflictingWriter", cnet=cnet), "no ConflictingWriter Event yet"
        return True

    wait_for(deferred, timeout=30, what="the replica to defer the fourth revert")
    cluster.kubectl("patch", "lease", "cni-operator-test-a", "-n", CNI_NAMESPACE, "--type=merge",
                    "-p", '{"spec":{"holderIdentity":null}}')
    wait_for(high.holds_lease, timeout=10, what="the higher replica to take its Lease once released")
    wait_for(lambda: sorted(p["priority"] for p in _peers(cluster).values()) == [LOW, HIGH], timeout=30,
             what="both replicas in the KopfPeering object")
    joined = audit_log.mark()
    wait_for(lambda: _acting(audit_log, joined, high_user), timeout=30, what="the higher-priority replica to act")
    # From the active replica's first write on (a pass the other had in flight when it paused has ended by then):
    mark = audit_log.mark()
    wait_quiet(10)  # observation window: longer than the paused replica's back-off timer (5 s) and re-checks
    by_low = _acting(audit_log, mark, low_user)
    assert not by_low, f"the paused replica wrote: {describe_writes(by_low)}"
