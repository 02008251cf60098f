"""Validate a ClusterNetwork spec the way a person wants to read it: one (field, message) problem per mistake.

`check(raw_spec)` parses once and checks, in order: the models in api.py (types, ranges, patterns, cross-field
rules), the version catalog (cni.version), and for eks the AWS region (a known registry, unless spec.registry names a
mirror). The CLI
prints the problems one per line; the operator turns them into Degraded/InvalidConfiguration and otherwise uses the
resolved spec it returns.

Parsing is strict and JSON-like, as the apiserver's is: "8472" is not an integer, "true" is not a boolean, and
snake_case names are unknown fields. pydantic's own error text is never shown; each error type has a one-line
message that names the allowed values, read from the same structural schema the CRD is generated from.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydantic

from . import api
from .catalog import CatalogError, load_catalog, resolve


@dataclass(frozen=True)
class Problem:
    field: str  # camelCase path, e.g. spec.canal.vxlanPort or spec.imagePullSecrets[0].name
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


ALLOWED = api.FIELD_WORDS  # what a field accepts, in words; used for any error on it


@dataclass(frozen=True)
class Validated:
    """A spec checked once: the parsed models and every problem, so a reconcile pass parses the spec one time."""

    problems: list[Problem]
    parsed: api.ClusterNetworkSpec | None = None  # when the models accept it (the catalog may still not)
    spec: api.ClusterNetworkSpec | None = None  # resolved (provider, version, option blocks) when there are no problems

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def provider(self) -> api.Provider | None:
        """The CNI the spec asks for, when that much can be read from it."""
        return self.parsed.provider if self.parsed is not None else None


def check(raw_spec: Any, installed: tuple[str, str] | None = None) -> Validated:
    """Parse, validate and resolve a ClusterNetwork spec (as it comes from the API, camelCase).

    `installed`: (provider, version) running now, from the status. A spec that leaves `cni.version` unset keeps that
    version instead of the catalog default, so an operator with another default never moves a running CNI."""
    if not isinstance(raw_spec, dict):
        return Validated([Problem("spec", "must be an object with at least clusterType (mks, eks or imported)")])
    pinned = _pinned_version(raw_spec, installed)
    if pinned is not None:
        raw_spec = {**raw_spec, "cni": {**(raw_spec.get("cni") or {}), "version": pinned}}
    parsed = None
    try:
        parsed = api.ClusterNetworkSpec.model_validate_json(
            json.dumps(raw_spec, default=str), strict=True, by_alias=True, by_name=False
        )
        problems: list[Problem] = []
    except pydantic.ValidationError as exc:
        problems = _translate(exc)
    # The data checks read the raw values, so they are reported together with any schema problem elsewhere;
    # a field that already has a problem is not checked again.
    seen = {p.field for p in problems}
    problems += [p for p in _data_problems(raw_spec, pinned=pinned is not None) if p.field not in seen]
    if problems or parsed is None:
        return Validated(problems, parsed)
    return Validated([], parsed, resolve(parsed))


def _pinned_version(raw: dict, installed: tuple[str, str] | None) -> str | None:
    """The installed version, when the spec leaves cni.version unset and asks for the provider that is installed."""
    cni = raw.get("cni") if isinstance(raw.get("cni"), dict) else {}
    if installed is None or cni.get("version") is not None:
        return None
    try:
        provider = api.PROVIDER_FOR_CLUSTER_TYPE[api.ClusterType(raw.get("clusterType"))]
    except (ValueError, TypeError):
        return None
    if provider is None or cni.get("provider", provider.value) != installed[0]:
        return None  # nothing to install, or another provider (refused later): the installed version says nothing
    return installed[1]


def validate(raw_spec: Any) -> list[Problem]:
    """Every problem with a ClusterNetwork spec (as it comes from the API, camelCase); empty when it is valid."""
    return check(raw_spec).problems


def validate_object(obj: Any) -> list[Problem]:
    """Validate a whole ClusterNetwork: apiVersion, kind, metadata.name, then its spec."""
    if not isinstance(obj, dict):
        return [Problem("(document)", f"must be a {api.KIND} object, not {type(obj).__name__}")]
    problems: list[Problem] = []
    want_api_version = f"{api.GROUP}/{api.VERSION}"
    if obj.get("apiVersion") != want_api_version:
        problems.append(Problem("apiVersion", f"must be {want_api_version}"))
    if obj.get("kind") != api.KIND:
        problems.append(Problem("kind", f"must be {api.KIND}"))
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name != api.SINGLETON_NAME:
        problems.append(
            Problem("metadata.name", f"must be {api.SINGLETON_NAME!r}: there is one {api.KIND} per cluster")
        )
    if "spec" not in obj:
        problems.append(Problem("spec", "required; at least clusterType (mks, eks or imported)"))
    else:
        problems.extend(validate(obj["spec"]))
    return problems


def summary(problems: list[Problem]) -> str:
    """One line for a condition message."""
    return "; ".join(str(p) for p in problems)


# ---------------------------------------------------------------- pydantic errors -> problems


@lru_cache(maxsize=1)
def _spec_schema() -> dict:
    from .schema.crd import spec_schema  # crd imports api only; lazy to keep this module light to import

    return spec_schema()


def _walk(loc: tuple) -> tuple[str, dict | None, tuple]:
    """Follow an error location through the spec schema: (field path, schema node or None, the unmatched rest)."""
    path, node = "spec", _spec_schema()
    for i, part in enumerate(loc):
        if isinstance(part, int) and node is not None and node.get("type") == "array":
            path, node = f"{path}[{part}]", node["items"]
        elif isinstance(part, str) and node is not None and part in node.get("properties", {}):
            path, node = f"{path}.{part}", node["properties"][part]
        else:
            return path, node, tuple(loc[i:])
    return path, node, ()


def _range(node: dict | None, kind: str) -> str:
    node = node or {}
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{kind} between {low} and {high}"
    if low is not None:
        return f"{kind} of at least {low}"
    if high is not None:
        return f"{kind} of at most {high}"
    return kind


def _one_of(values: list) -> str:
    return ", ".join(str(v) for v in values)


def _message(error: dict, path: str, node: dict | None) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if path == "spec.cni.version" and kind != "value_error":  # offline, the catalog can say more than the CRD
        return f"must be a catalog version such as v1.2.3; allowed: {_catalog_versions()}"
    words = ALLOWED.get(re.sub(r"\[\d+\]", "[]", path))  # list items share their words: spec.imagePullSecrets[].name
    if words and kind not in ("missing", "value_error"):
        return f"must be {words}"
    node = node or {}
    if kind == "missing":
        hint = f"; one of: {_one_of(node['enum'])}" if "enum" in node else ""
        return f"required{hint}"
    if kind in ("enum", "literal_error") or "enum" in node:
        return (
            f"must be one of: {_one_of(node.get('enum', []))}" if node.get("enum") else "not an allowed value"
        )
    if kind in (
        "int_type",
        "int_parsing",
        "int_from_float",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
    ):
        return f"must be {_range(node, 'an integer')}"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("string_type", "string_sub_type"):
        return "must be a string"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length', node.get('maxLength'))} characters"
    if kind == "string_too_short":
        shortest = ctx.get("min_length", node.get("minLength"))
        return "must not be empty" if shortest == 1 else f"must be at least {shortest} characters"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern', node.get('pattern'))}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = _one_of(node.get("properties", {}))
        return f"must be an object with the fields: {fields}" if fields else "must be an object"
    if kind == "list_type":
        return "must be a list"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length', node.get('maxItems'))} items"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "is not valid")))
    return f"is not valid ({kind})"


def _nearest(name: str, known: list[str]) -> str | None:
    """The known field a misspelt one most likely meant: case and `_`/`-` ignored first (pod_cidr, podCidr ->
    podCIDR), then difflib's closest match (podCDIR -> podCIDR); None when nothing is close."""
    squashed = {re.sub(r"[_-]", "", k).lower(): k for k in known}
    exact = squashed.get(re.sub(r"[_-]", "", name).lower())
    if exact:
        return exact
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.6)
    return next((k for k in known if k.lower() == close[0]), None) if close else None


