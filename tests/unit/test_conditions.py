"""Condition helpers: transition-time semantics and change detection that lets the operator skip status writes."""

from __future__ import annotations

import datetime as dt

from cni_operator.health.conditions import (
    APPLY_ERRORS,
    REFUSALS,
    Reason,
    changed_keys,
    condition,
    merge_conditions,
    parse_time,
    rfc3339,
    status_differs,
)

T0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def c(type_="Ready", status="True", reason="AllNodesReady", message="3/3", gen=1, when=T0):
    return condition(type_, status, reason, message, gen, when)


# ---------------------------------------------------------------- time


def test_rfc3339_and_parse_time():
    assert rfc3339(T0) == "2025-03-01T12:00:00Z"
    assert rfc3339(dt.datetime(2025, 3, 1, 12, 0, 0)) == "2025-03-01T12:00:00Z"  # naive means UTC
    assert rfc3339(dt.datetime(2025, 3, 1, 13, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == \
        "2025-03-01T12:00:00Z"
    assert rfc3339("2025-03-01T12:00:00Z") == "2025-03-01T12:00:00Z"
    for text in ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00+00:00", "2025-03-01T12:00:00"):
        assert parse_time(text) == T0
    assert parse_time(T0) == T0 and parse_time(None) is None and parse_time("") is None
    assert parse_time("yesterday") is None


def test_condition_shape():
    assert c() == {"type": "Ready", "status": "True", "reason": "AllNodesReady", "message": "3/3",
                   "observedGeneration": 1, "lastTransitionTime": "2025-03-01T12:00:00Z"}
    assert condition("Ready", "True", Reason.ALL_NODES_READY, "", 1, None)["lastTransitionTime"] is None
    assert condition("Ready", "True", Reason.ALL_NODES_READY, "", 1, T0)["reason"] == "AllNodesReady"


def test_reason_values_are_camel_case_and_unique():
    values = [r.value for r in Reason]
    assert len(values) == len(set(values))
    assert all(v[0].isupper() and v.isalnum() for v in values)
    assert str(Reason.PODS_FAILING) == "PodsFailing" and f"{Reason.APPLIED}" == "Applied"
    assert REFUSALS < APPLY_ERRORS and Reason.APPLY_FAILED not in REFUSALS


# ---------------------------------------------------------------- merge_conditions


def test_same_status_keeps_the_old_transition_time_but_takes_new_reason_and_message():
    old = [c(when=T0)]
    new = [c(reason="AllNodesReady", message="4/4", gen=2, when=T1)]
    merged = merge_conditions(old, new, T1)
    assert merged[0]["lastTransitionTime"] == "2025-03-01T12:00:00Z"
    assert merged[0]["message"] == "4/4" and merged[0]["observedGeneration"] == 2


def test_status_change_moves_the_transition_time():
    merged = merge_conditions([c(when=T0)], [c(status="False", reason="NodesNotReady", when=T1)], T1)
    assert merged[0]["lastTransitionTime"] == "2025-03-01T12:05:00Z"


def test_new_type_and_missing_times_get_now():
    merged = merge_conditions([], [c("Degraded", "False", "AsExpected", when=None)], T1)
    assert merged[0]["lastTransitionTime"] == "2025-03-01T12:05:00Z"
    old_without_time = [dict(c(), lastTransitionTime=None)]
    assert merge_conditions(old_without_time, [c(when=None)], T1)[0]["lastTransitionTime"] == "2025-03-01T12:05:00Z"


def test_merge_keeps_new_order_drops_types_no_longer_reported_and_does_not_mutate():
    old = [c("Degraded", "False", "AsExpected"), c("Ready"), c("Stale", "True", "Whatever")]
    new = [c("Ready", when=T1), c("Degraded", "False", "AsExpected", when=T1)]
    snapshot = [dict(x) for x in new]
    merged = merge_conditions(old, new, T1)
    assert [m["type"] for m in merged] == ["Ready", "Degraded"]
    assert all(m["lastTransitionTime"] == "2025-03-01T12:00:00Z" for m in merged)
    assert new == snapshot


def test_merge_with_no_old_conditions():
    assert merge_conditions(None, [c(when=T1)], T1)[0]["lastTransitionTime"] == "2025-03-01T12:05:00Z"


# ---------------------------------------------------------------- status_differs


def status(**overrides):
    base = {
        "observedGeneration": 1,
        "phase": "Ready",
        "readySummary": "3/3",
        "conditions": [c(), c("Degraded", "False", "AsExpected", "no problems found")],
        "health": {"desired": 3, "ready": 3, "updated": 3, "unavailable": 0,
                   "nodes": {"total": 3, "withReadyCNI": 3, "withoutReadyCNI": []}},
        "unhealthy": [],
    }
    base.update(overrides)
    return base


def test_identical_status_does_not_differ():
    assert not status_differs(status(), status())
    assert changed_keys(status(), status()) == []


def test_only_a_new_timestamp_with_the_same_status_is_not_a_change():
    later = status(conditions=[c(when=T1), c("Degraded", "False", "AsExpected", "no problems found", when=T1)])
    assert not status_differs(status(), later)


def test_a_status_flip_is_a_change_even_with_the_same_timestamp():
    flipped = status(conditions=[c(status="False", reason="NodesNotReady"), c("Degraded", "False", "AsExpected",
                                                                              "no problems found")])
    assert changed_keys(status(), flipped) == ["conditions"]


def test_message_reason_and_generation_changes_count():
    assert status_differs(status(), status(conditions=[c(message="2/3"), c("Degraded", "False", "AsExpected",
                                                                           "no problems found")]))
    assert status_differs(status(), status(conditions=[c(gen=2), c("Degraded", "False", "AsExpected",
                                                                   "no problems found")]))
    assert changed_keys(status(), status(observedGeneration=2)) == ["observedGeneration"]


def test_condition_order_does_not_matter_but_a_dropped_condition_does():
    old = status()
    assert not status_differs(old, status(conditions=list(reversed(old["conditions"]))))
    assert status_differs(old, status(conditions=old["conditions"][:1]))


def test_nested_changes_count():
    h = status()["health"]
    changed = dict(h, nodes={"total": 3, "withReadyCNI": 2, "withoutReadyCNI": ["n2"]})
    assert changed_keys(status(), status(health=changed)) == ["health"]
    problem = [{"reason": "CrashLoopBackOff", "count": 1, "pods": ["canal-x@n2"], "container": "calico-node",
                "message": ""}]
    assert changed_keys(status(), status(unhealthy=problem)) == ["unhealthy"]


def test_empty_values_are_equivalent_and_foreign_keys_are_ignored():
    old = status()
    old["kopf"] = {"progress": {"x": 1}}  # somebody else's bookkeeping: not ours to compare
    del old["unhealthy"]  # the server may have dropped an empty list
    new = status(unhealthy=[], ignored=None, detected=[])
    assert not status_differs(old, new)
    assert status_differs({}, status())
    assert not status_differs(None, {})


def test_clearing_a_list_is_a_change():
    old = status(ignored=["DaemonSet kube-system/canal"])
    assert changed_keys(old, status(ignored=[])) == ["ignored"]
