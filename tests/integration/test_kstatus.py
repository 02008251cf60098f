"""kstatus, the status library Flux, kpt, Config Sync and cli-utils' applier wait on, judges a ClusterNetwork right:
`Current` when Ready, `InProgress` while work remains, `Failed` when nothing more happens without a person.

kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) reads a custom resource by generic rules only:
  * metadata.deletionTimestamp set                             -> Terminating
  * metadata.generation != status.observedGeneration           -> InProgress (LatestGenerationNotObserved)
  * a condition Reconciling=True                               -> InProgress, with its reason and message
  * a condition Stalled=True                                   -> Failed, with its reason and message
  * otherwise a condition Ready: True -> Current; False/Unknown -> InProgress (it cannot tell progress from doom)
  * otherwise                                                  -> Current
So the operator follows the kstatus convention: Reconciling (True while work remains, the reason of Progressing)
and Stalled (True when the install is refused or the spec is invalid: phase Failed). Without them an invalid
ClusterNetwork would look InProgress forever to Flux. The InProgress and Failed cases below check that the verdict
comes from those conditions, not from kstatus's Ready fallback.

The kstatus command is hack/go/kstatus, built by `make tools` (`python3 hack/toolchain.py build kstatus`) or
pointed to by KSTATUS_BIN. The first tests feed it hand-written objects (no cluster needed, but the binary is, so
they live in this tier); the others run the real operator under the chart's RBAC and judge what it writes.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
import toolchain  # hack/ is on sys.path via tests/conftest.py
import yaml

from tests.harness.clusternetwork import apply_clusternetwork, condition, install, wait_condition
from tests.harness.managed import CNI_NAMESPACE

# ---------------------------------------------------------------------------------------------- the kstatus command


@pytest.fixture(scope="module")
def kstatus_bin() -> str:
    path = toolchain.resolve("kstatus")
    if not path.is_file():
        pytest.fail(f"the kstatus command is not built: {path} does not exist. Run `make tools` (or "
                    "`python3 hack/toolchain.py build kstatus`), or set KSTATUS_BIN.", pytrace=False)
    return str(path)


def run_kstatus(kstatus_bin: str, text: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([kstatus_bin, *args], input=text, capture_output=True, text=True, timeout=30, check=False)


def verdict(kstatus_bin: str, obj: dict | str, *args: str) -> dict:
    """kstatus's verdict on OBJ (a dict, sent as JSON, or text as is): {"status", "message", "conditions"}."""
    res = run_kstatus(kstatus_bin, obj if isinstance(obj, str) else json.dumps(obj), *args)
    assert res.returncode == 0, f"kstatus failed ({res.returncode}): {res.stderr.strip()}"
    return json.loads(res.stdout)


# ------------------------------------------------------------------------------- hand-written objects, no cluster


def cond(type_: str, status: str, reason: str, message: str = "") -> dict:
    return {"type": type_, "status": status, "reason": reason, "message": message or reason,
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}


def cnet(conditions: list[dict] | None, *, generation: int = 1, observed: int | None = 1,
         deleting: bool = False) -> dict:
    obj = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
           "metadata": {"name": "default", "generation": generation, "uid": "0000"},
           "spec": {"clusterType": "mks"}}
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        obj["metadata"]["finalizers"] = ["cni-operator.io/cleanup"]
    if conditions is not None:
        obj["status"] = {"observedGeneration": observed, "conditions": conditions}
    return obj


READY = [cond("Ready", "True", "AllNodesReady"), cond("Progressing", "False", "Stable"),
         cond("Degraded", "False", "AsExpected"), cond("Applied", "True", "Applied"),
         cond("Reconciling", "False", "Stable"), cond("Stalled", "False", "AsExpected")]
INSTALLING = [cond("Ready", "False", "NotApplied"), cond("Progressing", "True", "Applying", "applying generation 1"),
              cond("Degraded", "False", "AsExpected"), cond("Applied", "False", "NotApplied"),
              cond("Reconciling", "True", "Applying", "applying generation 1"),
              cond("Stalled", "False", "AsExpected")]
INVALID = [cond("Ready", "False", "InvalidConfiguration"), cond("Progressing", "False", "InvalidConfiguration"),
           cond("Degraded", "True", "InvalidConfiguration", "the spec is invalid: spec.cni.version"),
           cond("Applied", "False", "InvalidConfiguration"), cond("Reconciling", "False", "InvalidConfiguration"),
           cond("Stalled", "True", "InvalidConfiguration", "the spec is invalid: spec.cni.version")]
# The same refusal without the kstatus conditions: all kstatus has left is Ready=False.
INVALID_WITHOUT_KSTATUS_CONDITIONS = [c for c in INVALID if c["type"] not in ("Reconciling", "Stalled")]


