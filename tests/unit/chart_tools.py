"""Helpers for the chart, bundle and RBAC tests: run helm from the toolchain, parse what it renders, and evaluate RBAC
rules the way the API server's RBAC authorizer does (verbs, API groups, resources, resourceNames; "*" matches all).

helm is not optional here: a missing helm fails the test with the command that builds it, never skips it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cni-operator"
CNI_NAMESPACE = "kube-system"
RELEASE = "cni-operator"


@functools.lru_cache(maxsize=1)
def helm() -> str:
    if os.environ.get("HELM_BIN"):
        return os.environ["HELM_BIN"]
    res = subprocess.run([sys.executable, str(REPO / "hack" / "toolchain.py"), "path", "helm"],
                         check=False, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(
            "helm is not built: run `make tools` (or `python3 hack/toolchain.py build helm`) first.\n"
            f"toolchain.py said: {res.stderr.strip()}",
            pytrace=False,
        )
    return res.stdout.strip()


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([helm(), *args], check=False, capture_output=True, text=True, cwd=REPO)
    if check and res.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed (exit {res.returncode}):\n{res.stderr}", pytrace=False)
    return res


@functools.lru_cache(maxsize=32)
def template_text(*set_args: str, namespace: str = CNI_NAMESPACE, release: str = RELEASE) -> str:
    """`helm template` output (CRDs included) for the given --set arguments."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds"]
    for item in set_args:
        args += ["--set", item]
    return run_helm(*args).stdout


def template(*set_args: str, namespace: str = CNI_NAMESPACE, release: str = RELEASE) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(template_text(*set_args, namespace=namespace, release=release)) if doc]


# The value sets the chart is checked with: defaults, each ClusterNetwork type, and the non-default switches.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "mks": ("clusterNetwork.create=true", "clusterNetwork.spec.clusterType=mks"),
    "eks": ("clusterNetwork.create=true", "clusterNetwork.spec.clusterType=eks"),
    "imported": ("clusterNetwork.create=true", "clusterNetwork.spec.clusterType=imported"),
    "ha-endpoint-digest": (
        "replicaCount=3",
        "apiServer.host=10.0.0.1",
        "apiServer.port=6443",
        "image.digest=sha256:" + "a" * 64,
        "operator.logFormat=plain",
        "imagePullSecrets[0].name=regcred",
        "metrics.service.enabled=true",
    ),
    "no-extras": ("metrics.service.enabled=false", "peering.create=false", "serviceAccount.create=false",
                  "serviceAccount.name=existing"),
}


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------- RBAC evaluation

# Kind -> (API group, resource) for every kind the renderer may produce (render.KIND_ORDER) and the chart itself.
RESOURCES: dict[str, tuple[str, str]] = {
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
    "Namespace": ("", "namespaces"),
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Secret": ("", "secrets"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "DaemonSet": ("apps", "daemonsets"),
    "Deployment": ("apps", "deployments"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
}

# The ClusterRole (and, when the CNI has Roles, the kube-system Role) holding the CNI's own rights for a release named
# RELEASE: generated rules (files/cni-rules.yaml), unnamed because the CNI's are.
CNI_RIGHTS = f"{RELEASE}-cni-rights"

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}


@dataclass(frozen=True)
class Grants:
    """The rules one identity holds: cluster-wide (ClusterRoles) and per namespace (Roles)."""

    cluster: tuple[dict, ...]
    namespaced: dict[str, tuple[dict, ...]]

    def allows(self, verb: str, group: str, resource: str, name: str = "", namespace: str = "") -> bool:
        rules = list(self.cluster)
        if namespace:
            rules += list(self.namespaced.get(namespace, ()))
        return any(rule_allows(rule, verb, group, resource, name) for rule in rules)


# The "group" of a non-resource permission (a URL such as /apis/networking.k8s.aws) in the atoms below: RBAC matches
# those by URL alone, and only a rule with nonResourceURLs grants one.
NON_RESOURCE = "<nonResourceURLs>"


def rule_allows(rule: dict, verb: str, group: str, resource: str, name: str = "") -> bool:
    if not ({"*", verb} & set(rule.get("verbs") or [])):
        return False
    if group == NON_RESOURCE:  # resource is the URL; "*" and a trailing "*" match as the RBAC authorizer does
        return any(url in ("*", resource) or (url.endswith("*") and resource.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or [])
    if not ({"*", group} & set(rule.get("apiGroups") or [])):
        return False
    resources = set(rule.get("resources") or [])
    # As the RBAC authorizer: "*" matches everything, "*/status" any resource's status subresource.
    subresource = resource.split("/", 1)[1] if "/" in resource else None
    if not ({"*", resource} & resources) and not (subresource and f"*/{subresource}" in resources):
        return False
    names = rule.get("resourceNames")
    return not names or name in names


def rule_atoms(rule: dict) -> list[tuple[str, str, str, str]]:
    """(verb, group, resource, name) for every single permission a rule grants, name "" when it names none: the
    units the API server's escalation check compares ("*" stays "*", which only a "*" covers). A non-resource rule
    gives (verb, NON_RESOURCE, url, "")."""
    if rule.get("nonResourceURLs"):
        return [(verb, NON_RESOURCE, url, "") for verb in rule.get("verbs") or [] for url in rule["nonResourceURLs"]]
    return [(verb, group, resource, name)
            for verb in rule.get("verbs") or [] for group in rule.get("apiGroups") or []
            for resource in rule.get("resources") or [] for name in rule.get("resourceNames") or [""]]


def grants_of(docs: list[dict], service_account: str, sa_namespace: str) -> Grants:
    """Resolve the chart's bindings for one ServiceAccount into the rules it holds."""
    cluster_roles = {d["metadata"]["name"]: d for d in of_kind(docs, "ClusterRole")}
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in of_kind(docs, "Role")}

    def bound(binding: dict) -> bool:
        return any(s.get("kind") == "ServiceAccount" and s.get("name") == service_account
                   and s.get("namespace") == sa_namespace for s in binding.get("subjects") or [])

    cluster: list[dict] = []
    namespaced: dict[str, list[dict]] = {}
    for crb in of_kind(docs, "ClusterRoleBinding"):
        if bound(crb):
            cluster += cluster_roles[crb["roleRef"]["name"]].get("rules") or []
    for rb in of_kind(docs, "RoleBinding"):
        if not bound(rb):
            continue
        ns = rb["metadata"]["namespace"]
        ref = rb["roleRef"]
        role = cluster_roles[ref["name"]] if ref["kind"] == "ClusterRole" else roles[(ns, ref["name"])]
        namespaced.setdefault(ns, []).extend(role.get("rules") or [])
    return Grants(tuple(cluster), {ns: tuple(r) for ns, r in namespaced.items()})


def operator_grants(*set_args: str) -> Grants:
    docs = template(*set_args)
    sa = one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    return grants_of(docs, sa, CNI_NAMESPACE)


def own_grants(*set_args: str) -> Grants:
    """The operator's own rules, without the CNI's rights it holds (CNI_RIGHTS), which reach as far as the CNI's
    roles do (e.g. Canal v3.32 deletes any CRD); tests/unit/test_cni_rbac.py holds those to the CNI's roles."""
    docs = [d for d in template(*set_args) if d["metadata"]["name"] != CNI_RIGHTS]
    sa = one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    return grants_of(docs, sa, CNI_NAMESPACE)
