"""Detection of an existing CNI and of EKS, from plain workload and node dicts (detect.py)."""

from __future__ import annotations

import pytest
from cni_operator.health.detect import (
    cluster_type_mismatch,
    detect_cnis,
    eks_markers,
    foreign_cnis,
    looks_like_eks,
    primary_workload,
    runs_on_aws,
)
from cni_operator.images import image_tag
from cni_operator.objects import is_managed as is_ours

DIGEST = "sha256:" + "0123456789abcdef" * 4


def workload(name, image="", namespace="kube-system", kind="DaemonSet", container=None, ours=False,
             ready=3, desired=3, extra_containers=()):
    containers = [*extra_containers, {"name": container or name, "image": image}]
    labels = {"app.kubernetes.io/managed-by": "cni-operator"} if ours else {"k8s-app": name}
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"template": {"spec": {"containers": containers}}},
            "status": {"numberReady": ready, "desiredNumberScheduled": desired}}


def node(name="n1", labels=None, provider_id=""):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"providerID": provider_id}}


CANAL = workload("canal", "quay.io/calico/node:v3.32.1", container="calico-node",
                 extra_containers=[{"name": "kube-flannel", "image": "docker.io/flannel/flannel:v0.24.4"}])
CALICO = workload("calico-node", "docker.io/calico/node:v3.30.0", ready=2)
FLANNEL = workload("kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.26.1", namespace="kube-flannel",
                   container="kube-flannel")
AWS = workload("aws-node", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.0-eksbuild.1",
               extra_containers=[{"name": "aws-eks-nodeagent", "image": "x/aws-network-policy-agent:v1.1.0"}])
CILIUM = workload("cilium", f"quay.io/cilium/cilium:v1.16.1@{DIGEST}", container="cilium-agent")


# ---------------------------------------------------------------- image tags


@pytest.mark.parametrize("image, tag", [
    ("quay.io/calico/node:v3.32.1", "v3.32.1"),
    ("calico/node:v3.30.0", "v3.30.0"),
    ("node:v1", "v1"),
    ("registry.local:5000/calico/node:v3.31.2", "v3.31.2"),
    ("registry.local:5000/calico/node", "latest"),
    ("registry.local:5000/mirror/quay.io/calico/node:v3.32.1", "v3.32.1"),
    (f"quay.io/cilium/cilium:v1.16.1@{DIGEST}", "v1.16.1"),
    (f"registry.local:5000/cilium/cilium@{DIGEST}", "sha256:0123456789ab"),
    ("602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.0-eksbuild.1", "v1.19.0-eksbuild.1"),
    ("[::1]:5000/calico/node:v3.32.1", "v3.32.1"),
    ("calico/node", "latest"),
    ("", ""),
])
def test_image_tag(image, tag):
    assert image_tag(image) == tag


# ---------------------------------------------------------------- detection


def test_each_cni_is_detected_with_version_workload_and_counts():
    found = {d.provider: d for d in detect_cnis([CANAL, CALICO, FLANNEL, AWS, CILIUM])}
    assert set(found) == {"canal", "calico", "flannel", "aws-vpc-cni", "cilium"}
    assert (found["canal"].version, found["canal"].workload) == ("v3.32.1", "kube-system/canal")
    assert (found["calico"].version, found["calico"].ready, found["calico"].desired) == ("v3.30.0", 2, 3)
    assert (found["flannel"].version, found["flannel"].workload) == ("v0.26.1", "kube-flannel/kube-flannel-ds")
    assert found["aws-vpc-cni"].version == "v1.19.0-eksbuild.1"  # the main container, not the sidecar
    assert found["cilium"].version == "v1.16.1"


def test_detection_order_and_what_is_ignored():
    tigera_calico = workload("calico-node", "quay.io/calico/node:v3.29.0", namespace="calico-system")
    old_flannel = workload("kube-flannel-ds-amd64", "quay.io/coreos/flannel:v0.11.0-amd64", container="kube-flannel")
    noise = [
        workload("calico-kube-controllers", "quay.io/calico/kube-controllers:v3.32.1", kind="Deployment"),
        workload("cilium-operator", "quay.io/cilium/operator:v1.16.1", kind="Deployment"),
        workload("kube-proxy", "registry.k8s.io/kube-proxy:v1.31.0"),
        workload("cilium-envoy", "quay.io/cilium/cilium-envoy:v1.29"),
    ]
    found = detect_cnis([*noise, tigera_calico, CANAL, old_flannel])
    assert [d.workload for d in found] == ["calico-system/calico-node", "kube-system/canal",
                                           "kube-system/kube-flannel-ds-amd64"]
    assert found[2].version == "v0.11.0-amd64"
    assert detect_cnis([]) == []


def test_workloads_without_kind_or_status():
    bare = {"metadata": {"name": "aws-node", "namespace": "kube-system"},
            "spec": {"replicas": None, "template": {"spec": {"containers": [{"name": "aws-node",
                                                                             "image": "x/amazon-k8s-cni:v1.23.1"}]}}}}
    found = detect_cnis([bare])
    assert (found[0].provider, found[0].version, found[0].ready, found[0].desired) == ("aws-vpc-cni", "v1.23.1", 0, 0)


