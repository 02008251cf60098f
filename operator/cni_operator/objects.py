"""The vocabulary every layer shares: object references, our labels and annotations, apply order, time.

Imports nothing of ours, so render, apply, health, the session and the wiring can all name the same things without
importing each other.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- labels and annotations on what we write

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "cni-operator"
MANAGED = {MANAGED_BY_LABEL: MANAGED_BY}
PROVIDER_LABEL = "cni-operator.io/provider"
VERSION_LABEL = "cni-operator.io/version"

ANNOTATION_PREFIX = "cni-operator.io"
# The hash of what we rendered, on every applied object: tells our own updates from someone else's drift.
HASH_ANNOTATION = "cni-operator.io/applied-hash"
# A user's opt-out: the operator neither reverts nor prunes an object carrying it.
IGNORE_ANNOTATION = "cni-operator.io/ignore"
# Written on a CRD the API server left un-Established, to make it queue the CRD again (see apply).
REESTABLISH_ANNOTATION = "cni-operator.io/reestablished"
# On a CRD a prune or a delete kept because objects of its kind exist: when the operator let go of it.
RETAINED_ANNOTATION = "cni-operator.io/retained"
# On an object that existed before the operator's first install and was taken over under spec.adoption: never pruned,
# never deleted (it was someone else's, and may be again).
ADOPTED_ANNOTATION = "cni-operator.io/adopted"
# The ClusterNetwork's finalizer for deletionPolicy: Delete (kopf's own finalizer must have another name).
FINALIZER = "cni-operator.io/finalizer"

# Where every CNI object lives: upstream's Canal and VPC CNI manifests both install into kube-system, and the
# operator renders them as upstream does.
CNI_NAMESPACE = "kube-system"

# ---------------------------------------------------------------- object references

# Apply order: what others depend on first (CRDs, namespaces, RBAC, config), workloads last.
KIND_ORDER = [
    "CustomResourceDefinition",
    "Namespace",
    "PriorityClass",
    "ServiceAccount",
    "Secret",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Service",
    "DaemonSet",
    "Deployment",
    "PodDisruptionBudget",
]


def kind_rank(kind: str) -> int:
    """Position in KIND_ORDER; unknown kinds go last."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, obj: dict) -> ObjectRef:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace", ""))

    def describe(self) -> str:
        """'DaemonSet kube-system/canal', for Events, logs and status."""
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"

    def as_status(self) -> dict:
        """The wire shape of one status.applied.inventory entry."""
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name,
                **({"namespace": self.namespace} if self.namespace else {})}

    @classmethod
    def from_status(cls, item: dict) -> ObjectRef:
        return cls(item["apiVersion"], item["kind"], item["name"], item.get("namespace", ""))


def labels_of(obj: dict | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def annotations_of(obj: dict | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


def is_managed(obj: dict | None) -> bool:
    """Labelled app.kubernetes.io/managed-by=cni-operator (every object apply writes carries it)."""
    return labels_of(obj).get(MANAGED_BY_LABEL) == MANAGED_BY


def is_ignored(obj: dict | None) -> bool:
    return str(annotations_of(obj).get(IGNORE_ANNOTATION, "")).lower() == "true"


def is_adopted(obj: dict | None) -> bool:
    """Taken over from someone else's install (spec.adoption): never pruned or deleted."""
    return ADOPTED_ANNOTATION in annotations_of(obj)


def resource_version(obj: dict | None) -> int:
    """metadata.resourceVersion as a number (0 when absent or not a number), to keep the newer of two bodies."""
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


# ---------------------------------------------------------------- time


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def rfc3339(when: _dt.datetime | str) -> str:
    """Kubernetes timestamp text (UTC, seconds, trailing Z). Naive datetimes are taken as UTC."""
    if isinstance(when, str):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> _dt.datetime | None:
    """A timestamp as the API returns it ("2024-05-01T10:00:00Z", isoformat, or a datetime) -> aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    try:
        parsed = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)
