#!/usr/bin/env python3
"""The local Kubernetes control plane for tests and the demo: real binaries, fake (kwok) nodes, loopback only.

    localcluster.py up [--nodes N] [--apiserver-port P] [--targets T]
                                                          start (or reuse) the cluster; returns when it is usable.
                                                          A running cluster gets at least N fake nodes: nodes beyond
                                                          N (added with `nodes`) are kept, never removed; its kwok is
                                                          restarted if the stage files changed since it started.
                                                          --targets T: also fleet targets t1..tT, each a control plane
                                                          of its own with N fake nodes (hack/localtargets.py)
    localcluster.py down                                  stop exactly the processes `up` started (targets too),
                                                          remove .cluster/
    localcluster.py status                                exit 0 if up and healthy, print what runs where
    localcluster.py env                                   (re)write .cluster/env (`up` does too) and print its path
    localcluster.py nodes N                               scale the fake nodes to N (adds or removes)
    localcluster.py restart COMPONENT [--kill] [--down S] [--target NAME]
                                                          stop one component (of target NAME) and start it again,
                                                          same flags/ports
    localcluster.py kubeconfig-for-sa NAMESPACE NAME OUT  mint a ServiceAccount kubeconfig (TokenRequest API)

What runs (all on 127.0.0.1, free ports): etcd, kube-apiserver (RBAC+Node authz, audit log), kube-controller-manager,
kube-scheduler and kwok (kwok's fast stages plus ours, hack/kwok/stages-failure.yaml: pods whose images ask for it
fail). State lives in .cluster/ of the repository: kubeconfig (admin), audit.log, logs/<component>.log,
pids (also the demo's operator: hack/demo.sh records it there, `down` stops it first), pki/, and env (`source
.cluster/env`: KUBECONFIG and the pinned kubectl and helm, the venv's cni-operator on PATH).
Binaries come from hack/toolchain.py (the cache, or KUBE_APISERVER_BIN & co.).

Standard library only (plus the openssl CLI for certificates), so `down` works with any python3 and no venv.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toolchain

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CNI_OPERATOR_CLUSTER_DIR", REPO / ".cluster"))
HOST = "127.0.0.1"

# The annotation kwok selects nodes by, and the label that marks our fake nodes (tests select on it).
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
NODE_LABEL = ("type", "kwok")
NODE_PREFIX = "kwok-node-"

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"  # kwok hands out pod IPs from here (the default podCIDR of ClusterNetwork)
ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_NAME = "cni-operator-local"

# Order matters: start in this order, stop in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

# Our own kwok stages, loaded after kwok's fast ones (toolchain.kwok_stages()): pods that fail on purpose.
KWOK_FAILURE_STAGES = REPO / "hack" / "kwok" / "stages-failure.yaml"

START_TIMEOUT_S = float(os.environ.get("LOCALCLUSTER_START_TIMEOUT", "180"))
STOP_GRACE_S = 15.0

AUDIT_POLICY = """\
# Every write, by anyone, at Metadata level: who did what to which object, and the answer.
# Reads are not logged: controllers and kwok list/watch constantly and would drown the writes.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""


class ClusterError(Exception):
    """One clear message for the user; main() prints it and exits 1."""


def log(msg: str) -> None:
    print(f">> {msg}", flush=True)


# --------------------------------------------------------------------------------------------------- paths & state


@dataclass
class Paths:
    """Where one control plane keeps its state, and the name its certificates and kubeconfigs carry: the management
    cluster's (P) or a fleet target's (hack/localtargets.py)."""

    root: Path
    name: str = CLUSTER_NAME

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def env(self) -> Path:
        return self.root / "env"

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / "kubeconfigs" / f"{name}.kubeconfig"


P = Paths(STATE)


def read_state(paths: Paths | None = None) -> dict | None:
    try:
        return json.loads((paths or P).state.read_text())
    except (OSError, ValueError):
        return None


def write_state(state: dict, paths: Paths | None = None) -> None:
    (paths or P).state.write_text(json.dumps(state, indent=2) + "\n")


# ------------------------------------------------------------------------------------------------ process handling


