"""AWS VPC CNI: spec -> the jinja2 context of manifests/aws-vpc-cni/*.j2.

Pure: no kopf, no kubernetes client, no I/O. Each option maps to the one setting upstream uses for it and nothing
else (see docs/providers/aws-vpc-cni.md for the table); at default options the render matches the upstream manifest
object for object, apart from the differences listed there.
"""

from __future__ import annotations

from ..api import AwsVpcCniOptions, ClusterNetworkSpec
from ..aws_registry import registry_for
from ..catalog import VersionEntry
from ..images import with_registry

# Upstream's default for AWS_VPC_ENI_MTU (jumbo frames inside the VPC). spec.mtu 0 means "upstream default".
DEFAULT_ENI_MTU = 9001

# aws-node environment at default values, upstream's at v1.22.3 and v1.23.1. Options override single entries; render
# order is sorted by name, which is the order the upstream chart renders its env map in (helm ranges over map keys
# sorted).
_BASE_ENV: dict[str, str] = {
    "ADDITIONAL_ENI_TAGS": "{}",
    "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true",
    "AWS_VPC_ENI_MTU": str(DEFAULT_ENI_MTU),
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
    "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false",
    "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
    "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
    "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "prng",
    "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
    "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log",
    "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG",
    "DISABLE_INTROSPECTION": "false",
    "DISABLE_METRICS": "false",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "false",
    "ENABLE_IMDS_ONLY_MODE": "false",
    "ENABLE_IPv4": "true",
    "ENABLE_IPv6": "false",
    "ENABLE_MULTI_NIC": "false",
    "ENABLE_POD_ENI": "false",
    "ENABLE_PREFIX_DELEGATION": "false",
    "ENABLE_SUBNET_DISCOVERY": "true",
    "NETWORK_POLICY_ENFORCING_MODE": "standard",
    "WARM_ENI_TARGET": "1",
    "WARM_PREFIX_TARGET": "1",
}

_BASE_NODE_AGENT_ARGS = [
    "--enable-ipv6={enable_ipv6}",
    "--enable-network-policy={enable_network_policy}",
    "--enable-cloudwatch-logs=false",
    "--enable-policy-event-logs=false",
    "--log-file=/var/log/aws-routed-eni/network-policy-agent.log",
    "--metrics-bind-addr=:{metrics_port}",  # the chart's nodeAgent.metricsBindAddr
    "--health-probe-bind-addr=:8163",
    "--conntrack-cache-cleanup-period=300",
    "{conntrack_cache_table_size}",  # upstream passes it from the chart's nodeAgent.conntrackCacheTableSize
    "--log-level=debug",
]

