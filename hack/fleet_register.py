#!/usr/bin/env python3
"""Register a fleet target of the local substrate with the management cluster, as a provisioning controller would.

    python hack/fleet_register.py t1 --cluster-type mks [--namespace fleet] [--name t1] [--no-rcn]
    python hack/fleet_register.py t2 --cluster-type eks --eks              # label t2's nodes as EKS nodes first
    python hack/fleet_register.py t3 --cluster-type imported --foreign-cni # Canal installed by someone else first

For target NAME (its admin kubeconfig .cluster/targets/NAME/kubeconfig, hack/localtargets.py):
1. `cni-operator target-rbac --cluster-type T --token-secret` applied in the target: the operator's identity there,
   and a Secret the target's token controller fills with a long-lived token of it;
2. that token, waited for with a deadline;
3. a kubeconfig with inline data only (server, certificate-authority-data, token: what fleet/credentials.py accepts
   without --allow-unsafe-kubeconfigs), put in the management cluster as the Secret `<name>-kubeconfig`, key
   `value`, in NAMESPACE (created if missing; the Secret is replaced if it exists);
4. unless --no-rcn, the RemoteClusterNetwork NAME pointing at it (`clusterType` T; more spec with --spec JSON).

--eks labels every node of the target `eks.amazonaws.com/nodegroup` (operator/cni_operator/health/detect.py takes
one such label as evidence of EKS, as the integration tests fake EKS nodes). --foreign-cni installs upstream's
Canal (manifests/upstream/canal/<version>/canal.yaml, `kubectl apply --server-side`, field manager kubectl) as a
cluster's existing CNI, the way tests/integration/test_operator_adoption.py does: what an imported cluster brings.

`--prepare-only` does only what --eks and --foreign-cni do; `--unregister` with the same arguments undoes it (`bash hack/demo-fleet.sh clean` uses it).

The tests import register() and unregister() (and the steps) from here: one implementation for the demo and the tests. It needs the
venv's python (PyYAML, the cni_operator package for target-rbac) and the toolchain's kubectl.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CNI_OPERATOR_CLUSTER_DIR", REPO / ".cluster"))
IDENTITY = "cni-operator-fleet"  # target_rbac.DEFAULT_NAME: the ServiceAccount in each target
IDENTITY_NAMESPACE = "kube-system"
EKS_LABEL = ("eks.amazonaws.com/nodegroup", "ng-1")
FOREIGN_CANAL = "v3.31.4"  # upstream's Canal as a cluster that was built with it would have it
TOKEN_TIMEOUT_S = 60.0


class RegisterError(Exception):
    """One message saying what failed and what to do."""


def kubectl_binary() -> str:
    override = os.environ.get("KUBECTL_BIN")
    if override:
        return override
    res = subprocess.run([sys.executable, str(REPO / "hack" / "toolchain.py"), "path", "kubectl"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        raise RegisterError("kubectl is not built: run `make tools` (or set KUBECTL_BIN)")
    return res.stdout.strip()


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    res = subprocess.run([kubectl_binary(), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True,
                         text=True, check=False, timeout=120)
    if res.returncode != 0:
        raise RegisterError(f"kubectl --kubeconfig={kubeconfig} {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def target_admin_kubeconfig(target: str) -> Path:
    """The admin kubeconfig of target TARGET (a name such as t1, or a path to a kubeconfig)."""
    path = Path(target) if "/" in target else STATE / "targets" / target / "kubeconfig"
    if not path.is_file():
        raise RegisterError(f"no kubeconfig at {path}: start the targets with `TARGETS=3 make cluster-up` "
                            "(python3 hack/localcluster.py up --targets 3)")
    return path


def apply_target_rbac(admin: Path, cluster_type: str, *, name: str = IDENTITY,
                      namespace: str = IDENTITY_NAMESPACE) -> None:
    """`cni-operator target-rbac --cluster-type CLUSTER_TYPE --token-secret`, applied in the target."""
    res = subprocess.run([sys.executable, "-m", "cni_operator.cli", "target-rbac", "--cluster-type", cluster_type,
                          "--name", name, "--namespace", namespace, "--token-secret"],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RegisterError(f"cni-operator target-rbac failed: {res.stderr.strip()}")
    kubectl(admin, "apply", "--server-side", "--force-conflicts", "--field-manager=fleet-register", "-f", "-",
            input=res.stdout)


def wait_token(admin: Path, *, name: str = IDENTITY, namespace: str = IDENTITY_NAMESPACE,
               timeout: float = TOKEN_TIMEOUT_S) -> str:
    """The token the target's token controller put into the Secret NAME-token, waited for up to TIMEOUT seconds."""
    secret = f"{name}-token"
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(kubectl(admin, "get", "secret", secret, "-n", namespace, "-o", "json")).get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode()
        if time.monotonic() >= deadline:
            raise RegisterError(f"the Secret {namespace}/{secret} in {admin} has no token after {timeout:.0f}s: is "
                                "the target's kube-controller-manager (its token controller) running? "
                                "`python3 hack/localcluster.py status`")
        time.sleep(0.3)


