"""spec.workloads: where the CNI's pods run and how big they are, for both providers (render/workload_options.py).

Node placement (extra tolerations and a priorityClassName for the CNI's DaemonSet; nodeSelector, node affinity and a
priorityClassName for Canal's calico-kube-controllers Deployment), resources per container and an `env` passthrough
per container for the upstream variables the API does not model. Names follow the Kubernetes pod spec and the
aws-vpc-cni chart (`tolerations`, `nodeSelector`, `affinity`, `priorityClassName`, `resources`, `env`); containers
are addressed by upstream's container names, as the Calico operator's Installation overrides do.

Every value the API server would refuse inside a DaemonSet is refused here first, with the same words at admission
(CEL in schema/rules.py, patterns in FIELD_WORDS) and in `cni-operator validate` (these validators).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import _Model
from .scheduling import (  # noqa: F401  (the words and patterns rules.py reads, one import away)
    DNS_SUBDOMAIN,
    LABEL_KEY,
    LABEL_KEY_WORDS,
    LABEL_PREFIX_WORDS,
    LABEL_VALUE,
    LABEL_VALUE_WORDS,
    PRIORITY_CLASS_WORDS,
    REQUIREMENT_WORDS,
    TOLERATION_KEY_WORDS,
    TOLERATION_SECONDS_WORDS,
    TOLERATION_VALUE_WORDS,
    Affinity,
    Toleration,
    check_label_key,
)

# Containers per provider, by upstream's names; every catalog version renders exactly these
# (tests/unit/test_workload_options.py checks it against every version).
CONTAINERS: dict[str, tuple[str, ...]] = {
    "canal": ("calico-node", "kube-flannel", "install-cni", "ebpf-bootstrap", "calico-kube-controllers"),
    "aws-vpc-cni": ("aws-node", "aws-eks-nodeagent", "aws-vpc-cni-init"),
}
CLUSTER_TYPE_PROVIDER = {"mks": "canal", "eks": "aws-vpc-cni"}  # api.PROVIDER_FOR_CLUSTER_TYPE, as plain strings

# Environment variables the API owns: the templates set them from a spec field (or from the pod's own identity), so
# an `env` entry would silently fight the field. Each maps to what the user should set instead, in words that follow
# "<NAME> is ". Derived from manifests/*/ and render/canal.py, render/aws_vpc_cni.py.
_MTU = "set from spec.mtu: set spec.mtu instead"
_IDENTITY = "the pod's own identity, filled from the Downward API or the pod's ServiceAccount: it cannot be overridden"
DENIED_ENV: dict[str, str] = {
    # Canal (calico-node, install-cni, kube-flannel)
    "CALICO_IPV4POOL_CIDR": "set from spec.podCIDR: set spec.podCIDR instead",
    "CNI_MTU": _MTU,
    "FELIX_IPINIPMTU": _MTU,
    "FELIX_VXLANMTU": _MTU,
    "FELIX_WIREGUARDMTU": _MTU,
    "CNI_NETWORK_CONFIG": "the CNI config the operator builds from spec.mtu and the catalog version: it cannot be "
    "overridden",
    "FELIX_IPTABLESBACKEND": "set from spec.canal.iptablesBackend: set that instead",
    "FELIX_LOGSEVERITYSCREEN": "set from spec.canal.logSeverity: set that instead",
    "FLANNELD_IFACE": "set from spec.canal.iface: set that instead",
    "FLANNELD_IP_MASQ": "set from spec.canal.masquerade: set that instead",
    # Owned by the provider options of branch provopts (spec.canal.felixPrometheusMetrics*), merged alongside.
    "FELIX_PROMETHEUSMETRICSENABLED": "set from spec.canal.felixPrometheusMetricsEnabled: set that instead",
    "FELIX_PROMETHEUSMETRICSPORT": "set from spec.canal.felixPrometheusMetricsPort: set that instead",
    # AWS VPC CNI (aws-node)
    "AWS_VPC_ENI_MTU": _MTU,
    "VPC_CNI_VERSION": "set from spec.cni.version: set that instead",
    "WARM_ENI_TARGET": "set from spec.awsVpcCni.warmENITarget: set that instead",
    "WARM_IP_TARGET": "set from spec.awsVpcCni.warmIPTarget: set that instead",
    "MINIMUM_IP_TARGET": "set from spec.awsVpcCni.minimumIPTarget: set that instead",
    "WARM_PREFIX_TARGET": "set from spec.awsVpcCni.warmPrefixTarget: set that instead",
    "ENABLE_PREFIX_DELEGATION": "set from spec.awsVpcCni.enablePrefixDelegation: set that instead",
    "AWS_VPC_K8S_CNI_EXTERNALSNAT": "set from spec.awsVpcCni.externalSNAT: set that instead",
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "set from spec.awsVpcCni.customNetworking: set that instead",
    "ENI_CONFIG_LABEL_DEF": "set from spec.awsVpcCni.eniConfigLabelDef: set that instead",
    "ENABLE_POD_ENI": "set from spec.awsVpcCni.enablePodENI: set that instead",
    # Owned by the provider options of branch provopts (IPv6 mode, ipamd switches), merged alongside.
    "ENABLE_IPv6": "set from spec.awsVpcCni.enableIPv6: set that instead",
    "ENABLE_IPv4": "set from spec.awsVpcCni.enableIPv6 (the VPC CNI runs one family): set that instead",
    "DISABLE_METRICS": "set from spec.awsVpcCni.disableMetrics: set that instead",
    "DISABLE_INTROSPECTION": "set from spec.awsVpcCni.disableIntrospection: set that instead",
    # The pod's identity (fieldRef / ServiceAccount), both providers
    "NODENAME": _IDENTITY,
    "KUBERNETES_NODE_NAME": _IDENTITY,
    "CALICO_CNI_SERVICE_ACCOUNT": _IDENTITY,
    "POD_NAME": _IDENTITY,
    "POD_NAMESPACE": _IDENTITY,
    "MY_NODE_NAME": _IDENTITY,
    "MY_POD_NAME": _IDENTITY,
}


def denied_env_message(name: str) -> str:
    return f"{name} is {DENIED_ENV[name]}"


ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"  # IsEnvVarName: what every Kubernetes version accepts
# No control characters but tab and newline: an env value is free text, but not a NUL or an escape sequence.
ENV_VALUE = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
# A non-negative Kubernetes quantity: a decimal number, then a binary (Ki..Ei) or decimal (n..E) suffix or an exponent.
QUANTITY = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"

QUANTITY_WORDS = (
    "a quantity such as 250m, 0.5, 128Mi or 1Gi: a non-negative number with an optional suffix (m, k, M, G, Ki, "
    "Mi, Gi, ...); quote fractions, as in '0.5'"
)

_W = "spec.workloads"
# What each patterned field takes, in words (merged into api.FIELD_WORDS: the CRD's rules and `validate` say it).
FIELD_WORDS: dict[str, str] = {
    f"{_W}.daemonSet.priorityClassName": PRIORITY_CLASS_WORDS,
    f"{_W}.controllers.priorityClassName": PRIORITY_CLASS_WORDS,
    f"{_W}.daemonSet.tolerations[].key": LABEL_KEY_WORDS + "; or empty (with operator Exists) for every taint",
    f"{_W}.daemonSet.tolerations[].value": LABEL_VALUE_WORDS,
    f"{_W}.controllers.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[]"
    ".matchExpressions[].key": LABEL_KEY_WORDS,
    f"{_W}.controllers.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[].preference"
    ".matchExpressions[].key": LABEL_KEY_WORDS,
    f"{_W}.controllers.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[]"
    ".matchExpressions[].values[]": LABEL_VALUE_WORDS,
    f"{_W}.controllers.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[].preference"
    ".matchExpressions[].values[]": LABEL_VALUE_WORDS,
    f"{_W}.controllers.nodeSelector.*": LABEL_VALUE_WORDS,  # the map's values (its keys: rules.py)
    f"{_W}.containers[].env[].name": "an environment variable name such as FELIX_USAGEREPORTINGENABLED: letters, "
    "digits, _, - and ., not starting with a digit",
    f"{_W}.containers[].env[].value": "text without control characters (tabs and newlines are allowed)",
}
for _kind in ("requests", "limits"):
    for _resource in ("cpu", "memory", "ephemeral-storage"):
        FIELD_WORDS[f"{_W}.containers[].resources.{_kind}.{_resource}"] = QUANTITY_WORDS

REQUEST_OVER_LIMIT_WORDS = "resources: a request must not be more than its limit"


def _quantity(text: str | int) -> Decimal:
    """A Kubernetes quantity as a number (for comparing a request with its limit)."""
    text = str(text)
    match = re.fullmatch(QUANTITY, text)
    if match is None:
        raise ValueError(f"must be {QUANTITY_WORDS}, not {text}")
    suffix = match.group(3) or ""
    number = Decimal(text[: len(text) - len(suffix)] or "0")
    if suffix[:1] in "eE" and suffix:
        return number * Decimal(10) ** int(suffix[1:])
    binary = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
    if suffix in binary:
        return number * Decimal(1024) ** binary[suffix]
    return number * Decimal(10) ** {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15,
                                    "E": 18}[suffix]


Quantity = Annotated[int, Field(ge=0, le=1_000_000_000_000)] | Annotated[str, Field(pattern=QUANTITY, max_length=32)]


class ResourceList(_Model):
    """Amounts per resource (corev1.ResourceList, the resources a CNI container uses)."""

    cpu: Quantity | None = Field(None, description="CPU, in cores: 250m is a quarter core.")
    memory: Quantity | None = Field(None, description="Memory in bytes, such as 128Mi.")
    ephemeral_storage: Quantity | None = Field(None, alias="ephemeral-storage",
                                               description="Local ephemeral storage in bytes, such as 1Gi.")


class ResourceRequirements(_Model):
    """Requests and limits (corev1.ResourceRequirements); they replace upstream's for this container."""

    requests: ResourceList | None = Field(None, description="What the scheduler reserves for the container.")
    limits: ResourceList | None = Field(None, description="What the container may use at most.")

    @model_validator(mode="after")
    def _request_within_limit(self) -> ResourceRequirements:  # rules.py says the same at admission
        if self.requests is None or self.limits is None:
            return self
        for name in ("cpu", "memory", "ephemeral_storage"):
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            try:
                over = request is not None and limit is not None and _quantity(request) > _quantity(limit)
            except (ValueError, InvalidOperation):
                continue  # the field's own pattern reports it
            if over:
                # The CRD rule's words (rules.py), with the values.
                raise ValueError(f"resources: the {name.replace('_', '-')} request {request} is more than its limit "
                                 f"{limit}")
        return self


