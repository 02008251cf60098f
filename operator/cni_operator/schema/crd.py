"""The ClusterNetwork CRD, generated from the pydantic models in api.py (`cni-operator crd`, `make crd`).

pydantic's JSON schema is turned into a *structural* OpenAPI v3 schema the apiserver accepts: every $ref inlined,
`anyOf [X, null]` collapsed to X (a null is then pruned, as for any other optional field), the int-or-string union
written as `x-kubernetes-int-or-string`, titles and `additionalProperties: false` dropped (a structural schema
prunes unknown fields instead, and `kubectl apply --validate=strict` reports them).

Defaults: the spec keeps the scalar defaults pydantic declares, so the apiserver stores them and an operator upgrade
never silently changes a live cluster's podCIDR or backend. A default applies only when its parent object exists, so
no default creates an option block. Defaults that depend on clusterType or the version catalog (cni.provider,
cni.version) cannot be expressed here; `catalog.resolve` fills them. Status declares every field and no defaults.

The cross-field and immutability rules are CEL (`x-kubernetes-validations`), listed once in rules.RULES with a
sentence each for docs/api.md. Output is deterministic: same models, byte-identical YAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from .. import api
from .rules import RULES

NAME = f"{api.PLURAL}.{api.GROUP}"
HEADER = (
    "# Generated from operator/cni_operator/api/ by `cni-operator crd` (make crd). Do not edit by hand.\n"
)
DESCRIPTION = (
    "ClusterNetwork declares the pod network of this cluster: what kind of cluster it is (mks, eks or imported) "
    "and the CNI options. The operator installs and keeps the matching CNI (Canal or the AWS VPC CNI) and reports "
    "its health in status. There is one, named default."
)


# Kubernetes list semantics where the default (atomic) is not right.
LIST_EXTENSIONS: dict[str, dict[str, Any]] = {
    "status.conditions": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
}

PRINTER_COLUMNS = [
    {
        "name": "Type",
        "type": "string",
        "jsonPath": ".spec.clusterType",
        "description": "mks, eks or imported",
    },
    {"name": "CNI", "type": "string", "jsonPath": ".status.provider", "description": "The CNI installed"},
    {
        "name": "Version",
        "type": "string",
        "jsonPath": ".status.version",
        "description": "The CNI version installed",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": ".status.readySummary",
        "description": "Nodes with a Ready CNI pod / all nodes",
    },
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Summary of the conditions",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Unreverted",
        "type": "integer",
        "priority": 1,
        "jsonPath": ".status.drift.unreverted",
        "description": "Managed objects that differ from the render and are left as they are (see status.drift)",
    },
    {
        "name": "Rollout",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.rollout.phase",
        "description": "The last update of the CNI: Canary, Soaking, Rolling, Complete, RolledBack or Failed",
    },
    {
        "name": "Message",
        "type": "string",
        "priority": 1,
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        "description": "Why the network is or is not Ready",
    },
]

# Key order of every schema node in the output, so the YAML reads top-down and never reorders between runs.
_KEY_ORDER = (
    "description",
    "type",
    "x-kubernetes-int-or-string",
    "anyOf",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "maxProperties",
    "default",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
)
_DROPPED = {"title", "additionalProperties", "$defs"}


class SchemaError(ValueError):
    """The models use a construct the generator cannot turn into a structural schema."""


def _is_null(node: dict) -> bool:
    return node.get("type") == "null"


def _structural(node: dict, defs: dict, path: str, *, keep_defaults: bool) -> dict:
    """Convert one pydantic JSON-schema node (and its children) into a structural OpenAPI v3 node."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # Keys next to the $ref (the field's description, its default) win over the referenced model's own.
        node = {**target, **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if not _is_null(b)]
        if len(branches) == 1:
            # Optional X: the field is X, and absent (or null, which the apiserver prunes) when unset.
            merged = {**branches[0], **node}
            if merged.get("default", ...) is None:
                del merged["default"]
            return _structural(merged, defs, path, keep_defaults=keep_defaults)
        return _int_or_string(node, branches, path, keep_defaults=keep_defaults)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED and not (key == "additionalProperties" and isinstance(value, dict)):
            continue
        if key == "default":
            # An empty string means the same as an absent field: storing it would only add noise.
            if keep_defaults and value not in (None, "") and not isinstance(value, (dict, list)):
                out["default"] = value
            continue
        if key == "properties":
            out["properties"] = {
                name: _structural(child, defs, f"{path}.{name}", keep_defaults=keep_defaults)
                for name, child in value.items()
            }
        elif key == "items":
            out["items"] = _structural(value, defs, f"{path}[]", keep_defaults=keep_defaults)
        elif key == "additionalProperties" and isinstance(value, dict) and "properties" not in node:
            # A map (dict[str, X], such as a nodeSelector): its values' schema; keys are checked by a CEL rule.
            out["additionalProperties"] = _structural(value, defs, f"{path}.*", keep_defaults=keep_defaults)
        elif key == "propertyNames":
            continue  # not structural; a map's keys get a CEL rule in rules.RULES instead
        elif key in ("allOf", "oneOf", "not", "const", "prefixItems"):
            raise SchemaError(f"{path}: {key} has no structural equivalent here; change the model")
        else:
            out[key] = value
    if out.get("type") == "string" and "enum" in out and "maxLength" not in out:
        # Implied by the enum, but the CEL cost estimator only reads maxLength.
        out["maxLength"] = max(len(value) for value in out["enum"])
    if "type" not in out and "x-kubernetes-int-or-string" not in out:
        raise SchemaError(f"{path}: no type")
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        raise SchemaError(f"{path}: free-form objects are not allowed; declare the fields")
    if path in LIST_EXTENSIONS:
        out.update(LIST_EXTENSIONS[path])
    return _ordered(out)