def inline_kubeconfig(admin: Path, token: str, *, context: str) -> str:
    """A kubeconfig for the target's API server with inline data only: server, certificate-authority-data (the
    admin kubeconfig's, the target's own CA), token."""
    config = yaml.safe_load(admin.read_text())
    current = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == current["cluster"])
    if "certificate-authority-data" not in cluster:
        raise RegisterError(f"{admin}: its cluster has no certificate-authority-data to inline")
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": cluster["server"],
                                                    "certificate-authority-data": cluster["certificate-authority-data"]}}],
        "users": [{"name": IDENTITY, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": IDENTITY}}],
    }, sort_keys=False)


def ensure_namespace(management: Path, namespace: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    kubectl(management, "apply", "--server-side", "--field-manager=fleet-register", "-f", "-",
            input=json.dumps(manifest))


def put_kubeconfig_secret(management: Path, namespace: str, name: str, kubeconfig: str) -> str:
    """The Secret NAME-kubeconfig (key `value`) in NAMESPACE of the management cluster, created or replaced."""
    secret = f"{name}-kubeconfig"
    manifest = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": secret, "namespace": namespace,
                             "labels": {"app.kubernetes.io/part-of": "cni-operator-fleet-demo"}},
                "data": {"value": base64.b64encode(kubeconfig.encode()).decode()}}
    kubectl(management, "apply", "--server-side", "--force-conflicts", "--field-manager=fleet-register", "-f", "-",
            input=json.dumps(manifest))
    return secret


def put_remote_cluster_network(management: Path, namespace: str, name: str, cluster_type: str, secret: str,
                               spec: dict | None = None) -> dict:
    """The RemoteClusterNetwork NAME in NAMESPACE for the target whose kubeconfig is in SECRET."""
    manifest = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "RemoteClusterNetwork",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"target": {"kubeconfigSecretRef": {"name": secret, "key": "value"}},
                         "clusterType": cluster_type, **(spec or {})}}
    kubectl(management, "apply", "--server-side", "--force-conflicts", "--field-manager=fleet-register", "-f", "-",
            input=json.dumps(manifest))
    return manifest


def label_nodes_as_eks(admin: Path) -> list[str]:
    """Every node of the target labelled as an EKS managed node group's; the node names."""
    nodes = kubectl(admin, "get", "nodes", "-o", "name").split()
    if not nodes:
        raise RegisterError(f"{admin}: the target has no nodes to label")
    kubectl(admin, "label", "--overwrite", *nodes, f"{EKS_LABEL[0]}={EKS_LABEL[1]}")
    return nodes


