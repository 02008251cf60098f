"""What every benchmark needs: the cluster (admin kubectl and client), the real operator as a separate process under
the chart's RBAC, a watch on the ClusterNetwork, the audit log, /proc readings and small statistics.

The operator is started exactly as the k8s test tiers start it (tests/operator_harness.py: `cni-operator run
--standalone --health-port 0`, a ServiceAccount token kubeconfig, /metrics on CNI_OPERATOR_METRICS_PORT), under its
own ServiceAccount `cni-operator-bench`, so the audit log tells its writes apart from everyone else's.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "tests"))

import localcluster
import toolchain
from operator_harness import MANAGED_SELECTOR, OperatorProcess, chart_rbac, install_crds

CNI_NAMESPACE = "kube-system"
BENCH_SA = "cni-operator-bench"
BENCH_LABEL = {"app.kubernetes.io/part-of": "cni-operator-bench"}  # what revoke() deletes
OPERATOR_USER = f"system:serviceaccount:{CNI_NAMESPACE}:{BENCH_SA}"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
CNI_APPS = "k8s-app in (canal,aws-node,calico-kube-controllers)"
NAMESPACED_KINDS = "ds,deploy,cm,sa,svc,pdb"
CLUSTER_KINDS = "clusterrole,clusterrolebinding,crd"


def log(msg: str) -> None:
    print(f">> {msg}", flush=True)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


# ---------------------------------------------------------------------------------------------------- statistics


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): with 30 samples p99 is the largest, which is what it honestly is."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


# ------------------------------------------------------------------------------------------------------- cluster


@dataclass
class Cluster:
    kubeconfig: Path
    audit_log: Path | None
    started_here: bool = False
    kubectl_cache: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "cni-operator-bench-kubectl")

    @property
    def server(self) -> str:
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        return next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])["server"]

    def kubectl_cmd(self, *args: str, kubeconfig: Path | None = None) -> list[str]:
        return [str(toolchain.resolve("kubectl")), f"--kubeconfig={kubeconfig or self.kubeconfig}",
                f"--cache-dir={self.kubectl_cache}", *args]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 180) -> subprocess.CompletedProcess:
        cmd = self.kubectl_cmd(*args)
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    @property
    def api_client(self):
        import kubernetes

        if not hasattr(self, "_client"):
            self._client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._client


def open_cluster(nodes: int) -> Cluster:
    """KUBECONFIG_TESTS (+ AUDIT_LOG_TESTS) if set, as the test tiers use them; else this worktree's local cluster,
    started here (and stopped by close_cluster) unless it is already up, in which case it is reused and left up."""
    env = os.environ.get("KUBECONFIG_TESTS")
    if env:
        kubeconfig = Path(env)
        cluster = Cluster(kubeconfig, Path(os.environ["AUDIT_LOG_TESTS"]) if os.environ.get("AUDIT_LOG_TESTS")
                          else None)
        host = cluster.server.split("//", 1)[-1].rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1") and os.environ.get("CNI_OPERATOR_TESTS_ALLOW_REMOTE") != "1":
            raise SystemExit(f"refusing to benchmark against {cluster.server}: not a loopback address (the bench "
                             "deletes cluster-scoped objects). Set CNI_OPERATOR_TESTS_ALLOW_REMOTE=1 if disposable.")
        log(f"using KUBECONFIG_TESTS={env} (not starting or stopping a cluster)")
        return cluster
    healthy, _ = localcluster.health()
    py = sys.executable
    subprocess.run([py, str(REPO / "hack" / "localcluster.py"), "up", "--nodes", str(nodes)], check=True)
    return Cluster(localcluster.P.kubeconfig, localcluster.P.audit_log, started_here=not healthy)


def close_cluster(cluster: Cluster) -> None:
    if cluster.started_here:
        log("stopping the local cluster this run started")
        subprocess.run([sys.executable, str(REPO / "hack" / "localcluster.py"), "down"], check=False)
    else:
        log("leaving the cluster running (this run did not start it)")


def scale_nodes(cluster: Cluster, n: int) -> None:
    subprocess.run([sys.executable, str(REPO / "hack" / "localcluster.py"), "nodes", str(n)], check=True)


def wait_crds_serving(cluster: Cluster, timeout: float = 60) -> None:
    """Until every managed CRD serves its (empty) list of instances. Deleting a CRD whose storage is still being
    (re)initialised (it was created a moment ago, right after one of the same name was deleted) can leave its
    customresourcecleanup finalizer failing and backing off for minutes (kube-apiserver logs "storage is
    (re)initializing"), so installs are let finish this before the next reset. Not part of any timed interval."""
    import kubernetes

    api = kubernetes.client.CustomObjectsApi(cluster.api_client)
    crds = cluster.get_json("crd", "-l", MANAGED_SELECTOR)["items"]
    deadline = time.monotonic() + timeout
    for crd in crds:
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("served", True))
        while True:
            try:
                api.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"], limit=1)
                break
            except kubernetes.client.exceptions.ApiException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"CRD {crd['metadata']['name']} does not serve after {timeout:.0f} s")
                time.sleep(0.1)


