"""docs/security.md's example RBAC does what the page says: the viewer only reads, the editor writes ClusterNetworks
but not their status, nothing is a wildcard, and every document is valid Kubernetes."""

from __future__ import annotations

import re

import kubernetes_validate
import yaml
from chart_tools import REPO, rule_allows

PAGE = REPO / "docs" / "security.md"
GROUP, RESOURCE = "cni-operator.io", "clusternetworks"


def example_documents() -> dict[str, dict]:
    text = PAGE.read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    docs = [d for block in blocks for d in yaml.safe_load_all(block) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def allows(role: dict, verb: str, resource: str = RESOURCE) -> bool:
    return any(rule_allows(rule, verb, GROUP, resource, "default") for rule in role["rules"])


def test_the_examples_are_valid_kubernetes():
    docs = example_documents()
    assert {"ClusterRole/clusternetwork-viewer", "ClusterRole/clusternetwork-editor",
            "ClusterRoleBinding/clusternetwork-editor-platform-admins"} <= docs.keys()
    for doc in docs.values():
        kubernetes_validate.validate(doc, "1.36", strict=True)


def test_the_viewer_reads_and_writes_nothing():
    viewer = example_documents()["ClusterRole/clusternetwork-viewer"]
    assert all(allows(viewer, verb) for verb in ("get", "list", "watch"))
    assert not any(allows(viewer, verb) for verb in ("create", "update", "patch", "delete"))
    assert not allows(viewer, "patch", f"{RESOURCE}/status")


def test_the_editor_writes_clusternetworks_but_never_their_status():
    docs = example_documents()
    editor = docs["ClusterRole/clusternetwork-editor"]
    assert all(allows(editor, verb) for verb in ("create", "update", "patch", "delete"))
    assert not allows(editor, "patch", f"{RESOURCE}/status") and not allows(editor, "update", f"{RESOURCE}/status")
    assert "aggregate-to-edit" not in str(editor["metadata"]) and "aggregate-to-admin" not in str(editor["metadata"])
    assert docs["ClusterRoleBinding/clusternetwork-editor-platform-admins"]["roleRef"]["name"] == "clusternetwork-editor"


def test_no_example_rule_uses_a_wildcard():
    for name, doc in example_documents().items():
        for rule in doc.get("rules") or []:
            assert "*" not in str(rule), f"{name}: {rule}"
