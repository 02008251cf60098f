"""Two operators never act at once: a second `cni-operator run --standalone` next to a running one (what a person with
a kubeconfig does) waits for the Lease, writes nothing, says who holds it, and takes over once the first stops; an
operator whose Lease is taken away exits at once.

Both run under the chart's RBAC, each as its own ServiceAccount, so the audit log tells their writes apart.
"""

from __future__ import annotations

import json
import signal
import time

from faultkit import SUMMARY, wait_converged

from tests.harness.access import service_account_user
from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import apply_clusternetwork
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import LEASE_NAME, OPERATOR_USER, OperatorProcess, chart_rbac, operator_writes

MKS = {"clusterType": "mks"}
SECOND_SA = "cni-operator-second"
SECOND_USER = service_account_user(CNI_NAMESPACE, SECOND_SA)
DRIFTED = "registry.example/someone/node:v0"


def _lease(cluster) -> dict:
    return json.loads(cluster.kubectl("get", "lease", LEASE_NAME, "-n", CNI_NAMESPACE, "-o", "json").stdout)["spec"]


def _drift(cluster) -> None:
    cluster.apps.patch_namespaced_daemon_set("canal", CNI_NAMESPACE, {"spec": {"template": {"spec": {
        "containers": [{"name": "calico-node", "image": DRIFTED}]}}}})


def _reverted(cluster) -> bool:
    ds = cluster.apps.read_namespaced_daemon_set("canal", CNI_NAMESPACE)
    image = next(c.image for c in ds.spec.template.spec.containers if c.name == "calico-node")
    assert image != DRIFTED, f"calico-node still runs {image}"
    return True


def _daemonset_patches(audit_log, mark, user: str) -> list[dict]:
    return [e for e in operator_writes(audit_log, mark, user)
            if (e.get("objectRef") or {}).get("resource") == "daemonsets" and e["verb"] == "patch"]


def test_a_second_operator_writes_nothing_until_the_first_stops(cluster, start_operator, sa_kubeconfig, audit_log,
                                                                tmp_path, wait_for):
    first = start_operator(health=True)
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)
    assert _lease(cluster)["holderIdentity"] == first.identity

    mark = audit_log.mark()
    second = OperatorProcess(sa_kubeconfig(CNI_NAMESPACE, SECOND_SA, chart_rbac()), tmp_path / "second.log",
                             health=True)
    try:
        second.start(active=False)
        said = (f"another cni-operator holds the Lease {CNI_NAMESPACE}/{LEASE_NAME}: {first.pod_name} "
                f"(pid {first.pid}), since ")
        wait_for(lambda: said in second.log_tail(), timeout=30, what="the second operator to name the Lease holder")
        assert second.log_tail().count(said) == 1, "the holder is named once, not on every look"
        status, body = second.healthz()
        assert status == 200 and "standby" in body, (status, body)
        assert not second.holds_lease()

        # Drift while both run: the first puts it back, the second does nothing.
        _drift(cluster)
        wait_for(lambda: _reverted(cluster), timeout=30, what="the drift to be reverted")
        wait_for(lambda: _daemonset_patches(audit_log, mark, OPERATOR_USER), timeout=30,
                 what="the first operator's revert in the audit log")
        by_second = operator_writes(audit_log, mark, SECOND_USER, lease=True)  # its Lease included: none at all
        assert not by_second, f"the operator without the Lease wrote: {describe_writes(by_second)}"

        # SIGTERM the first: exit 0, a last line, the Lease handed back; the second takes over at its next look.
        first.stop(signal.SIGTERM)
        stopped = time.monotonic()
        assert first.proc.returncode == 0, first.log_tail()
        assert "released the Lease kube-system/cni-operator" in first.log_tail()
        assert "cni-operator stopped (SIGTERM or SIGINT); exit code 0" in first.log_tail()
        wait_for(second.holds_lease, timeout=15, what="the second operator to take the Lease")
        took_over = time.monotonic() - stopped
        assert _lease(cluster)["holderIdentity"] == second.identity
        assert "took the Lease kube-system/cni-operator as" in second.log_tail()

        mark = audit_log.mark()
        _drift(cluster)
        wait_for(lambda: _reverted(cluster), timeout=30, what="the drift to be reverted by the second operator")
        wait_for(lambda: _daemonset_patches(audit_log, mark, SECOND_USER), timeout=30,
                 what="the second operator's revert in the audit log")
    finally:
        second.stop()
    SUMMARY.add(f"lease: a second standalone operator next to a running one wrote nothing (audit log) and named the "
                f"holder; after SIGTERM of the first (exit 0, Lease released) it took over in {took_over:.1f}s and "
                f"reverted a drift")


def test_an_operator_whose_lease_is_taken_away_exits_at_once(cluster, start_operator, wait_for):
    operator = start_operator(lease_duration=8)  # renews every 2 s
    lease = json.loads(cluster.kubectl("get", "lease", LEASE_NAME, "-n", CNI_NAMESPACE, "-o", "json").stdout)
    lease["spec"].update(holderIdentity="intruder_1", leaseDurationSeconds=4)
    try:
        cluster.kubectl("replace", "-f", "-", input=json.dumps(lease))
        taken = time.monotonic()
        code = operator.exit_code(timeout=30)
        gone_after = time.monotonic() - taken
        assert code == 4, operator.log_tail()
        assert ("lost the Lease: the Lease kube-system/cni-operator is now held by intruder (pid 1); exiting with "
                "code 4") in operator.log_tail()
        assert gone_after < 8, f"exited {gone_after:.1f}s after the Lease was taken; it renews every 2 s"
    finally:
        cluster.kubectl("delete", "lease", LEASE_NAME, "-n", CNI_NAMESPACE, "--ignore-not-found")
