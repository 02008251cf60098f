"""Fleet mode end to end: one `cni-operator run --fleet` in the management cluster, three real target clusters.

The tests run in order on one operator process and share the targets (tests/fleet/conftest.py `fleet`):
t1 is an mks cluster (Canal installed), t2 an EKS-like one (nodes labelled as EKS nodes; the VPC CNI installed),
t3 an imported one with a CNI someone else installed, which the operator must never write to.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.fleet.fleet_env import FLEET_USER, RCN_NAMESPACE, TARGET_USER, Fleet
from tests.harness.audit import AuditLog
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.targets import Target, finish_restart

pytestmark = pytest.mark.k8s

UNREACHABLE_WITHIN = 30  # seconds: issue 11's bound for Reachable=False after a target's API server stops
EKS_LABEL = "eks.amazonaws.com/nodegroup"


def audit(target: Target) -> AuditLog:
    return AuditLog(target.audit_log_path)


def phase(fleet: Fleet, name: str) -> str | None:
    return (fleet.rcn(name).get("status") or {}).get("phase")


def wait_phase(fleet: Fleet, wait_for, name: str, want: str, timeout: float = 90) -> dict:
    def reached() -> dict:
        status = fleet.rcn(name).get("status") or {}
        assert status.get("phase") == want, f"{name}: phase {status.get('phase')}, conditions " \
            f"{[(c['type'], c['status'], c.get('reason')) for c in status.get('conditions') or []]}"
        return status
    return wait_for(reached, timeout=timeout, what=f"{name} to be {want}")


def fleet_writes(target: Target, mark) -> list[str]:
    """Writes in TARGET since MARK by any identity the fleet tests give the operator there, described."""
    return [f"{e['user']['username']} {e['verb']} {e['requestURI']}" for e in audit(target).writes(mark)
            if e["user"]["username"].startswith(TARGET_USER)]


def columns(table: str) -> list[dict[str, str]]:
    """kubectl's table as rows of {column: text}, cut where the header's columns start (cells may be empty)."""
    header, *lines = table.splitlines()
    names = header.split()
    starts = [header.index(f" {n} ") + 1 if i else 0 for i, n in enumerate(names[:-1])] + [header.rindex(names[-1])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, bounds, strict=True)} for line in lines]


def foreign_cni(target: Target) -> None:
    """A CNI someone else installed in the imported target: a kube-system DaemonSet without our labels."""
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": "calico-node", "namespace": CNI_NAMESPACE, "labels": {"k8s-app": "calico-node"}},
          "spec": {"selector": {"matchLabels": {"k8s-app": "calico-node"}},
                   "template": {"metadata": {"labels": {"k8s-app": "calico-node"}},
                                "spec": {"containers": [{"name": "calico-node",
                                                         "image": "quay.io/calico/node:v3.30.0"}],
                                         "tolerations": [{"operator": "Exists"}]}}}}
    target.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))


def daemonset(target: Target, name: str) -> dict | None:
    out = target.cluster.kubectl("get", "ds", name, "-n", CNI_NAMESPACE, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


@pytest.fixture(scope="module")
def marks(targets):
    """Where each target's audit log stood before the fleet first touched it: the imported one is checked from here
    over the whole module."""
    return {t.name: audit(t).mark() for t in targets}


def test_three_targets_come_up_ready_ready_unmanaged(fleet, targets, marks, wait_for):
    t1, t2, t3 = targets[:3]
    for node in t2.cluster.fake_nodes():
        t2.cluster.kubectl("label", "node", node.metadata.name, f"{EKS_LABEL}=ng-1", "--overwrite")
    foreign_cni(t3)
    fleet.register(t1, "mks")
    fleet.register(t2, "eks")
    fleet.register(t3, "imported")
    for name, want in ((t1.name, "Ready"), (t2.name, "Ready"), (t3.name, "Unmanaged")):
        status = wait_phase(fleet, wait_for, name, want, timeout=120)
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions["Reachable"] == "True" and conditions["CredentialsValid"] == "True", conditions
        assert status.get("lastSeenTime"), status
    table = fleet.table()  # kubectl get rcn -A: the fleet view
    rows = {row["NAME"]: row for row in columns(table)}
    assert [rows[t1.name][c] for c in ("TYPE", "CNI", "VERSION", "PHASE")] == ["mks", "canal", "v3.32.1", "Ready"]
    assert [rows[t2.name][c] for c in ("TYPE", "CNI", "PHASE")] == ["eks", "aws-vpc-cni", "Ready"], table
    assert [rows[t3.name][c] for c in ("TYPE", "CNI", "PHASE")] == ["imported", "", "Unmanaged"], table
    assert all(row["REACHABLE"] == "True" and row["TARGET"] for row in rows.values()), table
    assert daemonset(t1, "canal") and daemonset(t2, "aws-node") and not daemonset(t3, "canal")
    detected = fleet.rcn(t3.name)["status"]["detected"]
    assert any(d["provider"] == "calico" and d["version"] == "v3.30.0" for d in detected), detected


def test_drift_in_a_target_is_reverted_with_an_event_in_the_management_cluster(fleet, targets, wait_for):
    t1 = targets[0]
    uid = json.loads(t1.cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json").stdout)[
        "metadata"]["uid"]
    t1.cluster.kubectl("delete", "cm", "canal-config", "-n", CNI_NAMESPACE)

    def recreated() -> bool:
        out = t1.cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json", check=False)
        assert out.returncode == 0, "canal-config is still missing in the target"
        assert json.loads(out.stdout)["metadata"]["uid"] != uid
        return True

    wait_for(recreated, timeout=30, what="canal-config to be recreated in t1")
    wait_for(lambda: any("canal-config" in e["message"] for e in fleet.events(t1.name, "DriftReverted")),
             timeout=15, what="a DriftReverted Event on the RemoteClusterNetwork naming canal-config")


def test_a_frozen_api_server_is_unreachable_never_degraded_and_other_targets_converge(fleet, targets, wait_for):
    t1, t2 = targets[:2]
    with t1.frozen("kube-apiserver"):
        frozen_at = time.monotonic()
        seen = []

        def unreachable() -> bool:
            found = fleet.conditions(t1.name)
            seen.append(found.get("Degraded", {}).get("status"))
            assert found["Reachable"]["status"] == "False", found["Reachable"]
            assert found["Ready"]["status"] == "Unknown" and found["Ready"]["reason"] == "TargetUnreachable"
            return True

        wait_for(unreachable, timeout=UNREACHABLE_WITHIN + 15, what="t1 to be Reachable=False, Ready=Unknown")
        took = time.monotonic() - frozen_at
        assert took <= UNREACHABLE_WITHIN, f"t1 was reported unreachable {took:.1f}s after its API server stopped"
        assert phase(fleet, t1.name) == "Unreachable"
        assert "True" not in seen, "an unreachable target was reported Degraded"
        # The other targets are served meanwhile: a drift in t2 is reverted while t1 is away.
        t2.cluster.kubectl("delete", "cm", "amazon-vpc-cni", "-n", CNI_NAMESPACE)
        wait_for(lambda: t2.cluster.kubectl("get", "cm", "amazon-vpc-cni", "-n", CNI_NAMESPACE,
                                            check=False).returncode == 0,
                 timeout=30, what="t2's deleted ConfigMap to be recreated while t1 is frozen")
        assert fleet.conditions(t1.name)["Degraded"]["status"] != "True"
    status = wait_phase(fleet, wait_for, t1.name, "Ready", timeout=60)
    found = {c["type"]: c for c in status["conditions"]}
    assert found["Reachable"]["status"] == "True" and found["Ready"]["status"] == "True"


def test_a_killed_api_server_is_unreachable_until_it_is_back(fleet, targets, wait_for):
    t1 = targets[0]
    restart = t1.restart("kube-apiserver", kill=True, down=15, wait=False)
    try:
        wait_for(lambda: fleet.conditions(t1.name)["Reachable"]["status"] == "False", timeout=UNREACHABLE_WITHIN,
                 what="t1 to be Reachable=False while its API server is down")
        found = fleet.conditions(t1.name)
        assert found["Ready"]["status"] == "Unknown" and found["Degraded"]["status"] != "True", found
        assert found["Reachable"]["reason"] in ("ConnectionRefused", "Timeout"), found["Reachable"]
    finally:
        finish_restart(restart)
    wait_phase(fleet, wait_for, t1.name, "Ready", timeout=60)


def test_kubeconfigs_that_cannot_be_used_are_refused_with_their_reason(fleet, targets, wait_for):
    t1, t2, t3 = targets[:3]
    mark = audit(t3).mark()
    admin = yaml.safe_load(t3.cluster.kubeconfig.read_text())
    exec_user = {**admin, "users": [{"name": "admin", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": ["-c", "id"]}}}]}
    bad_token = {**admin, "users": [{"name": "admin", "user": {"token": "not-a-token"}}]}
    fleet.put_secret("exec-kubeconfig", yaml.safe_dump(exec_user))
    fleet.put_secret("bad-token-kubeconfig", yaml.safe_dump(bad_token))
    fleet.put_secret("other-key", yaml.safe_dump(admin), key="config")
    no_rights = fleet.identity_kubeconfig(t3, "imported", sa="cni-operator-no-rights")
    fleet.put_secret("no-rights-kubeconfig", _without_rights(t3, no_rights))
    cases = {
        "unsafe": ({"kubeconfigSecretRef": {"name": "exec-kubeconfig"}}, "UnsafeKubeconfig", "exec"),
        "missing": ({"kubeconfigSecretRef": {"name": "nowhere"}}, "SecretNotFound", "nowhere"),
        "wrong-key": ({"kubeconfigSecretRef": {"name": "other-key"}}, "SecretKeyMissing", "config"),
        "no-cluster": ({"clusterRef": {"name": "c9"}}, "ClusterNotFound", "c9"),
        "unauthorized": ({"kubeconfigSecretRef": {"name": "bad-token-kubeconfig"}}, "Unauthorized", ""),
        "forbidden": ({"kubeconfigSecretRef": {"name": "no-rights-kubeconfig"}}, "Forbidden", ""),
    }
    for name, (target, _, _) in cases.items():
        fleet.put_rcn(name, {"target": target, "clusterType": "mks"})
    for name, (_, reason, named) in cases.items():
        def refused(name=name, reason=reason, named=named) -> bool:
            found = fleet.conditions(name)
            assert found.get("CredentialsValid", {}).get("reason") == reason, (name, found.get("CredentialsValid"))
            assert found["CredentialsValid"]["status"] == "False" and named in found["CredentialsValid"]["message"]
            assert found["Ready"]["status"] == "Unknown" and found["Stalled"]["status"] == "True"
            return True
        wait_for(refused, timeout=30, what=f"{name}: CredentialsValid=False, {reason}")
        assert phase(fleet, name) == "CredentialsInvalid"
    # Nothing was written to t3 by any identity the fleet holds there, and every other target is still served.
    assert fleet_writes(t3, mark) == [], "a refused kubeconfig led to a write in the target"
    assert phase(fleet, t1.name) == "Ready" and phase(fleet, t2.name) == "Ready"
    for name in cases:
        fleet.cluster.kubectl("delete", "rcn", name, "-n", RCN_NAMESPACE, "--timeout=30s")


def _without_rights(target: Target, kubeconfig) -> str:
    """The no-rights identity's kubeconfig, after its bindings are gone: the target knows the token, allows
    nothing (403 for every request)."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["name"]
    sa = user.rsplit(":", 1)[1]
    for kind in ("clusterrolebinding", "rolebinding"):
        out = target.cluster.kubectl("get", kind, "-A", "-o", "json").stdout
        for item in json.loads(out)["items"]:
            if any(s.get("name") == sa for s in item.get("subjects") or []):
                ns = item["metadata"].get("namespace")
                target.cluster.kubectl("delete", kind, item["metadata"]["name"], *(["-n", ns] if ns else []))
    return kubeconfig.read_text()