@pytest.mark.parametrize("obj, status, message, derived", [
    pytest.param(cnet(READY), "Current", "Resource is Ready", [], id="ready"),
    pytest.param(cnet(INSTALLING), "InProgress", "applying generation 1",
                 [("Reconciling", "Applying")], id="reconciling"),
    pytest.param(cnet(INVALID), "Failed", "the spec is invalid: spec.cni.version",
                 [("Stalled", "InvalidConfiguration")], id="stalled"),
    pytest.param(cnet(READY, generation=2, observed=1), "InProgress",
                 "ClusterNetwork generation is 2, but latest observed generation is 1",
                 [("Reconciling", "LatestGenerationNotObserved")], id="generation-not-observed"),
    pytest.param(cnet(READY, deleting=True), "Terminating", "Resource scheduled for deletion", [], id="deleting"),
    # Why the operator needs Stalled: without it a refused install reads as InProgress, i.e. "wait longer".
    pytest.param(cnet(INVALID_WITHOUT_KSTATUS_CONDITIONS), "InProgress", "InvalidConfiguration",
                 [("Reconciling", "InvalidConfiguration")], id="refused-without-stalled"),
    # And why status must come quickly: an object nobody has written status for yet counts as Current.
    pytest.param(cnet(None), "Current", "Resource is current", [], id="no-status-yet"),
])
def test_kstatus_rules_for_a_clusternetwork(kstatus_bin, obj, status, message, derived):
    got = verdict(kstatus_bin, obj)
    assert (got["status"], got["message"]) == (status, message), got
    assert [(c["type"], c["reason"]) for c in got["conditions"]] == derived, got
    assert all(c["status"] == "True" for c in got["conditions"]), got


def test_kstatus_reads_yaml_json_and_files(kstatus_bin, tmp_path):
    obj = cnet(INSTALLING)
    as_yaml = "---\n" + yaml.safe_dump(obj) + "---\n"
    path = tmp_path / "cnet.yaml"
    path.write_text(as_yaml)
    results = [verdict(kstatus_bin, obj), verdict(kstatus_bin, json.dumps(obj, indent=2)),
               verdict(kstatus_bin, as_yaml), verdict(kstatus_bin, "", "-f", str(path))]
    assert all(r == results[0] for r in results) and results[0]["status"] == "InProgress", results
    version = run_kstatus(kstatus_bin, "", "-version")
    want = toolchain.pinned_version(toolchain.COMPONENTS["kstatus"])
    assert version.returncode == 0 and f"sigs.k8s.io/cli-utils {want}" in version.stdout, version


@pytest.mark.parametrize("text, error", [
    ("", "no object in the input"),
    ("apiVersion: v1\nkind: List\nitems: []\n", "the input is a List; give one object"),
    (yaml.safe_dump(cnet(READY)) + "---\n" + yaml.safe_dump(cnet(READY)), "2 objects in the input; give one"),
    ("spec: {clusterType: mks}\n", "the object has no kind or apiVersion"),
    ("status: [\n", "input is not a JSON or YAML object"),
])
def test_kstatus_refuses_what_is_not_one_object(kstatus_bin, text, error):
    res = run_kstatus(kstatus_bin, text)
    assert res.returncode == 1 and error in res.stderr and not res.stdout, res


# ------------------------------------------------------------------------------------------ the real operator


def judge(cluster, kstatus_bin: str) -> tuple[dict, dict]:
    """(kstatus's verdict, the ClusterNetwork) from one read, as a user or Flux gets it from the API server."""
    out = cluster.kubectl("get", "clusternetwork", "default", "-o", "json").stdout
    return verdict(kstatus_bin, out), json.loads(out)


def describe(obj: dict) -> str:
    status = obj.get("status") or {}
    conds = ", ".join(f"{c['type']}={c['status']}/{c.get('reason')}" for c in status.get("conditions") or [])
    return (f"phase {status.get('phase')}, generation {obj['metadata'].get('generation')} observed "
            f"{status.get('observedGeneration')}, conditions: {conds or 'none'}")


def wait_for_verdict(cluster, kstatus_bin, wait_for, status: str, *, derived: tuple[str, str] | None = None,
                     timeout: float = 30) -> tuple[dict, dict]:
    """Poll until kstatus says STATUS and, when DERIVED=(condition type, reason) is given, says so because of that
    condition (kstatus reports the standard condition it based its verdict on)."""

    def check() -> tuple[dict, dict]:
        got, obj = judge(cluster, kstatus_bin)
        assert got["status"] == status, f"kstatus says {got['status']}: {got['message']!r} ({describe(obj)})"
        if derived:
            basis = [(c["type"], c["reason"]) for c in got["conditions"]]
            assert basis == [derived], (
                f"kstatus says {status}, but on the basis of {basis}, not {derived}: "
                f"{got['message']!r} ({describe(obj)})")
        return got, obj

    return wait_for(check, timeout=timeout, what=f"kstatus to say {status}" + (f" from {derived}" if derived else ""))


