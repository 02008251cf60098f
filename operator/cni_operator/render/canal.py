"""Canal: spec -> the jinja2 context of manifests/canal/*.j2.

Pure: no kopf, no kubernetes client, no I/O. At default options the render is the upstream canal.yaml of the catalog
version, object for object (differences listed in docs/providers/canal.md). Each option changes exactly one thing:

    canal.backend / vxlanPort / vni   net-conf.json Backend (Port and VNI only when not flannel's defaults)
    podCIDR                           net-conf.json Network (upstream sets no CALICO_IPV4POOL_CIDR in canal)
    mtu                               canal-config veth_mtu ("0": Calico detects it)
    canal.iface                       canal-config canal_iface
    canal.masquerade                  canal-config masquerade, and flanneld's --ip-masq flag (which would win over it)
    canal.iptablesBackend             calico-node FELIX_IPTABLESBACKEND (absent at Auto, Felix's default)
    canal.logSeverity                 calico-node FELIX_LOGSEVERITYSCREEN (absent at Info, Felix's default)
    canal.felixPrometheusMetrics*     calico-node FELIX_PROMETHEUSMETRICSENABLED and ..PORT (both absent when off,
                                      Felix's and upstream's default; the port only matters when on)
    rollout.*                         nothing: the DaemonSet is OnDelete, the operator replaces pods (rollout.py)
    registry                          the registry of every image
    imagePullSecrets                  imagePullSecrets of both pod templates
"""

from __future__ import annotations

import json

from ..api import CanalOptions, ClusterNetworkSpec, FlannelBackend, IptablesBackend, LogSeverity
from ..catalog import CatalogError, VersionEntry
from ..images import with_registry
from ..objects import CNI_NAMESPACE

# Flannel's own defaults for the VXLAN backend: written out only when the spec differs, so the default ConfigMap is
# upstream's `{"Type": "vxlan"}`.
FLANNEL_VXLAN_PORT = 8472
FLANNEL_VXLAN_VNI = 1

FLANNELD_ARGS = ("--ip-masq", "--kube-subnet-mgr")

# Placeholder install-cni replaces with the MTU: a bare number in the JSON, so it is spliced in after dumping.
_CNI_MTU_PLACEHOLDER = "__CNI_MTU__"

# Per-version switches the templates read; the catalog must give each (a missing one is a catalog bug).
FEATURES: dict[str, type | tuple] = {
    "calicoApiGroups": list,
    "clusterPolicyApi": ("AdminNetworkPolicy", "ClusterNetworkPolicy"),
    "kubeControllersConfigStatus": bool,
    "nodeWritesBGPConfiguration": bool,
    "datastoreMigration": bool,
    "kubevirt": bool,
    "cniVersion": ("0.3.1", "1.0.0"),  # cniVersion of the conflist install-cni writes
    "kernelSecurityMount": bool,  # calico-node mounts /sys/kernel/security read-only (Felix's lockdown detection)
}


def net_conf(pod_cidr: str, canal: CanalOptions) -> str:
    """flannel's net-conf.json: the text upstream ships (2-space indent, trailing newline) at default options."""
    backend: dict[str, object] = {"Type": canal.backend.value}
    if canal.backend is FlannelBackend.VXLAN:
        if canal.vni != FLANNEL_VXLAN_VNI:
            backend["VNI"] = canal.vni
        if canal.vxlan_port != FLANNEL_VXLAN_PORT:
            backend["Port"] = canal.vxlan_port
    # host-gw takes no options; wireguard's (PSK, ListenPort, Mode, ...) all default sensibly and are not exposed.
    return json.dumps({"Network": pod_cidr, "Backend": backend}, indent=2) + "\n"


def cni_network_config(cni_version: str = "0.3.1") -> str:
    """The conflist template install-cni writes on each node (calico + portmap, host-local IPAM on the node podCIDR);
    cni_version is the catalog version's (upstream moved it from 0.3.1 to 1.0.0 in v3.31.7)."""
    config = {
        "name": "k8s-pod-network",
        "cniVersion": cni_version,
        "plugins": [
            {
                "type": "calico",
                "log_level": "info",
                "log_file_path": "/var/log/calico/cni/cni.log",
                "datastore_type": "kubernetes",
                "nodename": "__KUBERNETES_NODE_NAME__",
                "mtu": _CNI_MTU_PLACEHOLDER,
                "ipam": {"type": "host-local", "subnet": "usePodCidr"},
                "policy": {"type": "k8s"},
                "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"},
            },
            {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2).replace(f'"{_CNI_MTU_PLACEHOLDER}"', _CNI_MTU_PLACEHOLDER)


def felix_env(canal: CanalOptions) -> list[dict[str, str]]:
    """Extra calico-node env for options that differ from Felix's defaults (upstream sets none of them)."""
    env = []
    if canal.iptables_backend is not IptablesBackend.AUTO:
        env.append({"name": "FELIX_IPTABLESBACKEND", "value": canal.iptables_backend.value})
    if canal.log_severity is not LogSeverity.INFO:
        env.append({"name": "FELIX_LOGSEVERITYSCREEN", "value": canal.log_severity.value})
    if canal.felix_prometheus_metrics_enabled:
        # Both, also at the default port: a reader of the DaemonSet sees where to scrape without knowing Felix.
        env.append({"name": "FELIX_PROMETHEUSMETRICSENABLED", "value": "true"})
        env.append({"name": "FELIX_PROMETHEUSMETRICSPORT", "value": str(canal.felix_prometheus_metrics_port)})
    return env


def flanneld_command(canal: CanalOptions) -> list[str]:
    """flanneld only reads FLANNELD_IP_MASQ when --ip-masq is not on its command line, so masquerade off drops it."""
    args = [arg for arg in FLANNELD_ARGS if canal.masquerade or arg != "--ip-masq"]
    return ["/opt/bin/flanneld", *args]


def _features(entry: VersionEntry) -> dict:
    features = dict(entry.features)
    for name, kind in FEATURES.items():
        if name not in features:
            raise CatalogError(f"catalog canal {entry.version}: features.{name} is missing")
        value = features[name]
        ok = value in kind if isinstance(kind, tuple) else isinstance(value, kind)
        if not ok:
            raise CatalogError(f"catalog canal {entry.version}: features.{name}={value!r} is not valid")
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        raise CatalogError(f"catalog canal {entry.version}: unknown features {', '.join(unknown)}")
    return features


def context(spec: ClusterNetworkSpec, entry: VersionEntry) -> dict:
    canal = spec.canal or CanalOptions()
    features = _features(entry)
    return {
        "namespace": CNI_NAMESPACE,
        "features": features,
        "images": {name: with_registry(image, spec.registry) for name, image in entry.images.items()},
        "image_pull_secrets": [ref.name for ref in spec.image_pull_secrets],
        "canal_iface": canal.iface,
        "masquerade": "true" if canal.masquerade else "false",
        "veth_mtu": str(spec.mtu),
        "cni_network_config": cni_network_config(features["cniVersion"]),
        "net_conf": net_conf(spec.pod_cidr, canal),
        "felix_env": felix_env(canal),
        "flanneld_command": flanneld_command(canal),
    }