def test_a_rotated_kubeconfig_is_used_without_a_restart(fleet, targets, wait_for):
    t2 = targets[1]
    uid = fleet.rcn(t2.name)["metadata"]["uid"]
    rotated = fleet.identity_kubeconfig(t2, "eks", sa="cni-operator-fleet-rotated")
    new_user = yaml.safe_load(rotated.read_text())["users"][0]["name"]
    fleet.put_secret(f"{t2.name}-kubeconfig", rotated.read_text())
    fleet.kubeconfigs[t2.name] = rotated  # what a later registration of t2 uses
    wait_for(lambda: fleet.events(t2.name, "CredentialsRotated", uid), timeout=30,
             what="a CredentialsRotated Event (the operator re-reads the Secret every 5 s in these tests)")
    wait_for(lambda: fleet.conditions(t2.name)["Reachable"]["status"] == "True", timeout=30,
             what="t2 to be served again")
    # The old identity is revoked; the work in the target is done by the new one.
    for kind in ("clusterrolebinding", "rolebinding"):
        for item in json.loads(t2.cluster.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]:
            if any(s.get("name") == "cni-operator-fleet" for s in item.get("subjects") or []):
                ns = item["metadata"].get("namespace")
                t2.cluster.kubectl("delete", kind, item["metadata"]["name"], *(["-n", ns] if ns else []))
    mark = audit(t2).mark()
    t2.cluster.kubectl("delete", "cm", "amazon-vpc-cni", "-n", CNI_NAMESPACE)
    recreated = wait_for(lambda: audit(t2).entries(since=mark, user=new_user, verb="patch", resource="configmaps"),
                         timeout=30, what="the deleted ConfigMap to be put back by the rotated identity")
    assert recreated[0]["objectRef"]["name"] == "amazon-vpc-cni"
    assert not audit(t2).writes(mark, TARGET_USER), "the old identity still writes"
    assert phase(fleet, t2.name) == "Ready" and fleet.operator.alive()


