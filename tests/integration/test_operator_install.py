"""Apply one ClusterNetwork, get a working CNI: every rendered object, a Ready pod per node, Ready in status."""

from __future__ import annotations

import json

import pytest
from cni_operator.api import parse_spec
from cni_operator.render import render

from tests.harness.clusternetwork import apply_clusternetwork, wait_condition
from tests.harness.managed import CNI_NAMESPACE


def _live(cluster, obj: dict) -> dict | None:
    meta = obj["metadata"]
    args = ["get", f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"]
            else obj["kind"].lower(), meta["name"], "-o", "json"]
    if meta.get("namespace"):
        args += ["-n", meta["namespace"]]
    out = cluster.kubectl(*args, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _ds_ready_on_every_node(cluster, name: str) -> dict:
    ds = json.loads(cluster.kubectl("get", "ds", name, "-n", CNI_NAMESPACE, "-o", "json").stdout)
    nodes = len(cluster.fake_nodes())
    status = ds.get("status", {})
    assert status.get("desiredNumberScheduled") == nodes and status.get("numberReady") == nodes, status
    return ds


def _label_nodes_as_eks(cluster, cleanup) -> None:
    for node in cluster.fake_nodes():
        name = node.metadata.name
        cluster.kubectl("label", "node", name, "eks.amazonaws.com/nodegroup=ng-1", "--overwrite")
        cleanup.add(cluster.kubectl, "label", "node", name, "eks.amazonaws.com/nodegroup-", check=False)


@pytest.mark.parametrize("cluster_type, daemonset, provider", [
    ("mks", "canal", "canal"),
    ("eks", "aws-node", "aws-vpc-cni"),
])
def test_apply_gives_a_ready_cni(cluster, cleanup, start_operator, wait_for, cluster_type, daemonset, provider):
    if cluster_type == "eks":
        _label_nodes_as_eks(cluster, cleanup)
    start_operator()
    spec = {"clusterType": cluster_type}
    assert apply_clusternetwork(cluster, spec).returncode == 0

    wait_condition(cluster, "Ready", "True", timeout=90)
    # What an admin types: kubectl wait returns once Ready.
    waited = cluster.kubectl("wait", "--for=condition=Ready", "cnet/default", "--timeout=30s")
    assert "condition met" in waited.stdout

    rendered = render(parse_spec(spec))
    missing = [f"{o['kind']}/{o['metadata']['name']}" for o in rendered.apply if _live(cluster, o) is None]
    assert not missing, f"rendered objects not in the cluster: {missing}"
    wait_for(lambda: _ds_ready_on_every_node(cluster, daemonset), timeout=60, what=f"{daemonset} Ready on every node")

    cnet = wait_condition(cluster, "Applied", "True")
    applied = next(c for c in cnet["status"]["conditions"] if c["type"] == "Applied")
    assert f"{len(rendered.apply)} objects" in applied["message"], applied["message"]

    nodes = len(cluster.fake_nodes())
    row = cluster.kubectl("get", "cnet", "default", "--no-headers").stdout.split()
    assert row[:6] == ["default", cluster_type, provider, rendered.version, f"{nodes}/{nodes}", "Ready"], row
