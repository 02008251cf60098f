"""`cni-operator target-rbac`: the identity fleet mode needs in a target is the chart's RBAC for that cluster type,
minus what lives in the management cluster, and read only for imported.

Compared with a fresh `helm template` of the chart (not the bundle target-rbac reads), so a stale bundle fails here
too. The rights are checked on the real API server in tests/integration/test_target_rbac.py.
"""

from __future__ import annotations

import pytest
import yaml
from chart_tools import VALUE_SETS, WRITE_VERBS, template
from cni_operator import cli
from cni_operator.fleet import target_rbac

CLUSTER_TYPES = ("mks", "eks", "imported")
ROLE_KINDS = ("ClusterRole", "Role")
# What the chart grants for the in-cluster mode only; in fleet mode these live in the management cluster. Written
# out here, not imported, so that the module cannot quietly widen what it drops.
MANAGEMENT_GROUPS = {"cni-operator.io", "kopf.dev", "coordination.k8s.io"}
EVENTS_ROLE = ("Role", "cni-operator-events", "default")


def printed(cluster_type: str, *extra: str, capsys) -> list[dict]:
    assert cli.main(["target-rbac", "--cluster-type", cluster_type, *extra]) == 0
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def expected_rules(cluster_type: str) -> dict[tuple[str, str, str], list[dict]]:
    """(kind, name as target-rbac names it, namespace) -> the chart's rules, minus management-only ones."""
    out = {}
    for doc in template(*VALUE_SETS[cluster_type]):
        meta = doc["metadata"]
        key = (doc["kind"], meta["name"], meta.get("namespace", ""))
        if doc["kind"] not in ROLE_KINDS or key == EVENTS_ROLE:
            continue
        rules = []
        for rule in doc.get("rules") or []:
            if MANAGEMENT_GROUPS & set(rule.get("apiGroups") or []):
                assert set(rule["apiGroups"]) <= MANAGEMENT_GROUPS, rule  # no rule mixes the two
                continue
            if cluster_type == "imported":
                rule = {**rule, "verbs": [v for v in rule["verbs"] if v in ("get", "list", "watch")]}
                if not rule["verbs"]:
                    continue
            rules.append(rule)
        if rules:
            name = "cni-operator-fleet" + meta["name"].removeprefix("cni-operator")
            out[(doc["kind"], name, meta.get("namespace", ""))] = rules
    return out


@pytest.mark.parametrize("cluster_type", CLUSTER_TYPES)
def test_rules_are_the_charts_for_the_cluster_type_minus_the_management_clusters(cluster_type, capsys):
    docs = printed(cluster_type, capsys=capsys)
    got = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace", "")): d["rules"]
           for d in docs if d["kind"] in ROLE_KINDS}
    assert got == expected_rules(cluster_type)


@pytest.mark.parametrize("cluster_type", CLUSTER_TYPES)
def test_every_role_is_bound_to_the_service_account_and_nothing_else_is_printed(cluster_type, capsys):
    docs = printed(cluster_type, "--name", "fleet-x", "--namespace", "ops", capsys=capsys)
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "ServiceAccount" and kinds.count("ServiceAccount") == 1
    sa = docs[0]
    assert (sa["metadata"]["name"], sa["metadata"]["namespace"]) == ("fleet-x", "ops")
    assert sa["automountServiceAccountToken"] is False
    assert set(kinds) <= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    roles = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs if d["kind"] in ROLE_KINDS}
    bound = set()
    for binding in (d for d in docs if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fleet-x", "namespace": "ops"}]
        ref = binding["roleRef"]
        bound.add((ref["kind"], ref["name"], binding["metadata"].get("namespace")))
        assert ref["name"].startswith("fleet-x")
    assert bound == roles
    # In-cluster roles and Roles stay where the CNI lives: kube-system only.
    assert {ns for kind, _, ns in roles if kind == "Role"} == {"kube-system"}


def test_imported_is_read_only_and_installing_types_can_write_the_cni(capsys):
    imported = printed("imported", capsys=capsys)
    verbs = {v for d in imported for r in d.get("rules", []) for v in r["verbs"]}
    assert verbs <= {"get", "list", "watch"} and not verbs & WRITE_VERBS
    for cluster_type, daemonset in (("mks", "canal"), ("eks", "aws-node")):
        docs = printed(cluster_type, capsys=capsys)
        writes = [r for d in docs if d["kind"] == "Role" for r in d["rules"]
                  if r.get("resources") == ["daemonsets"] and "patch" in r["verbs"]]
        assert writes and all(r["resourceNames"] == [daemonset] for r in writes), writes


@pytest.mark.parametrize("cluster_type", CLUSTER_TYPES)
def test_no_management_rights_and_no_escalation(cluster_type, capsys):
    docs = printed(cluster_type, capsys=capsys)
    for doc in docs:
        for rule in doc.get("rules", []):
            assert not MANAGEMENT_GROUPS & set(rule.get("apiGroups") or []), rule
            assert not {"escalate", "impersonate", "*"} & set(rule["verbs"]), rule
            if "bind" in rule["verbs"]:  # only the CNI's own roles, by name, to bind them to the CNI's accounts
                assert rule.get("resourceNames"), rule
            assert "secrets" not in (rule.get("resources") or []), rule


def test_every_rule_keeps_the_charts_comment(capsys):
    assert cli.main(["target-rbac", "--cluster-type", "mks"]) == 0
    text = capsys.readouterr().out
    for block in text.split("\nrules:\n")[1:]:
        lines = block.split("\n---")[0].splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("  - ")]
        assert starts and all(lines[i - 1].lstrip().startswith("#") for i in starts)
    assert "# The CNI's own right, from canal ClusterRole calico-node" in text


def test_token_secret_is_for_the_service_account(capsys):
    docs = printed("eks", "--token-secret", "--name", "fx", capsys=capsys)
    secret = docs[-1]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "fx"}


def test_unknown_cluster_type_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["target-rbac", "--cluster-type", "gke"])
    assert exc.value.code == 2
    assert "invalid choice: 'gke'" in capsys.readouterr().err


def test_a_bundle_without_rules_is_an_error_in_words(tmp_path, monkeypatch, capsys):
    (tmp_path / "install-mks.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    monkeypatch.setattr(target_rbac, "manifests_dir", lambda: tmp_path)
    assert cli.main(["target-rbac", "--cluster-type", "mks"]) == 1
    assert "holds no ClusterRole: run `make crd`" in capsys.readouterr().err
