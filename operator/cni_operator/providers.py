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
    installs: Provider | None = None  # the provider cni-operator installs it as; None for CNIs it only detects

    def matches(self, daemonset_name: str) -> bool:
        if self.daemonset.endswith("*"):
            return daemonset_name.startswith(self.daemonset[:-1])
        return daemonset_name == self.daemonset


# In detection order: canal before calico, because a canal DaemonSet is the whole CNI. Most live in kube-system;
# Tigera installs calico-node in calico-system and kube-flannel.yml uses kube-flannel, so names are matched in any
# namespace (they are specific enough).
KNOWN: tuple[CNIDescriptor, ...] = (
    CNIDescriptor("canal", "canal", "calico-node", pod_app="canal", controllers="calico-kube-controllers",
                  installs=Provider.CANAL),
    CNIDescriptor("calico", "calico-node", "calico-node", pod_app="calico-node",
                  extra_pod_apps=("calico-kube-controllers",)),
    CNIDescriptor("aws-vpc-cni", "aws-node", "aws-node", pod_app="aws-node", installs=Provider.AWS_VPC_CNI),
    CNIDescriptor("cilium", "cilium", "cilium-agent", pod_app="cilium", extra_pod_apps=("cilium-operator",)),
    # upstream kube-flannel labels its pods app: flannel (older releases k8s-app: flannel)
    CNIDescriptor("flannel", "kube-flannel*", "kube-flannel", pod_app="flannel", extra_pod_apps=("kube-flannel",)),
)

_BY_PROVIDER = {d.installs: d for d in KNOWN if d.installs is not None}

# k8s-app values of every known CNI's pods: the pods the operator keeps facts about.
CNI_POD_APPS = frozenset(
    app for d in KNOWN for app in (d.pod_app, *d.extra_pod_apps, *([d.controllers] if d.controllers else [])) if app)


def for_provider(provider: Provider) -> CNIDescriptor:
    return _BY_PROVIDER[provider]


def describe_daemonset(name: str) -> CNIDescriptor | None:
    """The known CNI whose node agent DaemonSet has this name, if any."""
    return next((d for d in KNOWN if d.matches(name)), None)


def is_cni_pod(labels: dict) -> bool:
    """CNI pods carry k8s-app (Calico, Canal, aws-node, Cilium) or app: flannel (upstream kube-flannel)."""
    return labels.get("k8s-app") in CNI_POD_APPS or labels.get("app") == "flannel"
