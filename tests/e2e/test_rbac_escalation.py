"""The operator's ServiceAccount is not a path to cluster-admin (issue 14), proven by the API server itself.

The attack: whoever holds the operator's ServiceAccount token writes a `*`/`*`/`*` rule into a CNI ClusterRole it may
write (on an mks cluster nothing ever reverts `aws-node`), then binds that role to itself. The chart used to grant
`escalate` on the CNI's role names, which made the first request succeed. Now the operator holds the CNI's own rights
and no `escalate`, so the API server refuses any role it writes that grants more than it holds: the first request is
403, and binding a CNI role (which can hold nothing more) gives it nothing it does not have.

The chart is installed with `helm install`, its RBAC exactly as a user gets it, without a cluster type (both CNIs'
names and rights) and for mks and eks (one CNI's). The attacker is the operator's ServiceAccount by impersonation
(`kubectl --as=system:serviceaccount:NS:SA`: authorized as that ServiceAccount, with its groups). Every attempt is a
real request, not a dry run, and after each one `kubectl auth can-i '*' '*'` as the ServiceAccount must say no.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cni_operator.api import parse_spec
from cni_operator.render import render

from tests.harness.access import service_account_user, wait_roles_effective
from tests.harness.cleanup import unique_name
from tests.harness.repo import toolchain
from tests.harness.reset import reset_cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cni-operator"
RBAC = "rbac.authorization.k8s.io"
# Per CNI (Canal, the VPC CNI): the cluster type that installs it, its node agent's ClusterRole and the binding the
# CNI binds that role with.
CNI_ROLES = [("mks", "calico-node", "canal-calico"), ("eks", "aws-node", "aws-node")]
EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}


def cni_role(cluster_type: str, name: str) -> dict:
    """The CNI's ClusterRole as the operator renders (and a CNI install leaves) it."""
    (role,) = [o for o in render(parse_spec({"clusterType": cluster_type})).apply
               if o["kind"] == "ClusterRole" and o["metadata"]["name"] == name]
    return role


def crds_value(cluster) -> list[str]:
    """`--set crds.enabled=false` when the ClusterNetwork CRD exists: shared by every test on this cluster, and a
    release takes over only a CRD it created (tests/e2e/test_helm_crd_upgrade.py)."""
    found = cluster.kubectl("get", "crd", "clusternetworks.cni-operator.io", "--ignore-not-found", "-o", "name",
                            check=False).stdout.strip()
    return ["--set", "crds.enabled=false"] if found else []


def helm_install(cluster, cleanup, release: str, namespace: str, *sets: str) -> list[dict]:
    """`helm install` of the chart; the manifest helm created."""
    helm = str(toolchain.resolve("helm"))
    args = [helm, f"--kubeconfig={cluster.kubeconfig}", "install", release, str(CHART), "--namespace", namespace,
            "--set", f"peering.name={release}", *crds_value(cluster)]
    for item in sets:
        args += ["--set", item]
    res = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, f"helm install failed:\n{res.stdout}\n{res.stderr}"
    cleanup.add(subprocess.run, [helm, f"--kubeconfig={cluster.kubeconfig}", "uninstall", release, "--namespace",
                                 namespace, "--ignore-not-found"], check=False, capture_output=True, timeout=300)
    manifest = subprocess.run([helm, f"--kubeconfig={cluster.kubeconfig}", "get", "manifest", release, "--namespace",
                               namespace], check=True, capture_output=True, text=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(manifest) if d]


class Attacker:
    """Requests as the operator's ServiceAccount, through the admin kubeconfig's right to impersonate."""

    def __init__(self, cluster, user: str):
        self.cluster, self.user = cluster, user

    def kubectl(self, *args: str, obj: dict | None = None) -> subprocess.CompletedProcess:
        return self.cluster.kubectl(*args, f"--as={self.user}", input=json.dumps(obj) if obj else None, check=False)

    def apply(self, obj: dict) -> subprocess.CompletedProcess:
        """Server-side apply, as the operator writes (a PATCH to the object's URL, creating it when missing)."""
        return self.kubectl("apply", "--server-side", "--field-manager=attacker", "--force-conflicts", "-f", "-",
                            obj=obj)

    def can_i(self, *args: str) -> str:
        return self.kubectl("auth", "can-i", *args).stdout.strip()


def refused(res: subprocess.CompletedProcess, attempt: str) -> None:
    assert res.returncode != 0 and "Error from server (Forbidden)" in res.stderr, (
        f"{attempt}: not refused with 403 Forbidden (exit {res.returncode}):\n{res.stdout}{res.stderr}")


