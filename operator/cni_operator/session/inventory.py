"""status.applied.inventory, read back with distrust.

The inventory is how a later pass knows what earlier passes applied (to prune what a new version drops, and to remove
the installation at deletionPolicy Delete). It lives in the status subresource, which anyone granted `patch` on
clusternetworks/status can write. So an entry counts only when it names an object the catalog renders for this
provider, in some version: the rest is never read, written or deleted, is reported once per pass that meets it, and
is left out of the next inventory the operator writes. Nothing in it can make the operator touch an object it would
not render, or stop a pass (an unknown kind once made every pass fail before it could report).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from ..api import PROVIDER_FOR_CLUSTER_TYPE, ClusterType, Provider
from ..objects import ObjectRef
from ..render import renderable

MAX_NAMED = 10  # entries named in an Event; the rest are counted


@dataclass(frozen=True)
class Inventory:
    trusted: list[ObjectRef] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # each entry that is not trusted, in words

    def warning(self, provider: Provider | None) -> str:
        """The Warning Event's message for the ignored entries."""
        count = len(self.ignored)
        names = "; ".join(self.ignored[:MAX_NAMED]) + (f"; and {count - MAX_NAMED} more" if count > MAX_NAMED else "")
        what = f"cni-operator never renders for {provider.value}" if provider else "the operator cannot use"
        return (f"ignored {count} {'entry' if count == 1 else 'entries'} of status.applied.inventory that {what}: "
                f"{names}. They are not read, changed or deleted, and are dropped from the inventory. Only the "
                "operator should write the ClusterNetwork's status: check who may patch clusternetworks/status "
                "(docs/security.md).")


def _describe(item: object, index: int) -> str:
    if not isinstance(item, dict):
        return f"entry {index}: not an object"
    parts = [str(item.get(key)) for key in ("apiVersion", "kind") if item.get(key)]
    where = f"{item.get('namespace')}/" if item.get("namespace") else ""
    return f"{' '.join(parts) or 'no kind'} {where}{item.get('name') or '(no name)'}"


def read_inventory(status: dict | None, trusted: Collection[ObjectRef]) -> Inventory:
    """The entries of status.applied.inventory that are in `trusted`, each once, in order; the others described."""
    applied = (status or {}).get("applied")
    items = applied.get("inventory") if isinstance(applied, dict) else None
    if not isinstance(items, list):
        return Inventory()
    kept: dict[ObjectRef, None] = {}
    ignored: list[str] = []
    for index, item in enumerate(items):
        ref = None
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("apiVersion", "kind", "name")):
            ref = ObjectRef(item["apiVersion"], item["kind"], item["name"], str(item.get("namespace") or ""))
        if ref is not None and (ref in trusted or _spec_named(ref, trusted)):
            kept[ref] = None
        else:
            ignored.append(_describe(item, index))
    return Inventory(list(kept), ignored)


# Objects whose names come from the spec, not the catalog (spec.awsVpcCni.eniConfigs): (apiVersion, kind) -> the CRD
# that must be among the trusted refs (the provider renders it). renderable() cannot list their names, so an entry
# left by a spec that has since dropped one is trusted by kind; the prune only ever releases such an object
# (apply.NEVER_DELETED_KINDS), and only one still labelled as ours.
SPEC_NAMED = {("crd.k8s.amazonaws.com/v1alpha1", "ENIConfig"): "eniconfigs.crd.k8s.amazonaws.com"}


def _spec_named(ref: ObjectRef, trusted: Collection[ObjectRef]) -> bool:
    crd = SPEC_NAMED.get((ref.api_version, ref.kind))
    return crd is not None and not ref.namespace and any(
        t.kind == "CustomResourceDefinition" and t.name == crd for t in trusted)


def provider_of(spec: dict | None) -> Provider | None:
    """The provider a raw spec installs, read from clusterType alone (immutable, and all a deletion needs): None
    for imported or an unreadable spec."""
    try:
        return PROVIDER_FOR_CLUSTER_TYPE[ClusterType((spec or {}).get("clusterType"))]
    except (ValueError, TypeError):
        return None


def trusted_refs(provider: Provider | None, *also: Collection[ObjectRef]) -> frozenset[ObjectRef]:
    """What an inventory entry may name for `provider`: every object any catalog version renders for it, and `also`
    (this pass's render and prune list)."""
    if provider is None:
        return frozenset()
    return renderable(provider).union(*also)
