"""SIGTERM (what the kubelet sends on a rollout or `kubectl delete pod`) ends the operator cleanly: exit code 0, a
last line saying why, and the Lease handed back, whether it was serving or still waiting for the Lease."""

from __future__ import annotations

import json
import signal

from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import LEASE_NAME


def _holder(cluster) -> str:
    lease = json.loads(cluster.kubectl("get", "lease", LEASE_NAME, "-n", CNI_NAMESPACE, "-o", "json").stdout)
    return lease["spec"].get("holderIdentity", "")


def test_sigterm_exits_0_and_hands_the_lease_back(cluster, start_operator):
    serving = start_operator()
    waiting = start_operator(active=False)
    assert _holder(cluster) == serving.identity

    waiting.stop(signal.SIGTERM)
    assert waiting.proc.returncode == 0, waiting.log_tail()
    assert ("cni-operator stopped (SIGTERM while waiting for the Lease; it wrote nothing); exit code 0"
            in waiting.log_tail())
    assert _holder(cluster) == serving.identity, "a process that never held the Lease leaves it alone"

    serving.stop(signal.SIGTERM)
    log = serving.log_tail()
    assert serving.proc.returncode == 0, log
    assert "released the Lease kube-system/cni-operator" in log
    assert log.rstrip().endswith("cni-operator stopped (SIGTERM or SIGINT); exit code 0"), log
    assert "Traceback" not in log, log
    assert _holder(cluster) == "", "released: the next operator takes it at once"
