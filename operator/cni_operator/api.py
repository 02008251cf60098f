"""The ClusterNetwork API: pydantic models for spec and status.

These models are the single source of truth: the CRD in crds/ is generated from them (`cni-operator crd`),
the renderer reads them, the operator writes status through them. Defaults that depend on the version
catalog (provider, version) are filled by `resolve_spec`, not by field defaults, so the models stay pure data.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

GROUP = "cni-operator.io"
VERSION = "v1alpha1"
KIND = "ClusterNetwork"
PLURAL = "clusternetworks"
SINGULAR = "clusternetwork"
SHORT_NAMES = ["cnet"]
SINGLETON_NAME = "default"


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ClusterType(str, Enum):
    MKS = "mks"
    EKS = "eks"
    IMPORTED = "imported"


class Provider(str, Enum):
    CANAL = "canal"
    AWS_VPC_CNI = "aws-vpc-cni"


# Which CNI each cluster type gets. Imported clusters get none: the operator never writes to them.
PROVIDER_FOR_CLUSTER_TYPE: dict[ClusterType, Provider | None] = {
    ClusterType.MKS: Provider.CANAL,
    ClusterType.EKS: Provider.AWS_VPC_CNI,
    ClusterType.IMPORTED: None,
}


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


class DeletionPolicy(str, Enum):
    ORPHAN = "Orphan"
    DELETE = "Delete"


class CNIRef(_Model):
    provider: Provider | None = Field(
        None, description="CNI to install. Defaults from clusterType: mks -> canal, eks -> aws-vpc-cni, imported -> none."
    )
    version: str | None = Field(
        None,
        description="CNI version from the catalog (`cni-operator versions`). Defaults to the newest catalog version.",
        pattern=r"^v\d+\.\d+\.\d+$",
    )


class LocalObjectReference(_Model):
    name: str = Field(..., min_length=1, max_length=253, description="Name of a Secret in kube-system.")


class CanalOptions(_Model):
    """Calico (policy) + Flannel (network) options; names follow the rke2-canal chart where one exists."""

    backend: FlannelBackend = Field(
        FlannelBackend.VXLAN, description="Flannel backend. Immutable once set: changing it cuts every pod off."
    )
    vxlan_port: int = Field(8472, ge=1, le=65535, description="UDP port of the VXLAN backend.")
    vni: int = Field(1, ge=1, le=16777215, description="VXLAN network identifier.")
    iface: str = Field(
        "", max_length=64, description="Host interface Flannel uses between nodes; empty picks the default route's."
    )
    masquerade: bool = Field(True, description="Masquerade traffic leaving the pod network.")
    iptables_backend: IptablesBackend = Field(IptablesBackend.AUTO, description="Felix iptables backend.")
    log_severity: LogSeverity = Field(LogSeverity.INFO, description="Felix log severity on screen.")


class AwsVpcCniOptions(_Model):
    """AWS VPC CNI options; each maps to the aws-node environment variable named in its description."""

    region: str = Field(
        "us-west-2",
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$",
        description="AWS region of the cluster; selects the ECR registry the images come from.",
    )
    warm_eni_target: int = Field(1, alias="warmENITarget", ge=0, le=100, description="WARM_ENI_TARGET.")
    warm_ip_target: int | None = Field(None, alias="warmIPTarget", ge=0, le=10000, description="WARM_IP_TARGET (unset when empty).")
    minimum_ip_target: int | None = Field(None, alias="minimumIPTarget", ge=0, le=10000, description="MINIMUM_IP_TARGET (unset when empty).")
    warm_prefix_target: int | None = Field(None, ge=0, le=100, description="WARM_PREFIX_TARGET (unset when empty).")
    enable_prefix_delegation: bool = Field(False, description="ENABLE_PREFIX_DELEGATION.")
    external_snat: bool = Field(False, alias="externalSNAT", description="AWS_VPC_K8S_CNI_EXTERNALSNAT.")
    custom_networking: bool = Field(False, description="AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG (uses ENIConfig objects).")
    eni_config_label_def: str = Field(
        "",
        alias="eniConfigLabelDef", max_length=316, description="ENI_CONFIG_LABEL_DEF: node label that selects the ENIConfig."
    )
    enable_pod_eni: bool = Field(False, alias="enablePodENI", description="ENABLE_POD_ENI (security groups for pods).")
    enable_network_policy: bool = Field(False, description="Run the aws-eks-nodeagent network policy agent.")


class RolloutOptions(_Model):
    max_unavailable: Annotated[int, Field(ge=1, le=1000)] | Annotated[str, Field(pattern=r"^\d{1,3}%$")] = Field(
        1, description="DaemonSet rolling update maxUnavailable: a count or a percentage such as '10%'."
    )


class ClusterNetworkSpec(_Model):
    cluster_type: ClusterType = Field(
        ..., description="What kind of cluster this is: mks, eks or imported (never written to). Immutable."
    )
    cni: CNIRef = Field(default_factory=CNIRef, description="CNI provider and version.")
    pod_cidr: str = Field(
        "10.244.0.0/16",
        alias="podCIDR",
        max_length=43,
        description="Pod network CIDR (Canal only; EKS pods take VPC addresses). Immutable once installed.",
    )
    mtu: int = Field(0, description="Pod interface MTU: 0 picks it automatically, otherwise 576..9001.")
    registry: str = Field(
        "",
        max_length=253,
        pattern=r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*)?$",
        description="Registry mirror replacing every image's registry (air-gapped clusters), e.g. mirror.local:5000.",
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=16, description="Secrets added to every CNI pod template."
    )
    canal: CanalOptions | None = Field(None, description="Canal options; only with provider canal.")
    aws_vpc_cni: AwsVpcCniOptions | None = Field(None, description="AWS VPC CNI options; only with provider aws-vpc-cni.")
    rollout: RolloutOptions = Field(default_factory=RolloutOptions, description="How workload updates roll out.")
    paused: bool = Field(False, description="Stop all writes to the cluster; status keeps being reported.")
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.ORPHAN,
        description="On delete of this resource: Orphan leaves the CNI running; Delete removes what was installed.",
    )

    @field_validator("pod_cidr")
    @classmethod
    def _valid_ipv4_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid network CIDR such as 10.244.0.0/16 ({exc})") from None
        if net.version != 4:
            raise ValueError("only IPv4 pod CIDRs are supported, such as 10.244.0.0/16")
        if not 8 <= net.prefixlen <= 28:
            raise ValueError("prefix length must be between /8 and /28")
        return value

    @field_validator("mtu")
    @classmethod
    def _valid_mtu(cls, value: int) -> int:
        if value != 0 and not 576 <= value <= 9001:
            raise ValueError("must be 0 (automatic) or between 576 and 9001")
        return value

    @model_validator(mode="after")
    def _provider_matches_cluster_type(self) -> ClusterNetworkSpec:
        expected = PROVIDER_FOR_CLUSTER_TYPE[self.cluster_type]
        if self.cni.provider is not None and self.cni.provider != expected:
            allowed = expected.value if expected else "none (leave cni.provider empty)"
            raise ValueError(
                f"cni.provider {self.cni.provider.value!r} does not fit clusterType {self.cluster_type.value!r}; "
                f"allowed: {allowed}"
            )
        provider = self.cni.provider or expected
        if self.canal is not None and provider is not Provider.CANAL:
            raise ValueError("canal options are only allowed with provider canal (clusterType mks)")
        if self.aws_vpc_cni is not None and provider is not Provider.AWS_VPC_CNI:
            raise ValueError("awsVpcCni options are only allowed with provider aws-vpc-cni (clusterType eks)")
        if self.cluster_type is ClusterType.IMPORTED and self.cni.version is not None:
            raise ValueError("cni.version cannot be set for clusterType imported: the operator never installs there")
        return self

    @property
    def provider(self) -> Provider | None:
        return self.cni.provider or PROVIDER_FOR_CLUSTER_TYPE[self.cluster_type]


# ---------------------------------------------------------------- status

Phase = Literal["Pending", "Installing", "Ready", "Degraded", "Unmanaged", "Paused", "Failed"]


class Condition(_Model):
    """metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    observed_generation: int | None = None
    last_transition_time: str | None = None


