"""The ClusterNetwork API: pydantic models for spec and status.

These models are the single source of truth: the CRD in crds/ is generated from them (`cni-operator crd`),
the renderer reads them, the operator writes status through them. Defaults that depend on the version
catalog (provider, version) are filled by `resolve_spec`, not by field defaults, so the models stay pure data.
"""

from __future__ import annotations

import ipaddress
from enum import Enum

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import _Model
from .providers import (  # noqa: F401  (the provider option blocks, one import away for every caller)
    AGENT_RESERVED_PORTS,
    ENI_CONFIGS_WORDS,
    FELIX_HEALTH_PORT,
    IPV6_WORDS,
    LABEL_KEY,
    LABEL_PREFIX_WORDS,
    LINUX_IFACE,
    PROVIDER_FIELD_WORDS,
    AwsVpcCniOptions,
    CanalOptions,
    ENIConfigOptions,
    FlannelBackend,
    IptablesBackend,
    LogSeverity,
)
from .rollout import ROLLOUT_DEADLINE_WORDS, RolloutOptions  # noqa: F401  (part of the spec, one import away)
from .status import (  # noqa: F401  (the API's status models, one import away for every caller)
    AdoptedObject,
    AppliedObject,
    AppliedStatus,
    ClusterNetworkStatus,
    Condition,
    DetectedCNI,
    DriftStatus,
    HealthStatus,
    NodeCounts,
    Phase,
    PodProblem,
)
from .workloads import FIELD_WORDS as _WORKLOAD_FIELD_WORDS
from .workloads import WorkloadOptions, workload_problems

GROUP = "cni-operator.io"
VERSION = "v1alpha1"
KIND = "ClusterNetwork"
PLURAL = "clusternetworks"
SINGULAR = "clusternetwork"
SHORT_NAMES = ["cnet"]
SINGLETON_NAME = "default"

# What a patterned field accepts, in words: a regular expression does not help a person. The CRD's rule for each
# pattern (crd.py) and `cni-operator validate` (validation.py) both say "must be <these words>".
FIELD_WORDS: dict[str, str] = {
    "spec.cni.version": "a version such as v3.32.1 (`cni-operator versions` lists them)",
    "spec.podCIDR": "an IPv4 network in CIDR notation with a prefix between /8 and /28, such as 10.244.0.0/16",
    "spec.mtu": "0 (automatic) or an integer between 576 and 9001",
    "spec.registry": "a registry host with optional :port and /path in lower case, such as mirror.local:5000, "
    "or empty for the images' own registries",
    "spec.awsVpcCni.region": "an AWS region such as us-west-2",
    "spec.rollout.maxUnavailable": "a count between 1 and 1000 or a percentage between 1% and 100%, such as 10%",
    "spec.rollout.canary": "a count of nodes between 1 and 1000 or a percentage between 1% and 100%, such as 5%",
    "spec.imagePullSecrets[].name": "a Secret name: a DNS subdomain of at most 253 lower-case letters, digits, "
    "- and ., starting and ending with a letter or digit, such as regcred",
    "spec.canal.iface": "a Linux interface name such as eth1 (or its IPv4 address): 1 to 15 printable ASCII "
    "characters, no /, :, spaces or control characters, not only dots; or empty for the default route's interface",
    "spec.awsVpcCni.eniConfigLabelDef": "a node label key such as k8s.amazonaws.com/eniConfig: an optional DNS "
    "subdomain and /, then a name of at most 63 letters, digits, -, _ and ., starting and ending with a letter "
    "or digit; or empty",
    **_WORKLOAD_FIELD_WORDS,  # spec.workloads.* (api/workloads.py)
    **PROVIDER_FIELD_WORDS,  # the new provider options' words live next to their fields (providers.py)
}

# Name-like strings end up in object names, a ConfigMap key read as an environment variable, and a node label
# lookup: each gets the rule Kubernetes or Linux applies to that kind of name, so a newline, a NUL or a path never
# gets past admission (and `cni-operator validate` says the same, in the words above).
# A DNS subdomain (RFC 1123), as Kubernetes checks Secret names; the length (253) is the field's maxLength.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
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


class DeletionPolicy(str, Enum):
    ORPHAN = "Orphan"
    DELETE = "Delete"


class AdoptionPolicy(str, Enum):
    IF_EQUIVALENT = "IfEquivalent"
    TAKEOVER = "Takeover"
    NEVER = "Never"


class CNIRef(_Model):
    """Which CNI to install, and which version of it."""

    provider: Provider | None = Field(
        None,
        description="CNI to install. Defaults from clusterType: mks -> canal, eks -> aws-vpc-cni, imported -> none.",
    )
    version: str | None = Field(
        None,
        description="CNI version from the catalog (`cni-operator versions`). Unset: the version installed first "
        "(the catalog default then) stays until you set one.",
        pattern=r"^v\d+\.\d+\.\d+$",
        max_length=32,
    )


class LocalObjectReference(_Model):
    """A reference to a Secret by name (corev1.LocalObjectReference)."""

    name: str = Field(
        ..., min_length=1, max_length=253, pattern=DNS_SUBDOMAIN, description="Name of a Secret in kube-system."
    )


