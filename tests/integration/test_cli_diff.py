"""`cni-operator diff` against a live cluster, run as the admin of the current kubeconfig runs it: it says what the
operator would do with an upgrade (the DaemonSet's new images, the CRDs pruned, the one kept for a user's object),
writes nothing but dry runs, and finds nothing to do for the spec that is installed (docs/operations.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.harness.clusternetwork import install

SCRIPT = Path(sys.executable).parent / "cni-operator"  # the venv's console script, as a user runs it

OLD, NEW = "v3.31.4", "v3.32.1"
ANP_CRD = "adminnetworkpolicies.policy.networking.k8s.io"
BANP_CRD = "baselineadminnetworkpolicies.policy.networking.k8s.io"
ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
       "metadata": {"name": "x"}, "spec": {"priority": 10, "subject": {"namespaces": {}}, "ingress": []}}


def spec_file(tmp_path, version: str):
    path = tmp_path / f"cnet-{version}.yaml"
    path.write_text(json.dumps({"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
                                "metadata": {"name": "default"},
                                "spec": {"clusterType": "mks", "cni": {"version": version}}}))
    return path


def diff(cluster, path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CNI_OPERATOR_ALLOWED_REGISTRIES"}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    result = subprocess.run([str(SCRIPT), "diff", "-f", str(path), *extra], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    print(result.stdout, result.stderr)  # shown when the test fails (or with -s)
    return result


def test_diff_previews_an_upgrade_and_writes_nothing(cluster, start_operator, audit_log, wait_for, tmp_path):
    start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": OLD}})

    def created() -> bool:  # the CRD the operator just applied may not serve its kind for a moment
        res = cluster.kubectl("create", "-f", "-", input=json.dumps(ANP), check=False)
        assert res.returncode == 0 or "AlreadyExists" in res.stderr, res.stderr
        return True

    wait_for(created, timeout=30, what="the AdminNetworkPolicy created")
    mark = audit_log.mark()

    result = diff(cluster, spec_file(tmp_path, NEW))

    assert result.returncode == 1, (result.returncode, result.stderr)
    out = result.stdout
    assert f"ClusterNetwork default: canal {OLD} -> canal {NEW}" in out
    ds = out[out.index("changed   DaemonSet kube-system/canal"):]
    assert f"-        image: quay.io/calico/node:{OLD}" in ds and f"+        image: quay.io/calico/node:{NEW}" in ds, ds
    assert f"pruned    CustomResourceDefinition {BANP_CRD}" in out
    assert f"released  CustomResourceDefinition {ANP_CRD} (kept: 1 object of its kind exists" in out

    # The diff asked the API server for dry runs, as the admin, and wrote nothing.
    dry_runs = audit_log.wait_for(timeout=15, verb="patch", resource="daemonsets", name="canal", since=mark)
    dry_runs = [e for e in dry_runs if "dryRun=All" in e["requestURI"]]
    assert dry_runs, "no dry-run apply of the DaemonSet in the audit log"
    admin = dry_runs[0]["user"]["username"]
    writes = audit_log.writes(since=mark, user=admin)
    assert writes == [], [f"{e['verb']} {e['requestURI']}" for e in writes]
    assert cluster.get_json("cnet", "default")["status"]["version"] == OLD
    assert cluster.get_json("crd", BANP_CRD)["metadata"]["name"] == BANP_CRD

    same = diff(cluster, spec_file(tmp_path, OLD))
    assert same.returncode == 0, (same.returncode, same.stdout, same.stderr)
    assert same.stdout.rstrip().endswith("no differences"), same.stdout

    as_json = json.loads(diff(cluster, spec_file(tmp_path, NEW), "-o", "json").stdout)
    assert {(p["name"], p["action"]) for p in as_json["prune"]} == {(ANP_CRD, "keep"), (BANP_CRD, "delete")}
