"""The registry policy on a real cluster: a ClusterNetwork that would put images from a registry the operator does not
allow into the privileged CNI DaemonSet is refused, with the running network left exactly as it was, and the fixed
spec is served again (docs/security.md)."""

from __future__ import annotations

import json

from tests.harness.clusternetwork import apply_clusternetwork, condition, events_for, install, wait_condition
from tests.harness.managed import CNI_NAMESPACE, MANAGED_SELECTOR, NAMESPACED_KINDS
from tests.harness.operator import audit_writes_since


def _versions(cluster) -> dict[str, str]:
    """kind/name -> resourceVersion of every managed object in kube-system."""
    out = cluster.kubectl("get", "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR, "-o", "json").stdout
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in json.loads(out)["items"]}


def _images(cluster) -> list[str]:
    ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
    spec = ds["spec"]["template"]["spec"]
    return [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]


def test_a_registry_not_allowed_is_refused_and_the_network_left_alone(cluster, start_operator, audit_log, wait_for):
    operator = start_operator()  # the default policy: the catalog's registries
    install(cluster, {"clusterType": "mks"})
    versions, images = _versions(cluster), _images(cluster)
    assert all(not image.startswith("attacker.example/") for image in images)
    mark = audit_log.mark()

    assert apply_clusternetwork(cluster, {"clusterType": "mks", "registry": "attacker.example"}).returncode == 0
    cnet = wait_condition(cluster, "Degraded", "True", "RegistryNotAllowed", timeout=30)
    status = cnet["status"]
    assert status["phase"] == "Failed" and status["observedGeneration"] == cnet["metadata"]["generation"]
    assert condition(cnet, "Stalled")["status"] == "True" and condition(cnet, "Stalled")["reason"] == \
        "RegistryNotAllowed"
    message = condition(cnet, "Degraded")["message"]
    assert "spec.registry attacker.example is not an allowed image registry" in message, message
    assert "docker.io, quay.io" in message and "allowedRegistries" in message, message
    wait_for(lambda: any("attacker.example" in e["message"] and e["type"] == "Warning"
                         for e in events_for(cluster, "RegistryNotAllowed")),
             timeout=15, what="a RegistryNotAllowed Warning Event naming attacker.example")

    assert _versions(cluster) == versions, "a managed object was written although the registry is not allowed"
    assert _images(cluster) == images
    writes = [w for w in audit_writes_since(audit_log, mark, exclude_status=True) if not w.startswith("create events")]
    assert writes == [], f"the operator wrote more than its status and an Event: {writes}"
    assert operator.alive()

    assert apply_clusternetwork(cluster, {"clusterType": "mks"}).returncode == 0
    cnet = wait_condition(cluster, "Ready", "True", timeout=60)
    assert cnet["status"]["phase"] == "Ready" and condition(cnet, "Stalled")["status"] == "False"
    assert condition(cnet, "Degraded")["status"] == "False"
    assert _images(cluster) == images
