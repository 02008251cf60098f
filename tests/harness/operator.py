"""The real operator (`cni-operator run`, a separate process) under the chart's own RBAC.

A separate process, not kopf in a thread: it is what ships, it can be SIGKILLed by the fault tests, and its identity
(a ServiceAccount token minted here) is what the audit log shows. The k8s test tiers run it as kube-system/
cni-operator-test, the bench as kube-system/cni-operator-bench, so either's writes are told apart from the other's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from .access import grant, service_account_user
from .audit import AuditLog, AuditMark, describe_writes
from .cleanup import Cleanup
from .cluster import Cluster
from .managed import CNI_NAMESPACE
from .polling import wait_for
from .repo import REPO, localcluster, toolchain

OPERATOR_SA = "cni-operator-test"  # the test tiers' operator identity
OPERATOR_USER = service_account_user(CNI_NAMESPACE, OPERATOR_SA)
LEASE_NAME = "cni-operator"  # the Lease every operator process takes before it acts (session/lease.py)
# The console script of the interpreter running us (the venv's), so the operator is the checkout's code.
CLI = str(Path(sys.executable).parent / "cni-operator")


def chart_rbac(*set_values: str) -> str:
    """The ClusterRoles and Roles exactly as the chart renders them with default values (both CNIs' rights) (or helm --set SET_VALUES)."""
    sets = [arg for value in set_values for arg in ("--set", value)]
    out = subprocess.run(
        [str(toolchain.resolve("helm")), "template", "cni-operator", str(REPO / "charts" / "cni-operator"),
         "--namespace", CNI_NAMESPACE, "--show-only", "templates/rbac.yaml", *sets],
        check=True, capture_output=True, text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d and d.get("kind") in ("ClusterRole", "Role")]
    assert {d["kind"] for d in docs} == {"ClusterRole", "Role"}, "the chart must render a ClusterRole and a Role"
    return yaml.safe_dump_all(docs)


def install_crds(cluster: Cluster) -> None:
    """The ClusterNetwork CRD and kopf's peering CRD, Established (the chart installs both)."""
    for crd in ("crds/clusternetworks.yaml", "charts/cni-operator/crds/kopfpeerings.yaml"):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / crd))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                    "crd/clusternetworks.cni-operator.io", "crd/kopfpeerings.kopf.dev")


def operator_kubeconfig(cluster: Cluster, cleanup: Cleanup, path: Path, service_account: str = OPERATOR_SA, *,
                        seconds: int = 3600) -> Path:
    """The CRDs, and a kubeconfig for kube-system/SERVICE_ACCOUNT holding exactly the chart's RBAC; what it
    created is registered with CLEANUP."""
    install_crds(cluster)
    return grant(cluster, cleanup, CNI_NAMESPACE, service_account, chart_rbac(), path=path, seconds=seconds)


def free_port() -> int:
    """A port the operator under test will listen on (outside the ephemeral range: localcluster.listen_port)."""
    return localcluster.listen_port()


