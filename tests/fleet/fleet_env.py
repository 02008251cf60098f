"""The fleet operator under test: `cni-operator run --fleet` in the management cluster as the identity the chart's
fleet.enabled RBAC grants, and each target reached through a kubeconfig Secret holding a token of the identity
`cni-operator target-rbac` prints for its cluster type, so every test runs with exactly the rights that ship.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.harness.access import grant, service_account_user
from tests.harness.cleanup import Cleanup
from tests.harness.cluster import Cluster
from tests.harness.operator import CLI, OperatorProcess
from tests.harness.repo import REPO, toolchain
from tests.harness.targets import Target

FLEET_NAMESPACE = "cni-fleet-test"  # the operator's ServiceAccount and Lease (the chart's release namespace)
FLEET_SA = "cni-operator-fleet-test"
FLEET_USER = service_account_user(FLEET_NAMESPACE, FLEET_SA)
RCN_NAMESPACE = "fleet-a"  # where the Secrets and RemoteClusterNetworks live
TARGET_NAMESPACE = "kube-system"  # the identity in each target, as target-rbac prints it
TARGET_SA = "cni-operator-fleet"
TARGET_USER = service_account_user(TARGET_NAMESPACE, TARGET_SA)
# Pacing for tests (docs/fleet.md names each): the operator reads a kubeconfig Secret again every 5 s instead of 30,
# gives up deleting from an unreachable target after 15 s instead of 5 minutes, and retries an unreachable target at
# least every 10 s instead of 5 minutes, so recovery is observed within a test's deadline.
TEST_PACING = {
    "CNI_OPERATOR_FLEET_CREDENTIALS_SECONDS": "5",
    "CNI_OPERATOR_FLEET_DELETE_TIMEOUT_SECONDS": "15",
    "CNI_OPERATOR_FLEET_MAX_BACKOFF_SECONDS": "10",
}


def chart_fleet_rbac() -> str:
    """The management cluster's RBAC exactly as the chart renders it with fleet.enabled=true."""
    out = subprocess.run(
        [str(toolchain.resolve("helm")), "template", "cni-operator", str(REPO / "charts" / "cni-operator"),
         "--namespace", FLEET_NAMESPACE, "--set", "fleet.enabled=true", "--show-only", "templates/rbac-fleet.yaml"],
        check=True, capture_output=True, text=True).stdout
    return yaml.safe_dump_all([d for d in yaml.safe_load_all(out) if d and d.get("kind") in ("ClusterRole", "Role")])


def target_rbac(cluster_type: str) -> str:
    """The target's roles as `cni-operator target-rbac` prints them for CLUSTER_TYPE."""
    return subprocess.run([CLI, "target-rbac", "--cluster-type", cluster_type], check=True, capture_output=True,
                          text=True).stdout


@dataclass
class Fleet:
    """The management cluster, the running fleet operator and the kubeconfigs it was given per target."""

    cluster: Cluster
    operator: OperatorProcess
    workdir: Path
    cleanup: Cleanup
    kubeconfigs: dict[str, Path] = field(default_factory=dict)

    def identity_kubeconfig(self, target: Target, cluster_type: str, *, sa: str = TARGET_SA) -> Path:
        """A token kubeconfig (inline CA and token only) of SA in the target, holding target-rbac's roles."""
        path = self.workdir / f"{target.name}-{sa}.kubeconfig"
        return grant(target.cluster, self.cleanup, TARGET_NAMESPACE, sa, target_rbac(cluster_type), path=path)

    def put_secret(self, name: str, kubeconfig_text: str, *, key: str = "value") -> None:
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": RCN_NAMESPACE},
                  "stringData": {key: kubeconfig_text}}
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(secret))

    def put_rcn(self, name: str, spec: dict) -> None:
        rcn = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "RemoteClusterNetwork",
               "metadata": {"name": name, "namespace": RCN_NAMESPACE}, "spec": spec}
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(rcn))

    def register(self, target: Target, cluster_type: str, **spec) -> None:
        """Zero-touch as a provisioning controller does it: the identity, its kubeconfig in a Secret, the object."""
        kubeconfig = self.kubeconfigs.get(target.name) or self.identity_kubeconfig(target, cluster_type)
        self.kubeconfigs[target.name] = kubeconfig
        self.put_secret(f"{target.name}-kubeconfig", kubeconfig.read_text())
        self.put_rcn(target.name, {"target": {"kubeconfigSecretRef": {"name": f"{target.name}-kubeconfig"}},
                                   "clusterType": cluster_type, **spec})

    def rcn(self, name: str) -> dict:
        out = self.cluster.kubectl("get", "rcn", name, "-n", RCN_NAMESPACE, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def conditions(self, name: str) -> dict[str, dict]:
        return {c["type"]: c for c in (self.rcn(name).get("status") or {}).get("conditions") or []}

    def table(self) -> str:
        return self.cluster.kubectl("get", "rcn", "-A").stdout

    def events(self, name: str, reason: str, uid: str | None = None) -> list[dict]:
        """Events with REASON about the RemoteClusterNetwork NAME (of uid UID, when given: it may be gone)."""
        out = self.cluster.kubectl("get", "events", "-n", RCN_NAMESPACE, "-o", "json").stdout
        return [e for e in json.loads(out)["items"] if e.get("reason") == reason
                and e["involvedObject"].get("kind") == "RemoteClusterNetwork"
                and e["involvedObject"].get("name") == name
                and (uid is None or e["involvedObject"].get("uid") == uid)]
