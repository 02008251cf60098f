"""Two replicas with peering (not --standalone), distinct priorities: only the higher one acts; when it is SIGKILLed
the other takes over within the peering lifetime.

Each replica runs as its own ServiceAccount with the chart's RBAC, so the audit log names who wrote what. Both keep
their keep-alives in the KopfPeering object (kube-system/cni-operator); any other write is "acting". The lifetime is
shortened with CNI_OPERATOR_PEERING_LIFETIME (kopf's default is 60 s) to keep the test bounded.
"""

from __future__ import annotations

import json
import sys
import time

import pytest
from faultkit import SUMMARY, wait_converged

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import apply_clusternetwork, events_for, get_clusternetwork
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import OperatorProcess, chart_rbac, operator_writes
from tests.harness.polling import wait_quiet

MKS = {"clusterType": "mks"}
CHANGED = {"clusterType": "mks", "canal": {"logSeverity": "Warning"}}
LIFETIME = 10
HIGH, LOW = 200, 100


def _acting(audit_log, mark, user: str) -> list[dict]:
    """Writes other than peering keep-alives."""
    return [e for e in operator_writes(audit_log, mark, user) if (e.get("objectRef") or {}).get("resource") != "kopfpeerings"]


def _peers(cluster) -> dict:
    out = cluster.kubectl("get", "kopfpeering", "cni-operator", "-n", CNI_NAMESPACE, "-o", "json", check=False)
    return (json.loads(out.stdout).get("status") or {}) if out.returncode == 0 else {}


def _delete_peering(cluster) -> None:
    cluster.kubectl("delete", "kopfpeering", "cni-operator", "-n", CNI_NAMESPACE, "--ignore-not-found")


@pytest.fixture
def replica(cluster, start_operator, sa_kubeconfig, tmp_path):
    """Factory: replica(name, priority) -> a peering operator running as ServiceAccount kube-system/NAME.

    Depends on start_operator only for its cluster reset (before and after); stops its replicas first."""
    _delete_peering(cluster)  # no keep-alives of an earlier run's replicas
    rbac = chart_rbac()
    started: list[OperatorProcess] = []

    def make(name: str, priority: int) -> tuple[OperatorProcess, str]:
        kubeconfig = sa_kubeconfig(CNI_NAMESPACE, name, rbac)
        process = OperatorProcess(kubeconfig, tmp_path / f"{name}.log", standalone=False, priority=priority,
                                  env={"CNI_OPERATOR_PEERING_LIFETIME": str(LIFETIME)})
        started.append(process)
        return process.start(), f"system:serviceaccount:{CNI_NAMESPACE}:{name}"

    yield make
    for process in started:
        process.stop()
    for process in started:
        sys.stderr.write(f"\n---- replica log {process.log_path}\n{process.log_tail(80)}\n")
    _delete_peering(cluster)


def test_two_replicas_only_one_acts_and_the_other_takes_over(cluster, replica, audit_log, wait_for):
    high, high_user = replica("cni-operator-a", HIGH)
    low, low_user = replica("cni-operator-b", LOW)

    def both_peered() -> dict:
        peers = _peers(cluster)
        assert sorted(p["priority"] for p in peers.values()) == [LOW, HIGH], peers
        assert all(p["lifetime"] == LIFETIME for p in peers.values()), peers
        return peers

    wait_for(both_peered, timeout=30, what="both replicas in the KopfPeering object")

    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)
    by_high, by_low = _acting(audit_log, mark, high_user), _acting(audit_log, mark, low_user)
    assert by_high, "the higher-priority replica did not install"
    assert not by_low, f"the lower-priority replica acted while the other was alive: {describe_writes(by_low)}"

    # Failover: SIGKILL the active replica (no goodbye in the peering object), then change the spec.
    high.kill()
    killed = time.monotonic()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, CHANGED).returncode == 0
    first = wait_for(lambda: _acting(audit_log, mark, low_user), timeout=LIFETIME + 30,
                     what="the remaining replica to act")
    took_over = time.monotonic() - killed
    assert took_over <= LIFETIME + 15, f"takeover after {took_over:.1f}s; the peering lifetime is {LIFETIME}s"
    wait_converged(cluster, CHANGED, timeout=90)
    assert low.alive()
    SUMMARY.add(f"peering: 2 replicas (priorities {HIGH}/{LOW}, own ServiceAccounts): install written by the "
                f"higher one only ({len(by_high)} writes, 0 by the other); after SIGKILL of it the other acted "
                f"{took_over:.1f}s later (lifetime {LIFETIME}s; first write {describe_writes(first[:1])[0]}) and converged")


def test_a_paused_replica_does_not_act_on_its_own_timers(cluster, replica, audit_log, wait_for):
    """A replica that was acting and then paused (a higher-priority one appeared) must not write when a retry or
    back-off timer it set while active fires: it would act on what it saw before the pause."""
    _low, low_user = replica("cni-operator-b", LOW)
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
    _high, high_user = replica("cni-operator-a", HIGH)
    wait_for(lambda: sorted(p["priority"] for p in _peers(cluster).values()) == [LOW, HIGH], timeout=30,
             what="both replicas in the KopfPeering object")
    joined = audit_log.mark()
    wait_for(lambda: _acting(audit_log, joined, high_user), timeout=30, what="the higher-priority replica to act")
    # From the active replica's first write on (a pass the other had in flight when it paused has ended by then):
    mark = audit_log.mark()
    wait_quiet(10)  # observation window: longer than the paused replica's back-off timer (5 s) and re-checks
    by_low = _acting(audit_log, mark, low_user)
    assert not by_low, f"the paused replica wrote: {describe_writes(by_low)}"
