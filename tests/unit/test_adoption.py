"""spec.adoption's pure decisions (session/adoption.py) and the applier leaving adopted objects in place."""

from __future__ import annotations

import pytest
from cni_operator.api import AdoptionPolicy, parse_spec
from cni_operator.apply import Applier
from cni_operator.catalog import resolve
from cni_operator.objects import ADOPTED_ANNOTATION, MANAGED, ObjectRef
from cni_operator.render import render
from cni_operator.session.adoption import (
    Judged,
    adopted_refs,
    decide,
    marked,
    running_version,
    template_changes,
)
from fake_kube import FakeKube
from test_reconcile import CANAL_DS, STATUS_ONLY, Cluster, cond, node, rendered, shape

DS = ObjectRef("apps/v1", "DaemonSet", "canal", "kube-system")
CM = ObjectRef("v1", "ConfigMap", "canal-config", "kube-system")
CRD = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", "ippools.crd.projectcalico.org")
IMAGE_CHANGE = ".spec.template.spec.containers[calico-node].image (quay.io/calico/node:v3.31.4 -> " \
               "quay.io/calico/node:v3.32.1)"


def template(image: str, env: list | None = None) -> dict:
    return {"metadata": {"labels": {"k8s-app": "canal"}},
            "spec": {"containers": [{"name": "calico-node", "image": image, "env": env or []}]}}


def test_template_changes_name_each_field_with_before_and_after():
    before = template("quay.io/calico/node:v3.31.4", [{"name": "A", "value": "1"}])
    after = template("quay.io/calico/node:v3.32.1", [{"name": "A", "value": "2"}])
    assert template_changes(before, after) == [
        ".spec.template.spec.containers[calico-node].env[A].value (1 -> 2)", IMAGE_CHANGE]
    assert template_changes(before, before) == []
    grown = template("x", [{"name": "A"}, {"name": "B"}])
    assert template_changes(template("x", [{"name": "A"}]), grown) == [
        ".spec.template.spec.containers[calico-node].env (1 -> 2 items)"]
    assert template_changes({"a": 1}, {}) == [".spec.template.a (1 -> unset)"]


def test_running_version_is_the_main_containers_tag():
    assert running_version({"spec": {"template": template("quay.io/calico/node:v3.31.4")}}, "calico-node") == "v3.31.4"
    assert running_version(None, "calico-node") == ""


def test_nothing_found_is_a_plain_install():
    for policy in AdoptionPolicy:
        assert decide(policy, [], [], provider="canal", running="", wanted="v3.32.1").refusal is None


def test_if_equivalent_takes_over_what_would_not_restart():
    decision = decide(AdoptionPolicy.IF_EQUIVALENT, [CRD, CM, DS], [Judged(DS)], provider="canal",
                      running="v3.31.4", wanted="v3.31.4")
    assert decision.refusal is None and decision.adopt == [CRD, CM, DS] and decision.start is None


def test_if_equivalent_blocks_a_template_change_and_names_it():
    decision = decide(AdoptionPolicy.IF_EQUIVALENT, [CM, DS], [Judged(DS, [IMAGE_CHANGE])], provider="canal",
                      running="v3.31.4", wanted="v3.32.1")
    reason, message = decision.refusal
    assert reason == "AdoptionBlocked" and decision.adopt == []
    assert message.startswith("canal v3.31.4 is installed already, not by cni-operator")
    assert "version v3.31.4 runs, the spec asks for v3.32.1" in message
    assert f"DaemonSet kube-system/canal: {IMAGE_CHANGE}" in message
    assert "Nothing was written" in message and "set cni.version: v3.31.4" in message
    assert "adoption: Takeover" in message


def test_a_refused_dry_run_blocks_every_policy_but_never_which_refuses_first():
    judged = [Judged(DS, error="DaemonSet.apps \"canal\" is invalid: spec.selector: field is immutable")]
    for policy in (AdoptionPolicy.IF_EQUIVALENT, AdoptionPolicy.TAKEOVER):
        reason, message = decide(policy, [DS], judged, provider="canal", running="v3.31.4",
                                 wanted="v3.31.4").refusal
        assert reason == "AdoptionBlocked" and "field is immutable" in message and "nothing was written" in message
    assert decide(AdoptionPolicy.NEVER, [DS], judged, provider="canal", running="v3.31.4",
                  wanted="v3.31.4").refusal[0] == "AdoptionRefused"


def test_takeover_adopts_and_starts_from_what_runs():
    decision = decide(AdoptionPolicy.TAKEOVER, [CM, DS], [Judged(DS, [IMAGE_CHANGE])], provider="canal",
                      running="v3.31.4", wanted="v3.32.1")
    assert decision.refusal is None and decision.adopt == [CM, DS]
    assert decision.start is not None and decision.start.version == "v3.31.4"
    equivalent = decide(AdoptionPolicy.TAKEOVER, [DS], [Judged(DS)], provider="canal", running="v3.31.4",
                        wanted="v3.31.4")
    assert equivalent.adopt == [DS] and equivalent.start is None  # nothing to roll out


def test_never_refuses_any_existing_object_and_says_what_to_do():
    reason, message = decide(AdoptionPolicy.NEVER, [CRD], [], provider="canal", running="", wanted="v3.32.1").refusal
    assert reason == "AdoptionRefused"
    assert "CustomResourceDefinition ippools.crd.projectcalico.org" in message
    assert "spec.adoption is Never, so nothing was written" in message and "adoption: IfEquivalent" in message