def test_an_idle_fleet_writes_nothing_anywhere(fleet, targets, cluster, wait_for):
    idle = 20.0
    marks = {t.name: audit(t).mark() for t in targets[:3]}
    management = AuditLog(cluster.audit_log_path).mark()
    deadline = time.monotonic() + idle
    wait_for(lambda: time.monotonic() >= deadline, timeout=idle + 5, interval=1.0, what="an idle window")
    # Its Lease's renewals (every 15 s) are the one write of an idle operator, by design.
    writes = [e for e in AuditLog(cluster.audit_log_path).writes(management, FLEET_USER)
              if (e.get("objectRef") or {}).get("resource") != "leases"
              or e["objectRef"].get("name") != "cni-operator-fleet"]
    assert writes == [], [f"{e['verb']} {e['requestURI']}" for e in writes]
    for t in targets[:3]:
        assert fleet_writes(t, marks[t.name]) == [], t.name


def test_deletion_orphan_keeps_the_cni_delete_removes_it_and_an_unreachable_target_is_released(
        fleet, targets, marks, wait_for):
    t1, t2, t3 = targets[:3]
    # Orphan (the default): the object goes at once, the target's CNI stays.
    fleet.cluster.kubectl("delete", "rcn", t2.name, "-n", RCN_NAMESPACE, "--timeout=30s")
    assert daemonset(t2, "aws-node"), "Orphan removed the CNI"
    # Delete: the operator removes the CNI from the target, then lets the object go.
    fleet.register(t1, "mks", deletionPolicy="Delete")
    wait_for(lambda: "cni-operator.io/finalizer" in (fleet.rcn(t1.name)["metadata"].get("finalizers") or []),
             timeout=30, what="the Delete policy's finalizer on t1's RemoteClusterNetwork")
    fleet.cluster.kubectl("delete", "rcn", t1.name, "-n", RCN_NAMESPACE, "--timeout=60s")
    wait_for(lambda: daemonset(t1, "canal") is None, timeout=30, what="Canal to be removed from t1")
    # Delete with the target away: released after the (test-paced) 15 s, saying what may be left.
    fleet.register(t2, "eks", deletionPolicy="Delete")
    wait_phase(fleet, wait_for, t2.name, "Ready")
    wait_for(lambda: "cni-operator.io/finalizer" in (fleet.rcn(t2.name)["metadata"].get("finalizers") or []),
             timeout=30, what="the finalizer on t2's RemoteClusterNetwork")
    uid = fleet.rcn(t2.name)["metadata"]["uid"]
    with t2.frozen("kube-apiserver"):
        wait_for(lambda: fleet.conditions(t2.name)["Reachable"]["status"] == "False", timeout=UNREACHABLE_WITHIN,
                 what="t2 to be unreachable")
        fleet.cluster.kubectl("delete", "rcn", t2.name, "-n", RCN_NAMESPACE, "--wait=false")
        wait_for(lambda: not fleet.rcn(t2.name), timeout=60, what="t2's RemoteClusterNetwork to be released")
        incomplete = wait_for(lambda: fleet.events(t2.name, "DeleteIncomplete", uid), timeout=15,
                              what="a DeleteIncomplete Event")
        assert "DaemonSet kube-system/aws-node" in incomplete[0]["message"], incomplete[0]["message"]
    # The imported target: not one write by the operator's identity over its whole life, deletion included.
    fleet.cluster.kubectl("delete", "rcn", t3.name, "-n", RCN_NAMESPACE, "--timeout=30s")
    writes = [e for e in audit(t3).writes(marks[t3.name])
              if e["user"]["username"] == TARGET_USER]
    assert writes == [], [f"{e['verb']} {e['requestURI']}" for e in writes]
