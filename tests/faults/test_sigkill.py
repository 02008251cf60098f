"""SIGKILL the operator at random points of an install and of an upgrade; a restarted operator converges to exactly
the rendered inventory (faultkit.check_converged).

A "point" is chosen by the operator's own writes (its Lease renewals aside): the kill lands after its k-th write (audit log, polled every few
milliseconds) plus a random few milliseconds, with k uniform over every write the step makes, so kills hit the
start, the middle (some objects applied, the inventory not yet in status) and the end (status being written).
"""

from __future__ import annotations

import time

from faultkit import (
    ITERATIONS,
    SEED,
    SUMMARY,
    kill_after_writes,
    managed_objects,
    rendered_refs,
    rng,
    wait_converged,
)

from tests.harness.clusternetwork import QUICK_ROLLOUT, apply_clusternetwork
from tests.harness.managed import count_managed
from tests.harness.operator import OPERATOR_USER
from tests.harness.reset import reset_cluster

MKS = {"clusterType": "mks"}
V31 = {"clusterType": "mks", "cni": {"version": "v3.31.4"}, "rollout": QUICK_ROLLOUT}
V32 = {"clusterType": "mks", "cni": {"version": "v3.32.1"}, "rollout": QUICK_ROLLOUT}
# The operator started after a SIGKILL has a new identity and waits for the dead one's Lease to expire (a restarted
# container of the same pod would take it back at once): a 10 s Lease keeps that wait short.
LEASE = 10
ANP_CRDS = {"adminnetworkpolicies.policy.networking.k8s.io", "baselineadminnetworkpolicies.policy.networking.k8s.io"}
CNP_CRDS = {"clusternetworkpolicies.policy.networking.k8s.io"}


def _crds(cluster) -> set[str]:
    return {name for _, kind, _, name in managed_objects(cluster) if kind == "CustomResourceDefinition"}


def _step_with_kill(cluster, audit_log, start_operator, operator, spec: dict, k: int, jitter: float):
    """Apply SPEC while OPERATOR runs, SIGKILL it after k writes, start a new one; returns it and the figures."""
    mark = audit_log.mark()
    follower = audit_log.follow(mark)
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode == 0, result.stderr
    seen = kill_after_writes(operator, follower, OPERATOR_USER, k, jitter)
    at_kill = count_managed(cluster)
    started = time.monotonic()
    operator = start_operator(lease_duration=LEASE)
    # A deadline, not a speed: the killed process's Lease expires, then a version change is an update the operator
    # drives (a canary, a 1 s soak, then the other nodes).
    wait_converged(cluster, spec, timeout=180)
    return operator, seen, at_kill, time.monotonic() - started


def _report(name: str, rows: list[tuple[int, int, int, float]], span: int) -> None:
    kills = sorted(seen for _, seen, _, _ in rows)
    SUMMARY.add(f"sigkill {name}: {len(rows)} iterations (seed {SEED}), each killed after k of ~{span} writes; "
                f"writes done at the kill {kills}; managed objects at the kill "
                f"{sorted(at for _, _, at, _ in rows)}; all converged to exactly the render; "
                f"restart-to-converged (s) {[round(t, 1) for *_, t in rows]}")


def test_sigkill_during_install_converges_to_the_rendered_inventory(cluster, start_operator, audit_log):
    random = rng("install")
    _, refs = rendered_refs(MKS)
    span = len(refs) + 3  # one apply per object, the Installing event, status patches
    rows = []
    for i in range(ITERATIONS):
        if i:
            reset_cluster(cluster)
        operator = start_operator(lease_duration=LEASE)
        k, jitter = random.randint(0, span), random.uniform(0, 0.02)
        operator, seen, at_kill, took = _step_with_kill(cluster, audit_log, start_operator, operator, MKS, k, jitter)
        rows.append((k, seen, at_kill, took))
        operator.stop()
    _report("install", rows, span)


def test_sigkill_during_upgrade_and_downgrade_converges_and_prunes(cluster, start_operator, audit_log):
    random = rng("upgrade")
    operator = start_operator(lease_duration=LEASE)
    assert apply_clusternetwork(cluster, V31).returncode == 0
    wait_converged(cluster, V31, timeout=90)
    assert ANP_CRDS <= _crds(cluster)
    _, refs = rendered_refs(V32)
    span = len(refs) + 5  # every object changes (version label), prunes, the Updating event, status patches
    upgrades, downgrades = [], []
    for i in range(ITERATIONS):
        k, jitter = random.randint(0, span), random.uniform(0, 0.02)
        operator, *row = _step_with_kill(cluster, audit_log, start_operator, operator, V32, k, jitter)
        upgrades.append((k, *row))
        crds = _crds(cluster)
        assert not (ANP_CRDS & crds) and CNP_CRDS <= crds, f"after the upgrade: {crds}"
        if i == ITERATIONS - 1:
            break
        k, jitter = random.randint(0, span), random.uniform(0, 0.02)
        operator, *row = _step_with_kill(cluster, audit_log, start_operator, operator, V31, k, jitter)
        downgrades.append((k, *row))
        crds = _crds(cluster)
        assert ANP_CRDS <= crds and not (CNP_CRDS & crds), f"after the downgrade: {crds}"
    _report("upgrade v3.31.4 -> v3.32.1", upgrades, span)
    if downgrades:
        _report("downgrade v3.32.1 -> v3.31.4", downgrades, span)
