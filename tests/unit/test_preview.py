"""`cni-operator diff` without a cluster: the comparison, the prune decision and the formatting (preview.py), and the
whole preview against the in-memory API server after the real operator session installed a CNI there (the same
helpers as test_reconcile.py), so what it predicts is checked against what a pass then does."""

from __future__ import annotations

import copy

import pytest
from cni_operator import api
from cni_operator.apply.diff import with_hash_annotation
from cni_operator.objects import IGNORE_ANNOTATION, MANAGED, ObjectRef
from cni_operator.preview import (
    CHANGE,
    CREATE,
    DELETE,
    IGNORED,
    KEEP,
    UNCHANGED,
    Preview,
    comparable,
    compare,
    format_text,
    object_diff,
    preview,
    prune_step,
)
from cni_operator.registry_policy import RegistryPolicy
from test_reconcile import Cluster, cilium, installed, node

ANP = "adminnetworkpolicies.policy.networking.k8s.io"
BANP = "baselineadminnetworkpolicies.policy.networking.k8s.io"
CANAL_DS = ObjectRef("apps/v1", "DaemonSet", "canal", "kube-system")


def doc(spec: dict) -> dict:
    return {"apiVersion": f"{api.GROUP}/{api.VERSION}", "kind": api.KIND, "metadata": {"name": "default"},
            "spec": spec}


def daemonset(image: str = "quay.io/calico/node:v3.31.4", **meta) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "canal", "namespace": "kube-system", "labels": dict(MANAGED), **meta},
            "spec": {"template": {"spec": {"containers": [
                {"name": "install-cni", "image": "quay.io/calico/cni:v3.31.4"},
                {"name": "calico-node", "image": image, "env": [{"name": "A", "value": "1"}]}]}}}}


def crd(name: str, **labels) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": labels or dict(MANAGED)}}


# ---------------------------------------------------------------- comparison


def test_comparable_drops_what_the_api_server_keeps_for_itself():
    live = daemonset(managedFields=[{"manager": "x"}], resourceVersion="7", generation=3, uid="u",
                     creationTimestamp="2026-01-01T00:00:00Z")
    live["status"] = {"numberReady": 3}
    assert comparable(live) == daemonset()


def test_the_diff_shows_only_the_fields_that_differ_and_names_the_container():
    live = daemonset(resourceVersion="7", generation=3)
    after = daemonset("quay.io/calico/node:v3.32.1", resourceVersion="8", generation=4)
    lines = object_diff(live, after)
    text = "\n".join(lines)
    assert "-        image: quay.io/calico/node:v3.31.4" in text
    assert "+        image: quay.io/calico/node:v3.32.1" in text
    assert "name: calico-node" in text  # which container
    assert "install-cni" not in text and "env" not in text and "resourceVersion" not in text, text
    assert object_diff(live, daemonset(resourceVersion="9", generation=5)) == []


def test_a_long_diff_is_cut_with_a_line_saying_how_much_is_left():
    live = {"data": {f"k{i}": "old" for i in range(50)}}
    lines = object_diff(live, {"data": {f"k{i}": "new" for i in range(50)}}, max_lines=10)
    assert len(lines) == 11 and lines[-1].startswith("... ") and lines[-1].endswith(" more lines"), lines


def test_compare_decides_as_the_applier():
    calls = []

    def dry_run(obj):
        calls.append(obj)
        return {**copy.deepcopy(obj), "metadata": {**obj["metadata"], "uid": "u"}}

    want = daemonset("quay.io/calico/node:v3.32.1")
    assert compare(want, None, dry_run).action == CREATE
    assert calls[-1]["metadata"]["annotations"]  # what is dry-run applied carries the hash, as the real apply
    assert compare(want, with_hash_annotation(want), dry_run).action == UNCHANGED
    assert len(calls) == 1  # a live object that holds every rendered field is not even dry-run applied
    changed = compare(want, with_hash_annotation(daemonset()), dry_run)
    assert changed.action == CHANGE and any("v3.32.1" in line for line in changed.diff)
    ignored = daemonset(annotations={IGNORE_ANNOTATION: "true"})
    assert compare(want, ignored, dry_run).action == IGNORED


# ---------------------------------------------------------------- prune