class ClusterNetworkSpec(_Model):
    """The desired pod network: what kind of cluster this is, and the CNI options for it."""

    cluster_type: ClusterType = Field(
        ..., description="What kind of cluster this is: mks, eks or imported (never written to). Immutable."
    )
    cni: CNIRef = Field(default_factory=CNIRef, description="CNI provider and version.")
    pod_cidr: str = Field(
        "10.244.0.0/16",
        alias="podCIDR",
        max_length=18,
        # Shape only (dotted quad, prefix /8../28); the validator below also rejects host bits.
        pattern=r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
        r"/([89]|1[0-9]|2[0-8])$",
        description="Pod network CIDR, IPv4, /8 to /28 (Canal only; EKS pods take VPC addresses). Immutable.",
    )
    mtu: int = Field(0, description="Pod interface MTU: 0 picks it automatically, otherwise 576..9001.")
    registry: str = Field(
        "",
        max_length=253,
        pattern=r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*)?$",
        description="Registry mirror replacing every image's registry (air-gapped clusters), e.g. mirror.local:5000. "
        "The operator applies nothing from a registry its allowedRegistries setting does not allow (RegistryNotAllowed).",
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=16, description="Secrets added to every CNI pod template."
    )
    canal: CanalOptions | None = Field(None, description="Canal options; only with provider canal.")
    aws_vpc_cni: AwsVpcCniOptions | None = Field(
        None, description="AWS VPC CNI options; only with provider aws-vpc-cni."
    )
    rollout: RolloutOptions = Field(
        default_factory=RolloutOptions, description="How workload updates roll out."
    )
    workloads: WorkloadOptions | None = Field(
        None, description="Where the CNI's pods run and how big they are: tolerations, nodeSelector, affinity, "
        "priorityClassName, resources and env per upstream container. Unset: upstream's workloads.",
    )
    adoption: AdoptionPolicy = Field(
        AdoptionPolicy.IF_EQUIVALENT,
        description="What the first install does when objects it renders exist already and are not the operator's "
        "(a hand-installed canal, the aws-node EKS ships): IfEquivalent takes them over only when that changes no "
        "pod template (no pod restarts) and otherwise reports AdoptionBlocked and writes nothing; Takeover takes them "
        "over and updates them with the rollout policy; Never refuses (AdoptionRefused). Adopted objects are never "
        "pruned or deleted.",
    )
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
            raise ValueError(
                f"must be an IPv4 network in CIDR notation such as 10.244.0.0/16 ({exc})"
            ) from None
        if net.version != 4:
            raise ValueError("must be an IPv4 network such as 10.244.0.0/16 (IPv6 is not supported)")
        if not 8 <= net.prefixlen <= 28:
            raise ValueError("prefix length must be between /8 and /28, such as 10.244.0.0/16")
        return value

    @field_validator("mtu")
    @classmethod
    def _valid_mtu(cls, value: int) -> int:
        if value != 0 and not 576 <= value <= 9001:
            raise ValueError("must be 0 (automatic) or between 576 and 9001")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClusterNetworkSpec:
        problems = consistency_problems(self)
        if problems:
            # One error carrying every (field, message) pair, so validation.validate can point at each field.
            raise PydanticCustomError(
                "spec_conflict",
                "{summary}",
                {
                    "summary": "; ".join(f"{path}: {message}" for path, message in problems),
                    "problems": problems,
                },
            )
        return self

    @property
    def provider(self) -> Provider | None:
        return self.cni.provider or PROVIDER_FOR_CLUSTER_TYPE[self.cluster_type]


def consistency_problems(spec: ClusterNetworkSpec) -> list[tuple[str, str]]:
    """Cross-field rules, as (camelCase field path under spec, message) pairs. The CRD's CEL rules say the same."""
    problems: list[tuple[str, str]] = []
    expected = PROVIDER_FOR_CLUSTER_TYPE[spec.cluster_type]
    if spec.cni.provider is not None and spec.cni.provider != expected:
        allowed = repr(expected.value) if expected else "none (leave cni.provider unset)"
        problems.append(
            (
                "cni.provider",
                f"{spec.cni.provider.value!r} does not fit clusterType {spec.cluster_type.value!r}; allowed: {allowed}",
            )
        )
    if spec.canal is not None and expected is not Provider.CANAL:
        problems.append(
            ("canal", "canal options are only allowed with clusterType mks (provider canal); remove them")
        )
    if spec.aws_vpc_cni is not None and expected is not Provider.AWS_VPC_CNI:
        problems.append(
            (
                "awsVpcCni",
                "awsVpcCni options are only allowed with clusterType eks (provider aws-vpc-cni); remove them",
            )
        )
    if spec.cluster_type is ClusterType.IMPORTED and spec.cni.version is not None:
        problems.append(
            ("cni.version", "must be unset for clusterType imported: the operator never installs there")
        )
    problems += workload_problems(spec.cluster_type.value, spec.workloads)
    return problems


def parse_spec(raw: dict) -> ClusterNetworkSpec:
    """Parse a spec as it comes from the API (camelCase only: snake_case names are unknown fields there).

    Raises pydantic.ValidationError; cni_operator.validation turns that into readable (field, message) problems.
    """
    return ClusterNetworkSpec.model_validate(raw, by_alias=True, by_name=False)
