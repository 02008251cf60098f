"""Which registries the CNI's images may come from: an operator setting, outside the ClusterNetwork.

Why: the CNI runs as a privileged, host-network DaemonSet, so whoever picks its images is root on every node. A
ClusterNetwork picks them (`spec.registry`, and for eks `spec.awsVpcCni.region`), so without this setting write access
to a ClusterNetwork would be cluster-admin. The operator applies nothing whose images are not all allowed here.

The setting is a list of entries (CNI_OPERATOR_ALLOWED_REGISTRIES, comma-separated; the chart's `allowedRegistries`):

    catalog                   the registries the catalog's images come from: docker.io, quay.io, and the EKS add-on
                              registry (an Amazon ECR host) of every AWS region aws_registry knows. Unset or empty
                              means exactly this.
    host[:port]               any image on that registry, e.g. mirror.local:5000
    host[:port]/path          images whose repository is that path or below it, whole components:
                              mirror.local/cni allows mirror.local/cni/calico/node, not mirror.local/cni-x/node

An image's registry is its first path component when that has a dot or a port or is localhost, else docker.io (with
library/ before a one-component name), the rule container runtimes use (images.locate). Hosts match exactly and
without regard to case: no wildcards, no suffixes, no aliases (index.docker.io is not docker.io), because any AWS
account can own an `<account>.dkr.ecr.<region>.amazonaws.com` registry and any domain can have subdomains.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from . import aws_registry
from .api import ClusterNetworkSpec, Provider
from .catalog import Catalog, load_catalog
from .images import locate

ENV = "CNI_OPERATOR_ALLOWED_REGISTRIES"
CATALOG = "catalog"
# The same grammar as spec.registry (api.ClusterNetworkSpec.registry): lower-case host, optional :port and /path.
_ENTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._-]+)*$")
ENTRY_WORDS = ("`catalog`, or a registry host with optional :port and /path in lower case, such as quay.io, "
               "mirror.local:5000 or mirror.local/cni")
HOW_TO_ALLOW = f"add it to the chart value allowedRegistries ({ENV} on the operator), see docs/security.md"


class PolicyError(ValueError):
    """The setting has entries that are not registries; the message names each and says what is accepted."""


@dataclass(frozen=True)
class Allowed:
    """One allowed registry: a host[:port], and optionally a repository path prefix under it."""

    host: str
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> Allowed:
        host, _, path = text.partition("/")
        return cls(host, path)

    def allows(self, image: str) -> bool:
        host, repository = locate(image)
        if host != self.host:
            return False
        return not self.path or repository == self.path or repository.startswith(self.path + "/")

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host


def _catalog_registries(catalog: Catalog) -> tuple[str, ...]:
    found: set[str] = set()
    for provider, versions in catalog.entries.items():
        for entry in versions.values():
            if provider is Provider.AWS_VPC_CNI:
                # Its images carry no registry: render puts the ECR registry of spec.awsVpcCni.region in front.
                found.update(aws_registry.registry_for(region) for region in aws_registry.known_regions())
            else:
                found.update(locate(image)[0] for image in entry.images.values())
    return tuple(sorted(found))


def catalog_registries(catalog: Catalog | None = None) -> tuple[str, ...]:
    """Every registry an image of the catalog is pulled from at default options, for any region: the default
    policy. Derived from the catalog and aws_registry, so it follows a new version or region by itself."""
    return _catalog_registries(catalog) if catalog is not None else _default_catalog_registries()


@lru_cache(maxsize=1)
def _default_catalog_registries() -> tuple[str, ...]:
    return _catalog_registries(load_catalog())


@dataclass(frozen=True)
class RegistryPolicy:
    entries: tuple[str, ...] = ()  # as configured; () is the default, the catalog's registries

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> RegistryPolicy:
        """From the setting's text (comma-separated) or a list; PolicyError names every entry that is not valid."""
        items = value.split(",") if isinstance(value, str) else list(value or [])
        entries = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
        bad = [e for e in entries if e != CATALOG and not _ENTRY.match(e)]
        if bad:
            raise PolicyError(f"{', '.join(repr(b) for b in bad)} {'is not a' if len(bad) == 1 else 'are not'} "
                              f"valid allowed {'registry' if len(bad) == 1 else 'registries'}; each entry must be "
                              f"{ENTRY_WORDS}")
        return cls(entries)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RegistryPolicy:
        return cls.parse((os.environ if environ is None else environ).get(ENV, ""))

    @property
    def allowed(self) -> tuple[Allowed, ...]:
        return _allowed(self.entries)

    def allows(self, image: str) -> bool:
        return any(entry.allows(image) for entry in self.allowed)

    def describe(self) -> str:
        """The policy in words, for messages."""
        words = []
        for entry in self.entries or (CATALOG,):
            if entry == CATALOG:
                hosts = catalog_registries()
                others = [h for h in hosts if ".dkr.ecr." not in h]
                ecr = len(hosts) - len(others)
                words.append(f"the catalog's registries ({', '.join(others)}"
                             + (f" and the Amazon ECR registries of {ecr} AWS regions" if ecr else "") + ")")
            else:
                words.append(entry)
        return ", ".join(words)


@lru_cache(maxsize=16)
def _allowed(entries: tuple[str, ...]) -> tuple[Allowed, ...]:
    out: list[Allowed] = []
    for entry in entries or (CATALOG,):
        if entry == CATALOG:
            out.extend(Allowed(host) for host in catalog_registries())
        else:
            out.append(Allowed.parse(entry))
    return tuple(out)


# ---------------------------------------------------------------- what a render would pull

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def images_of(objects: Iterable[dict]) -> list[str]:
    """Every container image in the objects (any pod template, at any depth), in order, each once."""
    found: dict[str, None] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _CONTAINER_LISTS and isinstance(value, list):
                    found.update((c["image"], None) for c in value if isinstance(c, dict) and c.get("image"))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(objects))
    return list(found)


def refused_images(objects: Iterable[dict], policy: RegistryPolicy) -> list[str]:
    """The images of `objects` the policy does not allow (empty: everything may be applied)."""
    return [image for image in images_of(objects) if not policy.allows(image)]


def refusal(spec: ClusterNetworkSpec, refused: list[str], policy: RegistryPolicy) -> str:
    """Why nothing is applied, in words: which registry, from which field, what is allowed, how to allow it."""
    registries = list(dict.fromkeys(locate(image)[0] for image in refused))
    if spec.registry:
        head, suggest = f"spec.registry {spec.registry} is not an allowed image registry", spec.registry
    elif spec.provider is Provider.AWS_VPC_CNI and spec.aws_vpc_cni is not None:
        head = (f"the ECR registry of spec.awsVpcCni.region {spec.aws_vpc_cni.region} ({registries[0]}) is not an "
                "allowed image registry")
        suggest = registries[0]
    else:
        head = f"the catalog's images come from registries that are not allowed: {', '.join(registries)}"
        suggest = registries[0]
    shown = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3 else "")
    return (f"{head}; the CNI would run {shown}. Nothing is applied until every image comes from an allowed "
            f"registry: {policy.describe()}. Set spec.registry to an allowed registry that holds the images, or "
            f"have a cluster administrator allow {suggest}: {HOW_TO_ALLOW}.")
