"""Where pods may run, in Kubernetes' own terms: tolerations and node affinity for spec.workloads (workloads.py).

The models mirror corev1's and refuse what the API server would refuse inside a pod template, in words; the CRD's
CEL rules (schema/rules.py) say the same at admission.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import _Model

# Kubernetes' own rules for these names (apimachinery validation), as RE2 patterns (no look-ahead).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A label key: [DNS subdomain/]name; the prefix's own limit (253) is rules.py's and check_label_key's.
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

LABEL_KEY_WORDS = (
    "a label key such as node-role.kubernetes.io/worker: an optional DNS subdomain of at most 253 characters and /, "
    "then a name of at most 63 letters, digits, -, _ and ., starting and ending with a letter or digit"
)
LABEL_VALUE_WORDS = (
    "a label value: at most 63 letters, digits, -, _ and ., starting and ending with a letter or digit, or empty"
)
PRIORITY_CLASS_WORDS = (
    "a PriorityClass name such as system-node-critical: a DNS subdomain of at most 253 lower-case letters, digits, - "
    "and ., starting and ending with a letter or digit"
)

TOLERATION_KEY_WORDS = "tolerations: an empty key matches every taint only with operator Exists; set the operator"
TOLERATION_VALUE_WORDS = "tolerations: operator Exists matches any value; leave value empty or use operator Equal"
TOLERATION_SECONDS_WORDS = "tolerations: tolerationSeconds applies only to effect NoExecute; set that effect"
REQUIREMENT_WORDS = (
    "node selector requirement: operators In and NotIn need values, Exists and DoesNotExist take none, Gt and Lt "
    "take exactly one integer"
)
LABEL_PREFIX_WORDS = "the prefix of a label key (before the /) must be at most 253 characters"


def check_label_key(value: str) -> str:
    prefix, slash, _ = value.rpartition("/")
    if slash and len(prefix) > 253:
        raise ValueError(LABEL_PREFIX_WORDS)
    return value


class TolerationOperator(str, Enum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(str, Enum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(_Model):
    """A toleration (corev1.Toleration), added to those upstream's DaemonSet has."""

    key: str = Field("", max_length=317, pattern=f"({LABEL_KEY})|^$",
                     description="Taint key; empty with operator Exists tolerates every taint.")
    operator: TolerationOperator | None = Field(
        None, description="Exists (any value) or Equal (this value); unset means Equal.")
    value: str = Field("", max_length=63, pattern=LABEL_VALUE, description="Taint value, with operator Equal.")
    effect: TaintEffect | None = Field(None, description="Taint effect to tolerate; unset tolerates every effect.")
    toleration_seconds: int | None = Field(
        None, ge=0, le=2_000_000_000,
        description="With effect NoExecute: seconds the pod stays on a node after the taint appears; unset: forever.")

    @field_validator("key")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        return check_label_key(value)

    @model_validator(mode="after")
    def _kubernetes_rules(self) -> Toleration:  # rules.py says the same at admission
        if not self.key and self.operator is not TolerationOperator.EXISTS:
            raise ValueError(TOLERATION_KEY_WORDS)
        if self.operator is TolerationOperator.EXISTS and self.value:
            raise ValueError(TOLERATION_VALUE_WORDS)
        if self.toleration_seconds is not None and self.effect is not TaintEffect.NO_EXECUTE:
            raise ValueError(TOLERATION_SECONDS_WORDS)
        return self


class NodeSelectorOperator(str, Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(_Model):
    """One label requirement of a node selector term (corev1.NodeSelectorRequirement)."""

    key: str = Field(..., min_length=1, max_length=317, pattern=LABEL_KEY, description="Node label key.")
    operator: NodeSelectorOperator = Field(..., description="How the label's value is compared with values.")
    values: list[Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]] = Field(
        default_factory=list, max_length=32,
        description="Label values: one or more for In and NotIn, none for Exists and DoesNotExist, one integer for "
        "Gt and Lt.")

    @field_validator("key")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        return check_label_key(value)

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> NodeSelectorRequirement:  # rules.py says the same at admission
        op, values = self.operator, self.values
        ok = {
            NodeSelectorOperator.IN: bool(values),
            NodeSelectorOperator.NOT_IN: bool(values),
            NodeSelectorOperator.EXISTS: not values,
            NodeSelectorOperator.DOES_NOT_EXIST: not values,
        }.get(op, len(values) == 1 and re.fullmatch(r"-?[0-9]+", values[0]) is not None)
        if not ok:
            raise ValueError(REQUIREMENT_WORDS)
        return self


class NodeSelectorTerm(_Model):
    """Label requirements that must all hold (corev1.NodeSelectorTerm; matchFields is not offered)."""

    match_expressions: list[NodeSelectorRequirement] = Field(
        ..., min_length=1, max_length=16, description="Requirements on node labels, all of which must hold.")


class NodeSelector(_Model):
    """Terms of which at least one must hold (corev1.NodeSelector)."""

    node_selector_terms: list[NodeSelectorTerm] = Field(
        ..., min_length=1, max_length=8, description="The node must match at least one of these terms.")


class PreferredSchedulingTerm(_Model):
    """A preference with its weight (corev1.PreferredSchedulingTerm)."""

    weight: int = Field(..., ge=1, le=100, description="Weight of this preference, 1..100.")
    preference: NodeSelectorTerm = Field(..., description="The node labels preferred.")


class NodeAffinity(_Model):
    """Node affinity (corev1.NodeAffinity)."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        None, description="Nodes the controllers may run on.")
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list, max_length=8, description="Nodes the controllers prefer.")


class Affinity(_Model):
    """Scheduling affinity of the controllers (corev1.Affinity; node affinity only: one replica needs no pod
    (anti-)affinity)."""

    node_affinity: NodeAffinity | None = Field(None, description="Node affinity of the controllers' pods.")