def test_main_container_falls_back_to_the_first():
    odd = workload("cilium", "quay.io/cilium/cilium:v1.15.0", container="agent")
    assert detect_cnis([odd])[0].version == "v1.15.0"


# ---------------------------------------------------------------- ours, foreign, primary


def test_is_ours():
    assert is_ours(workload("canal", ours=True))
    assert not is_ours(CANAL) and not is_ours({"metadata": {}})


def test_foreign_cnis_before_an_mks_install():
    assert [d.provider for d in foreign_cnis([AWS], "canal")] == ["aws-vpc-cni"]
    assert [d.provider for d in foreign_cnis([CALICO, CILIUM], "canal")] == ["calico", "cilium"]
    assert foreign_cnis([workload("canal", "quay.io/calico/node:v3.32.1", ours=True)], "canal") == []
    # a hand-installed canal is the same provider: adopted through server-side apply, not refused
    assert foreign_cnis([CANAL], "canal") == []
    assert [d.provider for d in foreign_cnis([CANAL, FLANNEL], "canal")] == ["flannel"]


def test_a_cni_an_earlier_clusternetwork_left_is_foreign_despite_our_label():
    left_canal = workload("canal", "quay.io/calico/node:v3.32.1", ours=True)  # deleted mks ClusterNetwork, Orphan
    assert [d.workload for d in foreign_cnis([left_canal], "aws-vpc-cni", inventory=())] == ["kube-system/canal"]
    assert foreign_cnis([left_canal], "canal", inventory=()) == []  # the same provider: adopted, as before
    assert foreign_cnis([left_canal], "aws-vpc-cni", inventory=["kube-system/canal"]) == []  # ours now


def test_foreign_cnis_on_eks_and_imported():
    assert foreign_cnis([AWS], "aws-vpc-cni") == []  # EKS ships aws-node; the operator adopts it
    assert [d.provider for d in foreign_cnis([AWS, CILIUM], "aws-vpc-cni")] == ["cilium"]
    assert len(foreign_cnis([AWS, CILIUM, workload("canal", ours=True)], None)) == 2


def test_our_label_outside_the_cni_namespace_does_not_make_a_cni_ours():
    """The operator writes only in kube-system: a DaemonSet with our label anywhere else is someone else's."""
    ours_elsewhere = workload("calico-node", "x:v1", namespace="calico-system", ours=True)
    assert [d.workload for d in foreign_cnis([ours_elsewhere, CALICO], "canal")] == [
        "calico-system/calico-node", "kube-system/calico-node"]
    canal_elsewhere = workload("canal", "x:v3.32.1", namespace="other", ours=True, container="calico-node")
    for inventory in (None, (), ["other/canal", "kube-system/canal"]):
        assert [d.workload for d in foreign_cnis([canal_elsewhere], "aws-vpc-cni", inventory)] == ["other/canal"]
        assert [d.workload for d in foreign_cnis([canal_elsewhere], "canal", inventory)] == ["other/canal"]


# ---------------------------------------------------------------- CNIs in their own namespaces

TIGERA_CALICO = workload("calico-node", "quay.io/calico/node:v3.30.2", namespace="calico-system")
OLD_FLANNEL = workload("kube-flannel-ds-amd64", "quay.io/coreos/flannel:v0.13.0", container="kube-flannel")


@pytest.mark.parametrize("provider", ["canal", "aws-vpc-cni"])
def test_a_cni_in_its_own_namespace_blocks_the_install(provider):
    found = foreign_cnis([TIGERA_CALICO, FLANNEL], provider, inventory=())
    assert [(d.provider, d.workload, d.version) for d in found] == [
        ("calico", "calico-system/calico-node", "v3.30.2"), ("flannel", "kube-flannel/kube-flannel-ds", "v0.26.1")]


def test_the_same_provider_in_another_namespace_is_a_second_copy_not_an_adoption():
    """Apply adopts a same-provider DaemonSet only where it writes (kube-system); one elsewhere would keep running
    next to the operator's."""
    canal_elsewhere = workload("canal", "quay.io/calico/node:v3.31.4", namespace="networking", container="calico-node")
    aws_elsewhere = workload("aws-node", "x/amazon-k8s-cni:v1.19.0", namespace="aws-cni")
    assert [d.workload for d in foreign_cnis([canal_elsewhere, CANAL], "canal", inventory=())] == ["networking/canal"]
    assert [d.workload for d in foreign_cnis([aws_elsewhere], "aws-vpc-cni")] == ["aws-cni/aws-node"]


def test_a_second_cni_appearing_in_its_own_namespace_after_the_install_is_foreign():
    ours = workload("canal", "quay.io/calico/node:v3.32.1", ours=True, container="calico-node")
    found = foreign_cnis([ours, TIGERA_CALICO], "canal", inventory=["kube-system/canal"])
    assert [d.workload for d in found] == ["calico-system/calico-node"]