def _proc_start_time(pid: int) -> str | None:
    """Start time in clock ticks since boot (field 22 of /proc/PID/stat): a pid plus this identifies one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    return stat.rsplit(")", 1)[1].split()[19]


def read_pids(paths: Paths | None = None) -> list[tuple[str, int, str]]:
    out = []
    try:
        for line in (paths or P).pids.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                out.append((parts[0], int(parts[1]), parts[2]))
    except OSError:
        pass
    return out


def record_pid(component: str, pid: int, paths: Paths | None = None) -> None:
    with open((paths or P).pids, "a") as f:
        f.write(f"{component} {pid} {_proc_start_time(pid)}\n")


def is_ours_and_alive(pid: int, start: str) -> bool:
    # Pid reuse: a recorded pid only counts if the process has the same start time as when we launched it.
    return _proc_start_time(pid) == start and Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def stop_processes(entries: list[tuple[str, int, str]]) -> None:
    """Stop every recorded process that is still ours: clients first, then the apiserver, then etcd.

    Order matters: an apiserver whose etcd is already gone spends its whole grace period retrying storage.
    Each tier gets SIGTERM, then SIGKILL for whatever is left after STOP_GRACE_S.
    """
    tiers = [("kwok", "kube-scheduler", "kube-controller-manager"), ("kube-apiserver",), ("etcd",)]
    known = {c for tier in tiers for c in tier}
    tiers.insert(0, tuple({c for c, _, _ in entries} - known))  # anything unexpected goes first
    for tier in tiers:
        _stop_tier([(c, pid, st) for c, pid, st in entries if c in tier])


def _stop_tier(entries: list[tuple[str, int, str]]) -> None:
    alive = [(c, pid, st) for c, pid, st in entries if is_ours_and_alive(pid, st)]
    for c, pid, _ in alive:
        try:
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)  # one a fault test froze (SIGSTOP) handles SIGTERM only once it runs
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_GRACE_S
    while alive and time.monotonic() < deadline:
        _reap()
        alive = [(c, pid, st) for c, pid, st in alive if is_ours_and_alive(pid, st)]
        if alive:
            time.sleep(0.05)
    for c, pid, _ in alive:
        log(f"{c} (pid {pid}) ignored SIGTERM for {STOP_GRACE_S:.0f}s; sending SIGKILL")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap()


def _reap() -> None:
    """Collect exited children of this process (only relevant when `up` itself tears down a failed start)."""
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
    except ChildProcessError:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def listen_port() -> int:
    """A free port for a process started later to listen on, below the ephemeral range: a port from bind(0) is an
    ephemeral one, and until the process binds it any outgoing connection on this host (the clusters' watches make
    many) may take it as its local port ("address already in use")."""
    low, _ = ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if not port_in_use(port):
            return port
    return free_port()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def log_tail(component: str, n: int = 5, paths: Paths | None = None) -> str:
    try:
        lines = ((paths or P).logs / f"{component}.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("   | " + line[:300] for line in lines[-n:])


# ---------------------------------------------------------------------------------------------------- certificates


def _openssl(*args: str) -> None:
    res = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {res.stderr.strip()}")


def _ca(name: str, subject: str, pki: Path) -> None:
    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.crt"), "-days", "3650", "-subj", subject,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def _leaf(name: str, subject: str, ext: list[str], pki: Path, ca: str = "ca") -> None:
    """An EC P-256 key and a certificate signed by CA (EC keys: generating them is instant, unlike RSA)."""
    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.crt"),
        "-CA", str(pki / f"{ca}.crt"), "-CAkey", str(pki / f"{ca}.key"), "-days", "365", "-subj", subject,
        *[a for e in ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", *ext]
          for a in ("-addext", e)],
    )  # fmt: skip


def generate_pki(paths: Paths | None = None) -> None:
    """A CA of the cluster's own, the API server's certificate, the client certificates, the front-proxy CA and the
    ServiceAccount signing key, in PATHS.pki (the management cluster's by default)."""
    paths = paths or P
    if not shutilwhich("openssl"):
        raise ClusterError(
            "the openssl command is needed to generate the cluster certificates; install openssl."
        )
    pki = paths.pki
    pki.mkdir(parents=True, exist_ok=True)
    _ca("ca", f"/CN={paths.name}-ca", pki)
    sans = ",".join(
        [f"IP:{HOST}", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
         "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"]
    )  # fmt: skip
    _leaf("apiserver", "/CN=kube-apiserver", [f"subjectAltName={sans}", "extendedKeyUsage=serverAuth"], pki)
    client = ["extendedKeyUsage=clientAuth"]
    # Identities: the admin is in system:masters; kcm and scheduler use the users the bootstrap RBAC roles bind;
    # kwok plays every kubelet, so it gets system:masters under its own name (the audit log tells them apart).
    _leaf("admin", "/O=system:masters/CN=kubernetes-admin", client, pki)
    _leaf("kube-controller-manager", "/CN=system:kube-controller-manager", client, pki)
    _leaf("kube-scheduler", "/CN=system:kube-scheduler", client, pki)
    _leaf("kwok", "/O=system:masters/CN=kwok-controller", client, pki)
    # The front proxy (aggregation layer), as in a kubeadm cluster: without its CA in the
    # extension-apiserver-authentication ConfigMap, kcm and the scheduler log an error every few seconds.
    _ca("front-proxy-ca", f"/CN={paths.name}-front-proxy-ca", pki)
    _leaf("front-proxy-client", "/CN=front-proxy-client", client, pki, ca="front-proxy-ca")
    # Service-account token signing key (the apiserver signs, kcm signs legacy token secrets, both verify).
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pki / "sa.key")
    )
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def shutilwhich(cmd: str) -> str | None:
    import shutil

    return shutil.which(cmd)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig_text(server: str, user: str, *, cert: Path | None = None, key: Path | None = None,
                    token: str | None = None, namespace: str | None = None,
                    paths: Paths | None = None) -> str:  # fmt: skip
    """A self-contained kubeconfig (everything inlined, so it can be copied anywhere) for the cluster of PATHS."""
    paths = paths or P
    name = paths.name
    if token:
        user_fields = f"    token: {token}\n"
    else:
        assert cert and key
        user_fields = f"    client-certificate-data: {_b64(cert)}\n    client-key-data: {_b64(key)}\n"
    ns = f"\n    namespace: {namespace}" if namespace else ""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n"
        f"    certificate-authority-data: {_b64(paths.pki / 'ca.crt')}\n"
        f"users:\n- name: {user}\n  user:\n{user_fields}"
        f"contexts:\n- name: {user}@{name}\n  context:\n    cluster: {name}\n    user: {user}{ns}\n"
        f"current-context: {user}@{name}\n"
    )


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# ------------------------------------------------------------------------------------------------------ API client