class EnvVar(_Model):
    """One environment variable set on the container (replacing upstream's value of the same name)."""

    name: str = Field(..., min_length=1, max_length=128, pattern=ENV_NAME, description="Variable name.")
    value: str = Field("", max_length=4096, pattern=ENV_VALUE, description="Its value.")

    @field_validator("name")
    @classmethod
    def _not_owned_by_the_api(cls, value: str) -> str:  # rules.py says the same at admission
        if value in DENIED_ENV:
            raise ValueError(denied_env_message(value))
        return value


ContainerName = Enum(  # type: ignore[misc]
    "ContainerName", {name.replace("-", "_").upper(): name for names in CONTAINERS.values() for name in names},
    type=str,
)


class ContainerOptions(_Model):
    """Options for one upstream container, by its name."""

    name: ContainerName = Field(
        ..., description="Upstream's container name: for mks (canal) calico-node, kube-flannel, install-cni, "
        "ebpf-bootstrap, calico-kube-controllers; for eks (aws-vpc-cni) aws-node, aws-eks-nodeagent, "
        "aws-vpc-cni-init.")
    resources: ResourceRequirements | None = Field(
        None, description="Requests and limits; when set they replace upstream's for this container.")
    env: list[EnvVar] = Field(
        default_factory=list, max_length=32,
        description="Environment variables for upstream settings the API does not model; each replaces upstream's "
        "value of that name or is added. Variables the API owns are refused, naming the field to set instead.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("env")
    @classmethod
    def _unique(cls, value: list[EnvVar]) -> list[EnvVar]:
        names = [e.name for e in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"names an environment variable more than once: {', '.join(duplicated)}")
        return value


class DaemonSetOptions(_Model):
    """The CNI's DaemonSet on every node (canal, or aws-node)."""

    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=16,
        description="Tolerations added to upstream's (Canal tolerates NoSchedule, NoExecute and CriticalAddonsOnly "
        "taints; aws-node tolerates every taint).")
    priority_class_name: str = Field(
        "", max_length=253, pattern=f"({DNS_SUBDOMAIN})|^$",
        description="PriorityClass of the CNI's pods instead of upstream's system-node-critical; empty keeps it.")


