"""The chart's RBAC gives the operator exactly what session/leader.py does with its Lease: read it, create it, update
it by name; no other Lease can be written, and the rule follows `lease.name`."""

from __future__ import annotations

import pytest
from chart_tools import CNI_NAMESPACE, operator_grants

GROUP, RESOURCE = "coordination.k8s.io", "leases"


@pytest.mark.parametrize("name", ["cni-operator", "other-operator"])
def test_the_operator_reads_creates_and_updates_its_lease_and_writes_no_other(name):
    grants = operator_grants(f"lease.name={name}")
    for verb in ("get", "update"):
        assert grants.allows(verb, GROUP, RESOURCE, name, CNI_NAMESPACE), f"{verb} on its Lease {name}"
        assert not grants.allows(verb, GROUP, RESOURCE, "kube-scheduler", CNI_NAMESPACE), f"{verb} on another Lease"
    assert grants.allows("create", GROUP, RESOURCE, "", CNI_NAMESPACE), "a create names no object"
    for verb in ("delete", "patch", "list"):
        assert not grants.allows(verb, GROUP, RESOURCE, name, CNI_NAMESPACE), f"{verb} is not needed"
    assert not grants.allows("get", GROUP, RESOURCE, name, "default"), "only in the operator's namespace"
