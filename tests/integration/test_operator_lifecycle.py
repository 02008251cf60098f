"""Upgrade, pause and deletion: the operator changes what it should, prunes what a version dropped, and never
leaves a ClusterNetwork stuck."""

from __future__ import annotations

import json
import time

from cni_operator.api import parse_spec
from cni_operator.render import render

from tests.harness.clusternetwork import apply_clusternetwork, get_clusternetwork, install
from tests.harness.managed import CNI_NAMESPACE, managed_objects, rendered_names
from tests.harness.operator import audit_writes_since, operator_writes

OLD, NEW = "v3.31.4", "v3.32.1"


def _inventory(cnet: dict) -> set[str]:
    return {f"{i['kind']}/{i['name']}" for i in cnet["status"]["applied"]["inventory"]}


def test_upgrade_updates_workloads_and_prunes_what_the_new_version_lacks(cluster, start_operator, wait_for):
    start_operator()
    old_spec = {"clusterType": "mks", "cni": {"version": OLD}}
    install(cluster, old_spec)
    old, new = render(parse_spec(old_spec)), render(parse_spec({"clusterType": "mks", "cni": {"version": NEW}}))
    dropped = rendered_names(old) - rendered_names(new)
    assert dropped, "the catalog must have an object v3.32.1 no longer ships (see docs/providers/canal.md)"
    assert dropped <= managed_objects(cluster)

    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW}}).returncode == 0

    def upgraded() -> dict:
        cnet = get_clusternetwork(cluster)
        status = cnet["status"]
        assert status.get("version") == NEW and status.get("phase") == "Ready", (status.get("version"),
                                                                                  status.get("phase"))
        assert status["observedGeneration"] == cnet["metadata"]["generation"]
        return cnet

    cnet = wait_for(upgraded, timeout=90, what=f"the upgrade to {NEW}")
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    images = {c["name"]: c["image"] for c in ds["spec"]["template"]["spec"]["containers"]}
    assert images["calico-node"].endswith(f":{NEW}"), images
    assert managed_objects(cluster) == rendered_names(new), "the cluster holds exactly what the new render lists"
    assert _inventory(cnet) == {f"{o['kind']}/{o['metadata']['name']}" for o in new.apply}


def test_paused_stops_every_write_and_says_so(cluster, start_operator, audit_log, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "paused": True,
                                          "canal": {"logSeverity": "Debug"}}).returncode == 0
    cnet = wait_for(lambda: get_clusternetwork(cluster)["status"]["phase"] == "Paused" and get_clusternetwork(cluster),
                    timeout=30, what="phase Paused")
    applied = next(c for c in cnet["status"]["conditions"] if c["type"] == "Applied")
    assert applied["reason"] == "Paused", applied
    mark = audit_log.mark()
    cluster.kubectl("delete", "cm", "canal-config", "-n", CNI_NAMESPACE)  # drift while paused: must stay
    cluster.kubectl("label", "ds", "canal", "-n", CNI_NAMESPACE, "poke=1")
    wait_for(lambda: "canal-config" not in " ".join(managed_objects(cluster)), timeout=10, what="cm gone")
    writes = audit_writes_since(audit_log, mark, exclude_status=True)
    assert writes == [], f"a paused operator wrote: {writes}"

    # Unpaused: the drift made meanwhile is put back and the phase leaves Paused.
    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0

    def resumed() -> bool:
        assert get_clusternetwork(cluster)["status"]["phase"] == "Ready"
        assert cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, check=False).returncode == 0
        return True

    wait_for(resumed, timeout=60, what="the operator to resume and recreate canal-config")


def test_orphan_deletion_leaves_the_network_running(cluster, start_operator, wait_for):
    start_operator()
    cnet = install(cluster, {"clusterType": "mks"})
    assert "cni-operator.io/finalizer" not in (cnet["metadata"].get("finalizers") or [])
    before = managed_objects(cluster)
    cluster.kubectl("delete", "cnet", "default", "--timeout=30s")
    assert managed_objects(cluster) == before
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    assert ds["status"]["numberReady"] == len(cluster.fake_nodes())