def star_role(name: str) -> dict:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": [EVERYTHING]}


def binding(name: str, role: str, subject: dict) -> dict:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": [subject]}


@pytest.mark.parametrize("cluster_type", ["", "mks", "eks"], ids=["any-type", "mks", "eks"])
def test_operator_service_account_cannot_make_itself_cluster_admin(cluster, cleanup, namespace, cluster_type):
    # No CNI role or binding of an earlier test left: the first attempts create the role, as on a cluster where
    # that CNI was never installed.
    reset_cluster(cluster)
    cleanup.add(reset_cluster, cluster)
    release = unique_name("esc")
    docs = helm_install(cluster, cleanup, release, namespace,
                        *([f"clusterNetwork.spec.clusterType={cluster_type}"] if cluster_type else []))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    user = service_account_user(namespace, sa)
    wait_roles_effective(cluster, namespace, user, [d for d in docs if d["kind"] in ("ClusterRole", "Role")])
    attacker = Attacker(cluster, user)
    subject = {"kind": "ServiceAccount", "name": sa, "namespace": namespace}

    def not_cluster_admin(after: str) -> None:
        answer = attacker.can_i("*", "*")
        assert answer == "no", f"after {after}: `kubectl auth can-i '*' '*' --as={user}` says {answer!r}"

    not_cluster_admin("installing the chart")
    for its_type, role, role_binding in CNI_ROLES:
        granted = cluster_type in ("", its_type)
        # Writable exactly when the chart is for this CNI: the attacks below meet the escalation check, not a
        # missing name, wherever the name is granted.
        assert attacker.can_i("patch", f"clusterroles.{RBAC}/{role}") == ("yes" if granted else "no"), role

        refused(attacker.apply(star_role(role)), f"creating ClusterRole {role} with */*/*")
        not_cluster_admin(f"creating ClusterRole {role}")

        # The CNI's role in place, as an install leaves it: the update and patch paths.
        cluster.kubectl("apply", "--server-side", "--field-manager=e2e-cni", "-f", "-",
                        input=json.dumps(cni_role(its_type, role)))
        cleanup.add(cluster.kubectl, "delete", "clusterrole", role, "--ignore-not-found", check=False)
        refused(attacker.apply(star_role(role)), f"applying */*/* over ClusterRole {role}")
        not_cluster_admin(f"applying over ClusterRole {role}")
        refused(attacker.kubectl("patch", "clusterrole", role, "--type=json",
                                 "-p", json.dumps([{"op": "add", "path": "/rules/-", "value": EVERYTHING}])),
                f"patching */*/* into ClusterRole {role}")
        not_cluster_admin(f"patching ClusterRole {role}")

        # Binding to itself: under a name of its own, or the CNI's binding name pointed at cluster-admin.
        refused(attacker.kubectl("create", "-f", "-", obj=binding(unique_name("mine"), role, subject)),
                f"creating a ClusterRoleBinding of {role} to itself")
        not_cluster_admin(f"binding {role} under a new name")
        refused(attacker.apply(binding(role_binding, "cluster-admin", subject)),
                f"binding cluster-admin to itself as ClusterRoleBinding {role_binding}")
        not_cluster_admin(f"binding cluster-admin as {role_binding}")

        # The CNI's own binding name and role, bound to itself: allowed where the chart is for this CNI (it may bind
        # the CNI's roles under the CNI's names), and worthless, because the role holds only the CNI's rights.
        cleanup.add(cluster.kubectl, "delete", "clusterrolebinding", role_binding, "--ignore-not-found", check=False)
        res = attacker.apply(binding(role_binding, role, subject))
        if granted:
            assert res.returncode == 0, res.stderr
            live = cluster.get_json("clusterrole", role)
            assert live["rules"] == cni_role(its_type, role)["rules"], f"ClusterRole {role} changed: {live['rules']}"
        else:
            refused(res, f"binding {role} to itself as ClusterRoleBinding {role_binding}")
        not_cluster_admin(f"binding {role} as {role_binding}")

    # Nor anything else that leads to cluster-admin.
    for check in (["escalate", f"clusterroles.{RBAC}"], ["bind", f"clusterroles.{RBAC}/cluster-admin"],
                  ["create", f"clusterrolebindings.{RBAC}"], ["impersonate", "serviceaccounts"],
                  ["get", "secrets", "--all-namespaces"], ["create", "pods", "-n", "kube-system"]):
        assert attacker.can_i(*check) == "no", f"`kubectl auth can-i {' '.join(check)} --as={user}` is not no"
