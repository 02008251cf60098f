"""The ClusterNetwork's cross-field and immutability rules, as CEL for the CRD, each with its meaning in words.

crd.py puts them into the schema (`x-kubernetes-validations`); apidocs.py lists their words in docs/api.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import api


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
