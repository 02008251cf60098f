"""ServiceAccounts with exactly the RBAC a caller gives them, and a token kubeconfig to act as them.

The API server, and so its audit log, then sees the user system:serviceaccount:NAMESPACE:NAME: that is how the
tests and the bench tell the operator's writes (or a test client's) from everyone else's.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from .cleanup import Cleanup, unique_name
from .cluster import Cluster, cluster_entry
from .polling import wait_for


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def rbac_documents(rbac: Any) -> tuple[list[list[dict]], list[dict]]:
    """Normalise RBAC input into (ClusterRole rules lists, Role documents).

    Accepts: None; a list of PolicyRule dicts; a ClusterRole/Role dict; YAML text (or a path to a YAML file) with
    one or more ClusterRole/Role documents (e.g. the chart's rendered RBAC) or a bare list of rules.
    """
    import yaml

    if rbac is None:
        return [], []
    if isinstance(rbac, Path) or (isinstance(rbac, str) and "\n" not in rbac and Path(rbac).is_file()):
        rbac = Path(rbac).read_text()
    if isinstance(rbac, str):
        docs = [d for d in yaml.safe_load_all(rbac) if d]
        if len(docs) == 1 and isinstance(docs[0], list):
            docs = docs[0]
    elif isinstance(rbac, dict):
        docs = [rbac]
    else:
        docs = list(rbac)
    if docs and all(isinstance(d, dict) and "kind" not in d for d in docs):
        return [docs], []  # a bare list of rules
    cluster_rules = [d.get("rules") or [] for d in docs if d.get("kind") == "ClusterRole"]
    roles = [d for d in docs if d.get("kind") == "Role"]
    # Other kinds (bindings, ServiceAccounts of a rendered chart) are skipped: we bind to the ServiceAccount ourselves.
    return cluster_rules, roles


def _first_concrete_rule(rules: list[dict]) -> dict | None:
    for r in rules:
        verbs, resources = r.get("verbs") or [], r.get("resources") or []
        if verbs and resources and "*" not in verbs[:1] and not r.get("nonResourceURLs"):
            return r
    return None


def _wait_effective(cluster: Cluster, namespace: str, user: str, probes: list[tuple[dict, str]]) -> None:
    """RBAC is evaluated from an informer cache: wait until every binding is visible (one rule of each role, in
    that role's namespace), or the first call as the ServiceAccount may be refused for a few milliseconds.
    Every role is probed because each binding reaches the cache on its own."""
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
    for rule, ns in probes:
        attrs = {
            "verb": rule["verbs"][0],
            "group": (rule.get("apiGroups") or [""])[0],
            "resource": rule["resources"][0].split("/")[0],
            "namespace": ns,
        }
        if rule.get("resourceNames"):  # a rule narrowed to names allows nothing for a request without one
            attrs["name"] = rule["resourceNames"][0]
        review = {"spec": {"user": user, "groups": groups, "resourceAttributes": attrs}}

        def allowed(review=review, attrs=attrs) -> bool:
            assert cluster.authz.create_subject_access_review(review).status.allowed, f"{user} may not {attrs}"
            return True

        wait_for(allowed, timeout=15, what=f"RBAC grant for {user}")


def wait_roles_effective(cluster: Cluster, namespace: str, user: str, roles: list[dict]) -> None:
    """Until USER, a ServiceAccount of NAMESPACE, holds a rule of each ClusterRole and Role in ROLES (documents as
    created, e.g. by `helm install`): each binding reaches the API server's RBAC cache on its own."""
    probes = []
    for role in roles:
        probe = _first_concrete_rule(role.get("rules") or [])
        if probe:
            probes.append((probe, role["metadata"].get("namespace") or namespace))
    _wait_effective(cluster, namespace, user, probes)


def token_kubeconfig(cluster: Cluster, path: Path, user: str, token: str, namespace: str) -> Path:
    """A kubeconfig (mode 600) for the cluster's server, authenticated by TOKEN, with the CA inlined so the file
    works from any directory."""
    import yaml

    entry = dict(cluster_entry(cluster.kubeconfig))
    ca = entry.pop("certificate-authority", None)
    if ca:
        ca_path = Path(ca) if Path(ca).is_absolute() else cluster.kubeconfig.parent / ca
        entry["certificate-authority-data"] = base64.b64encode(ca_path.read_bytes()).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user, "namespace": namespace}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def grant(cluster: Cluster, cleanup: Cleanup, namespace: str, name: str, rbac: Any = None, *, path: Path,
          seconds: int = 3600) -> Path:
    """The ServiceAccount NAMESPACE/NAME with RBAC (see rbac_documents: rules, a ClusterRole/Role, or rendered
    chart YAML; ClusterRoles are bound cluster-wide, Roles in their namespace), once the grant is effective, as a
    kubeconfig at PATH with a token valid for SECONDS (TokenRequest API).

    Creates the namespace if missing. Everything created is registered with CLEANUP (the token dies with the
    ServiceAccount); what existed before (kube-system, an earlier ServiceAccount) is left alone.
    """
    from kubernetes.client.exceptions import ApiException

    core, rbacapi = cluster.core, cluster.rbac
    try:
        core.create_namespace({"metadata": {"name": namespace, "labels": {"cni-operator.io/test": "true"}}})
        cleanup.add(core.delete_namespace, namespace)
    except ApiException as e:
        if e.status != 409:
            raise
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        cleanup.add(core.delete_namespaced_service_account, name, namespace)
    except ApiException as e:
        if e.status != 409:
            raise
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    cluster_rules, roles = rbac_documents(rbac)
    probes: list[tuple[dict, str]] = []
    for i, rules in enumerate(cluster_rules):
        role_name = unique_name(f"test-{namespace}-{name}", str(i))
        rbacapi.create_cluster_role({"metadata": {"name": role_name}, "rules": rules})
        cleanup.add(rbacapi.delete_cluster_role, role_name)
        rbacapi.create_cluster_role_binding({
            "metadata": {"name": role_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            "subjects": subject,
        })  # fmt: skip
        cleanup.add(rbacapi.delete_cluster_role_binding, role_name)
        probe = _first_concrete_rule(rules)
        if probe:
            probes.append((probe, namespace))
    for role in roles:
        ns = role.get("metadata", {}).get("namespace") or namespace
        role_name = unique_name(f"test-{name}", role.get("metadata", {}).get("name", "role"))
        rbacapi.create_namespaced_role(ns, {"metadata": {"name": role_name}, "rules": role.get("rules") or []})
        cleanup.add(rbacapi.delete_namespaced_role, role_name, ns)
        rbacapi.create_namespaced_role_binding(ns, {
            "metadata": {"name": role_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            "subjects": subject,
        })  # fmt: skip
        cleanup.add(rbacapi.delete_namespaced_role_binding, role_name, ns)
        probe = _first_concrete_rule(role.get("rules") or [])
        if probe:
            probes.append((probe, ns))
    user = service_account_user(namespace, name)
    _wait_effective(cluster, namespace, user, probes)
    token = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": seconds}}
    ).status.token
    return token_kubeconfig(cluster, path, user, token, namespace)
