"""A patch upgrade within a minor line, as `cni-operator versions` recommends for a deprecated version: canal v3.31.4
(deprecated, superseded by v3.31.7) -> v3.31.7. Same objects, same CRD schemas; the pods move to the new images with
the new securityfs mount, the CNI config moves to cniVersion 1.0.0, and nothing is pruned or recreated."""

from __future__ import annotations

import json

from cni_operator.api import Provider, parse_spec
from cni_operator.catalog import load_catalog
from cni_operator.render import render

from tests.harness.clusternetwork import apply_clusternetwork, get_clusternetwork, install
from tests.harness.managed import CNI_NAMESPACE, managed_objects, rendered_names

OLD, NEW = "v3.31.4", "v3.31.7"
ROLLOUT = {"canary": 1, "soakSeconds": 2, "maxUnavailable": 1}


def _crd_uids(cluster) -> dict[str, str]:
    crds = json.loads(cluster.kubectl("get", "crd", "-l", "cni-operator.io/provider=canal", "-o", "json").stdout)
    return {item["metadata"]["name"]: item["metadata"]["uid"] for item in crds["items"]}


def test_patch_upgrade_from_a_deprecated_version_rolls_the_pods_and_keeps_every_object(cluster, start_operator):
    catalog = load_catalog()
    assert catalog.entry(Provider.CANAL, OLD).deprecated.startswith(f"superseded by {NEW}:")
    old_spec = {"clusterType": "mks", "cni": {"version": OLD}, "rollout": ROLLOUT}
    new_spec = {"clusterType": "mks", "cni": {"version": NEW}, "rollout": ROLLOUT}
    assert rendered_names(render(parse_spec(old_spec))) == rendered_names(render(parse_spec(new_spec)))

    start_operator()
    install(cluster, old_spec)
    crds_before = _crd_uids(cluster)
    objects_before = managed_objects(cluster)
    assert len(crds_before) == 24, sorted(crds_before)

    assert apply_clusternetwork(cluster, new_spec).returncode == 0
    waited = cluster.kubectl("wait", "--for=condition=Ready", "cnet/default", "--timeout=180s")
    assert "condition met" in waited.stdout, waited.stderr

    cnet = get_clusternetwork(cluster)
    assert cnet["status"]["version"] == NEW and cnet["status"]["rollout"]["phase"] == "Complete", cnet["status"]
    assert managed_objects(cluster) == objects_before, "a patch upgrade adds and prunes nothing"
    assert _crd_uids(cluster) == crds_before, "the CRDs (and every Calico resource in them) were not recreated"

    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    pod_spec = ds["spec"]["template"]["spec"]
    node = next(c for c in pod_spec["containers"] if c["name"] == "calico-node")
    assert node["image"] == f"quay.io/calico/node:{NEW}"
    assert {"name": "sys-kernel-security", "mountPath": "/sys/kernel/security", "readOnly": True} in node[
        "volumeMounts"]
    volume = next(v for v in pod_spec["volumes"] if v["name"] == "sys-kernel-security")
    assert volume["hostPath"]["path"] == "/sys/kernel/security"
    assert volume["hostPath"].get("type", "") == "", "no type, as upstream: nodes without securityfs still start"
    cm = json.loads(cluster.kubectl("get", "cm", "canal-config", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    assert '"cniVersion": "1.0.0"' in cm["data"]["cni_network_config"]

    nodes = {n.metadata.name for n in cluster.core.list_node().items}
    pods = [p for p in cluster.core.list_namespaced_pod(CNI_NAMESPACE, label_selector="k8s-app=canal").items
            if p.metadata.deletion_timestamp is None]
    on_new = {p.spec.node_name for p in pods
              if any(c.name == "calico-node" and c.image.endswith(f":{NEW}") for c in p.spec.containers)
              and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])}
    assert on_new == nodes, f"nodes without a Ready {NEW} canal pod: {sorted(nodes - on_new)}"
    deployment = json.loads(cluster.kubectl("get", "deploy", "calico-kube-controllers", "-n", CNI_NAMESPACE, "-o",
                                            "json").stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{NEW}")
