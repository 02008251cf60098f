"""An idle, healthy cluster sees no write from the operator (not a status patch, not a no-op apply) but the renewals
of its Lease."""

from __future__ import annotations

import os

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import install, wait_condition
from tests.harness.operator import is_lease_write, operator_writes
from tests.harness.polling import wait_quiet

# The figure is 10 minutes; CI uses a shorter window (the check is the same), `make bench` reports longer.
IDLE_SECONDS = float(os.environ.get("IDLE_SECONDS", "30"))
RENEW_EVERY = 15  # the default Lease (60 s) is renewed every quarter of its duration (session/lease.py)


def test_idle_cluster_sees_zero_writes_but_lease_renewals(cluster, start_operator, audit_log, wait_for):
    operator = start_operator()
    install(cluster, {"clusterType": "mks"})
    # Healthy and settled: Ready, and nothing rolling out any more.
    wait_condition(cluster, "Progressing", "False", "Stable", timeout=60)
    mark = audit_log.mark()
    wait_quiet(IDLE_SECONDS)
    writes = operator_writes(audit_log, mark, lease=True)
    # The one write an idle operator makes by design: renewing its Lease in kube-system, which keeps any other
    # operator process from acting. It is told apart by namespace and name, and must be an update of that Lease only.
    renewals = [e for e in writes if is_lease_write(e)]
    others = [e for e in writes if not is_lease_write(e)]
    assert others == [], f"writes in {IDLE_SECONDS:.0f} idle seconds: {describe_writes(others)}"
    assert {e["verb"] for e in renewals} <= {"update"}, describe_writes(renewals)
    assert int(IDLE_SECONDS // RENEW_EVERY) - 1 <= len(renewals) <= IDLE_SECONDS // RENEW_EVERY + 1, (
        f"{len(renewals)} Lease renewals in {IDLE_SECONDS:.0f} s; expected one every {RENEW_EVERY} s")
    # Reads are fine, but the operator must still be alive and watching: a change is acted on afterwards.
    assert operator.alive()
    cluster.kubectl("delete", "cm", "canal-config", "-n", "kube-system")
    wait_for(lambda: cluster.kubectl("get", "cm", "canal-config", "-n", "kube-system", check=False).returncode == 0,
             timeout=30, what="canal-config recreated after the idle window")
