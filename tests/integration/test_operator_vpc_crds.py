"""The PolicyEndpoint CRD belongs to the EKS control plane, never to cni-operator (manifests/catalog.yaml neverOwn).

An older cni-operator rendered policyendpoints.networking.k8s.aws and labelled it as its own. On a cluster where that
copy holds a PolicyEndpoint, the new operator installs the VPC CNI, upgrades it and, with deletionPolicy Delete,
removes it: the CRD (schema) and the PolicyEndpoint come through unchanged, released (no longer labelled managed),
and the operator never applied or deleted the CRD (the audit log says so). With enableNetworkPolicy and no CRD at
all, the ClusterNetwork gets a Warning saying who installs it.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.harness.clusternetwork import apply_clusternetwork, events_for, get_clusternetwork, install
from tests.harness.operator import OPERATOR_USER

PE_CRD = "policyendpoints.networking.k8s.aws"
OLD, NEW = "v1.22.3", "v1.23.1"
OUR_LABELS = ("app.kubernetes.io/managed-by", "cni-operator.io/provider", "cni-operator.io/version")
ROLLOUT = {"canary": 1, "soakSeconds": 2, "maxUnavailable": "50%", "progressDeadlineSeconds": 240}

# As the operator before this release applied it (manifests/aws-vpc-cni/crds.yaml.j2 then): the control plane's
# names, a compact schema, and our labels and hash annotation.
OLD_OPERATORS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": PE_CRD,
                 "annotations": {"controller-gen.kubebuilder.io/version": "v0.11.3",
                                 "cni-operator.io/applied-hash": "0123456789abcdef"},
                 "labels": {"app.kubernetes.io/name": "amazon-network-policy-controller-k8s",
                            "app.kubernetes.io/managed-by": "cni-operator",
                            "cni-operator.io/provider": "aws-vpc-cni", "cni-operator.io/version": OLD}},
    "spec": {"group": "networking.k8s.aws", "scope": "Namespaced",
             "names": {"kind": "PolicyEndpoint", "listKind": "PolicyEndpointList", "plural": "policyendpoints",
                       "singular": "policyendpoint"},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["policyRef"],
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {"policyRef": {"type": "object", "required": ["name",
                                                                                                   "namespace"],
                                                                     "properties": {"name": {"type": "string"},
                                                                                    "namespace": {"type": "string"}}}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}
POLICY_ENDPOINT = {
    "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "PolicyEndpoint",
    "metadata": {"name": "users-policy-x7k2p", "namespace": "default"},
    "spec": {"policyRef": {"name": "users-policy", "namespace": "default"}, "podIsolation": ["Ingress"],
             "podSelector": {"matchLabels": {"app": "web"}}},
}


def _crd(cluster) -> dict | None:
    res = cluster.kubectl("get", "crd", PE_CRD, "-o", "json", check=False)
    assert res.returncode == 0 or "NotFound" in res.stderr, res.stderr
    return json.loads(res.stdout) if res.returncode == 0 else None


def _policy_endpoint(cluster) -> dict | None:
    res = cluster.kubectl("get", "policyendpoints.networking.k8s.aws", POLICY_ENDPOINT["metadata"]["name"],
                          "-n", "default", "-o", "json", check=False)
    assert res.returncode == 0 or "NotFound" in res.stderr, res.stderr
    return json.loads(res.stdout) if res.returncode == 0 else None


def _label_nodes_as_eks(cluster, cleanup) -> None:
    for node in cluster.fake_nodes():
        name = node.metadata.name
        cluster.kubectl("label", "node", name, "eks.amazonaws.com/nodegroup=ng-1", "--overwrite")
        cleanup.add(cluster.kubectl, "label", "node", name, "eks.amazonaws.com/nodegroup-", check=False)


@pytest.fixture
def control_plane_crd(cluster, cleanup, wait_for):
    """The old operator's labelled copy of the control plane's CRD, holding one PolicyEndpoint; removed after."""
    cleanup.add(cluster.kubectl, "delete", "crd", PE_CRD, "--ignore-not-found", "--wait=false", check=False)
    cluster.kubectl("apply", "--server-side", "--field-manager=cni-operator", "-f", "-",
                    input=yaml.safe_dump(OLD_OPERATORS_CRD))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{PE_CRD}", "--timeout=30s")

    def created() -> bool:  # the kind may be served a moment after Established
        res = cluster.kubectl("create", "-f", "-", input=json.dumps(POLICY_ENDPOINT), check=False)
        assert res.returncode == 0 or "AlreadyExists" in res.stderr, res.stderr
        return True

    wait_for(created, timeout=30, what="the PolicyEndpoint created")
    return _crd(cluster), _policy_endpoint(cluster)


def _unchanged(cluster, before: tuple[dict, dict], when: str) -> dict:
    """The CRD's schema and the PolicyEndpoint as they were; returns the live CRD."""
    crd_before, pe_before = before
    crd, pe = _crd(cluster), _policy_endpoint(cluster)
    assert crd is not None and not crd["metadata"].get("deletionTimestamp"), f"{when}: the CRD went"
    assert crd["metadata"]["uid"] == crd_before["metadata"]["uid"], f"{when}: the CRD was replaced"
    assert crd["spec"] == crd_before["spec"], f"{when}: the CRD's schema changed"
    assert pe is not None, f"{when}: the user's PolicyEndpoint is gone"
    assert (pe["metadata"]["uid"], pe["metadata"]["resourceVersion"]) == \
        (pe_before["metadata"]["uid"], pe_before["metadata"]["resourceVersion"]), f"{when}: the PolicyEndpoint changed"
    return crd


