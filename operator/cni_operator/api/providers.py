"""The provider option blocks of the ClusterNetwork spec: spec.canal and spec.awsVpcCni.

Each field maps to the one upstream setting named in its description (docs/providers/canal.md and aws-vpc-cni.md
have the tables); render/canal.py and render/aws_vpc_cni.py apply them. Re-exported from cni_operator.api.
Cross-field rules inside a block are raised as one `spec_conflict` error whose (field, message) pairs
validation.py places under the block; schema/rules.py says the same in CEL at admission.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import _Model

# Linux's dev_valid_name: under 16 bytes (maxLength 15; ASCII only, so characters are bytes), no '/', ':' or
# whitespace, not '.' or '..'; control characters excluded as well. Printable ASCII is !-~ (0x21-0x7e) without / and
# :; at least one character is not a dot. Empty (the default) lets flannel pick the default route's interface.
LINUX_IFACE = r"^([!-.0-9;-~]*[!-,\-0-9;-~][!-.0-9;-~]*)?$"
# A label key (Kubernetes' qualified name): [DNS subdomain/]name, the name at most 63 characters. Empty: unset.
# The prefix's own limit (253) is a separate rule: LABEL_PREFIX_WORDS, and rules.RULES for admission.
LABEL_KEY = (
    r"^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
)
LABEL_PREFIX_WORDS = "the prefix before / must be at most 253 characters, such as k8s.amazonaws.com"

# What the patterned provider fields accept, in words (api.FIELD_WORDS takes them in; see its comment there).
PROVIDER_FIELD_WORDS: dict[str, str] = {
    "spec.awsVpcCni.serviceAccountRoleArn": "an IAM role ARN such as arn:aws:iam::111122223333:role/aws-node-irsa "
    "(arn:aws, arn:aws-cn or arn:aws-us-gov, a 12-digit account, role/ and the role's path and name), or empty",
    "spec.awsVpcCni.eniConfigs[].name": "an availability zone name such as us-west-2a (a Local Zone such as "
    "us-west-2-lax-1a, or a zone ID such as usw2-az1, also work)",
    "spec.awsVpcCni.eniConfigs[].subnet": "a subnet ID such as subnet-0123456789abcdef0 (subnet- and 8 or 17 "
    "lower-case hex digits)",
    "spec.awsVpcCni.eniConfigs[].securityGroups[]": "a security group ID such as sg-0123456789abcdef0 (sg- and 8 "
    "or 17 lower-case hex digits)",
}

# An IAM role ARN in the aws, aws-cn or aws-us-gov partition: the form EKS's pod identity webhook accepts in the
# eks.amazonaws.com/role-arn annotation. Path segments and the name use IAM's characters. Empty: no annotation.
ROLE_ARN = r"^(arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]+(/[A-Za-z0-9+=,.@_-]+)*)?$"  # or empty
# An availability zone (us-west-2a, us-gov-west-1a), a Local Zone (us-west-2-lax-1a) or a zone ID (usw2-az1,
# use1-lax1-az1): what topology.kubernetes.io/zone or topology.k8s.aws/zone-id hold on a node, so an ENIConfig of
# that name is picked by eniConfigLabelDef. Also a valid object name.
ZONE_NAME = (
    r"^([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]([a-z]|-[a-z]{3}-[0-9][a-z])"
    r"|[a-z]{3,5}[0-9]-([a-z]{3}[0-9]-)?az[0-9]{1,2})$"
)
SUBNET_ID = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"
SECURITY_GROUP_ID = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"

# Ports on the node's network (aws-node runs with hostNetwork) the agent's metrics must not take: its own health
# probe (8163), ipamd's metrics (61678), introspection (61679) and gRPC (50051, TCP before v1.23).
AGENT_RESERVED_PORTS = {8163: "the agent's health probe", 50051: "ipamd's gRPC", 61678: "ipamd's metrics",
                        61679: "ipamd's introspection"}
# calico-node runs with hostNetwork: Felix's metrics must not take its health port, which its probes read.
FELIX_HEALTH_PORT = 9099

IPV6_WORDS = ("enableIPv6 needs enablePrefixDelegation: true: the VPC CNI assigns IPv6 addresses only as /80 "
              "prefixes (prefix delegation)")
ENI_CONFIGS_WORDS = ("eniConfigs need customNetworking: true: without it aws-node never reads them; set "
                     "customNetworking or remove eniConfigs")


def _conflicts(problems: list[tuple[str, str]]) -> None:
    """Raise the block's cross-field problems as one error (validation.py places each under the block's path)."""
    if problems:
        raise PydanticCustomError("spec_conflict", "{summary}", {
            "summary": "; ".join(f"{path}: {message}" for path, message in problems), "problems": problems})


class FlannelBackend(str, Enum):
    VXLAN = "vxlan"
    HOST_GW = "host-gw"
    WIREGUARD = "wireguard"


class IptablesBackend(str, Enum):
    AUTO = "Auto"
    LEGACY = "Legacy"
    NFT = "NFT"


class LogSeverity(str, Enum):
    DEBUG = "Debug"
    INFO = "Info"
    WARNING = "Warning"
    ERROR = "Error"
    FATAL = "Fatal"

class CanalOptions(_Model):
    """Calico (policy) + Flannel (network) options; names follow the rke2-canal chart where one exists."""

    backend: FlannelBackend = Field(
        FlannelBackend.VXLAN,
        description="Flannel backend. Immutable: changing it would cut every pod off the network.",
    )
    vxlan_port: int = Field(8472, ge=1, le=65535, description="UDP port of the VXLAN backend, 1..65535.")
    vni: int = Field(1, ge=1, le=16777215, description="VXLAN network identifier (VNI), 1..16777215.")
    iface: str = Field(
        "",
        max_length=15,
        pattern=LINUX_IFACE,
        description="Host interface Flannel uses between nodes; empty picks the default route's.",
    )
    masquerade: bool = Field(True, description="Masquerade traffic leaving the pod network.")
    iptables_backend: IptablesBackend = Field(
        IptablesBackend.AUTO,
        description="iptables backend Calico (Felix) programs: Auto detects it, Legacy or NFT force one.",
    )
    log_severity: LogSeverity = Field(
        LogSeverity.INFO, description="Log severity of Calico (Felix) on the console."
    )
    felix_prometheus_metrics_enabled: bool = Field(
        False,
        description="Felix serves Prometheus metrics on every node (FELIX_PROMETHEUSMETRICSENABLED; off, as "
        "upstream and Felix default).",
    )
    felix_prometheus_metrics_port: int = Field(
        9091,
        ge=1,
        le=65535,
        description="Port of Felix's metrics on the node's network, 1..65535, not 9099 (Felix's health port) "
        "(FELIX_PROMETHEUSMETRICSPORT; only with felixPrometheusMetricsEnabled).",
    )

    @field_validator("felix_prometheus_metrics_port")
    @classmethod
    def _not_the_health_port(cls, value: int) -> int:
        if value == FELIX_HEALTH_PORT:  # rules.py says the same at admission
            raise ValueError(f"must not be {FELIX_HEALTH_PORT}: calico-node's health checks use it; pick another "
                             "port such as 9091")
        return value


class ENIConfigOptions(_Model):
    """One ENIConfig (crd.k8s.amazonaws.com/v1alpha1), as the upstream chart's eniConfig.subnets renders it: the
    subnet and security groups pod ENIs get on the nodes it selects."""

    name: str = Field(
        ...,
        max_length=32,
        pattern=ZONE_NAME,
        description="The ENIConfig's name: the availability zone it serves, such as us-west-2a. Nodes pick the "
        "ENIConfig named by their eniConfigLabelDef label (topology.kubernetes.io/zone for zone names).",
    )
    subnet: str = Field(
        ..., max_length=24, pattern=SUBNET_ID, description="Subnet of the pod ENIs, in that zone (subnet-...)."
    )
    security_groups: list[Annotated[str, Field(max_length=20, pattern=SECURITY_GROUP_ID)]] = Field(
        default_factory=list,
        max_length=16,
        description="Security groups of the pod ENIs (sg-...); empty: those of the node's primary ENI.",
    )


class AwsVpcCniOptions(_Model):
    """AWS VPC CNI options; each maps to the aws-node environment variable named in its description."""

    region: str = Field(
        "us-west-2",
        max_length=32,
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$",
        description="AWS region of the cluster; selects the ECR registry the images come from.",
    )
    warm_eni_target: int = Field(
        1,
        alias="warmENITarget",
        ge=0,
        le=100,
        description="Spare ENIs each node keeps attached for new pods (WARM_ENI_TARGET).",
    )
    warm_ip_target: int | None = Field(
        None,
        alias="warmIPTarget",
        ge=0,
        le=10000,
        description="Spare IP addresses each node keeps (WARM_IP_TARGET); unset leaves it to warmENITarget.",
    )
    minimum_ip_target: int | None = Field(
        None,
        alias="minimumIPTarget",
        ge=0,
        le=10000,
        description="IP addresses each node keeps allocated at least (MINIMUM_IP_TARGET); unset by default.",
    )
    warm_prefix_target: int | None = Field(
        None,
        ge=0,
        le=100,
        description="Spare /28 prefixes each node keeps with prefix delegation (WARM_PREFIX_TARGET); unset by default.",
    )
    enable_prefix_delegation: bool = Field(
        False,
        description="Assign /28 prefixes instead of single addresses, for more pods per node (ENABLE_PREFIX_DELEGATION).",
    )
    external_snat: bool = Field(
        False,
        alias="externalSNAT",
        description="Leave SNAT of traffic leaving the VPC to an external NAT device (AWS_VPC_K8S_CNI_EXTERNALSNAT).",
    )
    custom_networking: bool = Field(
        False,
        description="Put pod ENIs in the subnets of ENIConfig objects (AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG).",
    )
    eni_config_label_def: str = Field(
        "",
        alias="eniConfigLabelDef",
        max_length=317,  # a 253-character prefix, '/', a 63-character name
        pattern=LABEL_KEY,
        description="ENI_CONFIG_LABEL_DEF: key of the node label that selects the ENIConfig; empty leaves it unset.",
    )
    enable_pod_eni: bool = Field(
        False, alias="enablePodENI", description="ENABLE_POD_ENI (security groups for pods)."
    )
    enable_network_policy: bool = Field(False, description="Run the aws-eks-nodeagent network policy agent.")

    service_account_role_arn: str = Field(
        "",
        max_length=2048,
        pattern=ROLE_ARN,
        description="IAM role for the CNI (IRSA): the aws-node ServiceAccount's eks.amazonaws.com/role-arn "
        "annotation (the upstream chart's serviceAccount.annotations); empty: none, aws-node uses the node's role.",
    )
    eni_configs: list[ENIConfigOptions] = Field(
        default_factory=list,
        max_length=64,
        description="ENIConfig objects to create, one per availability zone, for custom networking (only with "
        "customNetworking: true). Removing one leaves the ENIConfig in place, no longer managed: the operator never "
        "deletes an ENIConfig (docs/providers/aws-vpc-cni.md).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    enable_ipv6: bool = Field(
        False,
        alias="enableIPv6",
        description="IPv6 mode: ENABLE_IPv6=true and ENABLE_IPv4=false on aws-node, ENABLE_IPv6 on the init "
        "container, --enable-ipv6 on the agent. Needs enablePrefixDelegation and an IPv6 EKS cluster.",
    )
    disable_metrics: bool = Field(
        False, description="Turn off ipamd's Prometheus metrics on port 61678 (DISABLE_METRICS)."
    )
    disable_introspection: bool = Field(
        False, description="Turn off ipamd's introspection endpoint on 127.0.0.1:61679 (DISABLE_INTROSPECTION)."
    )
    node_agent_metrics_port: int = Field(
        8162,
        ge=1,
        le=65535,
        description="Port of the network policy agent's metrics, 1..65535 (--metrics-bind-addr and the "
        "agentmetrics container port; the chart's nodeAgent.metricsBindAddr); not 8163, 50051, 61678 or 61679.",
    )

    @field_validator("eni_config_label_def")
    @classmethod
    def _label_key_prefix(cls, value: str) -> str:
        # The pattern cannot bound the prefix's length (RE2 has no look-ahead); rules.py says the same at admission.
        prefix, slash, _ = value.rpartition("/")
        if slash and len(prefix) > 253:
            raise ValueError(LABEL_PREFIX_WORDS)
        return value

    @field_validator("node_agent_metrics_port")
    @classmethod
    def _free_agent_port(cls, value: int) -> int:
        if value in AGENT_RESERVED_PORTS:  # rules.py says the same at admission
            raise ValueError(f"must not be {value}: aws-node uses it for {AGENT_RESERVED_PORTS[value]} on the "
                             "node's network; pick another port such as 8162")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AwsVpcCniOptions:
        problems = []
        if self.enable_ipv6 and not self.enable_prefix_delegation:
            problems.append(("enableIPv6", IPV6_WORDS))
        if self.eni_configs and not self.custom_networking:
            problems.append(("eniConfigs", ENI_CONFIGS_WORDS))
        seen: set[str] = set()
        for index, eni in enumerate(self.eni_configs):  # the CRD's list-map key refuses the same at admission
            if eni.name in seen:
                problems.append((f"eniConfigs[{index}].name", f"{eni.name} appears twice: one ENIConfig per zone"))
            seen.add(eni.name)
        _conflicts(problems)
        return self
