"""The ClusterNetwork's cross-field and immutability rules, as CEL for the CRD, each with its meaning in words.

crd.py puts them into the schema (`x-kubernetes-validations`); apidocs.py lists their words in docs/api.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import api
from ..api import workloads


@dataclass(frozen=True)
class Rule:
    """One CEL rule: where it sits in the schema (dotted path, "" = root), the rule, and what it means in words."""

    path: str
    rule: str
    message: str
    words: str
    field_path: str | None = None
    reason: str | None = None
    message_expression: str | None = None  # the message with the values in it; `message` if it fails


# The effective backend: the schema defaults canal.backend to vxlan whenever the canal block exists; no block also
# means vxlan (catalog.resolve adds CanalOptions()).
_BACKEND = "(has({0}.canal) && has({0}.canal.backend) ? {0}.canal.backend : 'vxlan')"

RULES: tuple[Rule, ...] = (
    Rule(
        "",
        "self.metadata.name == 'default'",
        "metadata.name must be 'default': there is one ClusterNetwork per cluster",
        "The ClusterNetwork must be named `default`: there is exactly one per cluster.",
        field_path=".metadata.name",
        reason="FieldValueInvalid",
    ),
    Rule(
        "spec.clusterType",
        "self == oldSelf",
        "clusterType is immutable: it says what kind of cluster this is",
        "`spec.clusterType` cannot change after creation.",
        message_expression="'clusterType is immutable: it is ' + oldSelf + ', which says what kind of cluster this is'",
    ),
    Rule(
        "spec.podCIDR",
        "self == oldSelf",
        "podCIDR is immutable: changing it would cut every pod off the network",
        "`spec.podCIDR` cannot change after creation (it is defaulted to 10.244.0.0/16, so it is always set: "
        "leaving it out of a later apply means 10.244.0.0/16, which fails if the cluster uses another CIDR).",
        message_expression="'podCIDR is immutable: it is ' + oldSelf + ' (leaving it out means 10.244.0.0/16); "
        "changing it would cut every pod off the network'",
    ),
    Rule(
        "spec.podCIDR",
        # The pattern checks the shape; Kubernetes' CIDR library (CEL) also sees host bits, which pydantic rejects
        # too: 10.244.0.1/16 would otherwise pass admission and only fail in the operator.
        "!isCIDR(self) || cidr(self) == cidr(self).masked()",
        "podCIDR must be a network address: its host bits are set",
        "`spec.podCIDR` is a network address (no host bits set): 10.244.0.0/16, not 10.244.0.1/16.",
        # (The network itself, string(cidr(self).masked()), is over the API server's cost budget for messages.)
        message_expression="'podCIDR ' + self + ' has host bits set: write the network address, such as "
        "10.244.0.0/16 for 10.244.1.0/16'",
    ),
    Rule(
        "spec.cni.provider",
        "self == oldSelf",
        "cni.provider cannot change once set",
        "`spec.cni.provider` cannot change once set (it may be removed; it is then derived from clusterType again).",
    ),
    Rule(
        "spec.awsVpcCni.eniConfigLabelDef",
        # The pattern rule checks the shape of a label key; this bounds its prefix, which a pattern cannot.
        "!self.matches(r'^[^/]{254,}/')",
        f"eniConfigLabelDef: {api.LABEL_PREFIX_WORDS}",
        "The prefix of `spec.awsVpcCni.eniConfigLabelDef` (before the `/`) is at most 253 characters, as for any "
        "label key.",
    ),
    Rule(
        "spec.mtu",
        "self == 0 || (self >= 576 && self <= 9001)",
        "mtu must be 0 (automatic) or between 576 and 9001",
        "`spec.mtu` is 0 (automatic) or between 576 and 9001.",
    ),
    Rule(
        "spec",
        "!has(self.cni) || !has(self.cni.provider) || "
        "(self.clusterType == 'mks' && self.cni.provider == 'canal') || "
        "(self.clusterType == 'eks' && self.cni.provider == 'aws-vpc-cni')",
        "cni.provider must fit clusterType: mks -> canal, eks -> aws-vpc-cni, imported -> leave cni.provider unset",
        "`spec.cni.provider`, when set, fits `spec.clusterType`: `canal` for mks, `aws-vpc-cni` for eks, "
        "unset for imported.",
        field_path=".cni.provider",
        reason="FieldValueInvalid",
    ),
    Rule(
        "spec",
        "self.clusterType != 'imported' || !has(self.cni) || !has(self.cni.version)",
        "cni.version must be unset for clusterType imported: the operator never installs there",
        "`spec.cni.version` must be unset for clusterType imported.",
        field_path=".cni.version",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec",
        "!has(self.canal) || self.clusterType == 'mks'",
        "canal options are only allowed with clusterType mks (provider canal)",
        "The `spec.canal` block is only allowed with clusterType mks.",
        field_path=".canal",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec",
        "!has(self.awsVpcCni) || self.clusterType == 'eks'",
        "awsVpcCni options are only allowed with clusterType eks (provider aws-vpc-cni)",
        "The `spec.awsVpcCni` block is only allowed with clusterType eks.",
        field_path=".awsVpcCni",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec",
        _BACKEND.format("self") + " == " + _BACKEND.format("oldSelf"),
        "canal.backend is immutable: changing the Flannel backend would cut every pod off the network",
        "The Flannel backend (`spec.canal.backend`, vxlan when the block or the field is absent) cannot change "
        "after creation, also not by adding a canal block with another backend later.",
        field_path=".canal.backend",
        reason="FieldValueForbidden",
        message_expression="'canal.backend is immutable: it is ' + "
        + _BACKEND.format("oldSelf")
        + " + '; changing the Flannel backend would cut every pod off the network'",
    ),
    Rule(
        "spec.rollout",
        "!has(self.soakSeconds) || !has(self.progressDeadlineSeconds) || "
        "self.progressDeadlineSeconds >= self.soakSeconds",
        api.ROLLOUT_DEADLINE_WORDS,
        "`spec.rollout.progressDeadlineSeconds` is at least `spec.rollout.soakSeconds` (the defaults, 600 and 30, "
        "count when a field is left out).",
        field_path=".progressDeadlineSeconds",
        reason="FieldValueInvalid",
    ),
)


# ---------------------------------------------------------------- spec.workloads (api/workloads.py says the same)

_W = "spec.workloads"
_CONTAINER_LIST = {
    cluster_type: "[" + ", ".join(f"'{name}'" for name in workloads.CONTAINERS[provider]) + "]"
    for cluster_type, provider in workloads.CLUSTER_TYPE_PROVIDER.items()
}
# Double-quoted CEL strings: the reasons hold apostrophes ("the pod's own identity").
_DENIED = "{" + ", ".join(f'"{name}": "{reason}"' for name, reason in sorted(workloads.DENIED_ENV.items())) + "}"
_PREFIX = "!{0}.matches(r'^[^/]{{254,}}/')"  # a label key's prefix is at most 253 characters (no look-ahead in RE2)
_AFFINITY = f"{_W}.controllers.affinity.nodeAffinity"
_REQUIREMENTS = (
    f"{_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[].matchExpressions[]",
    f"{_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[].preference.matchExpressions[]",
)
_HAS_VALUES = "(has(self.values) && size(self.values) > 0)"


def _request_within_limit(resource: str, cel_name: str) -> Rule:
    request, limit = f"self.requests.{cel_name}", f"self.limits.{cel_name}"
    return Rule(
        f"{_W}.containers[].resources",
        f"!has(self.requests) || !has(self.limits) || !has({request}) || !has({limit}) || "
        f"!isQuantity(string({request})) || !isQuantity(string({limit})) || "
        f"quantity(string({request})).compareTo(quantity(string({limit}))) <= 0",
        f"{workloads.REQUEST_OVER_LIMIT_WORDS} ({resource})",
        f"In `{_W}.containers[].resources`, the {resource} request is at most the {resource} limit, as Kubernetes "
        "requires of every container.",
        message_expression=f"'resources: the {resource} request ' + string({request}) + ' is more than its limit ' "
        f"+ string({limit})",
    )


WORKLOAD_RULES: tuple[Rule, ...] = (
    Rule(
        "spec",
        "!has(self.workloads) || self.clusterType != 'imported'",
        workloads.IMPORTED_WORDS,
        "The `spec.workloads` block must be unset for clusterType imported.",
        field_path=".workloads",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec",
        "!has(self.workloads) || !has(self.workloads.controllers) || self.clusterType == 'mks'",
        workloads.CONTROLLERS_WORDS,
        "The `spec.workloads.controllers` block is only allowed with clusterType mks (the AWS VPC CNI runs no "
        "controller Deployment).",
        field_path=".workloads.controllers",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec",
        "self.clusterType == 'imported' || !has(self.workloads) || !has(self.workloads.containers) || "
        f"self.workloads.containers.all(c, c.name in (self.clusterType == 'mks' ? {_CONTAINER_LIST['mks']} : "
        f"{_CONTAINER_LIST['eks']}))",
        "workloads.containers[].name must be a container of the cluster type's CNI: "
        + "; ".join(workloads.containers_words(t) for t in workloads.CLUSTER_TYPE_PROVIDER),
        "Each `spec.workloads.containers[].name` is a container of the CNI of the cluster type: "
        + "; ".join(workloads.containers_words(t) for t in workloads.CLUSTER_TYPE_PROVIDER) + ".",
        field_path=".workloads.containers",
        reason="FieldValueInvalid",
        message_expression="'workloads.containers[].name ' + (self.clusterType == 'mks' ? "
        f"'{workloads.containers_words('mks')}' : '{workloads.containers_words('eks')}')",
    ),
    Rule(
        f"{_W}.containers[].env[].name",
        f"!(self in {_DENIED})",
        "this environment variable is owned by a ClusterNetwork field: set that field instead",
        "An `env` entry may not set a variable the API owns (set from a spec field, or the pod's identity): "
        + ", ".join(f"`{n}`" for n in sorted(workloads.DENIED_ENV)) + "; the message names the field to set.",
        message_expression=f"self + ' is ' + {_DENIED}[self]",
    ),
    Rule(
        f"{_W}.daemonSet.tolerations[]",
        "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        workloads.TOLERATION_KEY_WORDS,
        "A toleration without a key has operator Exists (it then tolerates every taint).",
        field_path=".operator",
        reason="FieldValueInvalid",
    ),
    Rule(
        f"{_W}.daemonSet.tolerations[]",
        "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        workloads.TOLERATION_VALUE_WORDS,
        "A toleration with operator Exists has no value.",
        field_path=".value",
        reason="FieldValueInvalid",
    ),
    Rule(
        f"{_W}.daemonSet.tolerations[]",
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        workloads.TOLERATION_SECONDS_WORDS,
        "A toleration with tolerationSeconds has effect NoExecute.",
        field_path=".effect",
        reason="FieldValueInvalid",
    ),
    Rule(
        f"{_W}.daemonSet.tolerations[].key",
        _PREFIX.format("self"),
        workloads.LABEL_PREFIX_WORDS,
        "The prefix of a toleration's key (before the `/`) is at most 253 characters.",
    ),
    Rule(
        f"{_W}.controllers.nodeSelector",
        f"self.all(k, size(k) <= 317 && k.matches(r'{workloads.LABEL_KEY}') && {_PREFIX.format('k')})",
        f"nodeSelector keys must be {workloads.LABEL_KEY_WORDS}",
        f"Each key of `{_W}.controllers.nodeSelector` is {workloads.LABEL_KEY_WORDS}.",
    ),
    *(
        rule
        for path in _REQUIREMENTS
        for rule in (
            Rule(
                path,
                f"self.operator in ['In', 'NotIn'] ? {_HAS_VALUES} : self.operator in ['Exists', 'DoesNotExist'] ? "
                f"!{_HAS_VALUES} : (has(self.values) && size(self.values) == 1 && "
                "self.values[0].matches(r'^-?[0-9]+$'))",
                workloads.REQUIREMENT_WORDS,
                f"In `{path}`, {workloads.REQUIREMENT_WORDS.removeprefix('node selector requirement: ')}.",
                field_path=".values",
                reason="FieldValueInvalid",
            ),
            Rule(path + ".key", _PREFIX.format("self"), workloads.LABEL_PREFIX_WORDS,
                 f"The prefix of `{path}.key` (before the `/`) is at most 253 characters."),
        )
    ),
    _request_within_limit("cpu", "cpu"),
    _request_within_limit("memory", "memory"),
    _request_within_limit("ephemeral-storage", "ephemeral__dash__storage"),
)

RULES = RULES + WORKLOAD_RULES

# ---------------------------------------------------------------- provider options (api/providers.py)
# The cross-field and reserved-value rules of spec.canal and spec.awsVpcCni; pydantic says the same (providers.py),
# in the same words, for `cni-operator validate` and the operator.
_RESERVED_AGENT_PORTS = ", ".join(str(port) for port in sorted(api.AGENT_RESERVED_PORTS))

PROVIDER_RULES: tuple[Rule, ...] = (
    Rule(
        "spec.awsVpcCni",
        "!has(self.enableIPv6) || !self.enableIPv6 || (has(self.enablePrefixDelegation) && "
        "self.enablePrefixDelegation)",
        api.IPV6_WORDS,
        "`spec.awsVpcCni.enableIPv6` needs `spec.awsVpcCni.enablePrefixDelegation: true`, as upstream requires.",
        field_path=".enableIPv6",
        reason="FieldValueInvalid",
    ),
    Rule(
        "spec.awsVpcCni",
        "!has(self.eniConfigs) || size(self.eniConfigs) == 0 || (has(self.customNetworking) && "
        "self.customNetworking)",
        api.ENI_CONFIGS_WORDS,
        "`spec.awsVpcCni.eniConfigs` needs `spec.awsVpcCni.customNetworking: true` (aws-node reads ENIConfigs "
        "only then).",
        field_path=".eniConfigs",
        reason="FieldValueForbidden",
    ),
    Rule(
        "spec.awsVpcCni.nodeAgentMetricsPort",
        f"!(self in [{_RESERVED_AGENT_PORTS}])",
        f"nodeAgentMetricsPort must not be {_RESERVED_AGENT_PORTS}: aws-node uses them on the node's network; pick "
        "another port such as 8162",
        f"`spec.awsVpcCni.nodeAgentMetricsPort` is none of {_RESERVED_AGENT_PORTS} (the agent's health probe, "
        "ipamd's gRPC, metrics and introspection ports on the node's network).",
        # (No messageExpression: string(self) of an integer is over the API server's cost budget for messages.)
    ),
    Rule(
        "spec.canal.felixPrometheusMetricsPort",
        f"self != {api.FELIX_HEALTH_PORT}",
        f"felixPrometheusMetricsPort must not be {api.FELIX_HEALTH_PORT}: calico-node's health checks use it; pick "
        "another port such as 9091",
        f"`spec.canal.felixPrometheusMetricsPort` is not {api.FELIX_HEALTH_PORT} (Felix's health port, which "
        "calico-node's probes read).",
    ),
)

RULES = RULES + PROVIDER_RULES
