"""spec.adoption on the real control plane (docs/operations.md, "Adoption"): upstream's canal.yaml of v3.31.4
(manifests/upstream/canal/v3.31.4, as `kubectl apply --server-side` installs it, field manager kubectl), then a
ClusterNetwork:

- the same version and options: taken over with no pod restarted (the pods' UIDs stay), labelled managed, Ready;
- another version (v3.32.1) with IfEquivalent: AdoptionBlocked naming the differences, nothing written (audit log);
  then Takeover: a gated update Canary -> ... -> Complete to v3.32.1 whose starting point is the adopted v3.31.4;
- Never: AdoptionRefused, nothing written.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.harness.clusternetwork import (
    apply_clusternetwork,
    condition,
    events_for,
    get_clusternetwork,
    wait_condition,
)
from tests.harness.managed import CNI_NAMESPACE, managed_objects
from tests.harness.operator import audit_writes_since
from tests.harness.repo import REPO
from tests.harness.reset import STUCK_AFTER, release_stuck_crds, requeue_stuck_crds, wait_crds_serving
from tests.harness.rollout import PhaseRecorder

UPSTREAM = REPO / "manifests" / "upstream" / "canal" / "v3.31.4" / "canal.yaml"
OLD, NEW = "v3.31.4", "v3.32.1"
ROLLOUT = {"canary": 1, "soakSeconds": 3, "maxUnavailable": 1, "progressDeadlineSeconds": 180}
ADOPTED = "cni-operator.io/adopted"


def _pods(cluster, app: str) -> dict[str, str]:
    """name -> uid of the live (not terminating) pods labelled k8s-app=APP."""
    pods = cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector=f"k8s-app={app}").items
    return {p.metadata.name: p.metadata.uid for p in pods if p.metadata.deletion_timestamp is None}


def _all_ready(cluster, app: str, count: int) -> bool:
    pods = [p for p in cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector=f"k8s-app={app}").items
            if p.metadata.deletion_timestamp is None]
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    assert len(pods) == count and len(ready) == count, f"{app}: {len(ready)} of {len(pods)} Ready, want {count}"
    return True


def _daemonset(cluster) -> dict:
    return json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)


def _main_image(ds: dict) -> str:
    return next(c["image"] for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")


@pytest.fixture
def upstream_canal(cluster, start_operator, wait_for):
    """Upstream's canal v3.31.4 installed by hand (after the start_operator fixture's reset), every pod Ready;
    removed after the test, ClusterNetwork first (so no operator puts anything back)."""
    nodes = len(cluster.core.list_node().items)
    cluster.kubectl("apply", "--server-side", "-f", str(UPSTREAM))
    wait_for(lambda: _all_ready(cluster, "canal", nodes), timeout=120, what="upstream canal pods Ready")
    wait_for(lambda: _all_ready(cluster, "calico-kube-controllers", 1), timeout=120,
             what="upstream calico-kube-controllers Ready")
    yield nodes
    cluster.kubectl("patch", "clusternetworks.cni-operator.io", "default", "--type=merge",
                    "-p", '{"metadata":{"finalizers":null}}', check=False)
    cluster.kubectl("delete", "clusternetworks.cni-operator.io", "default", "--ignore-not-found", "--wait=true",
                    check=False)
    # The adoption rewrote upstream's CRDs seconds ago: deleting one whose storage is still re-initialising leaves
    # it terminating for minutes (tests/harness/reset.py). Not `--wait=true`: kubectl's wait for the objects of CRDs
    # it deleted in the same call can hang until its timeout after everything is gone; poll instead.
    wait_crds_serving(cluster, which=("-f", str(UPSTREAM)))
    cluster.kubectl("delete", "-f", str(UPSTREAM), "--ignore-not-found", "--wait=false", check=False)
    deleted = time.monotonic()
    wait_for(lambda: _upstream_gone(cluster, release_stuck=time.monotonic() - deleted > STUCK_AFTER), timeout=120,
             what="upstream canal removed")


def _upstream_gone(cluster, release_stuck: bool) -> bool:
    requeue_stuck_crds(cluster, which=("-f", str(UPSTREAM)))
    if release_stuck:
        release_stuck_crds(cluster, which=("-f", str(UPSTREAM)))
    left = cluster.kubectl("get", "-f", str(UPSTREAM), "--ignore-not-found", "-o", "name", check=False)
    assert left.returncode == 0 and not left.stdout.split(), f"still there: {left.stdout.split()[:5]} {left.stderr}"
    return True


def test_the_same_version_is_taken_over_without_a_pod_restart(cluster, upstream_canal, start_operator, wait_for):
    before = {**_pods(cluster, "canal"), **_pods(cluster, "calico-kube-controllers")}
    assert len(before) == upstream_canal + 1, before
    assert "app.kubernetes.io/managed-by" not in (_daemonset(cluster)["metadata"].get("labels") or {})
    start_operator()

    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": OLD}}).returncode == 0
    cnet = wait_condition(cluster, "Ready", "True", timeout=90)
    wait_for(lambda: "daemonset.apps/canal" in managed_objects(cluster), timeout=30, what="canal labelled managed")

    status = cnet["status"]
    assert status["version"] == OLD and status["phase"] == "Ready", status
    assert not status.get("rollout"), f"a rollout started: {status.get('rollout')}"
    adopted = {(a["kind"], a["name"]) for a in status.get("adopted") or []}
    assert {("DaemonSet", "canal"), ("Deployment", "calico-kube-controllers"), ("ConfigMap", "canal-config"),
            ("CustomResourceDefinition", "ippools.crd.projectcalico.org")} <= adopted, adopted
    ds = _daemonset(cluster)
    assert ds["metadata"]["annotations"].get(ADOPTED) == "true", ds["metadata"]["annotations"]
    assert ds["spec"]["updateStrategy"]["type"] == "OnDelete", ds["spec"]["updateStrategy"]
    assert events_for(cluster, "Adopted"), "no Adopted Event"

    # No pod was replaced: every UID is the one upstream's install started, and the DaemonSet's template (its
    # revision) is the one the pods run.
    after = {**_pods(cluster, "canal"), **_pods(cluster, "calico-kube-controllers")}
    assert after == before, f"pods were replaced: {sorted(set(before.items()) ^ set(after.items()))}"
    assert ds["status"].get("updatedNumberScheduled") == upstream_canal, ds["status"]

    # The CRDs are still upstream's: every served version's schema as canal.yaml has it (the operator vendors them
    # verbatim, so taking them over changes no validation or default a user relies on).
    changed = [name for name, versions in _upstream_crd_schemas().items() if _cluster_crd_schemas(cluster, name) != versions]
    assert len(_upstream_crd_schemas()) >= 20 and not changed, f"CRD schemas no longer upstream's: {changed}"


def _upstream_crd_schemas() -> dict[str, dict]:
    """CRD name -> {version: openAPIV3Schema} as upstream's canal.yaml has them."""
    docs = [d for d in yaml.safe_load_all(UPSTREAM.read_text()) if d and d["kind"] == "CustomResourceDefinition"]
    return {d["metadata"]["name"]: {v["name"]: v["schema"]["openAPIV3Schema"] for v in d["spec"]["versions"]}
            for d in docs}


