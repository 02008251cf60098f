"""What a RemoteClusterNetwork's status says about reaching its target (fleet/conditions.py, pure), and which
watches feed a target's session (fleet/feeds.py)."""

from __future__ import annotations

import datetime as dt

from cni_operator.fleet import conditions as cond
from cni_operator.fleet.feeds import complete_kinds, feeds_for
from cni_operator.handlers import COMPLETE_KINDS

NOW = dt.datetime(2026, 12, 2, 12, 0, 0, tzinfo=dt.UTC)
SEEN = NOW - dt.timedelta(minutes=3)


def by_type(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status["conditions"]}


def healthy_status() -> dict:
    return {
        "phase": "Ready", "readySummary": "3/3", "health": {"nodes": 3}, "applied": {"objects": 12},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "AllNodesReady", "message": "3/3"},
            {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": "no problems found"},
            {"type": "Reachable", "status": "True", "reason": "Connected", "message": "answers"},
            {"type": "CredentialsValid", "status": "True", "reason": "Accepted", "message": "accepted"},
        ],
    }


def test_connected_adds_reachable_and_credentials_valid_once():
    status = {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Reachable", "status": "False"}]}
    cond.connected(status, 4)
    found = by_type(status)
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reachable", "CredentialsValid"]
    assert found["Reachable"]["status"] == "True" and found["Reachable"]["reason"] == "Connected"
    assert found["CredentialsValid"]["status"] == "True" and found["CredentialsValid"]["observedGeneration"] == 4


def test_unreachable_is_ready_unknown_never_degraded_and_keeps_the_last_known_health():
    old = healthy_status()
    status = cond.away(old, reachable=("False", "Timeout", "https://10.0.0.1:6443 did not answer within 5s"),
                       credentials=("True", "Accepted", "accepted"), generation=2, last_seen=SEEN, now=NOW)
    found = by_type(status)
    assert found["Ready"]["status"] == "Unknown" and found["Ready"]["reason"] == "TargetUnreachable"
    assert "did not answer" in found["Ready"]["message"] and "2026-12-02T11:57:00Z" in found["Ready"]["message"]
    assert found["Reachable"] == {**found["Reachable"], "status": "False", "reason": "Timeout"}
    assert found["Degraded"]["status"] == "False"  # as last seen: an unreachable target is not a broken network
    assert found["Reconciling"]["status"] == "True" and found["Stalled"]["status"] == "False"
    assert status["phase"] == "Unreachable" and status["lastSeenTime"] == "2026-12-02T11:57:00Z"
    assert (status["readySummary"], status["health"], status["applied"]) == ("3/3", {"nodes": 3}, {"objects": 12})
    assert old["phase"] == "Ready"  # the old status is not changed in place


def test_refused_credentials_stall_until_a_person_fixes_them():
    status = cond.away({}, reachable=("Unknown", "NotTried", "not tried"),
                       credentials=("False", "UnsafeKubeconfig", "users[u].user.exec runs a command"),
                       generation=1, last_seen=None, now=NOW)
    found = by_type(status)
    assert status["phase"] == "CredentialsInvalid" and "lastSeenTime" not in status
    assert found["CredentialsValid"]["reason"] == "UnsafeKubeconfig"
    assert found["Ready"]["status"] == "Unknown" and found["Ready"]["reason"] == "CredentialsInvalid"
    assert "users[u].user.exec" in found["Ready"]["message"] and "not reached it yet" in found["Ready"]["message"]
    assert found["Stalled"]["status"] == "True" and found["Reconciling"]["status"] == "False"
    assert "Degraded" not in found


def test_an_imported_target_is_watched_read_only_and_an_installed_one_like_in_cluster():
    assert complete_kinds("mks") == COMPLETE_KINDS == complete_kinds("eks")
    assert complete_kinds("imported") == frozenset()
    imported = {(f.kind, f.namespace) for f in feeds_for("imported")}
    assert imported == {("DaemonSet", "kube-system"), ("Deployment", "kube-system"), ("DaemonSet", "*"),
                        ("Pod", "kube-system"), ("Node", "")}
    assert all("app.kubernetes.io/managed-by=" in f.label_selector for f in feeds_for("mks") if f.managed_only)
