"""The fleet targets of the local substrate (hack/localtargets.py): t1..tN, each a Cluster of its own next to the
management cluster, and what the fleet tests do to their processes (freeze, kill and restart one component).

A target is only ever this checkout's (.cluster/targets/<name>/): the fleet tier starts and stops its API servers, so
it never runs against KUBECONFIG_TESTS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .cluster import KUBECONFIG_ENV, Cluster
from .repo import REPO, localcluster

# hack/localtargets.py does `import localcluster` (hack/ is on sys.path): make that the module the harness already
# has (hack.localcluster), not a second copy with its own ClusterError and paths.
sys.modules.setdefault("localcluster", localcluster)
from hack import localtargets

START_HINT = ("start them with `python3 hack/localcluster.py up --targets 3` (or `TARGETS=3 make cluster-up`); "
              "`TIERS=fleet bash hack/run-tests.sh` starts them itself")


class TargetsUnavailable(Exception):
    """Fewer healthy targets than the tier needs: one message saying how to start them."""


@dataclass
class Target:
    """One target: its name (t1, ...), its admin Cluster (kubeconfig, clients, kubectl) and its state directory."""

    name: str
    cluster: Cluster
    paths: localcluster.Paths

    @property
    def audit_log_path(self) -> Path:
        return self.paths.audit_log

    @property
    def ca(self) -> Path:
        return self.paths.pki / "ca.crt"

    def state(self) -> dict:
        return localcluster.read_state(self.paths) or {}

    def pid(self, component: str) -> int:
        """The running pid of the target's COMPONENT (AssertionError if it is not running: a test checks it)."""
        for c, pid, start in localcluster.read_pids(self.paths):
            if c == component and localcluster.is_ours_and_alive(pid, start):
                return pid
        raise AssertionError(f"{self.name}: {component} is not running (see {self.paths.logs})")

    @contextmanager
    def frozen(self, component: str = "kube-apiserver") -> Iterator[int]:
        """COMPONENT stopped with SIGSTOP for the block (its port still accepts connections, nothing answers), then
        SIGCONT, whatever happens in the block. Yields the pid."""
        pid = self.pid(component)
        os.kill(pid, signal.SIGSTOP)
        try:
            yield pid
        finally:
            os.kill(pid, signal.SIGCONT)

    def restart(self, component: str = "kube-apiserver", *, kill: bool = False, down: float = 0.0,
                wait: bool = True) -> subprocess.Popen:
        """`hack/localcluster.py restart COMPONENT --target NAME`: stop it (SIGKILL with KILL), keep it down DOWN
        seconds, start it again with the same flags and port; returns once the target is healthy again, or at once
        with WAIT=False (then call finish_restart on the result)."""
        cmd = [sys.executable, str(REPO / "hack" / "localcluster.py"), "restart", component, "--target", self.name,
               "--down", str(down), *(["--kill"] if kill else [])]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if wait:
            finish_restart(proc)
        return proc


def finish_restart(proc: subprocess.Popen, timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed ({proc.returncode}):\n{out}"
    return out


def local_targets() -> list[Target]:
    """Every target with state in .cluster/targets/, in order, whether healthy or not."""
    out = []
    for name in localtargets.existing():
        paths = localtargets.paths_for(name)
        state = localcluster.read_state(paths) or {}
        cluster = Cluster(kubeconfig=paths.kubeconfig, server=state.get("server", ""), local=True,
                          expected_nodes=state.get("nodes"), audit_log_path=paths.audit_log)
        out.append(Target(name=name, cluster=cluster, paths=paths))
    return out


def connect_targets(minimum: int) -> list[Target]:
    """At least MINIMUM healthy targets, each answering; raises TargetsUnavailable saying how to start them."""
    if os.environ.get(KUBECONFIG_ENV):
        raise TargetsUnavailable(f"the fleet tier needs this checkout's local substrate (it stops and restarts the "
                                 f"targets' API servers), not {KUBECONFIG_ENV}; unset it and {START_HINT}")
    targets = local_targets()
    health = {t.name: localcluster.health(t.paths) for t in targets}
    unhealthy = [f"{name} ({why})" for name, (ok, why) in health.items() if not ok]
    if unhealthy:
        raise TargetsUnavailable(f"target(s) not healthy: {', '.join(unhealthy)}; `python3 hack/localcluster.py up "
                                 f"--targets {max(minimum, len(targets))}` starts them afresh")
    if len(targets) < minimum:
        raise TargetsUnavailable(f"the fleet tier needs {minimum} target clusters next to the management cluster, "
                                 f"found {len(targets)} in {localtargets.targets_root()}; {START_HINT}")
    for t in targets:
        t.cluster.check_reachable()
    return targets


def etcd_key_count(key_prefix: str) -> int:
    """How many keys begin with KEY_PREFIX in the management cluster's etcd, the one all targets share."""
    answer = localtargets.etcd_prefix_request(localtargets.management_etcd_url(), "range", key_prefix,
                                              count_only=True)
    return int(answer.get("count", 0))