def _translate(exc: pydantic.ValidationError) -> list[Problem]:
    problems: dict[str, Problem] = {}  # by field: a union (maxUnavailable) fails once per member, say it once
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if error["type"] == "spec_conflict":
            base, _, _ = _walk(loc)
            for field, message in error["ctx"]["problems"]:
                problems.setdefault(f"{base}.{field}", Problem(f"{base}.{field}", message))
            continue
        if error["type"] == "extra_forbidden":
            parent_path, parent, rest = _walk(loc[:-1])
            path = f"{parent_path}.{loc[-1]}"
            known = list((parent or {}).get("properties", {}))
            hint = _nearest(str(loc[-1]), known)
            did_you_mean = f"did you mean {hint}? " if hint else ""
            problems.setdefault(
                path, Problem(path, f"unknown field; {did_you_mean}allowed here: {_one_of(known)}")
            )
            continue
        path, node, rest = _walk(loc)
        if rest and node is not None and node.get("x-kubernetes-int-or-string"):
            rest = ()  # the union's member tag, e.g. ('int',) or ('function-after[...]',): not a field
        if rest:
            # A location the schema does not know: still say where, never pydantic's text.
            path = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)
            node = None
        problems.setdefault(path, Problem(path, _message(error, path, node)))
    return list(problems.values())