class Api:
    """Just enough of a Kubernetes client over urllib, authenticated with the admin client certificate."""

    def __init__(self, server: str, paths: Paths | None = None):
        pki = (paths or P).pki
        self.server = server
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 10,
                content_type: str = "application/json") -> tuple[int, dict | str]:  # fmt: skip
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                raw = resp.read().decode()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw, status = e.read().decode(errors="replace"), e.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def ok(self, method: str, path: str, body: dict | None = None, *, allow: tuple[int, ...] = ()) -> dict:
        status, obj = self.request(method, path, body)
        if status >= 300 and status not in allow:
            raise ClusterError(
                f"{method} {path} -> HTTP {status}: {obj if isinstance(obj, str) else obj.get('message')}"
            )
        return obj if isinstance(obj, dict) else {}


def _get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return 0, str(e)


def _insecure_ctx() -> ssl.SSLContext:
    # kcm and the scheduler serve /healthz with self-signed in-memory certificates; we only ask "are you alive".
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------------------------------------------- fake nodes


def node_manifest(index: int) -> dict:
    """A fake Node that kwok manages (annotation) and tests can select (label), with a distinct InternalIP."""
    name = f"{NODE_PREFIX}{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                NODE_LABEL[0]: NODE_LABEL[1],
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "status": {
            # Generous but finite: the scheduler and DaemonSet controller see a normal node.
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "addresses": [
                {"type": "InternalIP", "address": f"10.255.{index // 250}.{index % 250 + 1}"},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def _node_index(name: str) -> int:
    try:
        return int(name.removeprefix(NODE_PREFIX))
    except ValueError:
        return -1


def fake_nodes(api: Api) -> list[dict]:
    obj = api.ok("GET", f"/api/v1/nodes?labelSelector={NODE_LABEL[0]}%3D{NODE_LABEL[1]}")
    return obj.get("items", [])


def node_ready(node: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def scale_nodes(api: Api, want: int) -> None:
    """Exactly WANT fake nodes, kwok-node-0 .. WANT-1: the missing ones are created, any others deleted."""
    nodes = fake_nodes(api)
    have = {n["metadata"]["name"] for n in nodes if n["metadata"].get("deletionTimestamp") is None}
    wanted = {f"{NODE_PREFIX}{i}" for i in range(want)}
    for name in sorted(have - wanted, key=_node_index, reverse=True):
        api.ok("DELETE", f"/api/v1/nodes/{name}", allow=(404,))
    created = 0
    for i in range(want):
        if f"{NODE_PREFIX}{i}" not in have:
            api.ok("POST", "/api/v1/nodes", node_manifest(i), allow=(409,))
            created += 1
    removed = len(have - wanted)
    if created or removed:
        log(f"fake nodes: {len(have)} -> {want} (+{created} -{removed})")


def grow_nodes(api: Api, at_least: int) -> int:
    """At least AT_LEAST fake nodes: create the lowest free kwok-node-I names until there are, delete nothing.
    Returns how many fake nodes there are then."""
    have = {n["metadata"]["name"] for n in fake_nodes(api) if n["metadata"].get("deletionTimestamp") is None}
    created, i = 0, 0
    while len(have) + created < at_least:
        if f"{NODE_PREFIX}{i}" not in have:
            api.ok("POST", "/api/v1/nodes", node_manifest(i), allow=(409,))
            created += 1
        i += 1
    if created:
        log(f"fake nodes: {len(have)} -> {len(have) + created} (+{created})")
    return len(have) + created


# ----------------------------------------------------------------------------------------------------- start / wait


class Launcher:
    """Starts the components of one control plane in PATHS (the management cluster's by default) and records them in
    its pids file. start() runs the whole management cluster; hack/localtargets.py starts a target's API server,
    controller manager, scheduler and kwok with the same pieces against the management cluster's etcd."""

    def __init__(self, nodes: int, apiserver_port: int = 0, paths: Paths | None = None):
        self.nodes = nodes
        self.apiserver_port = apiserver_port
        self.paths = paths or P
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    # -- helpers
    @property
    def label(self) -> str:
        """What the progress lines start with: nothing for the management cluster, "t1: " for a target."""
        return "" if self.paths is P else f"{self.paths.root.name}: "

    def binary(self, name: str) -> str:
        p = toolchain.resolve(name)
        if not p.is_file():
            _, b = toolchain.BINARIES[name]
            hint = f"fix {b.env}" if os.environ.get(b.env) else f"run `make tools` or set {b.env}"
            raise ClusterError(f"{name} binary not found at {p}; {hint}.")
        return str(p)

    def spawn(self, component: str, args: list[str], env: dict | None = None) -> None:
        logs = self.paths.logs
        logs.mkdir(parents=True, exist_ok=True)
        # Never leak the caller's KUBECONFIG into a component: each gets its own explicit flags.
        full_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        full_env.update(env or {})
        # A session of its own: the cluster outlives `up`, and a Ctrl-C in the caller's terminal does not reach it.
        with open(logs / f"{component}.log", "ab") as logf:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=full_env,
                cwd=self.paths.root, start_new_session=True,
            )  # fmt: skip
        self.procs[component] = proc
        record_pid(component, proc.pid, self.paths)

    def check_alive(self) -> None:
        for component, proc in self.procs.items():
            rc = proc.poll()
            if rc is not None:
                tail = log_tail(component, paths=self.paths) or "   | (the log is empty)"
                clash = "address already in use" in tail
                what = (
                    "could not bind its port (port clash)"
                    if clash
                    else f"exited during start (exit code {rc})"
                )
                raise ClusterError(
                    f"{component} {what}; see {self.paths.logs / (component + '.log')}\n{tail}\n"
                    + (
                        "Run `make cluster-up` again to pick other free ports."
                        if clash
                        else "Fix the cause and run `make cluster-up` again."
                    )
                )

    def wait(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if check():
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; logs in {self.paths.logs}")
            time.sleep(0.2)

    # -- components
    def start(self) -> dict:
        t0 = time.monotonic()
        bins = {c: self.binary(c) for c in (*COMPONENTS, "kubectl")}
        kwok_stage_files = kwok_configs()
        if self.apiserver_port and port_in_use(self.apiserver_port):
            raise ClusterError(
                f"port {self.apiserver_port} on {HOST} is already in use, so kube-apiserver cannot listen there; "
                "stop whatever uses it or choose another --apiserver-port (0 picks a free one)."
            )
        P.root.mkdir(parents=True, exist_ok=True)
        self.ports = {
            "etcd": free_port(),
            "etcd-peer": free_port(),
            "kube-apiserver": self.apiserver_port or free_port(),
            "kube-controller-manager": free_port(),
            "kube-scheduler": free_port(),
        }
        state = self.prepare(bins, kwok_stage_files)

        etcd_url = f"http://{HOST}:{self.ports['etcd']}"
        peer_url = f"http://{HOST}:{self.ports['etcd-peer']}"
        self.spawn("etcd", [
            bins["etcd"], "--name=local", f"--data-dir={P.root / 'etcd-data'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=local={peer_url}", "--initial-cluster-state=new",
            # Throwaway data: durability costs seconds per write burst on slow disks and buys nothing here.
            "--unsafe-no-fsync", "--quota-backend-bytes=4294967296", "--log-level=warn",
        ])  # fmt: skip
        self.wait("etcd /health", lambda: '"health":"true"' in _get(etcd_url + "/health")[1], 30)
        log(f"etcd ready on {etcd_url} ({time.monotonic() - t0:.1f}s)")
        self.start_apiserver(bins, etcd_url)
        log(f"kube-apiserver ready on {state['server']} ({time.monotonic() - t0:.1f}s)")
        self.start_clients(bins, kwok_stage_files)
        self.wait_usable(t0)
        return state

    def prepare(self, bins: dict, kwok_stage_files: list[Path]) -> dict:
        """Certificates, the components' kubeconfigs, the audit policy and state.json for self.ports."""
        paths = self.paths
        generate_pki(paths)
        server = f"https://{HOST}:{self.ports['kube-apiserver']}"
        for name in ("admin", "kube-controller-manager", "kube-scheduler", "kwok"):
            path = paths.kubeconfig if name == "admin" else paths.component_kubeconfig(name)
            write_private(path, kubeconfig_text(server, name, cert=paths.pki / f"{name}.crt",
                                                key=paths.pki / f"{name}.key", paths=paths))  # fmt: skip
        (paths.root / "audit-policy.yaml").write_text(AUDIT_POLICY)
        state = {
            "server": server,
            "ports": self.ports,
            "nodes": self.nodes,
            "kubeconfig": str(paths.kubeconfig),
            "audit_log": str(paths.audit_log),
            "binaries": bins,
            "kwok_config": configs_fingerprint(kwok_stage_files),
        }
        write_state(state, paths)
        return state

    def start_apiserver(self, bins: dict, etcd_url: str, extra: tuple[str, ...] = ()) -> None:
        """kube-apiserver on self.ports['kube-apiserver'] with etcd at ETCD_URL (EXTRA flags appended); returns once
        /readyz answers ok."""
        pki, root = self.paths.pki, self.paths.root
        server = f"https://{HOST}:{self.ports['kube-apiserver']}"
        self.spawn("kube-apiserver", [
            bins["kube-apiserver"],
            f"--etcd-servers={etcd_url}",
            f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={self.ports['kube-apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            # The defaults (NamespaceLifecycle, ServiceAccount, PodSecurity, ResourceQuota, webhooks, ...) plus
            # NodeRestriction, as kubeadm runs it.
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The `kubernetes` Endpoints cannot hold a loopback address (validation rejects 127.0.0.0/8), so the
            # reconciler would only log errors; nothing here dials the in-cluster service.
            "--endpoint-reconciler-type=none",
            f"--audit-policy-file={root / 'audit-policy.yaml'}",
            f"--audit-log-path={self.paths.audit_log}", "--audit-log-format=json",
            # blocking: each event is written before the response, so a test sees it as soon as its call returns.
            "--audit-log-mode=blocking", "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            "--profiling=false",
            *extra,
        ])  # fmt: skip
        self.api = Api(server, self.paths)
        ctx = self.api.ctx
        self.wait("kube-apiserver /readyz", lambda: _get(server + "/readyz", ctx)[0] == 200, 90)

    def start_clients(self, bins: dict, kwok_stage_files: list[Path]) -> None:
        """The controller manager, the scheduler and kwok (not waited for: wait_usable does)."""
        pki = self.paths.pki

        def common(name: str, port: int) -> list[str]:
            kc = self.paths.component_kubeconfig(name)
            return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                    f"--bind-address={HOST}", f"--secure-port={port}", "--leader-elect=false", "--profiling=false"]  # fmt: skip

        self.spawn("kube-controller-manager", [
            bins["kube-controller-manager"], *common("kube-controller-manager", self.ports["kube-controller-manager"]),
            "--controllers=*",
            # Each controller acts as its own ServiceAccount (as kubeadm does), so the audit log names it.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--cluster-name={self.paths.name}", f"--service-cluster-ip-range={SERVICE_CIDR}",
        ])  # fmt: skip
        self.spawn("kube-scheduler", [
            bins["kube-scheduler"], *common("kube-scheduler", self.ports["kube-scheduler"]),
        ])  # fmt: skip
        self.spawn("kwok", kwok_command(bins["kwok"], kwok_stage_files, self.paths), env=kwok_env(self.paths))

    def wait_usable(self, t0: float) -> None:
        """The controller manager and scheduler healthy, the ServiceAccount and root-CA controllers done, the fake
        nodes created and Ready."""
        for c in ("kube-controller-manager", "kube-scheduler"):
            url = f"https://{HOST}:{self.ports[c]}/healthz"
            self.wait(f"{c} /healthz", lambda url=url: _get(url, _insecure_ctx())[0] == 200, 60)
        log(f"{self.label}kube-controller-manager and kube-scheduler healthy ({time.monotonic() - t0:.1f}s)")
        # The ServiceAccount and root-CA controllers have run once these exist: pods can be admitted anywhere.
        self.wait(
            "the default ServiceAccount and kube-root-ca.crt (kube-controller-manager)",
            lambda: (
                self.api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
                and self.api.request("GET", "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt")[0]
                == 200
            ),
            60,
        )
        scale_nodes(self.api, self.nodes)
        wait_nodes_ready(self.api, self.nodes, self, 60)
        log(f"{self.label}{self.nodes} fake node(s) Ready ({time.monotonic() - t0:.1f}s)")


def wait_nodes_ready(api: Api, want: int, launcher: Launcher | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if launcher:
            launcher.check_alive()
        nodes = [n for n in fake_nodes(api) if n["metadata"].get("deletionTimestamp") is None]
        ready = [n for n in nodes if node_ready(n)]
        if len(nodes) == want and len(ready) == want:
            return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"only {len(ready)}/{want} fake nodes Ready after {timeout:.0f}s ({len(nodes)} exist); "
                f"see {launcher.paths.logs if launcher else P.logs}/kwok.log"
            )
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------------------------ kwok


def kwok_configs() -> list[Path]:
    """kwok's stage configs, in load order: kwok's own fast stages, then ours (hack/kwok/stages-failure.yaml)."""
    configs = [toolchain.kwok_stages(), KWOK_FAILURE_STAGES]
    if not configs[0].is_file():
        raise ClusterError(
            f"kwok stage config not found at {configs[0]}; run `make tools`, or set KWOK_STAGES to a kwok Stage "
            "config (kwok's kustomize/stage/node/fast + pod/fast)."
        )
    if not configs[1].is_file():
        raise ClusterError(f"kwok stage config not found at {configs[1]}; it is part of the repository.")
    return configs


def configs_fingerprint(configs: list[Path]) -> dict:
    """Which stage files kwok runs with and what they said: `up` restarts kwok when this changes."""
    digest = hashlib.sha256()
    for path in configs:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return {"files": [str(c) for c in configs], "sha256": digest.hexdigest()}


def kwok_command(binary: str, configs: list[Path], paths: Paths | None = None) -> list[str]:
    return [
        binary, f"--kubeconfig={(paths or P).component_kubeconfig('kwok')}",
        # Repeated --config flags: kwok loads every file, all their Stages together.
        *[f"--config={c}" for c in configs],
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        # kwok renews a Lease per node, as kubelets do, so the node lifecycle controller keeps them Ready.
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}",
    ]  # fmt: skip


def kwok_env(paths: Paths | None = None) -> dict:
    # kwok gets its own HOME: it would also load ~/.kwok/kwok.yaml if the user has one.
    home = (paths or P).root / "kwok-home"
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home)}


def refresh_kwok_stages(state: dict, paths: Paths | None = None) -> bool:
    """Restart kwok if the stage files changed since it started (an edit, or a cluster started before they
    existed), so `up` on a running cluster gives the stages of this checkout. True if kwok was restarted."""
    configs = kwok_configs()
    want = configs_fingerprint(configs)
    if state.get("kwok_config") == want:
        return False
    log(f"{(paths or P).name}: kwok's stage config changed since the cluster started; restarting kwok with "
        + ", ".join(str(c) for c in configs))  # fmt: skip
    args = kwok_command(state.get("binaries", {}).get("kwok") or str(toolchain.resolve("kwok")), configs, paths)
    api = Api(state["server"], paths)
    restart_component("kwok", args=args, before_start=lambda: release_node_leases(api), paths=paths)
    state["kwok_config"] = want
    write_state(state, paths)
    return True


def release_node_leases(api: Api) -> None:
    """Clear the holder of every fake node's Lease, as a holder that stops gracefully would. A kwok process holds them
    under an identity of its own (hostname_uuid), and a new one manages no node, so no pod, until the old holder's
    leases expire (--node-lease-duration-seconds, 40 s). Call it only with kwok stopped."""
    for node in fake_nodes(api):
        name = node["metadata"]["name"]
        status, body = api.request(
            "PATCH", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
            {"spec": {"holderIdentity": None}}, content_type="application/merge-patch+json",
        )  # fmt: skip
        if status >= 300 and status != 404:
            raise ClusterError(f"releasing the Lease of {name} -> HTTP {status}: {body}")


# ---------------------------------------------------------------------------------------------------- health check


def health(paths: Paths | None = None) -> tuple[bool, str]:
    """Is the recorded cluster up? (every recorded process alive and ours, apiserver /readyz ok). A fleet target's
    state.json names its components (no etcd of its own)."""
    paths = paths or P
    state = read_state(paths)
    entries = read_pids(paths)
    if not state or not entries:
        return False, "not running"
    components = state.get("components", COMPONENTS)
    # Only the control plane decides health. Other recorded processes (the operator `make demo` starts) are
    # stopped first by `down`, but one that exited must not make `up` throw the whole cluster away.
    dead = [c for c, pid, st in entries if c in components and not is_ours_and_alive(pid, st)]
    if dead:
        return False, f"not healthy: {', '.join(dead)} not running (logs in {paths.logs})"
    missing = set(components) - {c for c, _, _ in entries}
    if missing:
        return False, f"not healthy: {', '.join(sorted(missing))} never started"
    try:
        api = Api(state["server"], paths)
    except (OSError, ssl.SSLError) as e:
        return False, f"not healthy: cannot load the admin credentials ({e})"
    code, body = _get(state["server"] + "/readyz", api.ctx)
    if code != 200:
        return False, f"not healthy: kube-apiserver /readyz -> {code or body}"
    return True, "up"


# --------------------------------------------------------------------------------------------------- shell settings

DEMO_METRICS_VAR = "CNI_OPERATOR_DEMO_METRICS"  # hack/demo.sh adds it while its operator runs


def write_env(state: dict) -> None:
    """.cluster/env, for `source .cluster/env`: the admin kubeconfig, the pinned kubectl and helm and the venv's
    cni-operator first on PATH. It lives as long as the cluster (`down` removes it with .cluster/). A line hack/demo.sh
    added for its running operator is kept."""
    kubectl = Path(state.get("binaries", {}).get("kubectl") or toolchain.resolve("kubectl"))
    try:
        helm_dir = str(toolchain.resolve("helm").parent)
    except toolchain.ToolchainError:
        helm_dir = ""
    dirs = (str(kubectl.parent), helm_dir, str(REPO / ".venv" / "bin"))
    path = ":".join(dict.fromkeys(d for d in dirs if d))
    try:
        lines = P.env.read_text().splitlines()
        kept = [line for line in lines if line.startswith(f"export {DEMO_METRICS_VAR}=")]
    except OSError:
        kept = []
    P.env.write_text(
        f"# source {P.env}   (written by hack/localcluster.py up; removed by `down`)\n"
        f"# the admin kubeconfig; the pinned kubectl and helm, and cni-operator from .venv, first on PATH\n"
        f"export KUBECONFIG={shlex.quote(str(P.kubeconfig))}\n"
        f'export PATH={shlex.quote(path)}:"$PATH"\n' + "".join(f"{line}\n" for line in kept)
    )


# --------------------------------------------------------------------------------------------------------- commands


def cmd_up(nodes: int, apiserver_port: int, targets: int = 0) -> int:
    cmd_up_management(nodes, apiserver_port)
    if not targets and localtargets().existing():
        localtargets().up(0, nodes)  # says which targets run and are kept
    elif targets:
        t0 = time.monotonic()
        localtargets().up(targets, nodes)
        log(f"{targets} target(s) up in {time.monotonic() - t0:.1f}s; their kubeconfigs: "
            f"{P.root / 'targets'}/<name>/kubeconfig")  # fmt: skip
    return 0


def localtargets():
    """hack/localtargets.py, imported when needed (it imports this module, which must then be the one running: see
    the end of this file)."""
    import localtargets as module

    return module


def cmd_up_management(nodes: int, apiserver_port: int) -> int:
    t0 = time.monotonic()
    healthy, why = health()
    if healthy:
        state = read_state() or {}
        refresh_kwok_stages(state)
        api = Api(state["server"])
        # Missing nodes are added; nodes beyond the number asked for are somebody's (`nodes 5` during the demo, a
        # test's own) and stay: removing them is what `nodes N` is for.
        total = grow_nodes(api, nodes)
        wait_nodes_ready(api, total, None, 60)
        state["nodes"] = total
        write_state(state)
        write_env(state)
        log(f"already up at {state['server']} with {total} Ready fake node(s); kubeconfig: {P.kubeconfig}")
        if total > nodes:
            log(f"kept all {total} fake nodes although {nodes} were asked for; "
                f"`python3 hack/localcluster.py nodes {nodes}` removes the others")  # fmt: skip
        return 0
    if P.root.exists():
        log(f"found a previous cluster in {P.root} ({why}); cleaning it up first")
        cmd_down(quiet=True)
    launcher = Launcher(nodes, apiserver_port)
    try:
        state = launcher.start()
    except BaseException as e:
        # Leave nothing running after a failed start; keep the logs so the message's log path is still valid.
        started = read_pids()
        stop_processes(started)
        P.pids.unlink(missing_ok=True)
        P.state.unlink(missing_ok=True)
        if not started:  # nothing ran, so there are no logs worth keeping
            import shutil

            shutil.rmtree(P.root, ignore_errors=True)
        if isinstance(e, KeyboardInterrupt):
            raise
        if not isinstance(e, ClusterError):
            raise ClusterError(f"cluster start failed: {e!r}; logs in {P.logs}") from e
        raise
    write_env(state)
    log(f"cluster up in {time.monotonic() - t0:.1f}s: {state['server']}")
    log(f"kubeconfig: {P.kubeconfig}   shell: source {P.env}")
    log(f"try: {state['binaries']['kubectl']} --kubeconfig {P.kubeconfig} get nodes")
    log(f"audit log: {P.audit_log}   component logs: {P.logs}/")
    return 0


def cmd_down(quiet: bool = False) -> int:
    if not P.root.exists():
        if not quiet:
            log("no local cluster state; nothing to stop")
        return 0
    # The targets' processes too, in one go: every client first, then every API server, then the etcd they share.
    entries = read_pids() + localtargets().pid_entries()
    stop_processes(entries)
    still = [f"{c} (pid {pid})" for c, pid, st in entries if is_ours_and_alive(pid, st)]
    if still:
        raise ClusterError(f"could not stop {', '.join(still)}; state left in {P.root}")
    import shutil

    shutil.rmtree(P.root)
    if not quiet:
        log(f"stopped {len(entries)} process(es) and removed {P.root}")
    return 0


def cmd_status() -> int:
    healthy, why = health()
    state = read_state()
    print(f"local cluster: {why}")
    if state:
        print(f"  server:     {state['server']}")
        print(f"  kubeconfig: {P.kubeconfig}")
        print(f"  audit log:  {P.audit_log}")
        for c, pid, st in read_pids():
            port = state["ports"].get(c, "")
            print(f"  {c:24} pid {pid:<8} {'running' if is_ours_and_alive(pid, st) else 'DEAD':8} {port}")
    # Targets are listed, but only the management cluster decides the exit code: hack/run-tests.sh asks it whether
    # somebody's cluster is up (a dead target is healed by the next `up --targets N`).
    localtargets().print_status()
    return 0 if healthy else 1


def _require_up() -> Api:
    healthy, why = health()
    if not healthy:
        raise ClusterError(f"the local cluster is {why}; run `make cluster-up` first.")
    return Api(read_state()["server"])  # type: ignore[index]


def cmd_env() -> int:
    _require_up()
    write_env(read_state() or {})
    print(P.env)
    return 0


def cmd_nodes(n: int) -> int:
    api = _require_up()
    scale_nodes(api, n)
    wait_nodes_ready(api, n, None, 60)
    state = read_state() or {}
    state["nodes"] = n
    write_state(state)
    log(f"{n} fake node(s) Ready")
    return 0


def _component_ready(component: str, state: dict) -> bool:
    ports = state["ports"]
    if component == "etcd":
        return '"health":"true"' in _get(f"http://{HOST}:{ports['etcd']}/health")[1]
    if component in ("kube-controller-manager", "kube-scheduler"):
        return _get(f"https://{HOST}:{ports[component]}/healthz", _insecure_ctx())[0] == 200
    return True  # kube-apiserver: health() below checks /readyz; kwok: running is all we can see


def cmd_restart(component: str, kill: bool = False, down: float = 0.0, target: str | None = None) -> int:
    """Stop one component (SIGTERM, or SIGKILL to simulate a crash), keep it down DOWN seconds, then start it again
    with exactly the command line it ran with (same ports, data and certificates); return once the cluster (or
    TARGET) is healthy again. For fault tests: clients see the outage as they would in a real cluster."""
    _require_up()
    if target:
        localtargets().restart(target, component, kill=kill, down=down)
    else:
        restart_component(component, kill=kill, down=down)
    return 0


def restart_component(component: str, *, kill: bool = False, down: float = 0.0, args: list[str] | None = None,
                      before_start=None, paths: Paths | None = None) -> None:
    """cmd_restart's work; ARGS replaces the command line the component ran with (kwok with new stage files), and
    BEFORE_START runs while the component is down. PATHS: a fleet target's (hack/localtargets.py), or the management
    cluster's."""
    paths = paths or P
    state = read_state(paths) or {}
    entries = read_pids(paths)
    entry = next((e for e in entries if e[0] == component), None)
    if entry is None:
        raise ClusterError(f"no {component} in {paths.pids}; components: {', '.join(c for c, _, _ in entries)}")
    _, pid, _ = entry
    if args is None:
        args = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    t0 = time.monotonic()
    if kill:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_GRACE_S
        while is_ours_and_alive(pid, entry[2]) and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        _stop_tier([entry])
    if is_ours_and_alive(pid, entry[2]):
        raise ClusterError(f"{component} (pid {pid}) did not stop")
    time.sleep(max(0.0, down))  # the outage itself, not synchronisation
    paths.pids.write_text("".join(f"{c} {p} {s}\n" for c, p, s in entries if (c, p, s) != entry))
    if before_start is not None:
        before_start()
    launcher = Launcher(state.get("nodes", 0), paths=paths)
    launcher.spawn(component, args, env=kwok_env(paths) if component == "kwok" else None)
    launcher.wait(f"{component} to be ready", lambda: _component_ready(component, state), 90)
    launcher.wait("the cluster to be healthy", lambda: health(paths)[0], 90)
    log(f"{launcher.label}{component} restarted ({'SIGKILL' if kill else 'SIGTERM'}; healthy again {time.monotonic() - t0:.1f}s "
        f"after the stop), pid {launcher.procs[component].pid}")


def mint_sa_kubeconfig(api: Api, namespace: str, name: str, out: Path, seconds: int = 86400,
                       create: bool = True) -> Path:  # fmt: skip
    """Write a kubeconfig that authenticates as system:serviceaccount:NAMESPACE:NAME with a TokenRequest token."""
    if create:
        api.ok("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}, allow=(409,))
        api.ok(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"metadata": {"name": name}},
            allow=(409,),
        )
    tr = api.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        },
    )
    token = tr["status"]["token"]
    write_private(out, kubeconfig_text(api.server, f"{namespace}-{name}", token=token, namespace=namespace))
    return out


