"""The fleet benchmark's set-up: the management cluster and targets as the fleet tests prepare them
(tests/fleet/fleet_env.py's Fleet and chart_fleet_rbac: the chart's fleet RBAC, target-rbac identities, kubeconfig
Secrets), the fleet operator processes, RemoteClusterNetworks applied in one request, and fresh targets."""

from __future__ import annotations

import functools
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.common import Watch, applied_current, brief, log
from tests.fleet.fleet_env import FLEET_NAMESPACE, FLEET_SA, RCN_NAMESPACE, Fleet, chart_fleet_rbac
from tests.harness.access import grant
from tests.harness.cleanup import Cleanup
from tests.harness.cluster import Cluster
from tests.harness.operator import OperatorProcess
from tests.harness.repo import REPO, localcluster
from tests.harness.reset import reset_cluster
from tests.harness.targets import Target

GROUP, VERSION, PLURAL = "cni-operator.io", "v1alpha1", "remoteclusternetworks"
CLUSTER_TYPE = "mks"


def rcn(name: str) -> dict:
    """Target NAME's RemoteClusterNetwork: mks, every other field defaulted, the Secret Fleet.register names."""
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RemoteClusterNetwork",
            "metadata": {"name": name, "namespace": RCN_NAMESPACE},
            "spec": {"target": {"kubeconfigSecretRef": {"name": f"{name}-kubeconfig"}}, "clusterType": CLUSTER_TYPE}}


def ready(obj: dict) -> bool:
    return (obj.get("status") or {}).get("phase") == "Ready"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class BenchFleet:
    cluster: Cluster
    targets: list[Target]
    fleet: Fleet
    kubeconfig: Path  # the fleet operator's (the chart's fleet identity)

    @classmethod
    def open(cls, cluster: Cluster, targets: list[Target], workdir: Path) -> BenchFleet:
        """The RemoteClusterNetwork CRD, its namespace, the fleet identity, and per target its identity and Secret
        (Fleet.register without the RemoteClusterNetwork, which the figures apply themselves)."""
        cleanup = Cleanup()
        try:
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                            str(REPO / "crds" / "remoteclusternetworks.yaml"))
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{PLURAL}.{GROUP}")
            cluster.kubectl("delete", "namespace", RCN_NAMESPACE, "--ignore-not-found", "--timeout=120s")
            cluster.kubectl("create", "namespace", RCN_NAMESPACE)
            cleanup.add(cluster.kubectl, "delete", "namespace", RCN_NAMESPACE, "--wait=false", check=False)
            kubeconfig = grant(cluster, cleanup, FLEET_NAMESPACE, FLEET_SA, chart_fleet_rbac(),
                               path=workdir / "fleet-operator.kubeconfig", seconds=4 * 3600)
            fleet = Fleet(cluster=cluster, operator=None, workdir=workdir, cleanup=cleanup)
            bench = cls(cluster, targets, fleet, kubeconfig)
            for t in targets:
                fleet.kubeconfigs[t.name] = fleet.identity_kubeconfig(t, CLUSTER_TYPE)
                fleet.put_secret(f"{t.name}-kubeconfig", fleet.kubeconfigs[t.name].read_text())
            bench.reset_targets(targets)
            return bench
        except BaseException:
            cleanup.run()
            raise

    def close(self) -> None:
        """Every RemoteClusterNetwork gone, the targets without Canal, identities and Secrets revoked."""
        try:
            self.delete_rcns()
            self.reset_targets(self.targets)
        finally:
            self.fleet.cleanup.run()

    def start_operator(self, label: str) -> OperatorProcess:
        """`cni-operator run --fleet --standalone` as the fleet identity, as tests/fleet/conftest.py starts it but
        with the operator's default pacing; returns once it holds its Lease."""
        process = OperatorProcess(self.kubeconfig, self.fleet.workdir / f"fleet-operator-{label}.log",
                                  args=("--fleet",), env={"POD_NAMESPACE": FLEET_NAMESPACE})
        self.fleet.operator = process
        return process.start()

    # ------------------------------------------------------------------------------------ RemoteClusterNetworks

    def rcn_watch(self, name: str | None = None) -> Watch:
        import kubernetes

        api = kubernetes.client.CustomObjectsApi(self.cluster.api_client)
        lister = functools.partial(api.list_namespaced_custom_object, GROUP, VERSION, RCN_NAMESPACE, PLURAL)
        return Watch(lister, **({"field_selector": f"metadata.name={name}"} if name else {}))

    def apply_rcns(self, targets: list[Target]) -> None:
        """Every target's RemoteClusterNetwork in one `kubectl apply` (one process, requests back to back)."""
        self.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([rcn(t.name) for t in targets]))

    def delete_rcns(self) -> None:
        """Every RemoteClusterNetwork gone (deletionPolicy Orphan: the targets keep their Canal)."""
        self.cluster.kubectl("delete", PLURAL, "--all", "-n", RCN_NAMESPACE, "--wait=true", "--timeout=120s",
                             check=False)

    def reset_targets(self, targets: list[Target]) -> None:
        """Canal removed from each target as its admin (tests/harness/reset.py: the objects labelled
        managed-by=cni-operator, then until no CNI pod is left), the targets in parallel."""
        with ThreadPoolExecutor(len(targets)) as pool:
            list(pool.map(lambda t: reset_cluster(t.cluster, log=lambda m, n=t.name: log(f"{n}: {m}")), targets))

    def target_memory(self) -> dict[str, dict[str, float]]:
        """RSS (MiB) of each target's processes (its etcd is the management cluster's, shared)."""
        out = {}
        for t in self.targets:
            out[t.name] = {c: rss_mib(pid) for c, pid, start in localcluster.read_pids(t.paths)
                           if localcluster.is_ours_and_alive(pid, start)}
        return out


def wait_all(watch: Watch, names: list[str], timeout: float) -> tuple[dict[str, float], dict[str, float]]:
    """When WATCH (on RemoteClusterNetworks) first delivered each of NAMES Applied for its generation, and Ready."""
    applied: dict[str, float] = {}
    became_ready: dict[str, float] = {}
    last: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(became_ready) < len(names) or len(applied) < len(names):
        left = deadline - time.monotonic()
        if left <= 0:
            missing = [n for n in names if n not in became_ready or n not in applied]
            raise TimeoutError(f"not Applied and Ready within {timeout:.0f} s: "
                               + "; ".join(f"{n}: {brief(last.get(n))}" for n in missing))
        try:
            at, kind, obj = watch.events.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        name = obj["metadata"]["name"]
        if kind == "DELETED" or name not in names:
            continue
        last[name] = obj
        if name not in applied and applied_current(obj):
            applied[name] = at
        if name not in became_ready and ready(obj):
            became_ready[name] = at
    return applied, became_ready
