"""Drift is 'a field we set changed or vanished'; server defaults and other writers' fields are not drift."""

from cni_operator.apply.diff import (
    HASH_ANNOTATION,
    canonical_hash,
    contains,
    first_difference,
    with_hash_annotation,
)

DESIRED = {
    "metadata": {"name": "canal", "labels": {"app": "canal"}},
    "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "image": "quay.io/calico/node:v3.32.1"}]}}},
}


def live(**overrides):
    body = {
        "metadata": {"name": "canal", "labels": {"app": "canal", "team": "net"}, "resourceVersion": "7"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "calico-node", "image": "quay.io/calico/node:v3.32.1", "terminationMessagePath": "/dev/x"}
        ], "dnsPolicy": "ClusterFirst"}}},
        "status": {"numberReady": 3},
    }
    body["spec"]["template"]["spec"]["containers"][0].update(overrides)
    return body


def test_server_defaults_and_foreign_labels_are_not_drift():
    assert contains(DESIRED, live())
    assert first_difference(DESIRED, live()) is None


def test_changed_image_is_drift_and_named():
    changed = live(image="evil:latest")
    assert not contains(DESIRED, changed)
    assert first_difference(DESIRED, changed) == ".spec.template.spec.containers[0].image"


def test_removed_field_is_drift():
    body = live()
    del body["metadata"]["labels"]["app"]
    assert not contains(DESIRED, body)
    assert first_difference(DESIRED, body) == ".metadata.labels.app (removed)"


def test_list_length_change_is_drift():
    body = live()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar"})
    assert not contains(DESIRED, body)
    assert "length" in first_difference(DESIRED, body)


def test_empty_wanted_values_match_absence():
    # what the API server does with omitempty fields: {} [] "" false and null are simply not stored
    wanted = {"metadata": {"annotations": {}}, "spec": {"x": [], "preserveUnknownFields": False, "value": ""}}
    assert contains(wanted, {"metadata": {}, "spec": {}})
    assert not contains({"spec": {"value": ""}}, {"spec": {"value": "set by someone"}})
    assert not contains({"spec": {"flag": False}}, {"spec": {"flag": True}})


def test_bool_is_not_int():
    assert not contains({"a": True}, {"a": 1})
    assert contains({"a": 1}, {"a": 1.0})


def test_hash_is_order_independent_and_annotated():
    assert canonical_hash({"a": 1, "b": 2}) == canonical_hash({"b": 2, "a": 1})
    annotated = with_hash_annotation(DESIRED)
    assert annotated["metadata"]["annotations"][HASH_ANNOTATION] == canonical_hash(DESIRED)
    assert "annotations" not in DESIRED["metadata"]  # the input is not mutated