def test_prune_step_follows_the_operators_rules():
    ref = ObjectRef.of(crd(ANP))
    never = lambda live: pytest.fail("counted a CRD it would not prune")
    assert prune_step(ref, None, never) is None
    assert prune_step(ref, crd(ANP, owner="someone"), never) is None  # not labelled managed-by cni-operator
    going = crd(ANP)
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert prune_step(ref, going, never) is None
    ignored = crd(ANP)
    ignored["metadata"]["annotations"] = {IGNORE_ANNOTATION: "true"}
    assert prune_step(ref, ignored, never).action == IGNORED
    assert prune_step(ref, crd(ANP), lambda live: 0).action == DELETE
    kept = prune_step(ref, crd(ANP), lambda live: 2)
    assert kept.action == KEEP and "kept: 2 objects of its kind exist" in kept.why
    assert prune_step(ref, crd(ANP), lambda live: None).action == KEEP  # may not count: kept, as the operator does


# ---------------------------------------------------------------- the whole preview


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.close()


def test_an_upgrade_preview_names_the_changes_and_the_prunes_and_writes_nothing(cluster):
    installed(cluster, {"clusterType": "mks", "cni": {"version": "v3.31.4"}})
    cluster.kube.instances[ANP] = 1
    cluster.kube.requests.clear()

    result = preview(cluster.kube, doc({"clusterType": "mks", "cni": {"version": "v3.32.1"}}))

    assert cluster.kube.writes() == []
    assert result.installed == "canal v3.31.4" and result.target == "canal v3.32.1" and result.differs
    by_ref = {o.ref: o for o in result.objects}
    assert by_ref[CANAL_DS].action == CHANGE
    assert any(line.startswith("+") and "calico/node:v3.32.1" in line for line in by_ref[CANAL_DS].diff)
    assert {(p.ref.name, p.action) for p in result.prune} == {(ANP, KEEP), (BANP, DELETE)}
    text = format_text(result)
    assert f"released  CustomResourceDefinition {ANP} (kept: 1 object of its kind exists" in text
    assert f"pruned    CustomResourceDefinition {BANP}" in text

    # What the operator then does agrees with the preview.
    cluster.edit_spec({"cni": {"version": "v3.32.1"}})
    done = cluster.step()
    assert {r.ref.name for r in done.writes if r.verb == "delete"} == {BANP}


def test_the_installed_spec_shows_no_difference_and_an_unset_version_keeps_the_installed_one(cluster):
    installed(cluster, {"clusterType": "mks", "cni": {"version": "v3.31.4"}})
    cluster.kube.requests.clear()
    same = preview(cluster.kube, doc({"clusterType": "mks", "cni": {"version": "v3.31.4"}}))
    assert not same.differs and not same.refused and all(o.action == UNCHANGED for o in same.objects)
    assert format_text(same).rstrip().endswith("no differences")

    unset = preview(cluster.kube, doc({"clusterType": "mks"}))
    assert unset.target == "canal v3.31.4" and not unset.differs
    assert "spec.cni.version is unset: the installed canal v3.31.4 is kept" in unset.notes
    assert cluster.kube.writes() == []


def test_an_invalid_spec_is_refused_with_the_messages_of_validate(cluster):
    result = preview(cluster.kube, doc({"clusterType": "mks", "mtu": 9100}))
    assert result.refused and all(r.startswith("invalid: ") for r in result.refused)
    assert any(r.startswith("invalid: spec.mtu: ") for r in result.refused), result.refused
    assert "the operator would refuse this spec and write nothing" in format_text(result)


def test_a_first_install_next_to_a_foreign_cni_is_refused(cluster):
    cluster.add(node("n1"), cilium())
    result = preview(cluster.kube, doc({"clusterType": "mks"}))
    assert any(r.startswith("ForeignCNIDetected") and "cilium" in r for r in result.refused), result.refused
    assert not result.objects and cluster.kube.writes() == []


def test_an_image_from_a_registry_the_policy_refuses_is_refused(cluster):
    spec = {"clusterType": "mks", "registry": "mirror.example.com"}
    refused = preview(cluster.kube, doc(spec), RegistryPolicy.parse("catalog"))
    assert any("RegistryNotAllowed" in r and "mirror.example.com" in r for r in refused.refused), refused.refused
    allowed = preview(cluster.kube, doc(spec), RegistryPolicy.parse("mirror.example.com"))
    assert not allowed.refused and all(o.action == CREATE for o in allowed.objects)


def test_imported_writes_nothing(cluster):
    result = preview(cluster.kube, doc({"clusterType": "imported"}))
    assert not result.differs and not result.refused and "writes nothing" in result.notes[0]


def test_json_shape():
    result = Preview(target="canal v3.32.1", installed="canal v3.31.4")
    assert result.as_json() == {"refused": [], "notes": [], "target": "canal v3.32.1", "installed": "canal v3.31.4",
                                "objects": [], "prune": [], "differs": False}
