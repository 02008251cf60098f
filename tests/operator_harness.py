"""Run the real operator (`cni-operator run`, a separate process) under the chart's own RBAC, and reset the cluster.

A separate process, not kopf in a thread: it is what ships, it can be SIGKILLed by the fault tests, and its
identity (a ServiceAccount token minted by the test) is what the audit log shows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import toolchain  # hack/ is on sys.path via tests/conftest.py
import yaml
from support import REPO, wait_for

CNI_NAMESPACE = "kube-system"
OPERATOR_SA = "cni-operator-test"
OPERATOR_USER = f"system:serviceaccount:{CNI_NAMESPACE}:{OPERATOR_SA}"
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=cni-operator"
CLI = str(Path(sys.executable).parent / "cni-operator")


def chart_rbac() -> str:
    """The ClusterRole and Role exactly as the chart renders them with default values."""
    out = subprocess.run(
        [str(toolchain.resolve("helm")), "template", "cni-operator", str(REPO / "charts" / "cni-operator"),
         "--namespace", CNI_NAMESPACE, "--show-only", "templates/rbac.yaml"],
        check=True, capture_output=True, text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d and d.get("kind") in ("ClusterRole", "Role")]
    assert {d["kind"] for d in docs} == {"ClusterRole", "Role"}, "the chart must render a ClusterRole and a Role"
    return yaml.safe_dump_all(docs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, *, standalone: bool = True, priority: int | None = None,
                 env: dict | None = None):
        self.kubeconfig, self.log_path = kubeconfig, log_path
        self.standalone, self.priority = standalone, priority
        self.metrics_port = free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> OperatorProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
        env.update({
            "KUBECONFIG": str(self.kubeconfig),
            "POD_NAMESPACE": CNI_NAMESPACE,
            "POD_NAME": f"cni-operator-test-{self.metrics_port}",
            "CNI_OPERATOR_HEALTH_PORT": "0",
            "CNI_OPERATOR_METRICS_PORT": str(self.metrics_port),
            **self.extra_env,
        })
        args = [CLI, "run", "--health-port", "0"]
        if self.standalone:
            args.append("--standalone")
        if self.priority is not None:
            args += ["--priority", str(self.priority)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(self._serving, timeout=30, what="the operator to start serving /metrics")
        return self

    def _serving(self) -> bool:
        assert self.alive(), f"the operator exited with {self.proc.returncode}:\n{self.log_tail()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False  # not listening yet

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if not self.alive():
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def install_crds(cluster) -> None:
    for crd in ("crds/clusternetworks.yaml", "charts/cni-operator/crds/kopfpeerings.yaml"):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / crd))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                    "crd/clusternetworks.cni-operator.io", "crd/kopfpeerings.kopf.dev")


def reset_cluster(cluster) -> None:
    """Remove the ClusterNetwork and everything the operator ever installed, as the admin."""
    get = cluster.kubectl("get", "cnet", "default", "-o", "name", check=False)
    if get.returncode == 0 and get.stdout.strip():
        cluster.kubectl("patch", "cnet", "default", "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                        check=False)
        cluster.kubectl("delete", "cnet", "default", "--wait=true", "--timeout=30s", check=False)
    cluster.kubectl("delete", "-n", CNI_NAMESPACE, "ds,deploy,cm,sa,svc,pdb", "-l", MANAGED_SELECTOR,
                    "--wait=true", "--timeout=60s", check=False)
    cluster.kubectl("delete", "clusterrole,clusterrolebinding,crd", "-l", MANAGED_SELECTOR,
                    "--wait=true", "--timeout=60s", check=False)

    def no_cni_pods() -> bool:
        out = cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", "k8s-app in (canal,aws-node,"
                              "calico-kube-controllers)", "-o", "name").stdout.strip()
        assert not out, f"CNI pods still there: {out}"
        return True

    wait_for(no_cni_pods, timeout=60, what="the previous test's CNI pods to go")


@pytest.fixture
def operator_kubeconfig(cluster, sa_kubeconfig) -> Path:
    install_crds(cluster)
    return sa_kubeconfig(CNI_NAMESPACE, OPERATOR_SA, chart_rbac())


@pytest.fixture
def start_operator(cluster, operator_kubeconfig, tmp_path):
    """Factory: start_operator(**OperatorProcess kwargs) -> a running operator; all are stopped at teardown, the
    cluster is reset before and after, and the operator's log is printed when the test failed."""
    reset_cluster(cluster)
    started: list[OperatorProcess] = []

    def start(**kwargs) -> OperatorProcess:
        process = OperatorProcess(operator_kubeconfig, tmp_path / f"operator-{len(started)}.log", **kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
    for process in started:  # pytest shows captured teardown output only when the test failed
        sys.stderr.write(f"\n---- operator log {process.log_path}\n{process.log_tail(120)}\n")
    reset_cluster(cluster)


def apply_clusternetwork(cluster, spec: dict, name: str = "default") -> subprocess.CompletedProcess:
    doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": name},
           "spec": spec}
    return cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)


