"""What each CNI looks like on a cluster: one descriptor per CNI, the only place that knows its workload names.

The watches (which pods are CNI pods), health (which DaemonSet and Deployment to judge, which pods are theirs) and
detection (which CNI runs here, of which version) all read these. For the CNIs the operator installs, the names are
those its templates render; tests/unit/test_providers.py renders every catalog version and checks them against it.
A third CNI means one more descriptor here, its templates, and its context builder in render/.
"""

from __future__ import annotations

from dataclasses import dataclass

from .api import Provider


@dataclass(frozen=True)
class CNIDescriptor:
    name: str  # as status and messages name it: "canal", "calico", "aws-vpc-cni", ...
    daemonset: str  # its node agent DaemonSet, or a name prefix ending in '*'
    main_container: str  # the container whose image tag is the CNI's version
    pod_app: str  # the k8s-app label of its node agent pods ("" when they are selected otherwise)
    controllers: str | None = None  # its controllers Deployment (pods labelled k8s-app=<controllers>), if any
    extra_pod_apps: tuple[str, ...] = ()  # other k8s-app values of its pods (operators, agents)
    pod_labels: tuple[tuple[str, str], ...] = ()  # other labels that mark its pods (CNIs without k8s-app)
    installs: Provider | None = None  # the provider cni-operator installs it as; None for CNIs it only detects

    def matches(self, daemonset_name: str) -> bool:
        if self.daemonset.endswith("*"):
            return daemonset_name.startswith(self.daemonset[:-1])
        return daemonset_name == self.daemonset


# In detection order: canal before calico, because a canal DaemonSet is the whole CNI. Names are matched in every
# namespace (they are specific enough): the operator sees DaemonSets cluster-wide (docs/rbac.md) because CNIs live in
# their own namespaces as often as in kube-system. Where upstream puts each (its install docs and manifests):
#   canal          kube-system/canal                 (docs.tigera.io canal.yaml)
#   calico         kube-system/calico-node           (calico.yaml manifest install)
#                  calico-system/calico-node         (the Tigera operator; the operator itself runs in tigera-operator)
#   aws-vpc-cni    kube-system/aws-node              (EKS, the aws-vpc-cni chart)
#   cilium         kube-system/cilium                (cilium install, the Helm chart; `-n <ns>` moves it anywhere)
#   flannel        kube-flannel/kube-flannel-ds      (kube-flannel.yml and its chart; older releases kube-system/
#                                                     kube-flannel-ds-<arch>)
#   antrea         kube-system/antrea-agent          (antrea.yml, the Helm chart)
#   weave-net      kube-system/weave-net             (weave-daemonset-k8s.yaml)
#   kube-router    kube-system/kube-router           (kube-router's daemonset manifests)
#   kube-ovn       kube-system/kube-ovn-cni          (install.sh, the Helm chart, which may use its own namespace)
#   ovn-kubernetes ovn-kubernetes/ovnkube-node       (its Helm chart; OpenShift: openshift-ovn-kubernetes)
# A DaemonSet of one of these names is taken for that CNI wherever it runs. Meta-plugins (Multus) chain a CNI rather
# than replace it, so they are not listed.
KNOWN: tuple[CNIDescriptor, ...] = (
    CNIDescriptor("canal", "canal", "calico-node", pod_app="canal", controllers="calico-kube-controllers",
                  installs=Provider.CANAL),
    CNIDescriptor("calico", "calico-node", "calico-node", pod_app="calico-node",
                  extra_pod_apps=("calico-kube-controllers",)),
    CNIDescriptor("aws-vpc-cni", "aws-node", "aws-node", pod_app="aws-node", installs=Provider.AWS_VPC_CNI),
    CNIDescriptor("cilium", "cilium", "cilium-agent", pod_app="cilium", extra_pod_apps=("cilium-operator",)),
    # upstream kube-flannel labels its pods app: flannel (older releases k8s-app: flannel)
    CNIDescriptor("flannel", "kube-flannel*", "kube-flannel", pod_app="flannel", extra_pod_apps=("kube-flannel",),
                  pod_labels=(("app", "flannel"),)),
    CNIDescriptor("antrea", "antrea-agent", "antrea-agent", pod_app="", pod_labels=(("component", "antrea-agent"),)),
    CNIDescriptor("weave-net", "weave-net", "weave", pod_app="", pod_labels=(("name", "weave-net"),)),
    CNIDescriptor("kube-router", "kube-router", "kube-router", pod_app="kube-router"),
    CNIDescriptor("kube-ovn", "kube-ovn-cni", "cni-server", pod_app="", pod_labels=(("app", "kube-ovn-cni"),)),
    CNIDescriptor("ovn-kubernetes", "ovnkube-node", "ovnkube-controller", pod_app="",
                  pod_labels=(("app", "ovnkube-node"),)),
)

_BY_PROVIDER = {d.installs: d for d in KNOWN if d.installs is not None}

# k8s-app values of every known CNI's pods, and other labels that mark them: the pods the operator keeps facts about.
CNI_POD_APPS = frozenset(
    app for d in KNOWN for app in (d.pod_app, *d.extra_pod_apps, *([d.controllers] if d.controllers else [])) if app)
CNI_POD_LABELS = frozenset(label for d in KNOWN for label in d.pod_labels)


def for_provider(provider: Provider) -> CNIDescriptor:
    return _BY_PROVIDER[provider]


def describe_daemonset(name: str) -> CNIDescriptor | None:
    """The known CNI whose node agent DaemonSet has this name, if any."""
    return next((d for d in KNOWN if d.matches(name)), None)


def is_cni_pod(labels: dict) -> bool:
    """CNI pods carry k8s-app (Calico, Canal, aws-node, Cilium, kube-router), or a label of their own (app: flannel
    for upstream kube-flannel, component: antrea-agent, name: weave-net, ...)."""
    return labels.get("k8s-app") in CNI_POD_APPS or any(labels.get(k) == v for k, v in CNI_POD_LABELS)
