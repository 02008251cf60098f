"""A CRD left "Installing" (names accepted, never Established, e.g. its API server restarted in between) is written
again after a grace period, once; an Established CRD or one still within the grace is left alone (a re-check is
scheduled instead)."""

from __future__ import annotations

import datetime

from cni_operator.apply import ESTABLISH_GRACE, REESTABLISH_ANNOTATION, Applier, establishing_for
from cni_operator.apply.diff import with_hash_annotation

NOW = datetime.datetime.now(datetime.UTC)  # for establishing_for's own argument; the Applier reads the clock itself
DESIRED = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "ippools.crd.projectcalico.org", "labels": {"app.kubernetes.io/managed-by": "cni-operator"}},
           "spec": {"group": "crd.projectcalico.org"}}


def _at(seconds_ago: float) -> str:
    # From the clock at the moment the fixture is made, not at import: the Applier under test compares against its
    # own clock, and a slow collection (a loaded machine) must not age a "2 s ago" CRD past the grace period.
    now = datetime.datetime.now(datetime.UTC)
    return (now - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_crd(accepted_ago: float | None, established: bool, nudged_ago: float | None = None) -> dict:
    live = with_hash_annotation(DESIRED)
    if nudged_ago is not None:
        live["metadata"]["annotations"][REESTABLISH_ANNOTATION] = _at(nudged_ago)
    conditions = []
    if accepted_ago is not None:
        conditions.append({"type": "NamesAccepted", "status": "True", "lastTransitionTime": _at(accepted_ago)})
    conditions.append({"type": "Established", "status": "True" if established else "False", "reason": "Installing"})
    live["status"] = {"conditions": conditions}
    return live


class FakeKube:
    def __init__(self):
        self.applied = []

    def apply(self, obj):
        self.applied.append(obj)
        return obj

    def get(self, ref):
        return None


def sync(live: dict) -> tuple[FakeKube, object]:
    kube = FakeKube()
    applier = Applier(kube, lookup=lambda ref: live)
    return kube, applier.sync([DESIRED], [])


def test_established_or_fresh_crds_are_left_alone():
    assert establishing_for(live_crd(100, established=True), NOW) is None
    kube, outcome = sync(live_crd(100, established=True))
    assert not kube.applied and outcome.in_sync and not outcome.recheck_in
    kube, outcome = sync(live_crd(2, established=False))
    assert not kube.applied and outcome.in_sync
    assert 0 < outcome.recheck_in[0] <= ESTABLISH_GRACE - 1


def test_a_crd_stuck_installing_is_written_again_once():
    kube, outcome = sync(live_crd(60, established=False))
    assert len(kube.applied) == 1 and outcome.updated
    assert REESTABLISH_ANNOTATION in kube.applied[0]["metadata"]["annotations"]
    kube, outcome = sync(live_crd(60, established=False, nudged_ago=1))  # just nudged: wait for the API server
    assert not kube.applied and outcome.recheck_in


def test_names_not_accepted_is_not_ours_to_fix():
    live = live_crd(None, established=False)
    assert establishing_for(live, NOW) is None
