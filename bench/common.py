"""What only the benchmarks need, on top of the harness they share with the k8s test tiers (tests/harness/: the
cluster, the audit log, the reset, the operator process): the bench's operator identity, watches with arrival times,
/metrics readings of the API server, and small statistics.

The operator is started exactly as the k8s test tiers start it (tests/harness/operator.py: `cni-operator run
--standalone --health-port 0`, a ServiceAccount token kubeconfig with the chart's RBAC, /metrics on
CNI_OPERATOR_METRICS_PORT), under its own ServiceAccount `cni-operator-bench`, so the audit log tells its writes apart
from everyone else's.
"""

from __future__ import annotations

import os
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tests.harness.access import service_account_user
from tests.harness.cleanup import Cleanup
from tests.harness.cluster import Cluster, RemoteClusterRefused, connect
from tests.harness.clusternetwork import condition
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import OperatorProcess, operator_kubeconfig

BENCH_SA = "cni-operator-bench"
OPERATOR_USER = service_account_user(CNI_NAMESPACE, BENCH_SA)
# A discovery cache of the bench's own, shared by every kubectl it runs: both sides of the install comparison start
# against the same warm cache, and the user's ~/.kube/cache is left alone.
KUBECTL_CACHE = Path(tempfile.gettempdir()) / "cni-operator-bench-kubectl"


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


def open_cluster(nodes: int) -> Cluster:
    """The harness's cluster (KUBECONFIG_TESTS, else this worktree's local cluster, started here with NODES fake
    nodes unless it is up already; see tests/harness/cluster.py), with the bench's kubectl settings."""
    try:
        cluster = connect(start_nodes=nodes)
    except RemoteClusterRefused as e:
        raise SystemExit(str(e)) from None
    if os.environ.get("KUBECONFIG_TESTS"):
        log(f"using KUBECONFIG_TESTS={cluster.kubeconfig} (not starting or stopping a cluster)")
    cluster.kubectl_cache = KUBECTL_CACHE
    cluster.kubectl_timeout = 180  # the scale runs' kubectl lists (thousands of pods) can be slow here
    return cluster


def close_cluster(cluster: Cluster) -> None:
    if cluster.started_here:
        log("stopping the local cluster this run started")
        cluster.stop_if_started()
    else:
        log("leaving the cluster running (this run did not start it)")


class BenchOperator:
    """The real operator process (tests/harness/operator.py) under the chart's RBAC, as the ServiceAccount
    kube-system/cni-operator-bench; started once and left running, as in a real cluster."""

    def __init__(self, cluster: Cluster, workdir: Path):
        self.cluster, self.workdir = cluster, workdir
        self.process: OperatorProcess | None = None
        self.kubeconfig: Path | None = None
        self.log_path = workdir / "operator.log"
        self._granted = Cleanup()

    def grant(self) -> Path:
        """The CRDs, the ServiceAccount with the chart's ClusterRole and Role, and a token kubeconfig valid for a
        day (a BENCH_SCALE run can outlast the tests' one hour)."""
        self.kubeconfig = operator_kubeconfig(self.cluster, self._granted, self.workdir / "operator.kubeconfig",
                                              BENCH_SA, seconds=24 * 3600)
        return self.kubeconfig

    def revoke(self) -> None:
        """Remove what grant() created (the token dies with the ServiceAccount)."""
        try:
            self._granted.run()
        except AssertionError as e:
            log(f"revoking the bench's RBAC: {e}")

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
        return self.process.pid

    def metrics(self) -> dict[str, float]:
        return self.process.metrics()

    def rss_mib(self) -> float:
        return self.process.rss_mib()

    def hwm_mib(self) -> float:
        return self.process.hwm_mib()

    def cpu_seconds(self) -> float:
        return self.process.cpu_seconds()


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


# ------------------------------------------------------------------------------------------------ API server, host


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