def _start_pod_again(cluster, pod: str) -> None:
    """What a calico-node that is running but not ready yet looks like (its readiness probe not passing): the pod
    is starting, not broken. kwok leaves a Running pod's status alone, so it stays so until deleted."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"status": {
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now},
                       {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady",
                        "lastTransitionTime": now}],
        "containerStatuses": [
            {"name": "calico-node", "ready": False, "started": True, "restartCount": 0, "image": "x", "imageID": "",
             "state": {"running": {"startedAt": now}}},
            {"name": "kube-flannel", "ready": True, "started": True, "restartCount": 0, "image": "x", "imageID": "",
             "state": {"running": {"startedAt": now}}},
        ],
    }}
    cluster.kubectl("patch", "pod", pod, "-n", CNI_NAMESPACE, "--subresource=status", "--type=merge",
                    "-p", json.dumps(patch))


def test_ready_is_current_and_a_starting_pod_is_in_progress(cluster, start_operator, wait_for, kstatus_bin):
    start_operator()
    install(cluster, {"clusterType": "mks"})
    got, _ = wait_for_verdict(cluster, kstatus_bin, wait_for, "Current")
    assert got["message"] == "Resource is Ready", got

    # One canal pod is running but not ready: the DaemonSet counts it unavailable, the operator reports Progressing
    # (and, by the kstatus convention, Reconciling with the same reason), and kstatus says InProgress.
    pods = json.loads(cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", "k8s-app=canal", "-o", "json").stdout)
    pod = min(pods["items"], key=lambda p: p["spec"]["nodeName"])["metadata"]["name"]
    _start_pod_again(cluster, pod)
    cnet = wait_condition(cluster, "Progressing", "True", timeout=30)
    reason = condition(cnet, "Progressing")["reason"]
    assert reason in ("PodsStarting", "RollingOut"), describe(cnet)
    got, obj = wait_for_verdict(cluster, kstatus_bin, wait_for, "InProgress", derived=("Reconciling", reason))
    assert condition(obj, "Ready")["status"] == "False", describe(obj)

    # The DaemonSet replaces the pod, kwok makes the new one ready: Current again.
    cluster.kubectl("delete", "pod", pod, "-n", CNI_NAMESPACE, "--wait=false")
    wait_condition(cluster, "Ready", "True", timeout=60)
    wait_for_verdict(cluster, kstatus_bin, wait_for, "Current", timeout=60)


def _foreign_cni(cluster, cleanup) -> None:
    """Cilium, installed by someone else before the operator: a kube-system DaemonSet without our labels."""
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": "cilium", "namespace": CNI_NAMESPACE, "labels": {"k8s-app": "cilium"}},
          "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}},
                   "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
                                "spec": {"containers": [{"name": "cilium", "image": "quay.io/cilium/cilium:v1.16.3"}],
                                         "tolerations": [{"operator": "Exists"}]}}}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(ds))
    cleanup.add(cluster.kubectl, "delete", "ds", "cilium", "-n", CNI_NAMESPACE, "--wait=true", check=False)


def _eks_nodes(cluster, cleanup) -> None:
    """Nodes that say they are EKS nodes, so clusterType mks does not match."""
    for node in cluster.fake_nodes():
        name = node.metadata.name
        cluster.kubectl("label", "node", name, "eks.amazonaws.com/nodegroup=ng-1", "--overwrite")
        cleanup.add(cluster.kubectl, "label", "node", name, "eks.amazonaws.com/nodegroup-", check=False)


@pytest.mark.parametrize("setup, spec, reason, fixed", [
    # Passes admission (a well-formed version) but is not in the catalog: only the operator can say no.
    pytest.param(None, {"clusterType": "mks", "cni": {"version": "v3.99.0"}}, "InvalidConfiguration",
                 {"clusterType": "mks"}, id="invalid-version"),
    # An image registry the operator's policy does not allow (docs/security.md): only an admin or the spec can clear it.
    pytest.param(None, {"clusterType": "mks", "registry": "attacker.example"}, "RegistryNotAllowed",
                 {"clusterType": "mks"}, id="registry-not-allowed"),
    pytest.param(_foreign_cni, {"clusterType": "mks"}, "ForeignCNIDetected", None, id="foreign-cni"),
    pytest.param(_eks_nodes, {"clusterType": "mks"}, "ClusterTypeMismatch", None, id="cluster-type-mismatch"),
])
def test_invalid_or_refused_is_failed(cluster, cleanup, start_operator, wait_for, kstatus_bin, setup, spec, reason,
                                      fixed):
    if setup:
        setup(cluster, cleanup)
    start_operator()
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode == 0, f"admission must accept this: {result.stderr}"
    cnet = wait_condition(cluster, "Degraded", "True", reason, timeout=60)
    assert cnet["status"]["phase"] == "Failed", describe(cnet)

    got, obj = wait_for_verdict(cluster, kstatus_bin, wait_for, "Failed", derived=("Stalled", reason))
    assert got["message"] == condition(obj, "Stalled")["message"], got
    assert condition(obj, "Reconciling").get("status") != "True", describe(obj)

    if fixed:  # a person fixes the spec: the operator installs, kstatus says Current
        install(cluster, fixed)
        wait_for_verdict(cluster, kstatus_bin, wait_for, "Current")