def _release_stuck_crds(cluster: Cluster) -> list[str]:
    """CRDs terminating with InstanceDeletionFailed: drop their finalizer (they hold no instances; see above)."""
    released = []
    for crd in cluster.get_json("crd", "-l", MANAGED_SELECTOR)["items"]:
        failed = any(c["type"] == "Terminating" and c.get("reason") == "InstanceDeletionFailed"
                     for c in (crd.get("status") or {}).get("conditions") or [])
        if crd["metadata"].get("deletionTimestamp") and failed:
            cluster.kubectl("patch", "crd", crd["metadata"]["name"], "--type=merge",
                            "-p", '{"metadata":{"finalizers":null}}', check=False)
            released.append(crd["metadata"]["name"])
    return released


def reset_cluster(cluster: Cluster) -> None:
    """Remove the ClusterNetwork and everything the operator (or the baseline kubectl) installed, then wait until
    the CNI pods and every labelled object (the Calico CRDs take longest) are gone, so the next install starts from
    nothing. Deletes are issued without waiting and then polled, so the CRD finalizers run concurrently."""
    cluster.kubectl("patch", "cnet", "default", "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                    check=False)
    cluster.kubectl("delete", "cnet", "default", "--ignore-not-found", "--wait=false", check=False)
    cluster.kubectl("delete", "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR, "--wait=false",
                    check=False)
    cluster.kubectl("delete", CLUSTER_KINDS, "-l", MANAGED_SELECTOR, "--wait=false", check=False)
    started = time.monotonic()
    deadline = started + 180
    while time.monotonic() < deadline:
        if time.monotonic() - started > 15:
            for name in _release_stuck_crds(cluster):
                log(f"reset: CRD {name} stuck terminating (InstanceDeletionFailed); removed its finalizer")
        left = cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", CNI_APPS, "-o", "name").stdout.split()
        left += cluster.kubectl("get", "-n", CNI_NAMESPACE, NAMESPACED_KINDS, "-l", MANAGED_SELECTOR,
                                "-o", "name").stdout.split()
        left += cluster.kubectl("get", CLUSTER_KINDS, "-l", MANAGED_SELECTOR,
                                "-o", "name").stdout.split()
        left += cluster.kubectl("get", "clusternetworks", "-o", "name", check=False).stdout.split()
        if not left:
            return
        time.sleep(0.2)
    raise RuntimeError(f"reset: still there after 180 s: {' '.join(left[:10])}")


# ------------------------------------------------------------------------------------------------------ operator


class BenchOperator:
    """The real operator process under the chart's RBAC, as the ServiceAccount kube-system/cni-operator-bench."""

    def __init__(self, cluster: Cluster, workdir: Path):
        self.cluster, self.workdir = cluster, workdir
        self.process: OperatorProcess | None = None
        self.kubeconfig: Path | None = None
        self.log_path = workdir / "operator.log"

    def grant(self) -> Path:
        """The ServiceAccount, the chart's ClusterRole and Role bound to it, and a token kubeconfig."""
        install_crds(self.cluster)
        docs = []
        for i, doc in enumerate(yaml.safe_load_all(chart_rbac())):
            kind, name = doc["kind"], f"{BENCH_SA}-{i}"
            role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                    "metadata": {"name": name, "labels": BENCH_LABEL,
                                 **({"namespace": CNI_NAMESPACE} if kind == "Role" else {})},
                    "rules": doc.get("rules") or []}
            binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": f"{kind}Binding",
                       "metadata": dict(role["metadata"]),
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                       "subjects": [{"kind": "ServiceAccount", "name": BENCH_SA, "namespace": CNI_NAMESPACE}]}
            docs += [role, binding]
        docs.insert(0, {"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": BENCH_SA, "namespace": CNI_NAMESPACE, "labels": BENCH_LABEL}})
        self.cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                             input=yaml.safe_dump_all(docs))
        deadline = time.monotonic() + 30
        while self.cluster.kubectl("auth", "can-i", "watch", "daemonsets", "-n", CNI_NAMESPACE,
                                   f"--as={OPERATOR_USER}", check=False).stdout.strip() != "yes":
            if time.monotonic() > deadline:
                raise RuntimeError("the chart's RBAC for the bench ServiceAccount is not effective after 30 s")
            time.sleep(0.2)
        token = self.cluster.kubectl("create", "token", BENCH_SA, "-n", CNI_NAMESPACE,
                                     "--duration=24h").stdout.strip()
        cfg = yaml.safe_load(self.cluster.kubeconfig.read_text())
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        entry = dict(next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"]))
        ca = entry.pop("certificate-authority", None)
        if ca:
            path = Path(ca) if Path(ca).is_absolute() else self.cluster.kubeconfig.parent / ca
            entry["certificate-authority-data"] = base64.b64encode(path.read_bytes()).decode()
        kubeconfig = self.workdir / "operator.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": entry}],
            "users": [{"name": OPERATOR_USER, "user": {"token": token}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": OPERATOR_USER,
                                                       "namespace": CNI_NAMESPACE}}],
        }))
        kubeconfig.chmod(0o600)
        self.kubeconfig = kubeconfig
        return kubeconfig

    def revoke(self) -> None:
        """Remove what grant() created (the token dies with the ServiceAccount)."""
        selector = ",".join(f"{k}={v}" for k, v in BENCH_LABEL.items())
        self.cluster.kubectl("delete", "clusterrole,clusterrolebinding", "-l", selector, "--ignore-not-found",
                             check=False)
        self.cluster.kubectl("delete", "-n", CNI_NAMESPACE, "role,rolebinding,serviceaccount", "-l", selector,
                             "--ignore-not-found", check=False)

    def start(self) -> BenchOperator:
        if self.kubeconfig is None:
            self.grant()
        self.process = OperatorProcess(self.kubeconfig, self.log_path).start()
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def metrics(self) -> dict[str, float]:
        return self.process.metrics()

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def hwm_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# ------------------------------------------------------------------------------------------ ClusterNetwork watch