def install_foreign_cni(admin: Path, version: str = FOREIGN_CANAL) -> Path:
    """Upstream's Canal VERSION, applied as a person would (field manager kubectl): the target's own CNI."""
    manifest = REPO / "manifests" / "upstream" / "canal" / version / "canal.yaml"
    if not manifest.is_file():
        raise RegisterError(f"no upstream Canal {version} at {manifest}")
    kubectl(admin, "apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    return manifest


@dataclass
class Registration:
    """What register() did, for the caller to show or to clean up."""

    target: str
    namespace: str
    name: str
    cluster_type: str
    secret: str
    kubeconfig: str
    remote_cluster_network: dict | None = None
    done: list[str] = field(default_factory=list)


def register(target: str, cluster_type: str, *, management: Path, namespace: str, name: str | None = None,
             rcn: bool = True, spec: dict | None = None, eks: bool = False, foreign_cni: bool = False,
             token_timeout: float = TOKEN_TIMEOUT_S) -> Registration:
    """Everything above for one target (see the module docstring); MANAGEMENT is the management cluster's admin
    kubeconfig. Idempotent: a second call replaces the Secret and the RemoteClusterNetwork's fields it sets."""
    if not name:  # the target's name: t1, or the directory of a kubeconfig path (.cluster/targets/t1/kubeconfig)
        name = Path(target).parent.name if "/" in target else target
    admin = target_admin_kubeconfig(target)
    done = []
    if eks:
        done.append(f"labelled {len(label_nodes_as_eks(admin))} node(s) {EKS_LABEL[0]}={EKS_LABEL[1]}")
    if foreign_cni:
        done.append(f"installed upstream Canal from {install_foreign_cni(admin).relative_to(REPO)}")
    apply_target_rbac(admin, cluster_type)
    token = wait_token(admin, timeout=token_timeout)
    done.append(f"identity {IDENTITY_NAMESPACE}/{IDENTITY} ({cluster_type}) in the target, token from "
                f"{IDENTITY_NAMESPACE}/{IDENTITY}-token")
    kubeconfig = inline_kubeconfig(admin, token, context=name)
    ensure_namespace(management, namespace)
    secret = put_kubeconfig_secret(management, namespace, name, kubeconfig)
    done.append(f"Secret {namespace}/{secret} (key value) in the management cluster")
    registration = Registration(target, namespace, name, cluster_type, secret, kubeconfig, done=done)
    if rcn:
        registration.remote_cluster_network = put_remote_cluster_network(management, namespace, name, cluster_type,
                                                                         secret, spec)
        done.append(f"RemoteClusterNetwork {namespace}/{name}")
    return registration


MANAGED = "app.kubernetes.io/managed-by=cni-operator"  # the label on everything the operator applies in a target


def unregister(target: str, cluster_type: str, *, management: Path, namespace: str, name: str | None = None,
               eks: bool = False, foreign_cni: bool = False) -> list[str]:
    """Undo register() with the same arguments, without an operator: the RemoteClusterNetwork (its finalizer dropped,
    nobody would release it) and the Secret in the management cluster; in the target, the CNI the operator installed
    (everything with its managed-by label), the Canal --foreign-cni installed, the EKS labels, and the identity.
    What it removed, in words. CRDs are deleted without waiting: the API server removes them shortly."""
    if not name:
        name = Path(target).parent.name if "/" in target else target
    admin = target_admin_kubeconfig(target)
    done = []
    if _exists(management, "rcn", name, namespace):
        kubectl(management, "patch", "rcn", name, "-n", namespace, "--type=merge", "-p",
                '{"metadata":{"finalizers":null}}')
    kubectl(management, "delete", "rcn", name, "-n", namespace, "--ignore-not-found", "--wait=true", "--timeout=60s")
    kubectl(management, "delete", "secret", f"{name}-kubeconfig", "-n", namespace, "--ignore-not-found")
    done.append(f"RemoteClusterNetwork and Secret {namespace}/{name}-kubeconfig deleted")
    kubectl(admin, "delete", "-n", IDENTITY_NAMESPACE, "ds,deploy,cm,sa,svc,pdb,role,rolebinding", "-l", MANAGED,
            "--ignore-not-found", "--wait=true", "--timeout=120s")
    kubectl(admin, "delete", "clusterrole,clusterrolebinding", "-l", MANAGED, "--ignore-not-found")
    kubectl(admin, "delete", "crd", "-l", MANAGED, "--ignore-not-found", "--wait=false")
    done.append("the CNI the operator installed removed from the target")
    if foreign_cni:
        manifest = REPO / "manifests" / "upstream" / "canal" / FOREIGN_CANAL / "canal.yaml"
        kubectl(admin, "delete", "-f", str(manifest), "--ignore-not-found", "--wait=false")
        done.append("upstream Canal removed from the target")
    if eks:
        nodes = kubectl(admin, "get", "nodes", "-o", "name").split()
        if nodes:
            kubectl(admin, "label", *nodes, f"{EKS_LABEL[0]}-")
        done.append("EKS labels removed from the target's nodes")
    res = subprocess.run([sys.executable, "-m", "cni_operator.cli", "target-rbac", "--cluster-type", cluster_type,
                          "--token-secret"], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RegisterError(f"cni-operator target-rbac failed: {res.stderr.strip()}")
    kubectl(admin, "delete", "-f", "-", "--ignore-not-found", input=res.stdout)
    done.append(f"identity {IDENTITY_NAMESPACE}/{IDENTITY} removed from the target")
    return done


def _exists(kubeconfig: Path, kind: str, name: str, namespace: str) -> bool:
    return bool(kubectl(kubeconfig, "get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name").strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="a target of the local substrate (t1, t2, ...) or the path of its admin kubeconfig")
    ap.add_argument("--cluster-type", required=True, choices=["mks", "eks", "imported"])
    ap.add_argument("--namespace", default="fleet", help="namespace of the Secret and RemoteClusterNetwork (fleet)")
    ap.add_argument("--name", help="name of the RemoteClusterNetwork and prefix of its Secret (default: the target's)")
    ap.add_argument("--management-kubeconfig", type=Path, default=STATE / "kubeconfig",
                    help="the management cluster's admin kubeconfig (default .cluster/kubeconfig)")
    ap.add_argument("--no-rcn", action="store_true", help="the Secret only, no RemoteClusterNetwork")
    ap.add_argument("--spec", type=json.loads, default=None,
                    help='more spec of the RemoteClusterNetwork, as JSON, e.g. \'{"cni": {"version": "v3.32.1"}}\'')
    ap.add_argument("--eks", action="store_true", help="label the target's nodes as EKS nodes first")
    ap.add_argument("--foreign-cni", action="store_true", help="install upstream's Canal in the target first")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only what --eks and --foreign-cni do to the target (a cluster as it was provisioned)")
    ap.add_argument("--unregister", action="store_true",
                    help="undo a registration made with the same arguments (the demo's clean-up)")
    args = ap.parse_args(argv)
    if args.prepare_only:
        try:
            admin = target_admin_kubeconfig(args.target)
            if args.eks:
                print(f"{args.target}: labelled {len(label_nodes_as_eks(admin))} node(s) {EKS_LABEL[0]}={EKS_LABEL[1]}")
            if args.foreign_cni:
                print(f"{args.target}: installed upstream Canal from "
                      f"{install_foreign_cni(admin).relative_to(REPO)}")
        except RegisterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.unregister:
        try:
            lines = unregister(args.target, args.cluster_type, management=args.management_kubeconfig,
                               namespace=args.namespace, name=args.name, eks=args.eks, foreign_cni=args.foreign_cni)
        except RegisterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for line in lines:
            print(f"{args.name or args.target}: {line}")
        return 0
    try:
        reg = register(args.target, args.cluster_type, management=args.management_kubeconfig,
                       namespace=args.namespace, name=args.name, rcn=not args.no_rcn, spec=args.spec, eks=args.eks,
                       foreign_cni=args.foreign_cni)
    except RegisterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in reg.done:
        print(f"{reg.name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