def test_status_adopted_counts_only_where_the_catalog_renders():
    status = {"adopted": [DS.as_status() | {"since": "t"}, {"apiVersion": "v1", "kind": "Secret", "name": "x"},
                          "junk"]}
    assert adopted_refs(status, frozenset({DS, CM})) == {DS}
    assert adopted_refs(None, frozenset({DS})) == set()


def test_marked_annotates_only_the_adopted_objects():
    rendered = render(resolve(parse_spec({"clusterType": "mks", "cni": {"version": "v3.31.4"}})))
    out = marked(rendered, {DS})
    annotated = [ObjectRef.of(o) for o in out.apply if ADOPTED_ANNOTATION in (o["metadata"].get("annotations") or {})]
    assert annotated == [DS]
    assert ADOPTED_ANNOTATION not in (next(o for o in rendered.apply if ObjectRef.of(o) == DS)["metadata"]
                                      .get("annotations") or {}), "the render itself was changed"
    assert marked(rendered, set()) is rendered


@pytest.mark.parametrize("how", ["prune", "delete"])
def test_an_adopted_object_is_released_never_deleted(how):
    kube = FakeKube()
    adopted = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "canal-config", "namespace": "kube-system", "labels": dict(MANAGED),
                            "annotations": {ADOPTED_ANNOTATION: "true"}}, "data": {"a": "b"}}
    ours = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "other", "namespace": "kube-system", "labels": dict(MANAGED)}}
    kube.apply(adopted)
    kube.apply(ours)
    other = ObjectRef.of(ours)
    applier = Applier(kube)
    outcome = applier.sync([], [CM, other]) if how == "prune" else applier.delete_all([CM, other])
    assert outcome.pruned == [other] and outcome.released == [CM]
    left = kube.get(CM)
    assert left is not None, "an adopted object was deleted"
    assert "app.kubernetes.io/managed-by" not in (left["metadata"].get("labels") or {})
    assert left["metadata"]["annotations"][ADOPTED_ANNOTATION] == "true"
    assert kube.get(other) is None


# ---------------------------------------------------------------- the reconciler's row (fake API server, as test_reconcile)


def hand_installed(version: str) -> list[dict]:
    """What `kubectl apply -f canal.yaml` of VERSION leaves: the objects, without any label or annotation of ours."""
    objects = rendered({"clusterType": "mks", "cni": {"version": version}}).apply
    for obj in objects:
        obj["metadata"].pop("labels", None)
        obj["metadata"].pop("annotations", None)
    return objects


@pytest.fixture
def fake_cluster():
    c = Cluster()
    yield c
    c.close()


def test_a_different_hand_installed_canal_blocks_if_equivalent_and_nothing_is_written(fake_cluster):
    fake_cluster.add(node("n1"), *hand_installed("v3.31.4"))
    fake_cluster.create({"clusterType": "mks", "cni": {"version": "v3.32.1"}})
    p = fake_cluster.step()
    assert shape(p.writes) == STATUS_ONLY and p.verbs("dry-run"), "wrote, or judged without a dry run"
    assert cond(fake_cluster.status, "Degraded") == ("True", "AdoptionBlocked")
    assert cond(fake_cluster.status, "Stalled") == ("True", "AdoptionBlocked")
    assert "AdoptionBlocked" in p.reasons


def test_never_refuses_and_takeover_adopts_and_rolls_out_from_what_ran(fake_cluster):
    fake_cluster.add(node("n1"), *hand_installed("v3.31.4"))
    fake_cluster.create({"clusterType": "mks", "cni": {"version": "v3.32.1"}, "adoption": "Never"})
    assert shape(fake_cluster.step().writes) == STATUS_ONLY
    assert cond(fake_cluster.status, "Degraded") == ("True", "AdoptionRefused")

    fake_cluster.edit_spec({"adoption": "Takeover"})
    p = fake_cluster.step()
    assert "Adopted" in p.reasons and "RolloutStarted" in p.reasons, p.reasons
    status = fake_cluster.status
    assert {(a["kind"], a["name"]) for a in status["adopted"]} >= {("DaemonSet", "canal"), ("ConfigMap", "canal-config")}
    rollout = status["rollout"]
    assert (rollout["from"], rollout["to"]) == ("v3.31.4", "v3.32.1"), rollout
    assert '"version":"v3.31.4"' in rollout["fromSpec"], rollout
    ds = fake_cluster.kube.objects[CANAL_DS]
    assert ds["metadata"]["annotations"][ADOPTED_ANNOTATION] == "true"
    assert ds["spec"]["updateStrategy"] == {"type": "OnDelete"} or ds["spec"]["updateStrategy"]["type"] == "OnDelete"


def test_the_same_hand_installed_version_is_adopted_without_an_update(fake_cluster):
    fake_cluster.add(node("n1"), *hand_installed("v3.31.4"))
    fake_cluster.create({"clusterType": "mks", "cni": {"version": "v3.31.4"}})
    p = fake_cluster.step()
    assert "Adopted" in p.reasons and "RolloutStarted" not in p.reasons, p.reasons
    assert not fake_cluster.status.get("rollout")
    assert len(fake_cluster.status["adopted"]) == len(hand_installed("v3.31.4"))