# The annotation EKS's pod identity webhook reads on a ServiceAccount (IAM roles for service accounts, IRSA).
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# The containers whose imagePullPolicy upstream sets, per version (catalog feature imagePullPolicy).
CONTAINERS = ("aws-vpc-cni-init", "aws-node", "aws-eks-nodeagent")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def aws_node_env(options: AwsVpcCniOptions, mtu: int, version: str) -> list[tuple[str, str]]:
    """The aws-node container's plain env vars (the two fieldRef vars are in the template), in render order."""
    env = dict(_BASE_ENV)
    env["VPC_CNI_VERSION"] = version
    env["WARM_ENI_TARGET"] = str(options.warm_eni_target)
    if options.warm_ip_target is not None:
        env["WARM_IP_TARGET"] = str(options.warm_ip_target)
    if options.minimum_ip_target is not None:
        env["MINIMUM_IP_TARGET"] = str(options.minimum_ip_target)
    if options.warm_prefix_target is not None:
        # Upstream renders WARM_PREFIX_TARGET=1 by default; unset here means "keep upstream's default".
        env["WARM_PREFIX_TARGET"] = str(options.warm_prefix_target)
    env["ENABLE_PREFIX_DELEGATION"] = _flag(options.enable_prefix_delegation)
    env["AWS_VPC_K8S_CNI_EXTERNALSNAT"] = _flag(options.external_snat)
    env["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] = _flag(options.custom_networking)
    if options.eni_config_label_def:
        env["ENI_CONFIG_LABEL_DEF"] = options.eni_config_label_def
    env["ENABLE_POD_ENI"] = _flag(options.enable_pod_eni)
    env["AWS_VPC_ENI_MTU"] = str(mtu or DEFAULT_ENI_MTU)
    # IPv6 mode is one switch upstream turns in three places (here, the init container, the agent's flag); the VPC
    # CNI runs one family at a time, so IPv4 goes off (upstream calls both on an invalid configuration).
    env["ENABLE_IPv6"] = _flag(options.enable_ipv6)
    env["ENABLE_IPv4"] = _flag(not options.enable_ipv6)
    env["DISABLE_METRICS"] = _flag(options.disable_metrics)
    env["DISABLE_INTROSPECTION"] = _flag(options.disable_introspection)
    return sorted(env.items())


def node_agent_args(options: AwsVpcCniOptions, entry: VersionEntry) -> list[str]:
    """The agent's flags in upstream's order; --conntrack-cache-table-size only in the versions whose upstream
    manifest passes it (catalog feature nodeAgentConntrackCacheTableSize, null: left out)."""
    table_size = entry.features.get("nodeAgentConntrackCacheTableSize")
    values = {
        "enable_ipv6": _flag(options.enable_ipv6),
        "metrics_port": str(options.node_agent_metrics_port),
        "enable_network_policy": _flag(options.enable_network_policy),
        "conntrack_cache_table_size": f"--conntrack-cache-table-size={int(table_size)}" if table_size else "",
    }
    return [arg for arg in (template.format(**values) for template in _BASE_NODE_AGENT_ARGS) if arg]


def service_account_annotations(options: AwsVpcCniOptions) -> dict[str, str]:
    """The aws-node ServiceAccount's annotations: the IRSA role, when one is set (upstream's chart has none)."""
    return {IRSA_ANNOTATION: options.service_account_role_arn} if options.service_account_role_arn else {}


def eni_configs(options: AwsVpcCniOptions) -> list[dict]:
    """The ENIConfig objects' name, subnet and security groups, as the upstream chart's eniConfig.subnets renders
    them; none unless customNetworking is on (the API refuses eniConfigs without it, this keeps the render honest)."""
    if not options.custom_networking:
        return []
    return [{"name": eni.name, "subnet": eni.subnet, "security_groups": list(eni.security_groups)}
            for eni in options.eni_configs]


def pull_policies(entry: VersionEntry) -> dict[str, str]:
    """Container -> the imagePullPolicy upstream sets at this version ("" where it sets none)."""
    given = entry.features.get("imagePullPolicy") or {}
    unknown = set(given) - set(CONTAINERS)
    if unknown:
        raise ValueError(f"catalog {entry.version}: imagePullPolicy names unknown containers {sorted(unknown)}")
    return {name: given.get(name) or "" for name in CONTAINERS}


def context(spec: ClusterNetworkSpec, entry: VersionEntry) -> dict:
    """The template context for one catalog version. `spec` is resolved (options present, version set)."""
    options = spec.aws_vpc_cni or AwsVpcCniOptions()
    # spec.registry (a mirror) replaces the regional ECR registry for every image; otherwise the region picks it.
    registry = spec.registry or registry_for(options.region)
    return {
        "version": entry.version,
        "features": {"ipamdProbeAddr": entry.features["ipamdProbeAddr"]},
        "images": {
            "cni": with_registry(entry.images["cni"], registry),
            "cni_init": with_registry(entry.images["cniInit"], registry),
            "network_policy_agent": with_registry(entry.images["networkPolicyAgent"], registry),
        },
        "aws_node_env": aws_node_env(options, spec.mtu, entry.version),
        "node_agent_args": node_agent_args(options, entry),
        "pull_policy": pull_policies(entry),
        "network_policy": _flag(options.enable_network_policy),
        "image_pull_secrets": [secret.name for secret in spec.image_pull_secrets],
        "init_enable_ipv6": _flag(options.enable_ipv6),
        "agent_metrics_port": options.node_agent_metrics_port,
        "service_account_annotations": service_account_annotations(options),
        "eni_configs": eni_configs(options),
    }
