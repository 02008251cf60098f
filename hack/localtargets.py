"""Fleet targets: control planes t1..tN next to hack/localcluster.py's management cluster, for the fleet tests.

A target is a cluster of its own for everything a client can see: its own kube-apiserver (own port, own CA and
certificates, own ServiceAccount signing key, own audit log), kube-controller-manager, kube-scheduler and kwok with
its own fake nodes. Targets share one thing, the management cluster's etcd, each under a key prefix of its own
(`--etcd-prefix=/targets/<name>/registry`; the management cluster keeps etcd's default `/registry`): one etcd process
for all of them, and an etcd restart (`localcluster.py restart etcd`) is an outage of every cluster at once.

Each target has its own CA (not the management cluster's): a credential of one cluster must not open another, as with
real clusters. A client certificate of t1 is unknown to t2, and a kubeconfig for t1 pointed at t2's address fails
TLS verification, which is what the fleet tests of wrong or rotated credentials need. Generating a CA costs nothing.

State of target NAME, under .cluster/targets/NAME/ (removed with .cluster/ by `down`): kubeconfig (admin),
audit.log, pki/, kubeconfigs/, logs/<component>.log, pids, state.json (server, ports, etcd prefix).
Driven by hack/localcluster.py: `up --targets N`, `status`, `down`, `restart COMPONENT --target NAME`.
Standard library only, like localcluster.py.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import localcluster as lc

# What a target runs, in start order; etcd is the management cluster's.
TARGET_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NAME_RE = re.compile(r"^t([1-9][0-9]*)$")


def targets_root() -> Path:
    return lc.P.root / "targets"


def paths_for(name: str) -> lc.Paths:
    return lc.Paths(targets_root() / name, name=f"cni-operator-{name}")


def etcd_prefix(name: str) -> str:
    """The target's key prefix in the shared etcd. The trailing /registry keeps t1 and t10 apart (/targets/t1/...)."""
    return f"/targets/{name}/registry"


def names(count: int) -> list[str]:
    return [f"t{i}" for i in range(1, count + 1)]


def existing() -> list[str]:
    """The targets that have state under .cluster/targets/, in order (t1, t2, ..., t10)."""
    try:
        found = [d.name for d in targets_root().iterdir() if d.is_dir() and NAME_RE.match(d.name)]
    except OSError:
        return []
    return sorted(found, key=lambda n: int(n[1:]))


def pid_entries() -> list[tuple[str, int, str]]:
    """Every process of every target, for localcluster.py's `down`."""
    return [e for name in existing() for e in lc.read_pids(paths_for(name))]


def taken_ports() -> set[int]:
    """The ports the management cluster and the targets were given: a new target must not get one of them (a stopped
    component gets its old port back on restart, so a free port is not necessarily an unused one)."""
    states = [lc.read_state()] + [lc.read_state(paths_for(n)) for n in existing()]
    return {port for s in states if s for port in s.get("ports", {}).values()}


def free_ports(count: int, exclude: set[int]) -> list[int]:
    picked: list[int] = []
    while len(picked) < count:
        port = lc.free_port()
        if port not in exclude and port not in picked:
            picked.append(port)
    return picked


# ------------------------------------------------------------------------------------------------------------ etcd


def management_etcd_url() -> str:
    return f"http://{lc.HOST}:{(lc.read_state() or {})['ports']['etcd']}"


