"""`make demo` as a newcomer runs it (hack/demo.sh, which `make demo` calls after building .venv and the tools),
against the local cluster the suite already runs on, and what they should see at the end.

The demo reuses a running cluster (`localcluster.py up` is idempotent) at its current node count, installs the chart's
CRDs and RBAC, starts the real operator as a background process under the chart's ServiceAccount, applies
examples/clusternetwork-mks.yaml and waits for Ready. This test checks the end state a user sees, runs the demo a
second time (it must be idempotent), and removes everything it started with `hack/demo.sh clean`, so the tests after it
find no operator running and none of the chart's fixed-name RBAC objects (the CRDs are shared and stay).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.repo import REPO
from tests.harness.reset import reset_cluster

pytestmark = pytest.mark.timeout(420)

# The chart's ServiceAccount with the default release name, as the demo installs it.
OPERATOR_USER = "system:serviceaccount:kube-system:cni-operator"


def demo(*args: str, nodes: int, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "NODES": str(nodes), "DEMO_TIMEOUT": "120"}
    return subprocess.run(
        ["bash", "hack/demo.sh", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def operator_pid() -> int | None:
    res = subprocess.run(
        ["python3", "hack/demo.py", "pid"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return int(res.stdout) if res.returncode == 0 else None


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


def assert_demo_end_state(cluster) -> int:
    """What the demo promises: the CR Ready for its current spec, one Ready canal pod on every node, the operator
    process alive. Returns the operator's pid."""
    cnet = json.loads(cluster.kubectl("get", "cnet", "default", "-o", "json").stdout)
    status = cnet.get("status") or {}
    ready = next(c for c in status.get("conditions", []) if c["type"] == "Ready")
    assert ready["status"] == "True", f"Ready is {ready}"
    assert ready["observedGeneration"] == cnet["metadata"]["generation"], ready
    assert status["phase"] == "Ready" and status["provider"] == "canal", status

    nodes = {n.metadata.name for n in cluster.core.list_node().items if n.metadata.deletion_timestamp is None}
    pods = [
        p
        for p in cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=canal").items
        if p.metadata.deletion_timestamp is None
    ]
    per_node: dict[str, int] = {}
    for pod in pods:
        per_node[pod.spec.node_name] = per_node.get(pod.spec.node_name, 0) + 1
        assert pod.status.phase == "Running", f"{pod.metadata.name} is {pod.status.phase}"
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []), (
            pod.metadata.name
        )
    assert per_node == dict.fromkeys(nodes, 1), f"canal pods per node: {per_node}, nodes: {sorted(nodes)}"
    assert status["readySummary"] == f"{len(nodes)}/{len(nodes)}"

    pid = operator_pid()
    assert pid is not None, "the operator the demo started is not running (see .cluster/logs/operator.log)"
    argv = cmdline(pid)  # the console script runs under the venv's python
    assert any(a.endswith("/cni-operator") for a in argv) and "run" in argv, argv
    return pid


def test_make_demo_ends_ready_with_one_canal_pod_per_node_and_runs_again(cluster, cleanup, audit_log):
    if not cluster.local:
        pytest.skip(
            "the demo runs on the local control plane (hack/localcluster.py), not on KUBECONFIG_TESTS"
        )
    # Start from a cluster without a CNI, so the demo shows the install itself, whatever ran before.
    reset_cluster(cluster)
    # The shared cluster's size: the demo asks for NODES (and would keep any nodes beyond it).
    nodes = len(cluster.fake_nodes())
    cleanup.add(lambda: demo("clean", nodes=nodes))
    mark = audit_log.mark()

    first = demo(nodes=nodes)
    assert first.returncode == 0, f"hack/demo.sh failed ({first.returncode}):\n{first.stdout}\n{first.stderr}"
    out = first.stdout
    for step in range(1, 6):
        assert f">> [{step}/5] " in out, f"progress line {step} missing:\n{out}"
    assert "demo ready in" in out and "make cluster-down" in out, out
    pid = assert_demo_end_state(cluster)
    assert (REPO / ".cluster" / "logs" / "operator.log").stat().st_size > 0

    # It is the operator, as the chart's ServiceAccount, that installed the CNI and reported status (not the admin).
    assert audit_log.entries(
        user=OPERATOR_USER, verb="patch", resource="daemonsets", name="canal", since=mark
    )
    assert audit_log.entries(
        user=OPERATOR_USER, verb="patch", resource="clusternetworks", subresource="status", since=mark
    )

    # Idempotent: a second run reuses the cluster, restarts the operator (new code, fresh token), ends the same.
    second = demo(nodes=nodes)
    assert second.returncode == 0, (
        f"second run failed ({second.returncode}):\n{second.stdout}\n{second.stderr}"
    )
    assert "already up" in second.stdout and f"stopping the operator (pid {pid})" in second.stdout, (
        second.stdout
    )
    new_pid = assert_demo_end_state(cluster)
    assert new_pid != pid, "the second run should have restarted the operator"

    # `clean` leaves no operator and none of the chart's fixed-name objects behind.
    res = demo("clean", nodes=nodes)
    assert res.returncode == 0, f"clean failed:\n{res.stdout}\n{res.stderr}"
    assert operator_pid() is None
    assert cluster.kubectl("get", "clusterrole", "cni-operator", check=False).returncode != 0
    assert cluster.kubectl("get", "cnet", "default", check=False).returncode != 0
    assert not cluster.kubectl(
        "-n", "kube-system", "get", "ds", "-l", "app.kubernetes.io/managed-by=cni-operator", "-o", "name"
    ).stdout.strip()