# ---------------------------------------------------------------- catalog and region


def _catalog_versions() -> str:
    catalog = load_catalog()
    return "; ".join(f"{p.value} {_one_of(catalog.versions(p))}" for p in api.Provider if catalog.versions(p))


def _data_problems(raw: dict, pinned: bool = False) -> list[Problem]:
    """Catalog version and AWS region: the checks that need data the schema does not have."""
    try:
        provider = api.PROVIDER_FOR_CLUSTER_TYPE[api.ClusterType(raw.get("clusterType"))]
    except (ValueError, TypeError):
        return []
    if provider is None:
        return []
    cni = raw.get("cni") if isinstance(raw.get("cni"), dict) else {}
    version = cni.get("version") if isinstance(cni.get("version"), str) else None
    problems = _catalog_problems(provider, version, pinned)
    if provider is api.Provider.AWS_VPC_CNI and not raw.get("registry"):  # a mirror serves any region
        aws = raw.get("awsVpcCni") if isinstance(raw.get("awsVpcCni"), dict) else {}
        region = aws.get("region", api.AwsVpcCniOptions().region)
        if isinstance(region, str):
            problems += _region_problems(region)
    return problems


def _catalog_problems(provider: api.Provider, version: str | None, pinned: bool = False) -> list[Problem]:
    catalog = load_catalog()
    known = catalog.versions(provider)
    if pinned and version not in known:
        return [
            Problem(
                "spec.cni.version",
                f"unset, so the installed {provider.value} {version} stays, but this operator's catalog does not "
                f"have it: set it to one of {_one_of(known)} to move the CNI there, or run an operator that has it",
            )
        ]
    if version is not None and version not in known:
        return [
            Problem(
                "spec.cni.version",
                f"{version} is not in the catalog for {provider.value}; allowed: {_one_of(known)}",
            )
        ]
    try:
        catalog.entry(provider, version)
    except CatalogError as exc:  # e.g. a catalog without a default for this provider
        return [Problem("spec.cni.version", str(exc))]
    return []


def _region_problems(region: str) -> list[Problem]:
    from . import aws_registry

    try:
        aws_registry.registry_for(region)
    except ValueError:
        return [
            Problem(
                "spec.awsVpcCni.region",
                f"{region} has no known EKS image registry; allowed: {_one_of(aws_registry.known_regions())} "
                "(or set spec.registry to a mirror that holds the images)",
            )
        ]
    return []