def etcd_prefix_request(etcd_url: str, op: str, key_prefix: str, **fields) -> dict:
    """etcd's JSON gateway (its v3 API over HTTP): OP ("range", "deleterange") over every key that begins with
    KEY_PREFIX, with FIELDS added to the request (count_only=True, ...); returns etcd's answer."""
    start = key_prefix.encode()
    end = start[:-1] + bytes([start[-1] + 1])  # the first key after every START...: /targets/t1/ -> /targets/t10
    body = {"key": base64.b64encode(start).decode(), "range_end": base64.b64encode(end).decode(), **fields}
    req = urllib.request.Request(f"{etcd_url}/v3/kv/{op}", data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as e:
        raise lc.ClusterError(f"etcd at {etcd_url}: {op} {key_prefix}: {e}") from e


def wipe_etcd_prefix(etcd_url: str, name: str) -> None:
    """Delete everything under the target's prefix, so a target started afresh has an empty cluster, not the objects
    (and ServiceAccount tokens of another CA) of an earlier incarnation."""
    etcd_prefix_request(etcd_url, "deleterange", f"/targets/{name}/")


# --------------------------------------------------------------------------------------------------- start / stop


def start(name: str, etcd_url: str, nodes: int, ports: list[int]) -> dict:
    """Start target NAME afresh against the shared etcd, its components on PORTS (see PORTED); returns its state.
    A failure stops what it started, keeps its logs and raises ClusterError naming the component and the log."""
    t0 = time.monotonic()
    paths = paths_for(name)
    paths.root.mkdir(parents=True, exist_ok=True)
    launcher = lc.Launcher(nodes, paths=paths)
    bins = {c: launcher.binary(c) for c in (*TARGET_COMPONENTS, "kubectl")}
    stages = lc.kwok_configs()
    launcher.ports = dict(zip(PORTED, ports, strict=True))
    wipe_etcd_prefix(etcd_url, name)
    state = launcher.prepare(bins, stages)
    state.update(name=name, components=list(TARGET_COMPONENTS), etcd=etcd_url, etcd_prefix=etcd_prefix(name))
    lc.write_state(state, paths)
    try:
        launcher.start_apiserver(bins, etcd_url, (f"--etcd-prefix={etcd_prefix(name)}",))
        lc.log(f"{name}: kube-apiserver ready on {state['server']} ({time.monotonic() - t0:.1f}s)")
        launcher.start_clients(bins, stages)
        launcher.wait_usable(t0)
    except BaseException as e:
        lc.stop_processes(lc.read_pids(paths))
        paths.pids.unlink(missing_ok=True)
        paths.state.unlink(missing_ok=True)
        if isinstance(e, lc.ClusterError):
            raise lc.ClusterError(f"target {name}: {e}") from e
        if isinstance(e, KeyboardInterrupt):
            raise
        raise lc.ClusterError(f"target {name} failed to start: {e!r}; logs in {paths.logs}") from e
    lc.log(f"{name} up in {time.monotonic() - t0:.1f}s: {state['server']}  kubeconfig: {paths.kubeconfig}")
    return state


def start_all(to_start: list[str], etcd_url: str, nodes: int) -> None:
    """Start the targets TO_START at once, one thread each: most of a start is waiting (for an API server to be
    ready, for kwok to make nodes Ready), and the waits overlap. Ports are handed out first, so no two collide.
    Raises one ClusterError for every target that failed; the others are up."""
    taken = taken_ports()
    ports = {}
    for name in to_start:
        ports[name] = free_ports(len(PORTED), taken)
        taken |= set(ports[name])
    errors: dict[str, BaseException] = {}

    def run(name: str) -> None:
        try:
            start(name, etcd_url, nodes, ports[name])
        except BaseException as e:  # noqa: BLE001 - reported below, after every thread is done
            errors[name] = e

    threads = [threading.Thread(target=run, args=(name,), name=f"start-{name}") for name in to_start]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise lc.ClusterError("\n".join(str(errors[name]) for name in to_start if name in errors))


def stop(name: str) -> None:
    """Stop target NAME's processes and remove its state (its etcd keys go when it is started again)."""
    paths = paths_for(name)
    entries = lc.read_pids(paths)
    lc.stop_processes(entries)
    still = [f"{c} (pid {pid})" for c, pid, st in entries if lc.is_ours_and_alive(pid, st)]
    if still:
        raise lc.ClusterError(f"could not stop {name}'s {', '.join(still)}; state left in {paths.root}")
    shutil.rmtree(paths.root, ignore_errors=True)


def up(count: int, nodes: int) -> None:
    """Targets t1..tCOUNT up and healthy, each with at least NODES fake nodes, next to the running management cluster.
    A healthy target is kept (nodes added up to NODES, kwok restarted if its stage files changed); one that is not is
    stopped and started afresh. Targets beyond COUNT are left as they are."""
    etcd_url = management_etcd_url()
    to_start = []
    for name in names(count):
        paths = paths_for(name)
        healthy, why = lc.health(paths)
        if healthy:
            state = lc.read_state(paths) or {}
            lc.refresh_kwok_stages(state, paths)
            api = lc.Api(state["server"], paths)
            total = lc.grow_nodes(api, nodes)
            lc.wait_nodes_ready(api, total, None, 60)
            state["nodes"] = total
            lc.write_state(state, paths)
            lc.log(f"{name}: already up at {state['server']} with {total} Ready fake node(s)")
            continue
        if paths.root.exists():
            lc.log(f"{name}: {why}; starting it afresh")
            stop(name)
        to_start.append(name)
    if to_start:
        start_all(to_start, etcd_url, nodes)
    others = [n for n in existing() if n not in names(count)]
    if others:
        lc.log(f"target(s) {', '.join(others)} kept running ({count} asked for); `down` stops everything")


# ------------------------------------------------------------------------------------------------- status, restart


def rss_mib(pid: int) -> float:
    """Resident memory of PID in MiB (VmRSS), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def print_status() -> bool:
    """One block per target (health, server, files, each process with its port and memory); True if all are
    healthy (or there are none)."""
    all_ok = True
    for name in existing():
        paths = paths_for(name)
        healthy, why = lc.health(paths)
        all_ok &= healthy
        state = lc.read_state(paths) or {}
        print(f"target {name}: {why}")
        if not state:
            continue
        print(f"  server:     {state['server']}   etcd prefix: {state.get('etcd_prefix')}")
        print(f"  kubeconfig: {paths.kubeconfig}")
        print(f"  audit log:  {paths.audit_log}")
        total = 0.0
        for c, pid, st in lc.read_pids(paths):
            alive = lc.is_ours_and_alive(pid, st)
            rss = rss_mib(pid) if alive else 0.0
            total += rss
            port = state.get("ports", {}).get(c, "")
            print(f"  {c:24} pid {pid:<8} {'running' if alive else 'DEAD':8} {port!s:6} {rss:6.0f} MiB")
        print(f"  {'memory (RSS) of its processes':48} {total:6.0f} MiB")
    return all_ok


def restart(name: str, component: str, *, kill: bool = False, down: float = 0.0) -> None:
    """localcluster.py's `restart COMPONENT` for one target: the others and the management cluster are untouched."""
    if component not in TARGET_COMPONENTS:
        raise lc.ClusterError(
            f"a target runs {', '.join(TARGET_COMPONENTS)}; {component} is the management cluster's, shared by all "
            f"targets: restart it without --target"
        )
    paths = paths_for(name)
    healthy, why = lc.health(paths)
    if not healthy:
        known = ", ".join(existing()) or "none"
        raise lc.ClusterError(f"target {name} is {why} (targets: {known}); "
                              "`python3 hack/localcluster.py up --targets N` starts them")  # fmt: skip
    lc.restart_component(component, kill=kill, down=down, paths=paths)