class ControllerOptions(_Model):
    """Canal's calico-kube-controllers Deployment (mks only: the AWS VPC CNI runs no controller Deployment)."""

    # The values' pattern is checked by _labels (with words for `validate`); the CRD gets it from the schema.
    node_selector: dict[str, Annotated[str, Field(max_length=63, json_schema_extra={"pattern": LABEL_VALUE})]] = Field(
        default_factory=dict, max_length=16,
        description="Node labels the controllers' node must have, added to upstream's kubernetes.io/os: linux.")
    affinity: Affinity | None = Field(None, description="Node affinity of the controllers; unset: none (upstream's).")
    priority_class_name: str = Field(
        "", max_length=253, pattern=f"({DNS_SUBDOMAIN})|^$",
        description="PriorityClass of the controllers instead of upstream's system-cluster-critical; empty keeps it.")

    @field_validator("node_selector")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:  # rules.py says the same at admission
        for key, label in value.items():
            if len(key) > 317 or not re.fullmatch(LABEL_KEY, key):
                raise ValueError(f"key {key!r} must be {LABEL_KEY_WORDS}")
            check_label_key(key)
            if not re.fullmatch(LABEL_VALUE, label):
                raise ValueError(f"the value of {key} must be {LABEL_VALUE_WORDS}, not {label!r}")
        return value