@pytest.mark.parametrize("name, namespace, container, image, provider", [
    ("antrea-agent", "kube-system", "antrea-agent", "antrea/antrea-agent-ubuntu:v2.2.0", "antrea"),
    ("weave-net", "kube-system", "weave", "weaveworks/weave-kube:2.8.1", "weave-net"),
    ("kube-router", "kube-system", "kube-router", "docker.io/cloudnativelabs/kube-router:v2.4.0", "kube-router"),
    ("kube-ovn-cni", "kube-system", "cni-server", "docker.io/kubeovn/kube-ovn:v1.14.0", "kube-ovn"),
    ("ovnkube-node", "ovn-kubernetes", "ovnkube-controller", "ghcr.io/ovn-kubernetes/ovn-kube-ubuntu:v1.0.0",
     "ovn-kubernetes"),
    ("kube-flannel-ds-amd64", "kube-system", "kube-flannel", "quay.io/coreos/flannel:v0.13.0", "flannel"),
    ("cilium", "cilium", "cilium-agent", "quay.io/cilium/cilium:v1.17.0", "cilium"),
])
def test_known_cnis_wherever_their_installers_put_them(name, namespace, container, image, provider):
    ds = workload(name, image, namespace=namespace, container=container)
    (found,) = foreign_cnis([ds], "canal", inventory=())
    assert (found.provider, found.workload, found.version) == (provider, f"{namespace}/{name}", image_tag(image))


def test_look_alikes_are_not_cnis():
    """Names are matched exactly (flannel by prefix): Cilium's envoy, Multus, Calico's Windows agent are not the CNI."""
    others = [workload(n, "x:v1") for n in ("cilium-envoy", "kube-multus-ds", "calico-node-windows", "kube-proxy")]
    assert detect_cnis(others) == []


def test_primary_workload():
    assert primary_workload([CALICO, CANAL])["metadata"]["name"] == "canal"
    assert primary_workload([FLANNEL, CILIUM])["metadata"]["name"] == "cilium"
    assert primary_workload([CALICO, CANAL], provider="calico")["metadata"]["name"] == "calico-node"
    assert primary_workload([workload("kube-proxy")]) is None


def test_primary_workload_prefers_the_copy_in_the_cni_namespace():
    """Its pods are the ones the operator watches; calico-system sorts before kube-system, and must not win."""
    assert primary_workload([TIGERA_CALICO, CALICO])["metadata"]["namespace"] == "kube-system"
    assert primary_workload([TIGERA_CALICO])["metadata"]["namespace"] == "calico-system"
    assert primary_workload([OLD_FLANNEL, FLANNEL])["metadata"]["namespace"] == "kube-system"


# ---------------------------------------------------------------- EKS or not


def test_eks_markers():
    assert eks_markers([AWS], []) == ["DaemonSet kube-system/aws-node"]
    managed = node("ip-10-0-1-5", labels={"eks.amazonaws.com/nodegroup": "ng-1", "kubernetes.io/os": "linux"})
    eksctl = node("ip-10-0-1-6", labels={"alpha.eksctl.io/cluster-name": "demo"})
    assert eks_markers([], [managed, eksctl]) == ["node ip-10-0-1-5 labelled eks.amazonaws.com/nodegroup"]
    assert looks_like_eks([], [eksctl])
    assert not looks_like_eks([CANAL], [node("n1")])


def test_an_ec2_provider_id_alone_is_aws_but_not_eks():
    ec2 = node("ip-10-0-1-7", provider_id="aws:///us-west-2a/i-0123456789abcdef0")
    assert not looks_like_eks([], [ec2])
    assert runs_on_aws([ec2]) and not runs_on_aws([node("n1", provider_id="gce://p/z/n1")])


def test_cluster_type_mismatch():
    ec2 = node("ip-10-0-1-7", provider_id="aws:///us-west-2a/i-0123456789abcdef0")
    metal = node("n1")
    eks_node = node("ip-10-0-1-5", labels={"eks.amazonaws.com/compute-type": "auto"})
    mks_on_eks = cluster_type_mismatch("mks", [AWS], [ec2])
    assert mks_on_eks.startswith("clusterType is mks but this cluster looks like Amazon EKS (DaemonSet kube-system/")
    assert cluster_type_mismatch("mks", [], [eks_node])
    assert cluster_type_mismatch("mks", [], [ec2]) is None  # self-built Kubernetes on EC2 is mks
    assert cluster_type_mismatch("eks", [], [metal]).startswith("clusterType is eks but no node is an EC2 instance")
    assert cluster_type_mismatch("eks", [], [ec2]) is None  # EKS without aws-node yet (self-managed add-ons)
    assert cluster_type_mismatch("eks", [AWS], [metal]) is None  # aws-node says EKS even if nodes look odd
    assert cluster_type_mismatch("eks", [], []) is None  # no nodes yet: cannot tell
    assert cluster_type_mismatch("imported", [AWS], [eks_node]) is None