def test_policyendpoints_crd_survives_install_upgrade_and_delete(cluster, cleanup, start_operator, wait_for,
                                                                 control_plane_crd, audit_log):
    _label_nodes_as_eks(cluster, cleanup)
    mark = audit_log.mark()
    start_operator()
    spec = {"clusterType": "eks", "cni": {"version": OLD}, "deletionPolicy": "Delete", "rollout": ROLLOUT,
            "awsVpcCni": {"enableNetworkPolicy": True}}
    install(cluster, spec, timeout=120)

    def released() -> dict:
        crd = _unchanged(cluster, control_plane_crd, "after install")
        labels = crd["metadata"].get("labels") or {}
        assert not set(OUR_LABELS) & set(labels), f"still labelled as cni-operator's: {labels}"
        return crd

    crd = wait_for(released, timeout=30, what="the PolicyEndpoint CRD released")
    assert crd["metadata"]["labels"]["app.kubernetes.io/name"] == "amazon-network-policy-controller-k8s"
    assert "cni-operator.io/applied-hash" not in crd["metadata"].get("annotations", {})
    assert [r["name"] for r in get_clusternetwork(cluster)["status"].get("retained") or []] == [PE_CRD]
    event = wait_for(lambda: events_for(cluster, "CRDReleased"), timeout=10, what="the CRDReleased Event")
    assert PE_CRD in event[0]["message"] and "1 object of its kind exists" in event[0]["message"], event
    # The CRD is present: enableNetworkPolicy needs it, and nothing says it is missing.
    assert not events_for(cluster, "RequiredCRDMissing")

    assert apply_clusternetwork(cluster, {**spec, "cni": {"version": NEW}}).returncode == 0

    def upgraded() -> bool:
        status = get_clusternetwork(cluster)["status"]
        assert status.get("version") == NEW and status.get("phase") == "Ready", status.get("phase")
        assert (status.get("rollout") or {}).get("phase") == "Complete", status.get("rollout")
        return True

    wait_for(upgraded, timeout=240, what=f"the upgrade to {NEW}")
    _unchanged(cluster, control_plane_crd, "after the upgrade")

    cnet = get_clusternetwork(cluster)
    cluster.kubectl("delete", "cnet", "default", "--wait=false")
    wait_for(lambda: not get_clusternetwork(cluster), timeout=90, what="the ClusterNetwork deleted (Delete)")
    eni = cluster.kubectl("get", "crd", "eniconfigs.crd.k8s.amazonaws.com", check=False)
    assert eni.returncode != 0 and "NotFound" in eni.stderr, "Delete left the CRD the operator does own"
    crd = _unchanged(cluster, control_plane_crd, "after deletionPolicy Delete")
    assert not set(OUR_LABELS) & set(crd["metadata"].get("labels") or {})
    assert events_for(cluster, "Deleted", cnet=cnet), "no Deleted Event"

    # From the API server's own record: the operator released the CRD (a patch) and never applied or deleted it.
    writes = [e for e in audit_log.entries(user=OPERATOR_USER, resource="customresourcedefinitions", name=PE_CRD,
                                           since=mark) if e.get("verb") in ("create", "update", "patch", "delete")]
    assert writes, "the operator never released the CRD"
    bodies = {(e["verb"], (e.get("requestURI") or "").split("?")[0]) for e in writes}
    assert all(verb == "patch" for verb, _ in bodies), bodies
    assert all(e.get("responseStatus", {}).get("code") == 200 for e in writes), [e.get("responseStatus")
                                                                                for e in writes]
    assert len(writes) == 1, f"released {len(writes)} times: {[e['requestReceivedTimestamp'] for e in writes]}"


def test_network_policy_without_the_crd_is_reported(cluster, cleanup, start_operator, wait_for):
    _label_nodes_as_eks(cluster, cleanup)
    assert _crd(cluster) is None
    start_operator()
    install(cluster, {"clusterType": "eks", "awsVpcCni": {"enableNetworkPolicy": True}}, timeout=120)
    missing = wait_for(lambda: events_for(cluster, "RequiredCRDMissing"), timeout=30,
                       what="the RequiredCRDMissing Warning")
    assert missing[0]["type"] == "Warning"
    assert missing[0]["message"].startswith(
        "policyendpoints.networking.k8s.aws is not installed: on EKS the control plane installs it when network "
        "policy is enabled in the cluster's VPC CNI configuration; elsewhere install it"), missing[0]["message"]
    assert _crd(cluster) is None, "the operator installed the control plane's CRD"
