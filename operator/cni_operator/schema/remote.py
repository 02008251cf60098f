"""The RemoteClusterNetwork CRD (fleet mode), generated from api/remote.py the way crd.py makes the ClusterNetwork's.

`cni-operator crd --kind RemoteClusterNetwork` prints it; `make crd` writes crds/remoteclusternetworks.yaml. The spec
is the ClusterNetwork's (same schema, same CEL rules but the singleton name rule: these are namespaced, one per
target cluster) plus `spec.target`; the status is the ClusterNetwork's plus `lastSeenTime` (Reachable and
CredentialsValid are condition types, in the same `conditions` list).
"""

from __future__ import annotations

from typing import Any

from .. import api
from ..api import remote
from . import crd
from .rules import RULES as CLUSTER_NETWORK_RULES
from .rules import Rule

NAME = f"{remote.PLURAL}.{api.GROUP}"
FILE = "crds/remoteclusternetworks.yaml"
HEADER = (
    "# Generated from operator/cni_operator/api/remote.py by `cni-operator crd --kind RemoteClusterNetwork` "
    "(make crd). Do not edit by hand.\n"
)
DESCRIPTION = (
    "RemoteClusterNetwork declares the pod network of another cluster, the target, which the operator reaches "
    "from this management cluster with the kubeconfig spec.target points at: what kind of cluster it is (mks, eks "
    "or imported) and the CNI options, as a ClusterNetwork does inside a cluster. One per target cluster, in the "
    "namespace of its kubeconfig Secret."
)

_HAS_SECRET, _HAS_CLUSTER = "has(self.kubeconfigSecretRef)", "has(self.clusterRef)"

# The target's rules; every ClusterNetwork rule on spec holds too. The root rule (the name `default`) does not:
# a RemoteClusterNetwork is named after its target.
TARGET_RULES: tuple[Rule, ...] = (
    Rule(
        "spec.target",
        f"{_HAS_SECRET} || {_HAS_CLUSTER}",
        remote.NO_TARGET_WORDS,
        "`spec.target` names one of `kubeconfigSecretRef` or `clusterRef`.",
        reason="FieldValueRequired",
    ),
    Rule(
        "spec.target",
        f"!({_HAS_SECRET} && {_HAS_CLUSTER})",
        remote.TWO_TARGETS_WORDS,
        "`spec.target` names only one of `kubeconfigSecretRef` and `clusterRef`.",
        reason="FieldValueInvalid",
    ),
)
RULES: tuple[Rule, ...] = tuple(r for r in CLUSTER_NETWORK_RULES if r.path) + TARGET_RULES

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Target",
        "type": "string",
        # Exactly one of the two references exists, so the wildcard selects one name: the Secret's or the Cluster's.
        "jsonPath": ".spec.target.*.name",
        "description": "The kubeconfig Secret or the Cluster API Cluster of the target cluster",
    },
    *[c for c in crd.PRINTER_COLUMNS if c["name"] in ("Type", "CNI", "Version", "Ready", "Phase")],
    {
        "name": "Reachable",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Reachable")].status',
        "description": "Whether the operator reaches the target's API server (True, False or Unknown)",
    },
    *[c for c in crd.PRINTER_COLUMNS if c["name"] == "Age"],
    {
        "name": "Last-Seen",
        "type": "date",
        "priority": 1,
        "jsonPath": ".status.lastSeenTime",
        "description": "When the operator last reached the target's API server",
    },
    *[c for c in crd.PRINTER_COLUMNS if c.get("priority")],
]


def spec_schema() -> dict:
    """The structural schema of spec, without CEL rules; `target` first, as it is read first."""
    node = crd._with_default_in_description(
        crd._model_schema(remote.RemoteClusterNetworkSpec, "spec", keep_defaults=True)
    )
    properties = node["properties"]
    node["properties"] = {"target": properties.pop("target"), **properties}
    return node


def status_schema() -> dict:
    return crd._model_schema(remote.RemoteClusterNetworkStatus, "status", keep_defaults=False)


def openapi_schema() -> dict:
    root = crd.build_openapi_schema(DESCRIPTION, spec_schema(), status_schema(), RULES, remote.FIELD_WORDS_REMOTE)
    del root["properties"]["metadata"]  # no rule reads the name: nothing to say about metadata
    return root


def crd_object() -> dict:
    return crd.crd_object(name=NAME, scope="Namespaced", kind=remote.KIND, plural=remote.PLURAL,
                          singular=remote.SINGULAR, short_names=remote.SHORT_NAMES, columns=PRINTER_COLUMNS,
                          schema=openapi_schema())


def to_yaml() -> str:
    return crd.dump(HEADER, crd_object())