def _cluster_crd_schemas(cluster, name: str) -> dict:
    crd = cluster.get_json("crd", name)
    return {v["name"]: v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]}


def test_another_version_is_blocked_then_taken_over_through_a_gated_rollout(cluster, upstream_canal, start_operator,
                                                                             audit_log, wait_for):
    uids = _pods(cluster, "canal")
    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW},
                                          "rollout": ROLLOUT}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "AdoptionBlocked", timeout=60)
    assert cnet["status"]["phase"] == "Failed" and condition(cnet, "Stalled")["reason"] == "AdoptionBlocked"
    message = condition(cnet, "Degraded")["message"]
    assert f"version {OLD} runs, the spec asks for {NEW}" in message, message
    assert (f"DaemonSet kube-system/canal: .spec.template.spec.containers[calico-node].image "
            f"(quay.io/calico/node:{OLD} -> quay.io/calico/node:{NEW})") in message, message
    assert "Nothing was written" in message and "adoption: Takeover" in message, message
    wait_for(lambda: any(e["type"] == "Warning" for e in events_for(cluster, "AdoptionBlocked")), timeout=15,
             what="an AdoptionBlocked Warning Event")

    # Nothing written: no object of the CNI labelled, none changed, and the audit log shows only status and Events.
    assert managed_objects(cluster) == set()
    assert _main_image(_daemonset(cluster)) == f"quay.io/calico/node:{OLD}"
    writes = [w for w in audit_writes_since(audit_log, mark, exclude_status=True) if not w.startswith("create events")]
    assert writes == [], f"the operator wrote more than its status and Events: {writes}"
    assert _pods(cluster, "canal") == uids

    # Takeover: the adopted v3.31.4 is the starting point of a gated update to v3.32.1.
    def complete() -> dict:
        rollout = (get_clusternetwork(cluster).get("status") or {}).get("rollout") or {}
        assert rollout.get("phase") == "Complete", f"rollout {rollout.get('phase')}: {rollout.get('message')}"
        return rollout

    started = time.monotonic()
    with PhaseRecorder(cluster) as recorder:
        assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": NEW}, "rollout": ROLLOUT,
                                              "adoption": "Takeover"}).returncode == 0
        rollout = wait_for(complete, timeout=180, what=f"the Takeover update to {NEW} Complete")
    phases = recorder.phases
    assert phases[0] == "Canary" and phases[-1] == "Complete", phases
    assert "Soaking" in phases and phases.index("Soaking") < phases.index("Complete"), phases
    assert "Rolling" in phases or upstream_canal == 1, phases
    assert rollout["from"] == OLD and rollout["to"] == NEW, rollout
    assert json.loads(rollout["fromSpec"])["cni"]["version"] == OLD, rollout.get("fromSpec")
    assert len(rollout["canaryNodes"]) == 1 and rollout["nodesUpdated"] == upstream_canal, rollout
    cnet = wait_condition(cluster, "Ready", "True", timeout=60)
    assert cnet["status"]["version"] == NEW
    assert _main_image(_daemonset(cluster)) == f"quay.io/calico/node:{NEW}"
    wait_for(lambda: _all_ready(cluster, "canal", upstream_canal), timeout=30, what="every canal pod Ready")
    assert not set(_pods(cluster, "canal").values()) & set(uids.values()), "an old canal pod is still there"
    print(f"takeover update of {upstream_canal} nodes: phases {phases}, {time.monotonic() - started:.1f}s")


def test_never_refuses_an_existing_install(cluster, upstream_canal, start_operator, audit_log, wait_for):
    start_operator()
    mark = audit_log.mark()
    assert apply_clusternetwork(cluster, {"clusterType": "mks", "cni": {"version": OLD},
                                          "adoption": "Never"}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "AdoptionRefused", timeout=60)
    assert cnet["status"]["phase"] == "Failed"
    message = condition(cnet, "Stalled")["message"]
    assert "DaemonSet kube-system/canal" in message or "41 objects" in message, message
    assert "spec.adoption is Never" in message and "nothing was written" in message, message
    assert managed_objects(cluster) == set()
    writes = [w for w in audit_writes_since(audit_log, mark, exclude_status=True) if not w.startswith("create events")]
    assert writes == [], f"the operator wrote more than its status and Events: {writes}"


def test_an_unknown_adoption_mode_is_rejected_at_admission(cluster, start_operator):
    result = apply_clusternetwork(cluster, {"clusterType": "mks", "adoption": "Always"})
    assert result.returncode != 0, "admission accepted adoption: Always"
    assert "spec.adoption" in result.stderr and '"IfEquivalent", "Takeover", "Never"' in result.stderr, result.stderr