class Watch:
    """A watch in a thread: every event, with the monotonic time it arrived here, on a queue.

    `lister(**kwargs)` is a kubernetes client list function (bound with functools.partial if it needs arguments);
    the watch reconnects (from the last resourceVersion) when the server ends the stream."""

    def __init__(self, lister, **kwargs):
        self.lister, self.kwargs = lister, kwargs
        self.events: queue.Queue[tuple[float, str, dict]] = queue.Queue()
        self.latest: dict | None = None
        self.latest_at = 0.0  # when the latest event arrived
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _run(self) -> None:
        import kubernetes
        from kubernetes import watch

        rv = None
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                kwargs = {"timeout_seconds": 60, **self.kwargs}
                if rv:
                    kwargs["resource_version"] = rv
                for ev in w.stream(self.lister, **kwargs):
                    now = time.monotonic()
                    obj = ev.get("raw_object") or ev["object"]  # typed lists: raw_object is the plain dict
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    self.latest, self.latest_at = (None if ev["type"] == "DELETED" else obj), now
                    self.events.put((now, ev["type"], obj))
                    if self._stop.is_set():
                        break
            except kubernetes.client.exceptions.ApiException as e:
                if e.status == 410:
                    rv = None
                    continue
                time.sleep(0.2)
            except Exception:  # noqa: BLE001 - a broken stream: reconnect
                time.sleep(0.2)
            finally:
                w.stop()

    def drain(self) -> None:
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def wait(self, predicate, timeout: float, what: str, *, current: bool = False) -> tuple[float, dict]:
        """The arrival time and body of the first event (from now on) whose object satisfies PREDICATE; with
        CURRENT, the object as last delivered counts too (its events may have been consumed already)."""
        latest, latest_at = self.latest, self.latest_at
        if current and latest is not None and predicate(latest):
            return latest_at, latest
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not seen within {timeout:.0f} s; last: {brief(self.latest)}")
            try:
                at, kind, obj = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if kind != "DELETED" and predicate(obj):
                return at, obj

    def quiet(self, seconds: float, timeout: float) -> bool:
        """Wait until no event arrived for SECONDS (True), or TIMEOUT passed (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.events.get(timeout=seconds)
            except queue.Empty:
                return True
        return False


def cr_watch(cluster: Cluster) -> Watch:
    import functools

    import kubernetes

    api = kubernetes.client.CustomObjectsApi(cluster.api_client)
    lister = functools.partial(api.list_cluster_custom_object, "cni-operator.io", "v1alpha1", "clusternetworks")
    return Watch(lister, field_selector="metadata.name=default")


def condition(obj: dict | None, type_: str) -> dict:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def applied_current(obj: dict) -> bool:
    """Applied=True for the object's current generation."""
    c = condition(obj, "Applied")
    return c.get("status") == "True" and c.get("observedGeneration") == obj["metadata"].get("generation")


