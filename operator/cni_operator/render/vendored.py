"""Objects taken unchanged from a vendored upstream release manifest (manifests/upstream/<provider>/<version>/).

A catalog `templates:` entry `vendored:<Kind>` (e.g. `vendored:CustomResourceDefinition`) renders every object of
that kind in the release manifest hack/vendor-upstream.py stored for the version, in upstream's order, as upstream
wrote it. The only change: `status` and `metadata.creationTimestamp`, which some generators write into CRD
manifests (`status: {acceptedNames: {kind: ""}}`, `creationTimestamp: null`), are dropped. The API server owns
both and ignores them in an apply, and the drift check would see the server's values as drift forever. The
framework adds the operator's labels afterwards, as for every object.

The file's sha256 is checked against SOURCE.yaml when it is first read: an edited vendored manifest is a packaging
error, never something to render. Parsed objects are cached as compact JSON text, one string per object, and
decoded per render: every render hands out fresh dicts (callers add labels), and the cache holds about a third of
what the parsed dicts would.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import yaml

from ..catalog import CatalogError, VersionEntry
from ..resources import manifests_dir

PREFIX = "vendored:"
SOURCE_FILE = "SOURCE.yaml"

# Fields the API server owns: an apply cannot set them, and their placeholders would read as drift.
_SERVER_OWNED_TOP = ("status",)
_SERVER_OWNED_META = ("creationTimestamp",)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def is_vendored(template: str) -> bool:
    return template.startswith(PREFIX)


def upstream_dir(provider: str, version: str) -> Path:
    return manifests_dir() / "upstream" / provider / version


def manifest_path(provider: str, version: str) -> Path:
    """The vendored release manifest of a version, as its SOURCE.yaml names it."""
    directory = upstream_dir(provider, version)
    try:
        source = yaml.safe_load((directory / SOURCE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog {provider} {version}: no vendored upstream manifest in {directory}; "
                           f"run hack/vendor-upstream.py {provider} {version}") from None
    return directory / Path(source["path"]).name


def _verified_bytes(provider: str, version: str) -> bytes:
    path = manifest_path(provider, version)
    source = yaml.safe_load((path.parent / SOURCE_FILE).read_text(encoding="utf-8"))
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != source["sha256"]:
        raise CatalogError(f"{path}: sha256 differs from {SOURCE_FILE}; vendored files are upstream's bytes, never "
                           f"edited: re-run hack/vendor-upstream.py {provider} {version}")
    return data


def upstream_objects(provider: str, version: str) -> list[dict]:
    """Every object of the vendored release manifest, as upstream wrote it (for comparisons; not cached)."""
    return [doc for doc in yaml.load_all(_verified_bytes(provider, version), Loader=_Loader) if doc]


def _applicable(obj: dict) -> dict:
    out = {key: value for key, value in obj.items() if key not in _SERVER_OWNED_TOP}
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_OWNED_META}
    return out


@lru_cache(maxsize=16)
def _cached(provider: str, version: str, kind: str) -> tuple[str, ...]:
    found = tuple(json.dumps(_applicable(obj), separators=(",", ":"))
                  for obj in upstream_objects(provider, version) if obj.get("kind") == kind)
    if not found:
        raise CatalogError(f"catalog {provider} {version}: {PREFIX}{kind} names no object of the vendored manifest")
    return found


def render(entry: VersionEntry, template: str) -> list[dict]:
    """The objects a `vendored:<Kind>` entry stands for, fresh dicts each call."""
    kind = template[len(PREFIX):]
    return [json.loads(text) for text in _cached(entry.provider.value, entry.version, kind)]
