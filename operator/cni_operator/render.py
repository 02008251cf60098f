"""Pure render: a resolved ClusterNetwork spec -> the objects to apply and the objects to prune.

No kopf, no kubernetes client, no I/O beyond reading templates (an import-linter contract enforces it).
Each provider contributes a context builder (render_canal.py, render_aws.py); the templates live in
manifests/<provider>/ and the catalog entry names which templates a version renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import jinja2
import yaml

from .api import ClusterNetworkSpec, Provider
from .catalog import Catalog, VersionEntry, load_catalog, resolve
from .resources import manifests_dir

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "cni-operator"
PROVIDER_LABEL = "cni-operator.io/provider"
VERSION_LABEL = "cni-operator.io/version"

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


@dataclass
class Rendered:
    provider: Provider | None
    version: str | None
    apply: list[dict] = field(default_factory=list)
    prune: list[ObjectRef] = field(default_factory=list)  # objects other catalog versions have and this one lacks


def _kind_rank(obj: dict) -> int:
    kind = obj["kind"]
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@lru_cache(maxsize=4)
def _environment(provider: Provider) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(manifests_dir() / provider.value)),
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error, never an empty string
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )


def _context(spec: ClusterNetworkSpec, entry: VersionEntry) -> dict:
    if entry.provider is Provider.CANAL:
        from . import render_canal

        return render_canal.context(spec, entry)
    from . import render_aws

    return render_aws.context(spec, entry)


def _render_templates(spec: ClusterNetworkSpec, entry: VersionEntry) -> list[dict]:
    env = _environment(entry.provider)
    context = _context(spec, entry)
    objects: list[dict] = []
    for name in entry.templates:
        text = env.get_template(name).render(**context)
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    for obj in objects:
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        labels[PROVIDER_LABEL] = entry.provider.value
        labels[VERSION_LABEL] = entry.version
    # Stable sort keeps template order within a kind.
    objects.sort(key=_kind_rank)
    return objects


def render(spec: ClusterNetworkSpec, catalog: Catalog | None = None) -> Rendered:
    """Render what the spec asks for. Imported clusters render nothing."""
    catalog = catalog or load_catalog()
    spec = resolve(spec, catalog)
    provider = spec.provider
    if provider is None:
        return Rendered(provider=None, version=None)
    entry = catalog.entry(provider, spec.cni.version)
    objects = _render_templates(spec, entry)
    present = {ObjectRef.of(obj) for obj in objects}
    prune: dict[ObjectRef, None] = {}
    for other in catalog.versions(provider):
        if other == entry.version:
            continue
        for obj in _render_templates(spec, catalog.entry(provider, other)):
            ref = ObjectRef.of(obj)
            if ref not in present:
                prune[ref] = None
    return Rendered(provider=provider, version=entry.version, apply=objects, prune=list(prune))
