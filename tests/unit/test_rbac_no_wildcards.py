"""The operator's RBAC is least privilege, and stays so:

- no "*" in verbs, resources, apiGroups or resourceNames unless a `# wildcard-justified:` comment sits on that rule;
- every rule carries a comment saying why it exists;
- every write (create, patch, delete, bind, ...) of the operator's own is narrowed by resourceNames (the CNI's own
  rights it holds, role CNI_RIGHTS, are the CNI's rules as they are: tests/unit/test_cni_rbac.py checks those);
- no access to Secrets at all.

Rules are read from what the chart renders (helm keeps template comments), so the check covers every value set.
"""

from __future__ import annotations

import re

import pytest
import yaml
from chart_tools import CNI_RIGHTS, VALUE_SETS, WRITE_VERBS, template_text

JUSTIFIED = "# wildcard-justified:"
RULE_START = re.compile(r"^(\s*)- (apiGroups|nonResourceURLs):")


def rules_with_comments(rendered: str) -> list[tuple[str, dict, list[str]]]:
    """(where, rule, comment lines directly above it) for every rule of every Role and ClusterRole in a render."""
    out = []
    for text in re.split(r"^---\s*$", rendered, flags=re.MULTILINE):
        doc = yaml.safe_load(text)
        if not doc or doc.get("kind") not in ("Role", "ClusterRole"):
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        lines = text.splitlines()
        starts = [i for i, line in enumerate(lines) if RULE_START.match(line)]
        rules = doc.get("rules") or []
        assert len(starts) == len(rules), (
            f"{where}: every rule must start with `- apiGroups:` so its comment can be found "
            f"({len(starts)} such lines, {len(rules)} rules)"
        )
        for start, rule in zip(starts, rules):
            comments = []
            i = start - 1
            while i >= 0 and lines[i].strip().startswith("#"):
                comments.insert(0, lines[i].strip())
                i -= 1
            out.append((where, rule, comments))
    return out


def wildcard_problems(rendered: str) -> list[str]:
    problems = []
    for where, rule, comments in rules_with_comments(rendered):
        fields = ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs")
        wild = [f for f in fields if any("*" in str(v) for v in rule.get(f) or [])]
        if wild and not any(c.startswith(JUSTIFIED) and len(c) > len(JUSTIFIED) + 3 for c in comments):
            problems.append(f"{where}: {rule} uses '*' in {', '.join(wild)} without a '{JUSTIFIED} <why>' comment")
    return problems


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_no_unjustified_wildcards(value_set):
    problems = wildcard_problems(template_text(*VALUE_SETS[value_set]))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rule_says_why(value_set):
    rules = rules_with_comments(template_text(*VALUE_SETS[value_set]))
    assert rules, "the chart rendered no RBAC rules"
    silent = [f"{where}: {rule}" for where, rule, comments in rules if not comments]
    assert not silent, "rules without a comment saying why:\n" + "\n".join(silent)


# Writes that cannot be narrowed by name, and why.
UNNAMED_WRITES_ALLOWED = {
    # An Event is POSTed to the collection under a fresh name: RBAC never sees a name to match.
    ("", "events", "create"),
    # The first operator process POSTs its Lease: a create names no object RBAC could match (the rule says so).
    ("coordination.k8s.io", "leases", "create"),
    # The CNI's pods, deleted one node at a time during an update (OnDelete): the DaemonSet controller names them
    # with a random suffix. The Role holding this is namespaced to kube-system.
    ("", "pods", "delete"),
    # ENIConfigs of spec.awsVpcCni.eniConfigs: named after the user's zones, unknown when the chart is installed. No
    # delete is granted: the operator never deletes an ENIConfig (docs/providers/aws-vpc-cni.md).
    ("crd.k8s.amazonaws.com", "eniconfigs", "create"),
    ("crd.k8s.amazonaws.com", "eniconfigs", "patch"),
}


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_write_is_narrowed_by_name(value_set):
    """Server-side apply authorizes even `create` with the object's name, so no write to a managed object needs to
    be unnamed."""
    loose = []
    for where, rule, _ in rules_with_comments(template_text(*VALUE_SETS[value_set])):
        if rule.get("resourceNames") or where.endswith(f"/{CNI_RIGHTS}"):
            continue
        writes = {(g, r, v) for g in rule.get("apiGroups") or [] for r in rule.get("resources") or []
                  for v in rule.get("verbs") or [] if v in WRITE_VERBS}
        if writes - UNNAMED_WRITES_ALLOWED:
            loose.append(f"{where}: {rule}")
    assert not loose, "write rules not narrowed by resourceNames:\n" + "\n".join(loose)


def test_no_access_to_secrets():
    for where, rule, _ in rules_with_comments(template_text()):
        assert "secrets" not in (rule.get("resources") or []), f"{where} grants access to Secrets: {rule}"


def test_no_empty_resource_names():
    """RBAC reads an empty resourceNames as "every name": the chart must drop such a rule instead."""
    for where, rule, _ in rules_with_comments(template_text()):
        assert rule.get("resourceNames", None) != [], f"{where} has an empty resourceNames (= all names): {rule}"


# ---------------------------------------------------------------- the checker itself

SAMPLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: sample}
rules:
  # Read everything in the group: needed because REASON.
  - apiGroups: ["example.com"]
    resources: ["*"]
    verbs: ["get"]
"""


def test_checker_flags_an_unjustified_wildcard():
    assert wildcard_problems(SAMPLE) and "resources" in wildcard_problems(SAMPLE)[0]


def test_checker_accepts_a_justified_wildcard():
    justified = SAMPLE.replace("  # Read everything", "  # wildcard-justified: the group's kinds are not known in advance\n"
                                                     "  # Read everything")
    assert wildcard_problems(justified) == []


def test_checker_wants_a_real_justification():
    assert wildcard_problems(SAMPLE.replace("  # Read everything", "  # wildcard-justified:\n  # Read everything"))
