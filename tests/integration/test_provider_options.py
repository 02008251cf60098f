"""Provider options of issue 10 item 4 on a real control plane, under the chart's RBAC: an eks ClusterNetwork with an
IRSA role, ENIConfigs for custom networking and the metrics settings installs them and is Ready; an ENIConfig dropped
from the spec, and every ENIConfig at deletionPolicy Delete, is released, never deleted (the audit log says so); an
ENIConfig the user made is never touched; bad input is refused by `kubectl apply` with a message naming the field.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.harness.clusternetwork import apply_clusternetwork, events_for, get_clusternetwork, install
from tests.harness.operator import OPERATOR_USER

pytestmark = pytest.mark.k8s

ROLE = "arn:aws:iam::111122223333:role/eks/aws-node-irsa"
OUR_LABELS = ("app.kubernetes.io/managed-by", "cni-operator.io/provider", "cni-operator.io/version")
ZONE_A = {"name": "us-west-2a", "subnet": "subnet-0123456789abcdef0", "securityGroups": ["sg-0123456789abcdef0"]}
ZONE_B = {"name": "us-west-2b", "subnet": "subnet-89abcdef"}
USERS_OWN = {"apiVersion": "crd.k8s.amazonaws.com/v1alpha1", "kind": "ENIConfig", "metadata": {"name": "usw2-az4"},
             "spec": {"subnet": "subnet-0fedcba987654321f"}}


def _label_nodes_as_eks(cluster, cleanup) -> None:
    for node in cluster.fake_nodes():
        name = node.metadata.name
        cluster.kubectl("label", "node", name, "eks.amazonaws.com/nodegroup=ng-1", "--overwrite")
        cleanup.add(cluster.kubectl, "label", "node", name, "eks.amazonaws.com/nodegroup-", check=False)


def _get(cluster, *what: str) -> dict | None:
    res = cluster.kubectl("get", *what, "-o", "json", check=False)
    assert res.returncode == 0 or "NotFound" in res.stderr, res.stderr
    return json.loads(res.stdout) if res.returncode == 0 else None


def _eniconfig(cluster, name: str) -> dict | None:
    return _get(cluster, "eniconfigs.crd.k8s.amazonaws.com", name)


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def test_irsa_eniconfigs_and_metrics_install_and_eniconfigs_are_never_deleted(cluster, cleanup, start_operator,
                                                                               wait_for, audit_log):
    _label_nodes_as_eks(cluster, cleanup)
    cleanup.add(cluster.kubectl, "delete", "crd", "eniconfigs.crd.k8s.amazonaws.com", "--ignore-not-found",
                "--wait=false", check=False)
    mark = audit_log.mark()
    start_operator()
    aws = {"serviceAccountRoleArn": ROLE, "customNetworking": True, "eniConfigLabelDef": "topology.kubernetes.io/zone",
           "eniConfigs": [ZONE_A, ZONE_B], "disableIntrospection": True, "nodeAgentMetricsPort": 9162}
    spec = {"clusterType": "eks", "deletionPolicy": "Delete", "awsVpcCni": aws}
    install(cluster, spec, timeout=120)

    sa = _get(cluster, "serviceaccount", "aws-node", "-n", "kube-system")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE
    for zone in (ZONE_A, ZONE_B):
        live = _eniconfig(cluster, zone["name"])
        assert live is not None, f"no ENIConfig {zone['name']}"
        assert live["spec"] == {k: v for k, v in zone.items() if k != "name"}, live["spec"]
        assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cni-operator"
    ds = _get(cluster, "daemonset", "aws-node", "-n", "kube-system")
    containers = {c["name"]: c for c in ds["spec"]["template"]["spec"]["containers"]}
    env = _env(containers["aws-node"])
    assert (env["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"], env["ENI_CONFIG_LABEL_DEF"]) == \
        ("true", "topology.kubernetes.io/zone")
    assert (env["DISABLE_INTROSPECTION"], env["DISABLE_METRICS"]) == ("true", "false")
    agent = containers["aws-eks-nodeagent"]
    assert agent["ports"] == [{"containerPort": 9162, "name": "agentmetrics", "protocol": "TCP"}]
    assert "--metrics-bind-addr=:9162" in agent["args"]

    # A pass with nothing to change for them writes no ENIConfig (the apply kept them in its cache; they are not
    # watched). A rollout field changes the generation, so the operator runs a full pass and reports it.
    quiet = audit_log.mark()
    generation = get_clusternetwork(cluster)["metadata"]["generation"]
    assert apply_clusternetwork(cluster, {**spec, "rollout": {"soakSeconds": 7}}).returncode == 0

    def passed() -> bool:
        status = get_clusternetwork(cluster)["status"]
        assert status.get("observedGeneration", 0) > generation and status.get("phase") == "Ready", status
        return True

    wait_for(passed, timeout=60, what="a pass for the new generation")
    assert not [e for e in audit_log.entries(user=OPERATOR_USER, resource="eniconfigs", since=quiet)
                if e.get("verb") not in ("get", "list", "watch")], "an idle pass wrote an ENIConfig"

    # An ENIConfig the user made, not in the spec: nothing below may change it.
    cleanup.add(cluster.kubectl, "delete", "eniconfigs.crd.k8s.amazonaws.com", USERS_OWN["metadata"]["name"],
                "--ignore-not-found", check=False)
    cluster.kubectl("create", "-f", "-", input=json.dumps(USERS_OWN))
    users_before = _eniconfig(cluster, "usw2-az4")

    # Drop zone B from the spec: its ENIConfig stays, released (no longer labelled ours), with an Event saying why.
    assert apply_clusternetwork(cluster, {**spec, "awsVpcCni": {**aws, "eniConfigs": [ZONE_A]}}).returncode == 0

    def released(name: str) -> dict:
        live = _eniconfig(cluster, name)
        assert live is not None, f"the ENIConfig {name} was deleted"
        assert not set(OUR_LABELS) & set(live["metadata"].get("labels") or {}), live["metadata"].get("labels")
        return live

    released_b = wait_for(lambda: released(ZONE_B["name"]), timeout=60, what="ENIConfig us-west-2b released")
    assert released_b["spec"]["subnet"] == ZONE_B["subnet"]
    event = wait_for(lambda: events_for(cluster, "ENIConfigReleased"), timeout=30, what="the ENIConfigReleased Event")
    assert "ENIConfig us-west-2b" in event[0]["message"] and "delete it yourself" in event[0]["message"], event
    assert _eniconfig(cluster, ZONE_A["name"])["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cni-operator"

    # deletionPolicy Delete: the CNI goes, the ENIConfigs stay (released), and so does their CRD, which holds them.
    cnet = get_clusternetwork(cluster)
    cluster.kubectl("delete", "cnet", "default", "--wait=false")
    wait_for(lambda: not get_clusternetwork(cluster), timeout=90, what="the ClusterNetwork deleted (Delete)")
    assert _get(cluster, "daemonset", "aws-node", "-n", "kube-system") is None, "Delete left aws-node"
    assert events_for(cluster, "Deleted", cnet=cnet), "no Deleted Event"
    released(ZONE_A["name"])
    assert _get(cluster, "crd", "eniconfigs.crd.k8s.amazonaws.com") is not None, "the CRD went with its ENIConfigs"
    users_after = _eniconfig(cluster, "usw2-az4")
    assert users_after["metadata"]["resourceVersion"] == users_before["metadata"]["resourceVersion"]

    # The API server's record: the operator never asked to delete an ENIConfig, and never wrote the user's.
    writes = [e for e in audit_log.entries(user=OPERATOR_USER, resource="eniconfigs", since=mark)
              if e.get("verb") in ("create", "update", "patch", "delete", "deletecollection")]
    assert writes, "the audit log shows no ENIConfig write by the operator"
    assert not [e for e in writes if e["verb"] in ("delete", "deletecollection")]
    assert not [e for e in writes if e.get("objectRef", {}).get("name") == "usw2-az4"]


@pytest.mark.parametrize("aws, field, words", [
    ({"serviceAccountRoleArn": "arn:aws:iam::1234:role/aws-node"}, "spec.awsVpcCni.serviceAccountRoleArn",
     "must be an IAM role ARN such as arn:aws:iam::111122223333:role/aws-node-irsa"),
    ({"enableIPv6": True}, "spec.awsVpcCni.enableIPv6", "enableIPv6 needs enablePrefixDelegation: true"),
    ({"eniConfigs": [ZONE_A]}, "spec.awsVpcCni.eniConfigs", "eniConfigs need customNetworking: true"),
    ({"customNetworking": True, "eniConfigs": [{**ZONE_A, "subnet": "sg-01234567"}]},
     "spec.awsVpcCni.eniConfigs[0].subnet", "must be a subnet ID such as subnet-0123456789abcdef0"),
    ({"nodeAgentMetricsPort": 61678}, "spec.awsVpcCni.nodeAgentMetricsPort",
     "nodeAgentMetricsPort must not be 8163, 50051, 61678, 61679: aws-node uses them"),
], ids=["role-arn", "ipv6-without-prefix-delegation", "eniconfigs-without-custom-networking", "subnet", "agent-port"])
def test_bad_provider_options_are_refused_by_kubectl_apply(cluster, start_operator, aws, field, words):
    start_operator()  # installs the chart's CRD, the one users get
    doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
           "spec": {"clusterType": "eks", "awsVpcCni": aws}}
    res = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert res.returncode != 0, res.stdout
    assert field in res.stderr and words in res.stderr, res.stderr
