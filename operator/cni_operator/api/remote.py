"""The RemoteClusterNetwork API (fleet mode): a ClusterNetwork for a cluster the operator reaches from outside.

One namespaced RemoteClusterNetwork per target cluster, in a management cluster: the whole ClusterNetwork spec
inline, plus `spec.target`, which says where the target's kubeconfig is, exactly one of
- `kubeconfigSecretRef: {name, key}`: a Secret in the same namespace (key defaults to `value`);
- `clusterRef: {name}`: a Cluster API `Cluster` in the same namespace, whose kubeconfig Cluster API keeps in the
  Secret `<name>-kubeconfig`, key `value`.
References never leave the object's namespace: a tenant who may write RemoteClusterNetworks in one namespace can
point the operator only at Secrets in that namespace, so there is no `namespace` field to get wrong.

The CRD (crds/remoteclusternetworks.yaml) is generated from these models like the ClusterNetwork's
(schema/remote.py). The operator side is `fleet/` (docs/fleet.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from . import DNS_SUBDOMAIN, FIELD_WORDS, ClusterNetworkSpec, ClusterNetworkStatus, Condition
from .base import _Model

KIND = "RemoteClusterNetwork"
PLURAL = "remoteclusternetworks"
SINGULAR = "remoteclusternetwork"
SHORT_NAMES = ["rcn"]

# Cluster API's convention: the kubeconfig of Cluster <name> is the Secret <name>-kubeconfig, key `value`.
CLUSTER_API_SECRET_SUFFIX = "-kubeconfig"
CLUSTER_API_SECRET_KEY = "value"
DEFAULT_SECRET_KEY = "value"
# A Cluster's name must leave room for the suffix in a Secret name (at most 253 characters).
CLUSTER_NAME_MAX = 253 - len(CLUSTER_API_SECRET_SUFFIX)
# The keys Kubernetes accepts in a Secret's data (IsConfigMapKey): letters, digits, -, _ and .
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"

_SECRET_NAME_WORDS = (
    "a Secret name: a DNS subdomain of at most 253 lower-case letters, digits, - and ., starting and ending with "
    "a letter or digit, such as c1-kubeconfig"
)
TARGET_FIELD_WORDS: dict[str, str] = {
    "spec.target.kubeconfigSecretRef.name": _SECRET_NAME_WORDS,
    "spec.target.kubeconfigSecretRef.key": "a Secret data key of at most 253 letters, digits, -, _ and ., such as "
    "value or kubeconfig",
    "spec.target.clusterRef.name": f"a Cluster API Cluster name: a DNS subdomain of at most {CLUSTER_NAME_MAX} "
    "lower-case letters, digits, - and ., starting and ending with a letter or digit, such as c1",
}
# Every patterned field of a RemoteClusterNetwork, in words: the ClusterNetwork's under spec, and the target's.
FIELD_WORDS_REMOTE: dict[str, str] = {**FIELD_WORDS, **TARGET_FIELD_WORDS}

NO_TARGET_WORDS = (
    "target needs one of kubeconfigSecretRef (a Secret in this namespace holding the target's kubeconfig) or "
    "clusterRef (a Cluster API Cluster in this namespace)"
)
TWO_TARGETS_WORDS = (
    "target takes one of kubeconfigSecretRef or clusterRef, not both: remove one"
)


class KubeconfigSecretRef(_Model):
    """A Secret in the RemoteClusterNetwork's namespace holding the target cluster's kubeconfig."""

    name: str = Field(
        ..., min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of the Secret, in the RemoteClusterNetwork's namespace.",
    )
    key: str = Field(
        DEFAULT_SECRET_KEY, min_length=1, max_length=253, pattern=SECRET_KEY,
        description="The key in the Secret's data that holds the kubeconfig (Cluster API's is value).",
    )


class ClusterRef(_Model):
    """A Cluster API Cluster in the RemoteClusterNetwork's namespace."""

    name: str = Field(
        ..., min_length=1, max_length=CLUSTER_NAME_MAX, pattern=DNS_SUBDOMAIN,
        description="Name of the Cluster (cluster.x-k8s.io). The operator reads its kubeconfig from the Secret "
        "<name>-kubeconfig, key value, as Cluster API writes it.",
    )


class ClusterTarget(_Model):
    """Where the target cluster's kubeconfig is: exactly one of kubeconfigSecretRef or clusterRef."""

    kubeconfig_secret_ref: KubeconfigSecretRef | None = Field(
        None, description="A Secret in this namespace holding the target's kubeconfig.",
    )
    cluster_ref: ClusterRef | None = Field(
        None, description="A Cluster API Cluster in this namespace; its kubeconfig Secret is <name>-kubeconfig.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ClusterTarget:
        given = (self.kubeconfig_secret_ref is not None) + (self.cluster_ref is not None)
        if given == 0:
            raise ValueError(NO_TARGET_WORDS)
        if given == 2:
            raise ValueError(TWO_TARGETS_WORDS)
        return self

    def secret(self) -> tuple[str, str]:
        """(Secret name, key) of the target's kubeconfig, by either kind of reference."""
        if self.kubeconfig_secret_ref is not None:
            return self.kubeconfig_secret_ref.name, self.kubeconfig_secret_ref.key
        assert self.cluster_ref is not None  # _exactly_one
        return self.cluster_ref.name + CLUSTER_API_SECRET_SUFFIX, CLUSTER_API_SECRET_KEY

    def describe(self) -> str:
        """secret/<name> or cluster/<name>: how status and log lines name the target."""
        if self.kubeconfig_secret_ref is not None:
            return f"secret/{self.kubeconfig_secret_ref.name}"
        assert self.cluster_ref is not None
        return f"cluster/{self.cluster_ref.name}"


class RemoteClusterNetworkSpec(ClusterNetworkSpec):
    """The desired pod network of a target cluster: where to reach it, what kind of cluster it is, the CNI options."""

    target: ClusterTarget = Field(
        ..., description="Where the target cluster's kubeconfig is: exactly one of kubeconfigSecretRef or "
        "clusterRef, both in this namespace.",
    )


RemotePhase = Literal["Pending", "Installing", "Ready", "Degraded", "Unmanaged", "Paused", "Failed", "Unreachable",
                      "CredentialsInvalid"]


class RemoteClusterNetworkStatus(ClusterNetworkStatus):
    """What the operator observed in the target cluster, and whether it could reach it; written only by the operator."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded and Applied as for a ClusterNetwork, plus Reachable (the target's "
        "API server answers) and CredentialsValid (its kubeconfig is usable and allowed), each with its reason; "
        "Reconciling and Stalled as kstatus reads them.",
    )
    phase: RemotePhase | None = Field(
        None, description="One-word summary of the conditions: a ClusterNetwork's phases, plus Unreachable (the "
        "target's API server does not answer) and CredentialsInvalid (its kubeconfig cannot be used).",
    )
    last_seen_time: str | None = Field(
        None, description="When the operator last reached the target's API server (RFC 3339): the age of the "
        "health above while Reachable is False.",
    )


# The condition types a RemoteClusterNetwork has on top of a ClusterNetwork's.
REACHABLE = "Reachable"
CREDENTIALS_VALID = "CredentialsValid"


def parse_remote_spec(raw: dict) -> RemoteClusterNetworkSpec:
    """Parse a RemoteClusterNetwork spec as it comes from the API (camelCase only). Raises pydantic.ValidationError."""
    return RemoteClusterNetworkSpec.model_validate(raw, by_alias=True, by_name=False)
