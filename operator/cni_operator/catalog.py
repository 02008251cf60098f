"""The version catalog (manifests/catalog.yaml): per provider and version, the images and the templates rendered,
and whether the version is deprecated (with why); per provider, the CRDs it never owns and its rollout default.

Loading is pure file reading; `resolve` fills the catalog-dependent defaults of a spec (provider, version,
rollout.maxUnavailable) and rejects versions the catalog does not know, naming the ones it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .api import AwsVpcCniOptions, CanalOptions, ClusterNetworkSpec, Provider, RolloutOptions
from .objects import ObjectRef
from .resources import manifests_dir

CRD_API_VERSION = "apiextensions.k8s.io/v1"


class CatalogError(ValueError):
    """The spec asks for something the catalog does not have."""


@dataclass(frozen=True)
class VersionEntry:
    provider: Provider
    version: str
    images: dict[str, str]  # logical name -> image reference (canal) or repository:tag without registry (aws)
    templates: tuple[str, ...]  # template files under manifests/<provider>/, rendered in this order
    features: dict  # per-version switches the templates read (objects added/removed between releases)
    # Why new installs should not pick this version ("superseded by v3.31.7: <what that patch fixes>"); it stays in
    # the catalog so clusters that run it keep reconciling and can upgrade from it. None: not deprecated.
    deprecated: str | None = None

    @property
    def minor_line(self) -> str:
        """The release line, "v3.31" for v3.31.7."""
        return minor_line(self.version)


@dataclass(frozen=True)
class ForeignCRD:
    """A CRD the operator never installs, patches or deletes for a provider: someone else (on EKS, the control plane)
    owns it. A live copy an older operator labelled as ours is released, never pruned (apply/)."""

    name: str
    needed_when: str | None = None  # the provider option (camelCase) with which the CNI cannot work without it
    installed_by: str = ""  # who installs it, in words: what the report of its absence tells the user


# Upstream canal.yaml's calico-node updateStrategy: the rollout default of a provider whose catalog names none.
DEFAULT_MAX_UNAVAILABLE: int | str = 1


@dataclass(frozen=True)
class Catalog:
    entries: dict[Provider, dict[str, VersionEntry]]
    defaults: dict[Provider, str]
    never_own: dict[Provider, tuple[ForeignCRD, ...]] = field(default_factory=dict)
    max_unavailable: dict[Provider, int | str] = field(default_factory=dict)  # upstream's DaemonSet rollout default

    def foreign_crds(self, provider: Provider | None) -> tuple[ForeignCRD, ...]:
        """The CRDs `provider` never owns; None (a CRD whose provider is unknown): those of every provider."""
        if provider is None:
            return tuple(crd for crds in self.never_own.values() for crd in crds)
        return self.never_own.get(provider, ())

    def never_owns(self, name: str, provider: Provider | None) -> bool:
        return any(crd.name == name for crd in self.foreign_crds(provider))

    def foreign_crd_refs(self, provider: Provider | None) -> tuple[ObjectRef, ...]:
        return tuple(ObjectRef(CRD_API_VERSION, "CustomResourceDefinition", crd.name)
                     for crd in self.foreign_crds(provider))

    def versions(self, provider: Provider) -> list[str]:
        return sorted(self.entries.get(provider, {}), key=_version_key)

    def newest_patches(self, provider: Provider) -> dict[str, str]:
        """Per minor line (oldest line first), its newest patch in the catalog: {"v3.31": "v3.31.7", ...}."""
        newest: dict[str, str] = {}
        for version in self.versions(provider):  # ascending, so the last one of a line wins
            newest[minor_line(version)] = version
        return newest

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


def minor_line(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _checked_deprecated(provider_name: str, version: str, value: object, versions: dict) -> str | None:
    """A deprecation says why in words and, when it names a successor ("superseded by vX.Y.Z: ..."), one the catalog
    has and does not deprecate itself: the listing sends users there."""
    if value is None:
        return None
    where = f"catalog {provider_name} {version}: deprecated"
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where} must say why, e.g. \"superseded by vX.Y.Z: <what it fixes>\"")
    reason = " ".join(value.split())
    if reason.startswith("superseded by "):
        successor = reason.removeprefix("superseded by ").split(":")[0].strip()
        if successor not in versions:
            raise CatalogError(f"{where} names {successor!r}, which is not a {provider_name} catalog version")
        if versions[successor].get("deprecated"):
            raise CatalogError(f"{where} names {successor!r}, which is deprecated too: name the version to move to")
    return reason


def _checked_max_unavailable(provider_name: str, value: int | str) -> int | str:
    """The catalog's rollout default, held to the rules a user's value meets (resolve copies it unvalidated)."""
    try:
        return RolloutOptions(max_unavailable=value).max_unavailable
    except ValueError as exc:
        raise CatalogError(f"catalog {provider_name}.rollout.maxUnavailable {value!r} is not a count 1..1000 or a "
                           f"percentage 1%..100%: {exc}") from None


def parse_catalog(data: dict) -> Catalog:
    entries: dict[Provider, dict[str, VersionEntry]] = {}
    defaults: dict[Provider, str] = {}
    never_own: dict[Provider, tuple[ForeignCRD, ...]] = {}
    max_unavailable: dict[Provider, int | str] = {}
    for provider_name, block in data.items():
        provider = Provider(provider_name)
        never_own[provider] = tuple(
            ForeignCRD(name=item["name"], needed_when=item.get("neededWhen"),
                       installed_by=" ".join(str(item.get("installedBy") or "").split()))
            for item in block.get("neverOwn") or [])
        max_unavailable[provider] = _checked_max_unavailable(
            provider_name, (block.get("rollout") or {}).get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE))
        entries[provider] = {
            version: VersionEntry(
                provider=provider,
                version=version,
                images=dict(item["images"]),
                templates=tuple(item["templates"]),
                features=dict(item.get("features") or {}),
                deprecated=_checked_deprecated(provider_name, version, item.get("deprecated"), block["versions"]),
            )
            for version, item in block["versions"].items()
        }
        defaults[provider] = block.get("default") or max(entries[provider], key=_version_key)
        if defaults[provider] not in entries[provider]:
            raise CatalogError(f"catalog default {defaults[provider]!r} for {provider_name} is not a listed version")
        if entries[provider][defaults[provider]].deprecated:
            raise CatalogError(f"catalog default {defaults[provider]!r} for {provider_name} is deprecated: a new "
                               "install must not get a version the catalog tells users to leave")
    return Catalog(entries=entries, defaults=defaults, never_own=never_own, max_unavailable=max_unavailable)


@lru_cache(maxsize=4)
def load_catalog(path: Path | None = None) -> Catalog:
    path = path or manifests_dir() / "catalog.yaml"
    with open(path, encoding="utf-8") as handle:
        return parse_catalog(yaml.safe_load(handle))


def resolve(spec: ClusterNetworkSpec, catalog: Catalog | None = None) -> ClusterNetworkSpec:
    """Return a copy of spec with provider and version filled in, provider option blocks defaulted, and
    rollout.maxUnavailable, when the user did not set it, the provider's upstream default (10% for the VPC CNI).

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
    if "max_unavailable" not in spec.rollout.model_fields_set:
        default = catalog.max_unavailable.get(provider, DEFAULT_MAX_UNAVAILABLE)
        update["rollout"] = spec.rollout.model_copy(update={"max_unavailable": default})
    return spec.model_copy(update=update)
