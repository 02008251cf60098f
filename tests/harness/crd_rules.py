"""The generated ClusterNetwork CRD under a throw-away API group, so CEL and schema tests run against the real API
server without touching the CRD the operator tests use."""

from __future__ import annotations

from collections.abc import Iterator

import yaml
from cni_operator.schema import crd


def crd_under_group(cluster, group: str) -> Iterator:
    """Install the CRD as clusternetworks.GROUP, yield CLUSTER once it is Established, delete it afterwards."""
    body = crd.crd()
    body["metadata"]["name"] = f"clusternetworks.{group}"
    body["spec"]["group"] = group
    body["spec"]["names"]["shortNames"] = []
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(body))
    try:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/clusternetworks.{group}", "--timeout=60s")
        yield cluster
    finally:
        cluster.kubectl("delete", "crd", f"clusternetworks.{group}", "--wait=false", check=False)
