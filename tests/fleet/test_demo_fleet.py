"""`make demo-fleet` as a newcomer runs it (hack/demo-fleet.sh, which `make demo-fleet` calls after building .venv and
the tools), on the management cluster and the targets the fleet tier already runs on, and what they should see.

The demo applies the chart's fleet CRD and RBAC, starts `cni-operator run --fleet --standalone` as a background
process under the chart's fleet ServiceAccount, registers t1 (mks), t2 (eks, nodes labelled) and t3 (imported, with
upstream Canal installed first) with hack/fleet_register.py, and waits for Ready, Ready, Unmanaged. This test checks
the end state a user sees (and that the fleet identity wrote nothing to the imported target: its audit log), then
removes everything with `hack/demo-fleet.sh clean`, so the fleet tests after it find the targets as they were and no
second fleet operator running. In a module of its own: the `fleet` fixture's operator is not running meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.audit import AuditLog
from tests.harness.managed import managed_objects
from tests.harness.repo import REPO, toolchain

pytestmark = pytest.mark.timeout(420)

FLEET_NS = "fleet"
OPERATOR_USER = "system:serviceaccount:cni-operator:cni-operator-fleet"  # the chart's fleet ServiceAccount
TARGET_USER = "system:serviceaccount:kube-system:cni-operator-fleet"  # target-rbac's identity in each target
PIDS_ENV = {"CNI_OPERATOR_DEMO_COMPONENT": "cni-operator-fleet"}


def demo(*args: str, nodes: int, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **PIDS_ENV, "NODES": str(nodes), "DEMO_TIMEOUT": "180"}
    return subprocess.run(["bash", "hack/demo-fleet.sh", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def operator_pid() -> int | None:
    res = subprocess.run(["python3", "hack/demo.py", "pid"], cwd=REPO, env={**os.environ, **PIDS_ENV},
                         capture_output=True, text=True, check=False)
    return int(res.stdout) if res.returncode == 0 else None


def daemonset(target, name: str) -> dict | None:
    res = target.cluster.kubectl("get", "ds", name, "-n", "kube-system", "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def all_ready(ds: dict, nodes: int) -> bool:
    status = ds.get("status") or {}
    return status.get("desiredNumberScheduled") == nodes and status.get("numberReady") == nodes


def test_demo_fleet_shows_ready_ready_unmanaged_and_cleans_up(cluster, targets, wait_for):
    t1, t2, t3 = targets[:3]
    nodes = len(cluster.fake_nodes())
    imported_audit, mks_audit = AuditLog(t3.audit_log_path), AuditLog(t1.audit_log_path)
    mark, mks_mark = imported_audit.mark(), mks_audit.mark()
    try:
        res = demo(nodes=nodes)
        assert res.returncode == 0, f"demo-fleet failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        assert "fleet demo ready" in res.stdout, res.stdout[-2000:]

        def settled() -> dict:
            """The three as the demo showed them. Polled: on a loaded machine a probe of a target can time out
            right after (Reachable=False for a few seconds, then back), which is the operator doing its job."""
            rcns = {r["metadata"]["name"]: r for r in json.loads(
                cluster.kubectl("get", "rcn", "-n", FLEET_NS, "-o", "json").stdout)["items"]}
            phases = {n: r["status"]["phase"] for n, r in rcns.items()}
            assert phases == {"t1": "Ready", "t2": "Ready", "t3": "Unmanaged"}, phases
            for name, rcn in rcns.items():
                conditions = {c["type"]: c["status"] for c in rcn["status"]["conditions"]}
                assert conditions.get("Reachable") == "True" and conditions.get("CredentialsValid") == "True", (
                    name, conditions)
                assert rcn["status"]["readySummary"] == f"{nodes}/{nodes}", (name, rcn["status"])
            return rcns

        wait_for(settled, timeout=60, what="Ready, Ready, Unmanaged, each Reachable with valid credentials")
        table = res.stdout.split("[6/6]", 1)[1]
        assert all(word in table for word in ("t1", "t2", "t3", "Unmanaged", "REACHABLE")), table

        # What each target got: Canal on t1, the AWS VPC CNI on t2 (nodes labelled EKS), and t3's own Canal as it was.
        canal = daemonset(t1, "canal")
        assert canal and all_ready(canal, nodes), canal and canal.get("status")
        assert canal["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cni-operator"
        aws_node = daemonset(t2, "aws-node")
        assert aws_node and all_ready(aws_node, nodes), aws_node and aws_node.get("status")
        labels = [n.metadata.labels for n in t2.cluster.core.list_node().items]
        assert all(lbl.get("eks.amazonaws.com/nodegroup") for lbl in labels), labels
        foreign = daemonset(t3, "canal")
        assert foreign and "app.kubernetes.io/managed-by" not in (foreign["metadata"].get("labels") or {}), foreign
        # The audit logs record writes only. The same identity's writes show in t1's (so the name and the reading
        # are right), and none in t3's.
        assert mks_audit.writes(mks_mark, TARGET_USER), "no write of the fleet identity in t1's audit log"
        assert imported_audit.writes(mark, TARGET_USER) == [], "the fleet identity wrote to the imported target"

        # The operator is the fleet one, under the chart's fleet ServiceAccount.
        pid = operator_pid()
        assert pid is not None, "the fleet operator the demo started is not running (.cluster/logs/operator-fleet.log)"
        assert "--fleet" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        whoami = subprocess.run([str(toolchain.resolve("kubectl")), "auth", "whoami", "-o",
                                 "jsonpath={.status.userInfo.username}",
                                 f"--kubeconfig={REPO / '.cluster' / 'operator-fleet.kubeconfig'}"],
                                capture_output=True, text=True, check=True).stdout
        assert whoami == OPERATOR_USER
    finally:
        cleaned = demo("clean", nodes=nodes)
    assert cleaned.returncode == 0, f"demo-fleet clean failed:\n{cleaned.stdout}\n{cleaned.stderr}"
    assert operator_pid() is None
    assert cluster.kubectl("get", "rcn", "-n", FLEET_NS, "-o", "name", check=False).stdout.strip() == ""
    for target in (t1, t2, t3):
        assert not managed_objects(target.cluster), target.name
        assert target.cluster.kubectl("get", "sa", "cni-operator-fleet", "-n", "kube-system",
                                      check=False).returncode != 0, f"{target.name}: the identity is left"
    assert daemonset(t3, "canal") is None, "t3's foreign Canal is left"
    assert not any(n.metadata.labels.get("eks.amazonaws.com/nodegroup") for n in t2.cluster.core.list_node().items)