class OperatorProcess:
    """One `cni-operator run` process, its log in LOG_PATH. start() returns once it holds the Lease (its /metrics
    says so), or, with active=False, once /metrics answers (a second operator that waits for the Lease).

    LEASE_DURATION shortens the Lease (CNI_OPERATOR_LEASE_DURATION; the operator's default is 60 s) where a test
    SIGKILLs an operator and starts another: the new one waits for the dead one's Lease to expire."""

    def __init__(self, kubeconfig: Path, log_path: Path, *, standalone: bool = True, priority: int | None = None,
                 env: dict | None = None, lease_duration: int | None = None, health: bool = False,
                 args: tuple[str, ...] = ()):
        self.kubeconfig, self.log_path = kubeconfig, log_path
        self.standalone, self.priority = standalone, priority
        self.metrics_port = free_port()
        self.health_port = free_port() if health else 0
        self.lease_duration = lease_duration
        self.extra_env = env or {}
        self.extra_args = tuple(args)  # e.g. ("--fleet",)
        self.proc: subprocess.Popen | None = None

    @property
    def pod_name(self) -> str:
        """What it calls itself (POD_NAME): its Lease holder identity is this and its pid."""
        return f"cni-operator-test-{self.metrics_port}"

    @property
    def identity(self) -> str:
        return f"{self.pod_name}_{self.pid}"

    def start(self, *, active: bool = True) -> OperatorProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
        env.update({
            "KUBECONFIG": str(self.kubeconfig),
            "POD_NAMESPACE": CNI_NAMESPACE,
            "POD_NAME": self.pod_name,
            "CNI_OPERATOR_HEALTH_PORT": str(self.health_port),
            "CNI_OPERATOR_METRICS_PORT": str(self.metrics_port),
            **({"CNI_OPERATOR_LEASE_DURATION": str(self.lease_duration)} if self.lease_duration else {}),
            **self.extra_env,
        })
        args = [CLI, "run", "--health-port", str(self.health_port)]
        if self.standalone:
            args.append("--standalone")
        if self.priority is not None:
            args += ["--priority", str(self.priority)]
        args += self.extra_args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(self._serving, timeout=30, what="the operator to start serving /metrics")
        if active:
            wait_for(self.holds_lease, timeout=30 + (self.lease_duration or 60),
                     what="the operator to take the Lease (does another operator hold it? see the log)")
        return self

    def _serving(self) -> bool:
        assert self.alive(), f"the operator exited with {self.proc.returncode}:\n{self.log_tail()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False  # not listening yet

    def holds_lease(self) -> bool:
        assert self.alive(), f"the operator exited with {self.proc.returncode}:\n{self.log_tail()}"
        return self.metrics().get("cni_operator_lease_held") == 1

    def healthz(self) -> tuple[int, str]:
        """GET /healthz (started with health=True): the status code and the body."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

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

    def exit_code(self, timeout: float) -> int:
        """Wait (up to TIMEOUT seconds) for the process to end by itself; its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the operator did not exit within {timeout:.0f}s:\n{self.log_tail()}") from None

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

    # -- what it costs, from /proc (the bench reports these next to its figures)
    @property
    def pid(self) -> int:
        return self.proc.pid

    def _status_kib(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        return float("nan")

    def rss_mib(self) -> float:
        return self._status_kib("VmRSS") / 1024

    def hwm_mib(self) -> float:
        """The peak resident set since the process started."""
        return self._status_kib("VmHWM") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Operators:
    """The operator processes one test started (each with its own log in WORKDIR); stop_all() at the end."""

    def __init__(self, kubeconfig: Path, workdir: Path):
        self.kubeconfig, self.workdir = kubeconfig, workdir
        self.started: list[OperatorProcess] = []

    def start(self, *, active: bool = True, **kwargs) -> OperatorProcess:
        """start(active=True, **OperatorProcess kwargs) -> a running operator (holding the Lease when ACTIVE)."""
        process = OperatorProcess(self.kubeconfig, self.workdir / f"operator-{len(self.started)}.log", **kwargs)
        self.started.append(process)
        return process.start(active=active)

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()

    def logs(self, lines: int = 120) -> str:
        return "".join(f"\n---- operator log {p.log_path}\n{p.log_tail(lines)}\n" for p in self.started)


def is_lease_write(entry: dict) -> bool:
    """A write to the operator's own Lease (kube-system/cni-operator)."""
    ref = entry.get("objectRef") or {}
    return (ref.get("apiGroup") == "coordination.k8s.io" and ref.get("resource") == "leases"
            and ref.get("namespace") == CNI_NAMESPACE and ref.get("name") == LEASE_NAME)


def operator_writes(audit_log: AuditLog, since: AuditMark, user: str = OPERATOR_USER, *,
                    lease: bool = False) -> list[dict]:
    """Audit entries of writes the operator's identity made since the mark (dry runs excluded), oldest first.

    Writes to its own Lease are left out unless LEASE: renewing it (every 15 s by default) is how the acting
    operator keeps others from acting, the one write it makes by design on an idle cluster; what callers check is
    what it did to the cluster. Tests of the Lease itself, and the idle test, ask for them explicitly."""
    return [e for e in audit_log.writes(since, user) if lease or not is_lease_write(e)]


def audit_writes_since(audit_log: AuditLog, mark: AuditMark, *, exclude_status: bool = False,
                       user: str = OPERATOR_USER) -> list[str]:
    """The operator's writes since mark, described; optionally without its ClusterNetwork status patches."""
    entries = operator_writes(audit_log, mark, user=user)
    if exclude_status:
        entries = [e for e in entries if not ((e.get("objectRef") or {}).get("resource") == "clusternetworks"
                                              and (e.get("objectRef") or {}).get("subresource") == "status")]
    return describe_writes(entries)
