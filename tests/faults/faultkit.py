"""Helpers for the fault tier: what "converged" means, killing the operator at a write, and a seeded random source.
(The cluster, the audit log and the operator process are the shared harness's: tests/harness/.)

Converged, as a user would check it after any fault:
  * the ClusterNetwork is Ready=True, Progressing=False and Degraded=False for its current generation, at the version
    the spec asks for;
  * status.applied.inventory lists exactly the objects render(spec) produces (no more, no fewer, no duplicates);
  * every one of them exists in the cluster, and nothing else in the cluster carries the managed-by label
    (so an object a previous version rendered, e.g. a v3.31-only CRD, has been pruned);
  * the CNI DaemonSet runs the rendered template, Ready and updated on every node;
  * the CNI's own APIs are served (every CRD we installed is Established and can be listed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import tempfile
import time
import zlib
from dataclasses import dataclass, field

from cni_operator.api import parse_spec
from cni_operator.render import render

from tests.harness.audit import AuditFollower, is_write
from tests.harness.clusternetwork import condition, get_clusternetwork
from tests.harness.managed import CNI_NAMESPACE, MANAGED_SELECTOR
from tests.harness.operator import is_lease_write
from tests.harness.polling import wait_for

# Iterations of each SIGKILL loop, and the seed every random choice in this tier derives from.
ITERATIONS = int(os.environ.get("FAULT_ITERATIONS", "2"))
SEED = int(os.environ.get("FAULT_SEED", "20240611"))


def rng(purpose: str) -> random.Random:
    """A random source for one test, fixed by FAULT_SEED and the purpose (stable across Python runs)."""
    return random.Random(SEED * 1_000_003 + zlib.crc32(purpose.encode()))


# ------------------------------------------------------------------------------------------------- the summary


@dataclass
class Summary:
    """Lines printed at the end of the run (pytest_terminal_summary in conftest.py)."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        print(line)


SUMMARY = Summary()


# --------------------------------------------------------------------------------------------- what we expect


Ref = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def _ref(api_version: str, kind: str, namespace: str | None, name: str) -> Ref:
    return (api_version, kind, namespace or "", name)


