"""An idle, healthy cluster sees no write from the operator: not a status patch, not a no-op apply."""

from __future__ import annotations

import os

from tests.harness.clusternetwork import install, wait_condition
from tests.harness.operator import audit_writes_since
from tests.harness.polling import wait_quiet

# The figure is 10 minutes; CI uses a shorter window (the check is the same), `make bench` reports longer.
IDLE_SECONDS = float(os.environ.get("IDLE_SECONDS", "30"))


def test_idle_cluster_sees_zero_writes(cluster, start_operator, audit_log, wait_for):
    operator = start_operator()
    install(cluster, {"clusterType": "mks"})
    # Healthy and settled: Ready, and nothing rolling out any more.
    wait_condition(cluster, "Progressing", "False", "Stable", timeout=60)
    mark = audit_log.mark()
    wait_quiet(IDLE_SECONDS)
    assert audit_writes_since(audit_log, mark) == [], f"writes in {IDLE_SECONDS:.0f} idle seconds"
    # Reads are fine, but the operator must still be alive and watching: a change is acted on afterwards.
    assert operator.alive()
    cluster.kubectl("delete", "cm", "canal-config", "-n", "kube-system")
    wait_for(lambda: cluster.kubectl("get", "cm", "canal-config", "-n", "kube-system", check=False).returncode == 0,
             timeout=30, what="canal-config recreated after the idle window")