class AppliedObject(_Model):
    """One entry of the inventory: what the operator applied, so a later render can prune what it no longer lists."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""


class AppliedStatus(_Model):
    objects: int = 0
    hash: str = ""
    last_applied_time: str | None = None
    inventory: list[AppliedObject] = Field(default_factory=list)


class NodeCounts(_Model):
    total: int = 0
    with_ready_cni: int = Field(0, alias="withReadyCNI")
    without_ready_cni: list[str] = Field(
        default_factory=list, alias="withoutReadyCNI", description="Up to 10 nodes with no Ready CNI pod."
    )


class HealthStatus(_Model):
    desired: int = 0
    ready: int = 0
    updated: int = 0
    unavailable: int = 0
    nodes: NodeCounts = Field(default_factory=NodeCounts)


class PodProblem(_Model):
    reason: str
    count: int
    pods: list[str] = Field(default_factory=list, description="Up to 3 affected pods as pod@node.")
    container: str = ""
    message: str = ""


class DetectedCNI(_Model):
    provider: str
    version: str = ""
    workload: str = ""
    ready: int = 0
    desired: int = 0


class ClusterNetworkStatus(_Model):
    observed_generation: int | None = None
    phase: Phase | None = None
    ready_summary: str | None = Field(None, description="ready/desired CNI pods, for kubectl get.")
    conditions: list[Condition] = Field(default_factory=list)
    provider: str | None = None
    version: str | None = None
    applied: AppliedStatus | None = None
    health: HealthStatus | None = None
    unhealthy: list[PodProblem] = Field(default_factory=list)
    detected: list[DetectedCNI] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list, description="Managed objects opted out by annotation.")


def parse_spec(raw: dict) -> ClusterNetworkSpec:
    """Parse a spec as it comes from the API (camelCase). Raises pydantic.ValidationError."""
    return ClusterNetworkSpec.model_validate(raw)
