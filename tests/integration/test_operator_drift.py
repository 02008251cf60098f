"""Drift: what someone changes on a managed object is put back (with an Event); what they add is kept; an
annotated object is left alone."""

from __future__ import annotations

import json

from cni_operator.api import parse_spec
from cni_operator.render import render

from tests.harness.clusternetwork import events_for, get_clusternetwork, install
from tests.harness.managed import CNI_NAMESPACE


def _canal_ds(cluster) -> dict:
    return json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)


def _calico_image(ds: dict) -> str:
    return next(c["image"] for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")


def _rendered_calico_image() -> str:
    ds = next(o for o in render(parse_spec({"clusterType": "mks"})).apply if o["kind"] == "DaemonSet")
    return _calico_image(ds)


def test_image_edit_is_reverted_with_an_event_and_foreign_labels_survive(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    wanted = _rendered_calico_image()
    cluster.kubectl("label", "ds", "canal", "-n", CNI_NAMESPACE, "team.example.com/owner=network")
    cluster.kubectl("set", "image", "ds/canal", "-n", CNI_NAMESPACE, "calico-node=quay.io/calico/node:v3.29.0")

    def reverted() -> bool:
        ds = _canal_ds(cluster)
        assert _calico_image(ds) == wanted, _calico_image(ds)
        return True

    wait_for(reverted, timeout=30, what="the image edit to be reverted")
    # The Event is posted after the revert (by a sender thread): poll for it as a user would.
    wait_for(lambda: any("DaemonSet kube-system/canal" in e["message"] and "image" in e["message"]
                         for e in events_for(cluster, "DriftReverted")),
             timeout=15, what="a DriftReverted Event naming the canal DaemonSet's image")
    assert _canal_ds(cluster)["metadata"]["labels"].get("team.example.com/owner") == "network"


def test_deleted_configmap_is_recreated_with_an_event(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    uid = json.loads(cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json").stdout)[
        "metadata"]["uid"]
    cluster.kubectl("delete", "cm", "canal-config", "-n", CNI_NAMESPACE)

    def recreated() -> bool:
        out = cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json", check=False)
        assert out.returncode == 0, "canal-config is still missing"
        cm = json.loads(out.stdout)
        assert cm["metadata"]["uid"] != uid and "net-conf.json" in cm["data"]
        return True

    wait_for(recreated, timeout=30, what="canal-config to be recreated")
    wait_for(lambda: any("canal-config" in e["message"] and "deleted" in e["message"]
                         for e in events_for(cluster, "DriftReverted")),
             timeout=15, what="a DriftReverted Event naming canal-config")


def test_ignore_annotation_opts_an_object_out(cluster, start_operator, wait_for):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    wanted = _rendered_calico_image()
    cluster.kubectl("annotate", "ds", "canal", "-n", CNI_NAMESPACE, "cni-operator.io/ignore=true")

    def listed_as_ignored() -> bool:
        ignored = get_clusternetwork(cluster)["status"].get("ignored") or []
        assert "DaemonSet kube-system/canal" in ignored, ignored
        return True

    wait_for(listed_as_ignored, timeout=30, what="status.ignored to list the canal DaemonSet")
    cluster.kubectl("set", "image", "ds/canal", "-n", CNI_NAMESPACE, "calico-node=registry.example.com/node:hotfix")
    # The operator must keep the manual change while annotated: poke it with an unrelated managed-object event
    # and check the image is still the manual one once that event was handled.
    cluster.kubectl("label", "cm", "canal-config", "-n", CNI_NAMESPACE, "poke=1")
    cluster.kubectl("delete", "cm", "canal-config", "-n", CNI_NAMESPACE)
    wait_for(lambda: cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, check=False).returncode == 0,
             timeout=30, what="canal-config recreated (proof that a pass ran)")
    assert _calico_image(_canal_ds(cluster)) == "registry.example.com/node:hotfix"

    cluster.kubectl("annotate", "ds", "canal", "-n", CNI_NAMESPACE, "cni-operator.io/ignore-")
    wait_for(lambda: _calico_image(_canal_ds(cluster)) == wanted, timeout=30,
             what="the DaemonSet to be managed again once the annotation is gone")
