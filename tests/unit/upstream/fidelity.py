"""Object-by-object comparison of a render with the vendored upstream release manifest, and the allow-list of
deliberate differences (differences.yaml beside this file). Pure functions over parsed YAML; the test is
tests/unit/test_upstream_fidelity.py.

A difference is (object, path, change): object `Kind/name` or `Kind/namespace/name`; path like
`.spec.template.spec.containers[calico-node].env[FELIX_LOGSEVERITYSCREEN].value` (list items that all carry a unique
`name` are matched by name, and a changed order is its own difference `... (order)`, as is a list of scalars with
the same items in another order; other lists by index; a mapping only one side has is compared with an empty one, so
labels upstream does not set are reported one by one); change
`added` (only we render it), `removed` (only upstream has it) or `changed`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DIFFERENCES_FILE = Path(__file__).with_name("differences.yaml")
STATUSES = ("deliberate", "known-bug")


@dataclass(frozen=True)
class Difference:
    provider: str
    version: str
    object: str
    path: str
    change: str  # added | removed | changed
    upstream: Any = None
    rendered: Any = None

    def __str__(self) -> str:
        if self.change == "changed":
            detail = f"upstream {_short(self.upstream)}, rendered {_short(self.rendered)}"
        else:
            detail = _short(self.rendered if self.change == "added" else self.upstream)
        return f"{self.provider} {self.version} {self.object} {self.path or '(object)'} {self.change}: {detail}"


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def glob(pattern: str, text: str) -> bool:
    """`*` matches anything (slashes and dots included); every other character, brackets too, is literal."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


# install-cni's placeholders stand bare where a number goes (`"mtu": __CNI_MTU__`): quoted before parsing.
_BARE_PLACEHOLDER = re.compile(r'(?<!")\b(__[A-Z_]+__)\b(?!")')


def _json(text: str) -> object:
    return json.loads(_BARE_PLACEHOLDER.sub(r'"\1"', text))


def object_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    parts = [obj["kind"], meta.get("namespace"), meta["name"]]
    return "/".join(p for p in parts if p)


def _by_name(items: list) -> dict | None:
    """name -> item when every item is a mapping with a distinct name (containers, env, volumes, ports...)."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    named = {i["name"]: i for i in items}
    return named if len(named) == len(items) else None


def diff_values(upstream: Any, rendered: Any, path: str = "") -> list[tuple[str, str, Any, Any]]:
    """(path, change, upstream value, rendered value) for every place the two differ."""
    if isinstance(upstream, dict) and isinstance(rendered, dict):
        out = []
        for key in list(upstream) + [k for k in rendered if k not in upstream]:
            here = f"{path}.{key}"
            if key not in rendered and not isinstance(upstream[key], dict):
                out.append((here, "removed", upstream[key], None))
            elif key not in upstream and not isinstance(rendered[key], dict):
                out.append((here, "added", None, rendered[key]))
            else:  # a mapping only one side has is compared key by key with an empty one (labels upstream lacks)
                out.extend(diff_values(upstream.get(key, {}), rendered.get(key, {}), here))
        return out
    if isinstance(upstream, list) and isinstance(rendered, list):
        up_named, our_named = _by_name(upstream), _by_name(rendered)
        if up_named is not None and our_named is not None:
            out = []
            common_up = [n for n in up_named if n in our_named]
            common_ours = [n for n in our_named if n in up_named]
            if common_up != common_ours:
                out.append((f"{path} (order)", "changed", list(up_named), list(our_named)))
            for name in list(up_named) + [n for n in our_named if n not in up_named]:
                here = f"{path}[{name}]"
                if name not in our_named:
                    out.append((here, "removed", up_named[name], None))
                elif name not in up_named:
                    out.append((here, "added", None, our_named[name]))
                else:
                    out.extend(diff_values(up_named[name], our_named[name], here))
            return out
        scalars = all(not isinstance(v, (dict, list)) for v in upstream + rendered)
        if scalars and upstream != rendered and sorted(map(json.dumps, upstream)) == sorted(map(json.dumps, rendered)):
            return [(f"{path} (order)", "changed", upstream, rendered)]  # same items (RBAC resources, verbs)
        out = []
        for index in range(max(len(upstream), len(rendered))):
            here = f"{path}[{index}]"
            if index >= len(rendered):
                out.append((here, "removed", upstream[index], None))
            elif index >= len(upstream):
                out.append((here, "added", None, rendered[index]))
            else:
                out.extend(diff_values(upstream[index], rendered[index], here))
        return out
    if type(upstream) is not type(rendered) or upstream != rendered:
        return [(path, "changed", upstream, rendered)]
    return []


def compare(provider: str, version: str, upstream: list[dict], rendered: list[dict]) -> list[Difference]:
    """Every difference between the two object lists; objects are matched by kind, namespace and name."""
    up = {object_id(o): o for o in upstream}
    ours = {object_id(o): o for o in rendered}
    out = []
    for oid in list(up) + [o for o in ours if o not in up]:
        if oid not in ours:
            out.append(Difference(provider, version, oid, "", "removed"))
        elif oid not in up:
            out.append(Difference(provider, version, oid, "", "added"))
        else:
            out.extend(Difference(provider, version, oid, path, change, u, r)
                       for path, change, u, r in diff_values(up[oid], ours[oid]))
    return out


@dataclass(frozen=True)
class Allowed:
    """One deliberate difference (or known bug) from differences.yaml."""

    id: str
    reason: str
    providers: tuple[str, ...]
    objects: tuple[str, ...]
    paths: tuple[str, ...]
    changes: tuple[str, ...]
    versions: tuple[str, ...]
    status: str
    equal_as: str | None
    fixed_by: str | None

    def matches(self, d: Difference) -> bool:
        if d.provider not in self.providers or d.change not in self.changes:
            return False
        if self.versions and d.version not in self.versions:
            return False
        if not any(glob(pattern, d.object) for pattern in self.objects):
            return False
        if not any(glob(pattern, d.path) for pattern in self.paths):
            return False
        if self.equal_as == "json":
            try:
                return _json(d.upstream) == _json(d.rendered)
            except (TypeError, ValueError):
                return False
        return True


def load_allowed(path: Path = DIFFERENCES_FILE) -> list[Allowed]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    allowed = []
    for e in entries:
        unknown = set(e) - {"id", "reason", "providers", "objects", "paths", "changes", "versions", "status",
                            "equal_as", "fixed_by"}
        if unknown:
            raise ValueError(f"{path}: entry {e.get('id')!r} has unknown keys {sorted(unknown)}")
        status = e.get("status", "deliberate")
        if status not in STATUSES or (status == "known-bug") != bool(e.get("fixed_by")):
            raise ValueError(f"{path}: entry {e['id']!r}: status is one of {STATUSES}; a known-bug names fixed_by")
        allowed.append(Allowed(
            id=e["id"], reason=" ".join(e["reason"].split()), providers=tuple(e["providers"]),
            objects=tuple(e.get("objects", ["*"])), paths=tuple(e.get("paths", ["*"])),
            changes=tuple(e.get("changes", ["added", "removed", "changed"])), versions=tuple(e.get("versions", [])),
            status=status, equal_as=e.get("equal_as"), fixed_by=e.get("fixed_by")))
    ids = [a.id for a in allowed]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate ids")
    return allowed