def brief(obj: dict | None) -> str:
    if not obj:
        return "(no object)"
    status = obj.get("status") or {}
    conds = ", ".join(f"{c['type']}={c['status']}/{c.get('reason')}" for c in status.get("conditions") or [])
    return f"phase {status.get('phase')} readySummary {status.get('readySummary')} [{conds}]"


# ----------------------------------------------------------------------------------------------------- audit log


class AuditLog:
    """.cluster/audit.log (JSON lines, every write at Metadata level): who wrote what, and when."""

    def __init__(self, path: Path | None):
        self.path = path

    def mark(self) -> tuple[dt.datetime, int, int]:
        """Now, the log's size and its inode: where to start reading for what happens from now on."""
        stat = self.path.stat() if self.path and self.path.exists() else None
        return dt.datetime.now(dt.UTC), stat.st_size if stat else 0, stat.st_ino if stat else 0

    def _files(self, since: tuple[dt.datetime, int, int]) -> list[tuple[Path, int]]:
        """(file, offset) to read, oldest first. kube-apiserver rotates the log (--audit-log-maxsize) to
        audit-<time>.log beside it; with thousands of fake nodes renewing leases that happens within minutes."""
        start, offset, inode = since
        rotated = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"),
                         key=lambda p: p.stat().st_mtime)
        files = []
        for path in [*rotated, self.path]:
            stat = path.stat()
            if stat.st_ino == inode:
                files.append((path, offset if stat.st_size >= offset else 0))
            elif stat.st_mtime >= start.timestamp():
                files.append((path, 0))
        return files

    def events(self, since: tuple[dt.datetime, int, int]) -> list[dict]:
        """Every audited request (writes only, by the policy) received after SINCE, oldest first."""
        if not self.path or not self.path.exists():
            return []
        out = []
        for path, offset in self._files(since):
            with open(path, "rb") as f:
                f.seek(offset)
                for raw in f:
                    try:
                        ev = json.loads(raw)
                    except ValueError:
                        continue
                    if received(ev) >= since[0]:
                        out.append(ev)
        return out

    def writes(self, since: tuple[dt.datetime, int, int], user: str = OPERATOR_USER) -> list[dict]:
        return [ev for ev in self.events(since)
                if ev.get("user", {}).get("username") == user and ev.get("verb") in WRITE_VERBS]


def received(ev: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(ev["requestReceivedTimestamp"])


def completed(ev: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(ev["stageTimestamp"])


def describe_write(ev: dict) -> str:
    ref = ev.get("objectRef") or {}
    sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
    return f"{ev['verb']} {ref.get('resource')}{sub}"


def tally(events: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ev in events:
        key = describe_write(ev)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def apiserver_gets(cluster: Cluster, resource: str) -> float | None:
    """kube-apiserver's count of single-object GETs of RESOURCE (apiserver_request_total, every response code);
    None when /metrics cannot be read. Reads are not in the audit log; this counter is how they are seen."""
    out = cluster.kubectl("get", "--raw", "/metrics", check=False)
    if out.returncode != 0:
        return None
    total = 0.0
    for line in out.stdout.splitlines():
        if (line.startswith("apiserver_request_total{") and f'resource="{resource}"' in line
                and 'verb="GET"' in line and 'scope="resource"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