def cmd_kubeconfig_for_sa(namespace: str, name: str, out: str, seconds: int) -> int:
    api = _require_up()
    path = mint_sa_kubeconfig(api, namespace, name, Path(out), seconds)
    log(f"kubeconfig for system:serviceaccount:{namespace}:{name} written to {path} (valid {seconds}s); "
        "it has no permissions until you bind a Role/ClusterRole to that ServiceAccount")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `status | head` should end quietly, not with a traceback
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start (or reuse) the local cluster")
    up.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ.get("NODES", "3")),
        help="fake nodes (default $NODES or 3)",
    )
    up.add_argument("--apiserver-port", type=int, default=int(os.environ.get("APISERVER_PORT", "0")),
                    help="fixed kube-apiserver port (default: a free one)")  # fmt: skip
    up.add_argument("--targets", type=int, default=int(os.environ.get("TARGETS", "0")),
                    help="fleet targets t1..tN next to the cluster, each with --nodes fake nodes "
                         "(default $TARGETS or 0; targets already running are kept)")  # fmt: skip
    sub.add_parser("down", help="stop the processes `up` started and remove .cluster/")
    sub.add_parser("status", help="exit 0 if the cluster is up and healthy")
    sub.add_parser("env", help="(re)write .cluster/env for `source .cluster/env` and print its path")
    nodes = sub.add_parser("nodes", help="scale the fake nodes to N")
    nodes.add_argument("n", type=int)
    restart = sub.add_parser("restart", help="stop one component and start it again (fault tests)")
    restart.add_argument("component", choices=COMPONENTS)
    restart.add_argument("--kill", action="store_true", help="SIGKILL (a crash) instead of SIGTERM")
    restart.add_argument("--down", type=float, default=0.0, help="seconds to stay down before starting again")
    restart.add_argument("--target", help="a fleet target's component (t1, t2, ...) instead of the cluster's")
    sa = sub.add_parser("kubeconfig-for-sa", help="mint a ServiceAccount kubeconfig via the TokenRequest API")
    sa.add_argument("namespace")
    sa.add_argument("name")
    sa.add_argument("out")
    sa.add_argument("--seconds", type=int, default=86400)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            if args.nodes < 0 or args.targets < 0:
                raise ClusterError("--nodes and --targets must be >= 0")
            return cmd_up(args.nodes, args.apiserver_port, args.targets)
        if args.cmd == "down":
            return cmd_down()
        if args.cmd == "status":
            return cmd_status()
        if args.cmd == "env":
            return cmd_env()
        if args.cmd == "nodes":
            return cmd_nodes(args.n)
        if args.cmd == "restart":
            return cmd_restart(args.component, args.kill, args.down, args.target)
        return cmd_kubeconfig_for_sa(args.namespace, args.name, args.out, args.seconds)
    except (ClusterError, toolchain.ToolchainError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # hack/localtargets.py does `import localcluster`: let that be this very module, not a second copy of it (whose
    # ClusterError main() would not catch).
    sys.modules.setdefault("localcluster", sys.modules[__name__])
    sys.exit(main())