def _int_or_string(node: dict, branches: list[dict], path: str, *, keep_defaults: bool) -> dict:
    types = sorted(b.get("type") for b in branches)
    if types != ["integer", "string"]:
        raise SchemaError(f"{path}: only the integer-or-string union is supported, got {types}")
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROPPED and k != "default"}
    out["x-kubernetes-int-or-string"] = True
    out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    # Each constraint applies only to values of its own type, so they can sit next to each other on the node.
    for branch in branches:
        out.update({k: v for k, v in branch.items() if k not in ("type", "title")})
    if keep_defaults and node.get("default") is not None:
        out["default"] = node["default"]
    return _ordered(out)


def _ordered(node: dict) -> dict:
    unknown = set(node) - set(_KEY_ORDER)
    if unknown:
        raise SchemaError(f"unexpected schema keys {sorted(unknown)}")
    return {key: node[key] for key in _KEY_ORDER if key in node}


def show_default(value: Any) -> str:
    """A default as it is written in YAML: true, 0, vxlan."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def default_sentence(value: Any) -> str:
    return f" Defaults to {show_default(value)}."


def _with_default_in_description(node: dict) -> dict:
    """`kubectl explain` does not print defaults: say them in the description."""
    if "default" in node and "default" not in node.get("description", "").lower():
        node["description"] = (
            f"{node.get('description', '').rstrip()}{default_sentence(node['default'])}".lstrip()
        )
    for child in node.get("properties", {}).values():
        _with_default_in_description(child)
    if "items" in node:
        _with_default_in_description(node["items"])
    return node


def _model_schema(model: type, path: str, *, keep_defaults: bool) -> dict:
    raw = model.model_json_schema(by_alias=True)
    return _structural(raw, raw.get("$defs", {}), path, keep_defaults=keep_defaults)


def spec_schema() -> dict:
    """The structural schema of spec, without CEL rules (validation.py walks it to explain errors)."""
    return _with_default_in_description(_model_schema(api.ClusterNetworkSpec, "spec", keep_defaults=True))


def status_schema() -> dict:
    return _model_schema(api.ClusterNetworkStatus, "status", keep_defaults=False)


def _node_at(root: dict, path: str) -> dict:
    node = root
    for part in filter(None, path.split(".")):
        items = part.endswith("[]")  # a list's items: spec.workloads.containers[].env[]
        node = node["properties"][part.removesuffix("[]")]
        if items:
            node = node["items"]
    return node


def _add_rules(root: dict, rules: tuple = RULES) -> None:
    for rule in rules:
        node = _node_at(root, rule.path)
        entry: dict[str, str] = {"rule": rule.rule, "message": rule.message}
        if rule.message_expression:
            entry["messageExpression"] = rule.message_expression
        if rule.field_path:
            entry["fieldPath"] = rule.field_path
        if rule.reason:
            entry["reason"] = rule.reason
        node.setdefault("x-kubernetes-validations", []).append(entry)
        node.update(_ordered(node))


def _patterns_as_rules(node: dict, path: str, words_of: dict[str, str] | None = None) -> None:
    """Swap each OpenAPI `pattern` for a CEL rule with the same expression (both are Go RE2) and a message in words.

    The API server's pattern error quotes the regular expression (`should match '^((25[0-5]|2[0-4]...'`), which
    names the field but not what to write; the rule says "must be <api.FIELD_WORDS[path]>" and shows the value.
    """
    words_of = api.FIELD_WORDS if words_of is None else words_of
    for name, child in node.get("properties", {}).items():
        _patterns_as_rules(child, f"{path}.{name}", words_of)
    if "items" in node:
        _patterns_as_rules(node["items"], f"{path}[]", words_of)
    if isinstance(node.get("additionalProperties"), dict):
        _patterns_as_rules(node["additionalProperties"], f"{path}.*", words_of)
    pattern = node.pop("pattern", None)
    if pattern is None:
        return
    if path not in words_of:
        raise SchemaError(f"{path}: a pattern needs its words in api.FIELD_WORDS (what a person should write)")
    if "'" in pattern or "maxLength" not in node:
        raise SchemaError(f"{path}: a patterned string needs maxLength (CEL cost) and no single quote in the pattern")
    words = words_of[path]
    matches = f"self.matches(r'{pattern}')"
    entry = {"rule": matches, "message": f"must be {words}"}
    if node.get("x-kubernetes-int-or-string"):
        entry["rule"] = f"type(self) != string || {matches}"  # the integer branch has its own minimum/maximum
    else:
        entry["messageExpression"] = "'must be " + words.replace("'", "\\'") + ", not ' + self"
    node.setdefault("x-kubernetes-validations", []).append(entry)
    node.update(_ordered(node))


def openapi_schema() -> dict:
    """The whole openAPIV3Schema of the CRD's only version."""
    return build_openapi_schema(DESCRIPTION, spec_schema(), status_schema(), RULES, api.FIELD_WORDS)


def build_openapi_schema(description: str, spec: dict, status: dict, rules: tuple, words_of: dict[str, str]) -> dict:
    """An openAPIV3Schema from a spec and a status schema, with the patterns and RULES as CEL rules (any kind)."""
    root: dict[str, Any] = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource.",
                "type": "string",
            },
            # A structural schema may say this much about metadata: it lets the singleton rule point at the name.
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 253}}},
            "spec": spec,
            "status": status,
        },
    }
    # Until the operator first writes status, a ClusterNetwork has none, and kstatus (Flux, Argo CD, kpt) calls an
    # object without status.observedGeneration Current. Defaulting it to 0 makes a new one InProgress from the start.
    root["properties"]["status"]["default"] = {"observedGeneration": 0}
    root["properties"]["status"] = _ordered(root["properties"]["status"])
    _patterns_as_rules(root["properties"]["spec"], "spec", words_of)
    _add_rules(root, rules)
    return root


def crd_object(*, name: str, scope: str, kind: str, plural: str, singular: str, short_names: list[str],
               columns: list[dict], schema: dict) -> dict:
    """The CustomResourceDefinition around an OpenAPI schema: the one shape both kinds' CRDs share."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "cni-operator", "app.kubernetes.io/part-of": "cni-operator"},
        },
        "spec": {
            "group": api.GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def crd() -> dict:
    return crd_object(name=NAME, scope="Cluster", kind=api.KIND, plural=api.PLURAL, singular=api.SINGULAR,
                      short_names=api.SHORT_NAMES, columns=PRINTER_COLUMNS, schema=openapi_schema())


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, long descriptions kept on one line so diffs stay readable."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(header: str, obj: dict) -> str:
    return header + yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16)


def to_yaml() -> str:
    return dump(HEADER, crd())
