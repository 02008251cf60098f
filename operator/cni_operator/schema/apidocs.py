"""docs/api.md, generated from the same structural schema and CEL rules as the CRD (`cni-operator docs`)."""

from __future__ import annotations

from typing import Any

from .. import api
from . import crd

HEADER = """\
<!-- Generated from operator/cni_operator/api/ by `cni-operator docs > docs/api.md`. Do not edit by hand. -->
# The ClusterNetwork API

`{group}/{version}`, kind `{kind}`, cluster-scoped, short name `{short}`. There is one, named `{name}`.
The CRD (`crds/clusternetworks.yaml`) and this page are generated from the pydantic models in
`operator/cni_operator/api/`; `kubectl explain clusternetwork.spec` shows the same descriptions.

```yaml
apiVersion: {group}/{version}
kind: {kind}
metadata:
  name: {name}
spec:
  clusterType: mks          # mks -> Canal, eks -> AWS VPC CNI, imported -> observe only
```

Check a file before applying it: `cni-operator validate -f clusternetwork.yaml`.
"""

# Checks that need the version catalog or other data, so only the operator and `cni-operator validate` make them.
# The operator reports a failure as condition Degraded with reason InvalidConfiguration.
OPERATOR_CHECKS = (
    "`spec.cni.version` is a version of the catalog for the provider (`cni-operator versions`).",
    (
        "For eks, `spec.awsVpcCni.region` (default us-west-2) is a region with a known EKS image registry, "
        "unless `spec.registry` names a mirror."
    ),
    "Fields are written in camelCase as listed here; snake_case names are unknown fields.",
)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type(node: dict) -> str:
    if node.get("x-kubernetes-int-or-string"):
        kind = "integer or string"
    elif node.get("type") == "array":
        item = node["items"]
        kind = f"[]{'object' if item.get('type') == 'object' else item.get('type')}"
    else:
        kind = node["type"]
    limits = []
    if "enum" in node:
        limits.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "minimum" in node or "maximum" in node:
        limits.append(f"{node.get('minimum', '')}..{node.get('maximum', '')}")
    if "minLength" in node:
        limits.append(f"min length {node['minLength']}")
    if "maxLength" in node:
        limits.append(f"max length {node['maxLength']}")
    if "maxItems" in node:
        limits.append(f"max {node['maxItems']} items")
    if "pattern" in node:
        limits.append(f"pattern `{node['pattern']}`")
    return kind + (" (" + "; ".join(limits) + ")" if limits else "")


def _rows(node: dict, path: str, *, top: bool = False, required: bool = False,
          words_of: dict[str, str] | None = None) -> list[str]:
    """One table row per field, depth first; list items show as path[].field."""
    words_of = api.FIELD_WORDS if words_of is None else words_of
    rows = []
    if not top:
        description = node.get("description", "")
        default = ""
        if "default" in node:
            default = f"`{crd.show_default(node['default'])}`"
            description = description.removesuffix(crd.default_sentence(node["default"]))
        if path in words_of:  # its pattern became a CEL rule (crd.py): say here what it takes, in words
            description = f"{description.rstrip()} Must be {words_of[path]}.".lstrip()
        name = f"`{path}`" + " (required)" * required
        rows.append(f"| {name} | {_cell(_type(node))} | {_cell(default)} | {_cell(description)} |")
    target, prefix = node, path
    if node.get("type") == "array" and node["items"].get("type") == "object":
        target, prefix = node["items"], f"{path}[]"
    for child_name, child in target.get("properties", {}).items():
        rows.extend(_rows(child, f"{prefix}.{child_name}", required=child_name in target.get("required", []),
                          words_of=words_of))
    return rows


def _table(node: dict, path: str, words_of: dict[str, str] | None = None) -> str:
    head = "| Field | Type | Default | Description |\n|---|---|---|---|\n"
    return head + "\n".join(_rows(node, path, top=True, words_of=words_of)) + "\n"