def test_delete_policy_removes_the_installation_and_the_finalizer(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks", "deletionPolicy": "Delete"})
    wait_for(lambda: "cni-operator.io/finalizer" in (get_clusternetwork(cluster)["metadata"].get("finalizers") or []),
             timeout=30, what="the finalizer that Delete needs")
    cluster.kubectl("delete", "cnet", "default", "--wait=false")

    def gone() -> bool:
        assert not get_clusternetwork(cluster), "the ClusterNetwork is still there"
        left = managed_objects(cluster)
        assert not left, f"left behind: {sorted(left)}"
        return True

    wait_for(gone, timeout=90, what="the ClusterNetwork and every managed object to go")


def test_a_spec_without_version_keeps_the_installed_one(cluster, start_operator, wait_for):
    """The catalog default (v3.32.1) differs from what runs (v3.31.4): leaving cni.version unset never moves it, as
    with an operator upgrade that ships another default."""
    start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}})
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "mtu": 1450}).returncode == 0  # version dropped

    def settled() -> dict:
        cnet = get_clusternetwork(cluster)
        assert "version" not in (cnet["spec"].get("cni") or {}), cnet["spec"]
        assert cnet["status"]["observedGeneration"] == cnet["metadata"]["generation"], "not seen yet"
        assert cnet["status"].get("phase") == "Ready", cnet["status"].get("phase")
        return cnet

    cnet = wait_for(settled, timeout=60, what="the spec without a version applied")
    assert cnet["status"]["version"] == OLD
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    images = {c["name"]: c["image"] for c in ds["spec"]["template"]["spec"]["containers"]}
    assert images["calico-node"].endswith(f":{OLD}"), images
    cm = json.loads(cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    assert cm["data"]["veth_mtu"] == "1450", "the spec change itself was applied"


EDITS = 100


def test_a_burst_of_spec_edits_is_one_rollout_of_the_last(cluster, start_operator, audit_log, wait_for):
    """100 edits that each change the pod template, 100 ms apart: the DaemonSet is written once, with the last."""
    start_operator()
    install(cluster, {"clusterType": "mks"})
    mark = audit_log.mark()
    severities = ["Warning", "Error", "Debug"]
    start = time.monotonic()
    for i in range(EDITS):
        # Paced (the 100 edits in 10 s): the load's shape, not a wait for anything.
        time.sleep(max(0.0, start + i * 0.1 - time.monotonic()))
        cluster.custom.patch_cluster_custom_object(
            "cni-operator.io", "v1alpha1", "clusternetworks", "default",
            {"spec": {"canal": {"logSeverity": severities[i % 3]}, "mtu": 1400 + i}})
    last = severities[(EDITS - 1) % 3]

    def applied() -> dict:
        cnet = get_clusternetwork(cluster)
        assert cnet["status"]["observedGeneration"] == cnet["metadata"]["generation"], "the last edit not seen yet"
        applied = next(c for c in cnet["status"]["conditions"] if c["type"] == "Applied")
        assert applied["status"] == "True", applied
        return cnet

    wait_for(applied, timeout=60, what="the last of the edits applied")
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    env = {e["name"]: e.get("value") for c in ds["spec"]["template"]["spec"]["containers"] for e in c.get("env") or []}
    assert env["FELIX_LOGSEVERITYSCREEN"] == last
    ds_writes = [e for e in operator_writes(audit_log, mark)
                 if (e.get("objectRef") or {}).get("resource") == "daemonsets"]
    assert len(ds_writes) == 1, f"{len(ds_writes)} DaemonSet writes (rollouts) for one burst of {EDITS} edits"


def test_kubectl_wait_after_a_version_change_returns_once_every_node_runs_it(cluster, start_operator):
    """What docs/operations.md calls safe: `kubectl wait --for=condition=Ready` typed right after a version change
    returns only when every node runs a Ready pod of the new version. (The Ready condition carries the generation it
    describes, which kubectl wait compares with the object's, and Ready stays False until the update is Complete.)"""
    start_operator()
    rollout = {"canary": 1, "soakSeconds": 2, "maxUnavailable": 1}
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}, "rollout": rollout})
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW},
                                          "rollout": rollout}).returncode == 0
    waited = cluster.kubectl("wait", "--for=condition=Ready", "cnet/default", "--timeout=180s")
    assert "condition met" in waited.stdout

    nodes = {n.metadata.name for n in cluster.core.list_node().items}
    pods = [p for p in cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector="k8s-app=canal").items
            if p.metadata.deletion_timestamp is None]
    running_new = {p.spec.node_name for p in pods
                   if any(c.name == "calico-node" and c.image.endswith(f":{NEW}") for c in p.spec.containers)
                   and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])}
    old = [p.metadata.name for p in pods if any(c.image.endswith(f":{OLD}") for c in p.spec.containers)]
    assert not old, f"kubectl wait returned while pods still run {OLD}: {old}"
    assert running_new == nodes, f"nodes without a Ready {NEW} canal pod: {sorted(nodes - running_new)}"
    assert get_clusternetwork(cluster)["status"]["rollout"]["phase"] == "Complete"
