"""A spec that passes admission but cannot be honoured ends as InvalidConfiguration, with nothing applied, and the
operator keeps serving: fixing the spec installs the network."""

from __future__ import annotations

import pytest

from tests.harness.clusternetwork import apply_clusternetwork, install, wait_condition
from tests.harness.managed import managed_objects


@pytest.mark.parametrize("spec, field", [
    ({"clusterType": "mks", "cni": {"version": "v3.30.0"}}, "spec.cni.version"),
    ({"clusterType": "eks", "awsVpcCni": {"region": "xx-east-9"}}, "spec.awsVpcCni.region"),
])
def test_invalid_spec_is_reported_and_nothing_applied(cluster, start_operator, spec, field):
    operator = start_operator()
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode == 0, f"admission must accept this (only the operator knows the catalog): {result.stderr}"
    cnet = wait_condition(cluster, "Degraded", "True", "InvalidConfiguration", timeout=30)
    degraded = next(c for c in cnet["status"]["conditions"] if c["type"] == "Degraded")
    assert field in degraded["message"] and "allowed" in degraded["message"], degraded["message"]
    assert cnet["status"]["observedGeneration"] == cnet["metadata"]["generation"]
    assert not managed_objects(cluster, terminating=True), "nothing may be applied for an invalid spec"
    assert operator.alive()
    if spec["clusterType"] == "mks":  # fixed spec: the same operator installs it
        install(cluster, {"clusterType": "mks"})