def to_markdown() -> str:
    schema = crd.openapi_schema()
    out = [
        HEADER.format(
            group=api.GROUP,
            version=api.VERSION,
            kind=api.KIND,
            short=", ".join(api.SHORT_NAMES),
            name=api.SINGLETON_NAME,
        )
    ]
    out.append("\n## spec\n\n" + _cell(schema["properties"]["spec"]["description"]) + "\n\n")
    out.append(_table(schema["properties"]["spec"], "spec"))
    out.append(
        "\nDefaults are stored by the apiserver when the object is written; a default applies only when its "
        "block exists. `cni.provider` comes from clusterType and `cni.version` from the catalog's default when "
        "unset: the operator fills those, so they never appear in the stored spec unless you set them.\n"
    )
    out.append(
        "\n## Validation rules\n\nThe apiserver rejects a ClusterNetwork that breaks one of these (CEL rules "
        "in the CRD, `x-kubernetes-validations`):\n\n"
    )
    out.extend(f"{i}. {rule.words} Message: *{rule.message}*.\n" for i, rule in enumerate(crd.RULES, start=1))
    out.append(
        "\nThe schema itself also rejects values outside the enums, ranges, lengths and patterns in the "
        "table above (a field with a pattern says what it takes). Each pattern is checked by a CEL rule with the "
        "same expression, so its message says in words "
        "what the field takes, with the value given (e.g. *must be an AWS region such as us-west-2, not "
        "US-WEST-2*), not the regular expression.\n\nThese checks need data the apiserver does not have; the "
        "operator reports them as condition `Degraded` with reason `InvalidConfiguration`, and `cni-operator validate` makes them "
        "too:\n\n"
    )
    out.extend(f"- {text}\n" for text in OPERATOR_CHECKS)
    out.append("\n## status\n\n" + _cell(schema["properties"]["status"]["description"]) + "\n\n")
    out.append(_table(schema["properties"]["status"], "status"))
    out.append("\n## kubectl get columns\n\n| Column | From | Shown |\n|---|---|---|\n")
    out.extend(
        f"| {c['name'].upper()} | `{_cell(c['jsonPath'])}` | {'with -o wide' if c.get('priority') else 'always'} |\n"
        for c in crd.PRINTER_COLUMNS
    )
    out.append(remote_markdown())
    return "".join(out)


REMOTE_HEADER = """
# The RemoteClusterNetwork API (fleet mode)

`{group}/{version}`, kind `{kind}`, namespaced, short name `{short}`: the pod network of a target cluster that the
operator manages from a management cluster, one per target. The CRD (`crds/remoteclusternetworks.yaml`, printed by
`cni-operator crd --kind {kind}`) is generated from `operator/cni_operator/api/remote.py`. **The operator side of
fleet mode is not built yet**: the API can be installed and written, nothing acts on it (docs/fleet.md).

```yaml
apiVersion: {group}/{version}
kind: {kind}
metadata:
  name: c1
  namespace: tenant-a
spec:
  target:
    kubeconfigSecretRef: {{name: c1-kubeconfig, key: value}}   # or clusterRef: {{name: c1}} (Cluster API)
  clusterType: mks
```

## spec

Every field of the ClusterNetwork's spec above, with the same defaults and rules, plus `spec.target`:

"""


def remote_markdown() -> str:
    """The RemoteClusterNetwork's section: what it adds to the ClusterNetwork's spec, rules, status and columns."""
    from ..api import remote as remote_api
    from . import remote

    schema = remote.openapi_schema()
    spec, status = schema["properties"]["spec"], schema["properties"]["status"]
    only_target = {**spec, "properties": {"target": spec["properties"]["target"]}}
    out = [REMOTE_HEADER.format(group=api.GROUP, version=api.VERSION, kind=remote_api.KIND,
                                short=", ".join(remote_api.SHORT_NAMES))]
    out.append(_table(only_target, "spec", remote_api.FIELD_WORDS_REMOTE))
    out.append(
        "\nReferences stay in the RemoteClusterNetwork's namespace: there is no namespace field (with kubectl's "
        "default strict field validation one is refused as an unknown field; a client that does not ask for it has "
        "it pruned).\n\n## Validation rules\n\nThe ClusterNetwork's rules on spec above, but the name rule (a "
        "RemoteClusterNetwork is named after its target), and:\n\n"
    )
    out.extend(f"{i}. {rule.words} Message: *{rule.message}*.\n" for i, rule in enumerate(remote.TARGET_RULES, 1))
    out.append("\n## status\n\nThe ClusterNetwork's status above, with conditions `Reachable` and "
               "`CredentialsValid` next to the others, and:\n\n")
    added = {name: node for name, node in status["properties"].items() if name not in
             crd.status_schema()["properties"]}
    out.append(_table({**status, "properties": added}, "status", remote_api.FIELD_WORDS_REMOTE))
    out.append("\n## kubectl get columns\n\n| Column | From | Shown |\n|---|---|---|\n")
    out.extend(
        f"| {c['name'].upper()} | `{_cell(c['jsonPath'])}` | {'with -o wide' if c.get('priority') else 'always'} |\n"
        for c in remote.PRINTER_COLUMNS
    )
    return "".join(out)
