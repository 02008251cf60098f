"""The version catalog (manifests/catalog.yaml): per provider and version, the images and the templates rendered.

Loading is pure file reading; `resolve` fills the catalog-dependent defaults of a spec (provider, version) and
rejects versions the catalog does not know, naming the ones it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .api import AwsVpcCniOptions, CanalOptions, ClusterNetworkSpec, Provider
from .resources import manifests_dir


class CatalogError(ValueError):
    """The spec asks for something the catalog does not have."""


@dataclass(frozen=True)
class VersionEntry:
    provider: Provider
    version: str
    images: dict[str, str]  # logical name -> image reference (canal) or repository:tag without registry (aws)
    templates: tuple[str, ...]  # template files under manifests/<provider>/, rendered in this order
    features: dict  # per-version switches the templates read (objects added/removed between releases)


@dataclass(frozen=True)
class Catalog:
    entries: dict[Provider, dict[str, VersionEntry]]
    defaults: dict[Provider, str]

    def versions(self, provider: Provider) -> list[str]:
        return sorted(self.entries.get(provider, {}), key=_version_key)

    def entry(self, provider: Provider, version: str | None) -> VersionEntry:
        known = self.entries.get(provider, {})
        chosen = version or self.defaults[provider]
        if chosen not in known:
            raise CatalogError(
                f"cni.version {chosen!r} is not in the catalog for {provider.value}; "
                f"allowed: {', '.join(self.versions(provider))}"
            )
        return known[chosen]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def parse_catalog(data: dict) -> Catalog:
    entries: dict[Provider, dict[str, VersionEntry]] = {}
    defaults: dict[Provider, str] = {}
    for provider_name, block in data.items():
        provider = Provider(provider_name)
        entries[provider] = {
            version: VersionEntry(
                provider=provider,
                version=version,
                images=dict(item["images"]),
                templates=tuple(item["templates"]),
                features=dict(item.get("features") or {}),
            )
            for version, item in block["versions"].items()
        }
        defaults[provider] = block.get("default") or max(entries[provider], key=_version_key)
        if defaults[provider] not in entries[provider]:
            raise CatalogError(f"catalog default {defaults[provider]!r} for {provider_name} is not a listed version")
    return Catalog(entries=entries, defaults=defaults)


@lru_cache(maxsize=4)
def load_catalog(path: Path | None = None) -> Catalog:
    path = path or manifests_dir() / "catalog.yaml"
    with open(path, encoding="utf-8") as handle:
        return parse_catalog(yaml.safe_load(handle))


def resolve(spec: ClusterNetworkSpec, catalog: Catalog | None = None) -> ClusterNetworkSpec:
    """Return a copy of spec with provider and version filled in and provider option blocks defaulted.

    Imported clusters are returned unchanged: there is nothing to install.
    """
    provider = spec.provider
    if provider is None:
        return spec
    catalog = catalog or load_catalog()
    entry = catalog.entry(provider, spec.cni.version)
    update: dict = {"cni": spec.cni.model_copy(update={"provider": provider, "version": entry.version})}
    if provider is Provider.CANAL and spec.canal is None:
        update["canal"] = CanalOptions()
    if provider is Provider.AWS_VPC_CNI and spec.aws_vpc_cni is None:
        update["aws_vpc_cni"] = AwsVpcCniOptions()
    return spec.model_copy(update=update)
