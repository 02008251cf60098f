"""session/lease.py: the Lease's record, timing, expiry rule and words, without a cluster."""

from __future__ import annotations

import datetime

import pytest
from cni_operator.session.lease import (
    LeaseRecord,
    LeaseTiming,
    describe_holder,
    expired,
    identity,
    micro_time,
    parse_duration,
    parse_holder,
    waiting_message,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def ago(seconds: float) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


# ---------------------------------------------------------------- timing


def test_default_timing_renews_four_times_a_minute_and_stops_well_before_anyone_may_take_over():
    timing = LeaseTiming()
    assert timing.duration == 60
    assert timing.renew_period == 15 and timing.renew_deadline == 45 and timing.retry_period == 2
    assert timing.renew_period < timing.renew_deadline < timing.duration


def test_short_leases_scale_every_period():
    timing = LeaseTiming(8)
    assert (timing.renew_period, timing.renew_deadline, timing.retry_period) == (2, 6, 1)


@pytest.mark.parametrize(("raw", "want"), [(None, 60), ("", 60), ("15", 15), (30, 30)])
def test_duration_from_the_environment(raw, want):
    assert parse_duration(raw) == want


@pytest.mark.parametrize(("raw", "words"), [("1m", "whole number of seconds"), ("3", "at least 4 seconds"),
                                            ("-5", "at least 4 seconds")])
def test_bad_durations_are_refused_in_words(raw, words):
    with pytest.raises(ValueError, match=words):
        parse_duration(raw)


# ---------------------------------------------------------------- holders


def test_identity_is_the_pod_or_host_and_the_pid():
    assert identity("cni-operator-7d9f-x2k4p", 1) == "cni-operator-7d9f-x2k4p_1"


@pytest.mark.parametrize(("value", "name", "pid"), [
    ("cni-operator-7d9f-x2k4p_1", "cni-operator-7d9f-x2k4p", 1),
    ("laptop.example.com_48213", "laptop.example.com", 48213),
    # client-go's identity (host_uuid) or anything else: the whole text names the holder
    ("node-1_4b1d0c3e-2f61-4a8e-9a55-0c1f5b3e9d21", "node-1_4b1d0c3e-2f61-4a8e-9a55-0c1f5b3e9d21", None),
    ("_12", "_12", None),
    ("someone", "someone", None),
])
def test_parse_holder(value, name, pid):
    holder = parse_holder(value)
    assert (holder.name, holder.pid) == (name, pid)


def test_nobody_holds_an_empty_lease():
    assert parse_holder("") is None and parse_holder(None) is None
    assert describe_holder("") == "nobody"
    assert describe_holder("cni-operator-abc_1") == "cni-operator-abc (pid 1)"
    assert describe_holder("someone") == "someone"


# ---------------------------------------------------------------- the record


def test_record_round_trips_through_a_lease_body():
    record = LeaseRecord("a_1", 30, ago(100), ago(5), 3)
    spec = record.spec()
    assert spec == {"holderIdentity": "a_1", "leaseDurationSeconds": 30, "leaseTransitions": 3,
                    "acquireTime": "2026-01-01T11:58:20.000000Z", "renewTime": "2026-01-01T11:59:55.000000Z"}
    assert LeaseRecord.of({"spec": spec}) == record


def test_micro_time_is_utc_with_six_digits():
    when = datetime.datetime(2026, 1, 1, 13, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert micro_time(when) == "2026-01-01T12:00:00.123456Z"


def test_an_empty_or_odd_lease_reads_as_free():
    assert LeaseRecord.of(None) == LeaseRecord()
    assert LeaseRecord.of({"spec": {"leaseDurationSeconds": "x", "leaseTransitions": None}}).holder == ""
    assert not LeaseRecord().spec().get("holderIdentity")


def test_a_new_holder_counts_a_transition_and_starts_its_own_acquire_time():
    old = LeaseRecord("a_1", 60, ago(500), ago(80), 4)
    new = old.taken_by("b_2", 60, NOW)
    assert (new.holder, new.acquired, new.renewed, new.transitions) == ("b_2", NOW, NOW, 5)


def test_the_first_holder_of_a_new_lease_is_transition_zero():
    assert LeaseRecord().taken_by("b_2", 60, NOW).transitions == 0


def test_taking_back_ones_own_lease_keeps_its_acquire_time_and_count():
    old = LeaseRecord("b_2", 60, ago(500), ago(80), 4)
    again = old.taken_by("b_2", 30, NOW)
    assert (again.acquired, again.renewed, again.transitions, again.duration) == (ago(500), NOW, 4, 30)


def test_released_is_free_at_once_and_keeps_the_count():
    released = LeaseRecord("b_2", 60, ago(500), ago(3), 4).released(NOW)
    assert released.holder == "" and released.duration == 1 and released.transitions == 4
    assert expired(released, 0, NOW)
    assert released.taken_by("c_3", 60, NOW).transitions == 5


# ---------------------------------------------------------------- expiry


def test_a_lease_renewed_by_someone_else_is_not_expired_before_a_full_duration_unchanged():
    record = LeaseRecord("a_1", 60, ago(500), ago(10), 0)
    assert not expired(record, 59.9, NOW)
    assert expired(record, 60, NOW)


def test_expiry_does_not_trust_the_other_machines_clock_within_two_durations():
    """Its renewTime 100 s ago by our clock (its clock may be 100 s behind): it still gets its full duration."""
    assert not expired(LeaseRecord("a_1", 60, ago(500), ago(100), 0), 0, NOW)


def test_a_lease_left_behind_long_ago_is_taken_at_once():
    assert expired(LeaseRecord("a_1", 60, ago(9000), ago(121), 0), 0, NOW)


def test_a_renew_time_in_the_future_never_expires_it_early():
    assert not expired(LeaseRecord("a_1", 60, NOW, NOW + datetime.timedelta(seconds=300), 0), 10, NOW)


def test_the_waiting_line_names_the_holder_since_when_and_the_rule():
    line = waiting_message("kube-system/cni-operator", LeaseRecord("cni-operator-abc_1", 60, ago(3600), ago(4), 2),
                           NOW)
    assert "kube-system/cni-operator" in line and "cni-operator-abc (pid 1)" in line
    assert "since 2026-01-01T11:00:00Z (60m ago)" in line and "last renewed 4s ago" in line
    assert "writes nothing" in line and "not renewed for 60s" in line
