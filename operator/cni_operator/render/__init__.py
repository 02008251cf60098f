"""Pure render: a resolved ClusterNetwork spec -> the objects to apply and the objects to prune.

No kopf, no kubernetes client, no I/O beyond reading templates (an import-linter contract enforces it).
Each provider contributes a context builder (canal.py, aws_vpc_cni.py); the templates live in
manifests/<provider>/ and the catalog entry names which templates a version renders. An entry `vendored:<Kind>`
renders that kind's objects from the version's vendored upstream manifest unchanged (vendored.py): the CRDs.

Deterministic: the same spec and catalog give the same objects in the same order with the same key order, so
`to_yaml(render(spec).apply)` is byte-identical from run to run.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import jinja2
import yaml

from ..api import PROVIDER_FOR_CLUSTER_TYPE, ClusterNetworkSpec, CNIRef, Provider
from ..catalog import Catalog, VersionEntry, load_catalog, resolve
from ..objects import MANAGED_BY, MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL, ObjectRef, kind_rank
from ..resources import manifests_dir
from . import vendored, workload_options

# libyaml when PyYAML was built with it (several times faster); the pure-Python loader otherwise. Same results.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Rendered:
    provider: Provider | None
    version: str | None
    apply: list[dict] = field(default_factory=list)
    prune: list[ObjectRef] = field(default_factory=list)  # objects other catalog versions have and this one lacks


@lru_cache(maxsize=4)
def _environment(provider: Provider) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(manifests_dir() / provider.value)),
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, never an empty string
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
        auto_reload=False,  # templates are data shipped with the package: no stat() per render
    )


def _context(spec: ClusterNetworkSpec, entry: VersionEntry) -> dict:
    if entry.provider is Provider.CANAL:
        from . import canal

        return canal.context(spec, entry)
    from . import aws_vpc_cni

    return aws_vpc_cni.context(spec, entry)


def _render_templates(spec: ClusterNetworkSpec, entry: VersionEntry) -> list[dict]:
    env = _environment(entry.provider)
    context = _context(spec, entry)
    objects: list[dict] = []
    for name in entry.templates:
        if vendored.is_vendored(name):
            objects.extend(vendored.render(entry, name))
            continue
        text = env.get_template(name).render(**context)
        objects.extend(doc for doc in yaml.load_all(text, Loader=_Loader) if doc)
    for obj in objects:
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        labels[PROVIDER_LABEL] = entry.provider.value
        labels[VERSION_LABEL] = entry.version
    # Stable sort keeps template order within a kind.
    objects.sort(key=lambda obj: kind_rank(obj["kind"]))
    return objects


# Memo of the identities other versions render, keyed by everything that decides them. Bounded; pure function cache.
_REFS_MEMO: OrderedDict[tuple, tuple[ObjectRef, ...]] = OrderedDict()
_REFS_MEMO_SIZE = 64
_REFS_LOCK = threading.Lock()  # handlers may render from several threads


def _refs(spec: ClusterNetworkSpec, spec_json: str, entry: VersionEntry) -> tuple[ObjectRef, ...]:
    """The identities `entry` renders for this spec. Memoised: the operator re-renders the same spec on every event,
    and pruning needs only names, so the other versions are rendered once per distinct spec."""
    key = (
        entry.provider.value,
        entry.version,
        entry.templates,
        json.dumps(entry.images, sort_keys=True),
        json.dumps(entry.features, sort_keys=True),
        spec_json,
    )
    with _REFS_LOCK:
        refs = _REFS_MEMO.get(key)
        if refs is not None:
            _REFS_MEMO.move_to_end(key)
            return refs
    refs = tuple(ObjectRef.of(obj) for obj in _render_templates(spec, entry))
    with _REFS_LOCK:
        _REFS_MEMO[key] = refs
        while len(_REFS_MEMO) > _REFS_MEMO_SIZE:
            _REFS_MEMO.popitem(last=False)
    return refs


def render(spec: ClusterNetworkSpec, catalog: Catalog | None = None) -> Rendered:
    """Render what the spec asks for. Imported clusters render nothing.

    `prune` lists the CRDs the provider never owns (released, never deleted: apply/), then what any other catalog
    version of the provider renders for the same spec and this one does not, in catalog version order: after an
    upgrade or a downgrade those objects are left over and must go.
    """
    catalog = catalog or load_catalog()
    spec = resolve(spec, catalog)
    provider = spec.provider
    if provider is None:
        return Rendered(provider=None, version=None)
    entry = catalog.entry(provider, spec.cni.version)
    # A CRD the provider never owns (catalog neverOwn: on EKS the control plane's) is never written, whatever a
    # template says, and always offered to the prune, which only releases a copy an older operator labelled as ours.
    foreign = catalog.foreign_crd_refs(provider)
    objects = [obj for obj in _render_templates(spec, entry) if ObjectRef.of(obj) not in foreign]
    # spec.workloads (placement, resources, env) goes over the upstream-faithful render, never into the templates.
    objects = workload_options.apply(objects, spec.workloads)
    present = {ObjectRef.of(obj) for obj in objects}
    spec_json = spec.model_dump_json(by_alias=True)
    prune: dict[ObjectRef, None] = dict.fromkeys(foreign)
    for other in catalog.versions(provider):
        if other == entry.version:
            continue
        for ref in _refs(spec, spec_json, catalog.entry(provider, other)):
            if ref not in present:
                prune[ref] = None
    return Rendered(provider=provider, version=entry.version, apply=objects, prune=list(prune))


def renderable(provider: Provider, catalog: Catalog | None = None) -> frozenset[ObjectRef]:
    """Every object identity any catalog version of `provider` renders: what the operator may ever have applied for
    it, so what an inventory read back from status may name. No spec option adds, drops or renames an object (only
    the version does; tests/unit/test_inventory.py checks every option), so the default options stand for all, with
    one exception: the ENIConfigs of spec.awsVpcCni.eniConfigs, named by the user, which an inventory entry may name
    by kind alone (session/inventory.py SPEC_NAMED) and which the prune never deletes (apply.NEVER_DELETED_KINDS).
    The CRDs the provider never owns are among them: older operators applied one, and its entry lets the operator
    release it (apply/)."""
    catalog = catalog or load_catalog()
    cluster_type = next(t for t, p in PROVIDER_FOR_CLUSTER_TYPE.items() if p is provider)
    found: set[ObjectRef] = set(catalog.foreign_crd_refs(provider))
    for version in catalog.versions(provider):
        spec = resolve(ClusterNetworkSpec(cluster_type=cluster_type, cni=CNIRef(version=version)), catalog)
        found.update(_refs(spec, spec.model_dump_json(by_alias=True), catalog.entry(provider, version)))
    return frozenset(found)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (readable ConfigMaps), everything else as SafeDumper does."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(ch in value for ch in "\r\t") and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def to_yaml(objects: list[dict]) -> str:
    """Multi-document YAML, deterministic (object and key order as rendered, no line wrapping)."""
    return yaml.dump_all(
        objects, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=1 << 16, explicit_start=True
    )