def rendered_refs(spec: dict) -> tuple[str, list[Ref]]:
    """(version, the refs of every object the operator must apply) for a ClusterNetwork spec."""
    rendered = render(parse_spec(spec))
    refs = [_ref(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
            for o in rendered.apply]
    return rendered.version, refs


def rendered_objects(spec: dict) -> list[dict]:
    return render(parse_spec(spec)).apply


def inventory_refs(cnet: dict) -> list[Ref]:
    items = (((cnet.get("status") or {}).get("applied") or {}).get("inventory")) or []
    return [_ref(i["apiVersion"], i["kind"], i.get("namespace"), i["name"]) for i in items]


def managed_objects(cluster) -> set[Ref]:
    """Everything in the cluster that carries the managed-by=cni-operator label, of every listable kind except the
    custom resources of the CRDs the operator installs (it never creates those, and a list of a CRD created a moment
    ago is answered 429 until its storage is ready, which kubectl waits out second by second).

    Discovery is fresh on every call (an empty kubectl cache dir): CRDs come and go during these tests, and a cached
    discovery document would name a kind that no longer exists.
    """
    skip = {"componentstatuses", "events", "events.events.k8s.io", "endpoints"}
    with tempfile.TemporaryDirectory(prefix="faults-kubectl-") as cache:
        for _ in range(3):  # a CRD (ours) may still come or go between discovery and the list: ask again
            crds = json.loads(cluster.kubectl("get", "crd", "-l", MANAGED_SELECTOR, "-o", "json").stdout)["items"]
            theirs = {f"{c['spec']['names']['plural']}.{c['spec']['group']}" for c in crds}
            kinds = [k for k in cluster.kubectl(f"--cache-dir={cache}", "api-resources", "--verbs=list", "-o", "name")
                     .stdout.split() if k not in skip | theirs]
            got = cluster.kubectl(f"--cache-dir={cache}", "get", ",".join(kinds), "-A", "-l", MANAGED_SELECTOR,
                                  "-o", "json", check=False)
            if got.returncode == 0:
                return {_ref(i["apiVersion"], i["kind"], i["metadata"].get("namespace"), i["metadata"]["name"])
                        for i in json.loads(got.stdout)["items"]}
            if "the server doesn't have a resource type" not in got.stderr:
                break
    raise AssertionError(f"listing managed objects failed: {got.stderr.strip()}")


def _fmt(refs) -> str:
    return ", ".join(sorted(f"{k}/{n}" for _, k, _, n in refs)) or "(none)"


def check_converged(cluster, spec: dict, *, daemonset: str = "canal") -> dict:
    """Assert what a user checks after a fault (see the module docstring); return the ClusterNetwork."""
    version, want = rendered_refs(spec)
    cnet = get_clusternetwork(cluster)
    status = cnet.get("status") or {}
    generation = cnet["metadata"]["generation"]
    ready = condition(cnet, "Ready")
    assert ready.get("status") == "True" and ready.get("observedGeneration") == generation, (
        f"Ready is {ready.get('status')}/{ready.get('reason')} for generation {ready.get('observedGeneration')} "
        f"(current {generation}): {ready.get('message')}")
    assert status.get("observedGeneration") == generation, status.get("observedGeneration")
    # Settled as `kubectl wait` would see it: no rollout or start-up left to report, no problem. (Ready alone can be
    # True while the DaemonSet still counts a pod unavailable; the status changes once more when it stops.)
    for kind in ("Progressing", "Degraded"):
        got = condition(cnet, kind)
        assert got.get("status") == "False" and got.get("observedGeneration") == generation, (
            f"{kind} is {got.get('status')}/{got.get('reason')} for generation {got.get('observedGeneration')}: "
            f"{got.get('message')}")
    assert status.get("version") == version, f"status.version {status.get('version')}, want {version}"
    inventory = inventory_refs(cnet)
    assert len(inventory) == len(set(inventory)), f"duplicates in status.applied.inventory: {inventory}"
    assert set(inventory) == set(want), (
        f"status.applied.inventory differs from the render: missing {_fmt(set(want) - set(inventory))}; "
        f"extra {_fmt(set(inventory) - set(want))}")
    ds = json.loads(cluster.kubectl("get", "ds", daemonset, "-n", CNI_NAMESPACE, "-o", "json").stdout)
    wanted_ds = next(o for o in rendered_objects(spec) if o["kind"] == "DaemonSet" and o["metadata"]["name"] == daemonset)
    images = [c["image"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert images == [c["image"] for c in wanted_ds["spec"]["template"]["spec"]["containers"]], images
    nodes = len(cluster.fake_nodes())
    s = ds.get("status", {})
    assert (s.get("observedGeneration") == ds["metadata"]["generation"] and s.get("desiredNumberScheduled") == nodes
            and s.get("updatedNumberScheduled") == nodes and s.get("numberReady") == nodes), (
        f"DaemonSet {daemonset} not rolled out on {nodes} nodes: {s}")
    live = managed_objects(cluster)
    assert set(want) <= live, f"rendered objects not in the cluster: {_fmt(set(want) - live)}"
    assert live <= set(want), f"managed objects the render does not list (not pruned): {_fmt(live - set(want))}"
    check_crd_apis_served(cluster)
    return cnet


def check_crd_apis_served(cluster) -> None:
    """The CNI's own APIs answer (kubectl get ippools & co.): every CRD we installed is Established and its storage
    ready. (A freshly created or just restarted API server answers 429 "storage is (re)initializing" for a while;
    deleting a CRD in that state makes the API server's CRD finalizer back off for a minute.)"""
    crds = json.loads(cluster.kubectl("get", "crd", "-l", MANAGED_SELECTOR, "-o", "json").stdout)["items"]
    not_established = [c["metadata"]["name"] for c in crds if not any(
        x["type"] == "Established" and x["status"] == "True" for x in (c.get("status") or {}).get("conditions") or [])]
    assert not not_established, f"CRDs not Established: {not_established}"
    kinds = ",".join(f"{c['spec']['names']['plural']}.{c['spec']['group']}" for c in crds)
    if not kinds:
        return
    with tempfile.TemporaryDirectory(prefix="faults-kubectl-") as cache:  # fresh discovery
        got = cluster.kubectl(f"--cache-dir={cache}", "get", kinds, "-A", "--request-timeout=5s", check=False)
    assert got.returncode == 0, f"the CNI's APIs are not served: {got.stderr.strip()[-300:]}"


def wait_converged(cluster, spec: dict, timeout: float = 90, **kwargs) -> dict:
    return wait_for(lambda: check_converged(cluster, spec, **kwargs), timeout=timeout,
                    what=f"convergence to exactly the render of {spec}")


def status_changes(before: dict, after: dict) -> list[str]:
    """What differs between two reads of a ClusterNetwork's status, a line per field (conditions by type): the
    explanation a failure message needs when the operator wrote a status it was expected not to write."""
    old, new = before.get("status") or {}, after.get("status") or {}
    out = []
    for key in sorted((set(old) | set(new)) - {"conditions"}):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {json.dumps(old.get(key))[:300]} -> {json.dumps(new.get(key))[:300]}")
    old_c = {c["type"]: c for c in old.get("conditions") or []}
    new_c = {c["type"]: c for c in new.get("conditions") or []}
    for kind in sorted(set(old_c) | set(new_c)):
        if old_c.get(kind) != new_c.get(kind):
            out.append(f"condition {kind}: {json.dumps(old_c.get(kind))} -> {json.dumps(new_c.get(kind))}")
    return out


# ------------------------------------------------------------------------------------------- kill at a write


def acting_writes(entries: list[dict], user: str) -> list[dict]:
    """USER's writes among audit ENTRIES, without its Lease renewals (they come every few seconds whatever the
    operator is doing, so they mark no point of an install)."""
    return [e for e in entries if is_write(e, user) and not is_lease_write(e)]


def kill_after_writes(process, follower: AuditFollower, user: str, k: int, jitter: float,
                      timeout: float = 60) -> int:
    """SIGKILL PROCESS once USER has made K writes (then JITTER seconds more); return the writes seen by then.

    If the operator goes quiet with fewer than K writes (it finished), it is killed once the deadline passes or it
    has made no write for 3 s, whichever comes first: a kill after the work is done is a valid point too.
    """
    seen, last_write = 0, time.monotonic()
    deadline = time.monotonic() + timeout
    while seen < k:
        new = acting_writes(follower.poll(), user)
        if new:
            seen += len(new)
            last_write = time.monotonic()
            continue
        assert process.alive(), f"the operator died on its own:\n{process.log_tail()}"
        if time.monotonic() > deadline or time.monotonic() - last_write > 3.0:
            break
        time.sleep(0.003)
    if jitter > 0:
        time.sleep(jitter)  # the fault's position between two writes, not synchronisation
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)
    return seen + len(acting_writes(follower.poll(), user))