class WorkloadOptions(_Model):
    """Where the CNI's pods run, how big they are, and upstream settings the API does not model. Applied over the
    upstream-faithful render; unset, the CNI's workloads are upstream's."""

    daemon_set: DaemonSetOptions | None = Field(
        None, description="The CNI's DaemonSet (canal, or aws-node): extra tolerations, priorityClassName.")
    controllers: ControllerOptions | None = Field(
        None, description="Canal's calico-kube-controllers Deployment: nodeSelector, affinity, priorityClassName. "
        "mks only: the AWS VPC CNI runs no controller Deployment.")
    containers: list[ContainerOptions] = Field(
        default_factory=list, max_length=8,
        description="Per upstream container, by name: resources and env.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("containers")
    @classmethod
    def _unique(cls, value: list[ContainerOptions]) -> list[ContainerOptions]:
        names = [c.name.value for c in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"names a container more than once: {', '.join(duplicated)}")
        return value


CONTROLLERS_WORDS = "workloads.controllers is only for clusterType mks: the AWS VPC CNI runs no controller Deployment"
IMPORTED_WORDS = "workloads must be unset for clusterType imported: the operator runs no workloads there"


def containers_words(cluster_type: str) -> str:
    provider = CLUSTER_TYPE_PROVIDER.get(cluster_type)
    if provider is None:
        return IMPORTED_WORDS
    return f"must be a container of {provider} (clusterType {cluster_type}): {', '.join(CONTAINERS[provider])}"


def workload_problems(cluster_type: str, workloads: WorkloadOptions | None) -> list[tuple[str, str]]:
    """Cross-field rules with clusterType, as (field path under spec, message); rules.py says the same in CEL."""
    if workloads is None:
        return []
    if cluster_type not in CLUSTER_TYPE_PROVIDER:
        return [("workloads", IMPORTED_WORDS)]
    problems = []
    if workloads.controllers is not None and cluster_type != "mks":
        problems.append(("workloads.controllers", CONTROLLERS_WORDS))
    allowed = CONTAINERS[CLUSTER_TYPE_PROVIDER[cluster_type]]
    for i, container in enumerate(workloads.containers):
        if container.name.value not in allowed:
            problems.append((f"workloads.containers[{i}].name", f"{container.name.value}: "
                             + containers_words(cluster_type)))
    return problems