def get_clusternetwork(cluster) -> dict:
    import json

    out = cluster.kubectl("get", "cnet", "default", "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def condition(cnet: dict, type_: str) -> dict:
    return next((c for c in (cnet.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def wait_condition(cluster, type_: str, status: str, reason: str | None = None, timeout: float = 60) -> dict:
    def check() -> dict:
        cnet = get_clusternetwork(cluster)
        found = condition(cnet, type_)
        assert found.get("status") == status and (reason is None or found.get("reason") == reason), (
            f"{type_} is {found.get('status')}/{found.get('reason')}: {found.get('message')} "
            f"(phase {(cnet.get('status') or {}).get('phase')})")
        return cnet

    return wait_for(check, timeout=timeout, what=f"ClusterNetwork {type_}={status}" + (f"/{reason}" if reason else ""))


def wait_quiet(seconds: float) -> None:
    """Let a window of wall time pass (an observation window, not synchronisation: what is checked after it is
    that nothing happened during it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, deadline - time.monotonic()))


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def is_write(entry: dict, user: str | None = None) -> bool:
    """An audit entry of a write (dry runs excluded), by USER when given."""
    return (entry.get("verb") in WRITE_VERBS and "dryRun" not in (entry.get("requestURI") or "")
            and (user is None or (entry.get("user") or {}).get("username") == user))


def operator_writes(audit_log, since, user: str = OPERATOR_USER) -> list[dict]:
    """Audit entries of writes the operator's identity made since the mark (dry runs excluded), oldest first."""
    return [e for e in audit_log.entries(user=user, since=since) if is_write(e)]


def describe_writes(entries: list[dict]) -> list[str]:
    """'patch daemonsets kube-system/canal -> 200', one per entry."""
    out = []
    for e in entries:
        ref = e.get("objectRef") or {}
        sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
        out.append(f"{e.get('verb')} {ref.get('resource')}{sub} {ref.get('namespace', '')}/{ref.get('name', '')} "
                   f"-> {(e.get('responseStatus') or {}).get('code')}")
    return out


def managed_objects(cluster, *, terminating: bool = False) -> set[str]:
    """kind/name of everything in the cluster carrying the operator's managed-by label. Objects already being
    deleted (the API server still finalizing them, e.g. a CRD whose instances are being cleaned up) are left out
    unless terminating=True."""
    import json

    names = set()
    for scope in (["-n", CNI_NAMESPACE, "ds,deploy,cm,sa,svc,pdb"], ["clusterrole,clusterrolebinding,crd"]):
        out = cluster.kubectl("get", *scope, "-l", MANAGED_SELECTOR, "-o", "json").stdout
        for item in json.loads(out)["items"]:
            if terminating or not item["metadata"].get("deletionTimestamp"):
                group = item["apiVersion"].split("/")[0] if "/" in item["apiVersion"] else ""
                names.add(f"{item['kind'].lower()}{'.' + group if group else ''}/{item['metadata']['name']}")
    return names


def rendered_names(rendered) -> set[str]:
    """The same kind/name form as managed_objects(), for what render() produced."""
    short = {"DaemonSet": "daemonset.apps", "Deployment": "deployment.apps", "ConfigMap": "configmap",
             "ServiceAccount": "serviceaccount", "Service": "service", "PodDisruptionBudget": "poddisruptionbudget.policy",
             "ClusterRole": "clusterrole.rbac.authorization.k8s.io",
             "ClusterRoleBinding": "clusterrolebinding.rbac.authorization.k8s.io",
             "CustomResourceDefinition": "customresourcedefinition.apiextensions.k8s.io"}
    return {f"{short[o['kind']]}/{o['metadata']['name']}" for o in rendered.apply}


def install(cluster, spec: dict, timeout: float = 90) -> dict:
    """Apply the ClusterNetwork and wait until it is Ready; returns it."""
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode == 0, result.stderr
    return wait_condition(cluster, "Ready", "True", timeout=timeout)


def events_for_clusternetwork(cluster, reason: str | None = None) -> list[dict]:
    import json

    out = cluster.kubectl("get", "events", "-n", "default", "--field-selector",
                          "involvedObject.kind=ClusterNetwork", "-o", "json").stdout
    items = json.loads(out)["items"]
    return [e for e in items if reason is None or e.get("reason") == reason]


def audit_writes_since(audit_log, mark, *, exclude_status: bool = False, user: str = OPERATOR_USER) -> list[str]:
    """The operator's writes since mark, described; optionally without its ClusterNetwork status patches."""
    entries = operator_writes(audit_log, mark, user=user)
    if exclude_status:
        entries = [e for e in entries if not ((e.get("objectRef") or {}).get("resource") == "clusternetworks"
                                              and (e.get("objectRef") or {}).get("subresource") == "status")]
    return describe_writes(entries)
