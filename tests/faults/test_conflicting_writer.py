"""Another controller keeps changing a field the operator manages: the operator wins without a hot loop.

The other writer (the admin, as a misconfigured controller would) sets the canal DaemonSet's calico-node image every
200 ms for a minute. The operator's PATCHes of that DaemonSet in that minute are counted in the audit log: bounded
(<= 10), because past three reverts per minute it backs off (apply.ConflictGuard). It says so in a Warning Event
(reason ConflictingWriter), keeps its status patches to about one a second, and once the other writer stops the
DaemonSet converges back to the rendered image.

A second, shorter fight has the other writer rewrite the `cni-operator.io/applied-hash` annotation with every image
change, so the object looks like one the operator rendered differently: that used to pass for an update every time
(about one PATCH a second, each a rollout). The operator's PATCHes stay within what the guard allows.
"""

from __future__ import annotations

import json
import os
import threading
import time

from cni_operator.apply import ConflictGuard
from cni_operator.objects import HASH_ANNOTATION
from faultkit import SUMMARY, rendered_objects, wait_converged

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import apply_clusternetwork, events_for, get_clusternetwork
from tests.harness.managed import CNI_NAMESPACE
from tests.harness.operator import OPERATOR_USER, operator_writes
from tests.harness.polling import wait_quiet

MKS = {"clusterType": "mks"}
FIGHT_SECONDS = float(os.environ.get("FAULT_CONFLICT_SECONDS", "60"))
HASH_FIGHT_SECONDS = float(os.environ.get("FAULT_CONFLICT_HASH_SECONDS", "20"))
PERIOD = 0.2
MAX_PATCHES_PER_MINUTE = 10


def guard_allows(seconds: float) -> int:
    """How many reverts apply.ConflictGuard lets through in `seconds` against a change every PERIOD, reacting at
    once (the operator reacts slower, so this is an upper bound), plus 2 for a pass that straddles the end."""
    now, guard = [0.0], ConflictGuard(clock=lambda: now[0])
    writes = 0
    while now[0] < seconds:
        now[0] += PERIOD
        if guard.next_allowed(None) == 0.0:
            guard.record(None)
            writes += 1
    return writes + 2


def _calico_node_image(ds: dict) -> str:
    return next(c["image"] for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")


class OtherWriter(threading.Thread):
    """Sets the calico-node image to a new value every PERIOD seconds until stopped or FIGHT_SECONDS passed."""

    def __init__(self, cluster, seconds: float = FIGHT_SECONDS, rewrite_hash: bool = False):
        super().__init__(name="other-writer", daemon=True)
        self.cluster, self.stop_event, self.patches, self.errors = cluster, threading.Event(), 0, []
        self.seconds, self.rewrite_hash = seconds, rewrite_hash

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        for n in range(int(self.seconds / PERIOD) + 1):  # bounded in count and in time
            if self.stop_event.is_set() or time.monotonic() >= deadline:
                return
            body = {"spec": {"template": {"spec": {"containers": [
                {"name": "calico-node", "image": f"registry.example/other-writer/node:v{n}"}]}}}}
            if self.rewrite_hash:  # pass for a render of the operator's own that differs from the current one
                body["metadata"] = {"annotations": {HASH_ANNOTATION: f"other-writer-{n}"}}
            try:
                self.cluster.apps.patch_namespaced_daemon_set("canal", CNI_NAMESPACE, body)
                self.patches += 1
            except Exception as exc:  # noqa: BLE001 - a failed patch is reported, the fight goes on
                self.errors.append(repr(exc))
            self.stop_event.wait(PERIOD)  # the other writer's pace


def test_conflicting_writer_is_outlasted_without_a_hot_loop(cluster, start_operator, audit_log, wait_for):
    start_operator()
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)
    want = _calico_node_image(next(o for o in rendered_objects(MKS) if o["kind"] == "DaemonSet"))

    mark = audit_log.mark()
    writer = OtherWriter(cluster)
    started = time.monotonic()
    writer.start()
    writer.join(FIGHT_SECONDS + 30)
    assert not writer.is_alive(), "the other writer did not stop"
    fight = time.monotonic() - started
    assert writer.patches >= FIGHT_SECONDS / PERIOD / 2, f"the other writer got only {writer.patches} patches in"

    ours = operator_writes(audit_log, mark, OPERATOR_USER)
    ds_patches = [e for e in ours if (e.get("objectRef") or {}).get("resource") == "daemonsets"
                  and e["objectRef"].get("name") == "canal" and e["verb"] == "patch"]
    status_patches = [e for e in ours if (e.get("objectRef") or {}).get("subresource") == "status"]
    per_minute = len(ds_patches) * 60 / fight
    assert per_minute <= MAX_PATCHES_PER_MINUTE, (
        f"{len(ds_patches)} PATCHes of the canal DaemonSet in {fight:.0f}s against {writer.patches} of the other "
        f"writer: a hot loop. {describe_writes(ds_patches)}")
    assert len(ds_patches) >= 1, "the operator never reverted the other writer's change"
    assert len(status_patches) <= 1.2 * fight + 2, f"{len(status_patches)} status patches in {fight:.0f}s"

    events = events_for(cluster, "ConflictingWriter", cnet=get_clusternetwork(cluster))
    assert events, "no ConflictingWriter Event on the ClusterNetwork"
    assert all(e["type"] == "Warning" for e in events)
    assert any("DaemonSet kube-system/canal" in e["message"] for e in events), [e["message"] for e in events]

    settle = time.monotonic()

    def rendered_image_back() -> bool:
        ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
        assert _calico_node_image(ds) == want, f"calico-node image is {_calico_node_image(ds)}"
        return True

    wait_for(rendered_image_back, timeout=330, what="the canal DaemonSet back at the rendered image")
    back_after = time.monotonic() - settle
    wait_converged(cluster, MKS, timeout=90)
    quiet = audit_log.mark()
    wait_quiet(5)  # observation window: the fight is over, nothing more to revert
    after = [e for e in operator_writes(audit_log, quiet, OPERATOR_USER) if e["objectRef"].get("resource") == "daemonsets"]
    assert not after, f"the operator still patches the DaemonSet after converging: {describe_writes(after)}"
    SUMMARY.add(f"conflicting writer: {writer.patches} image changes in {fight:.0f}s; operator PATCHes of the "
                f"DaemonSet {len(ds_patches)} ({per_minute:.1f}/min, limit {MAX_PATCHES_PER_MINUTE}); status patches "
                f"{len(status_patches)}; {len(events)} ConflictingWriter Event(s); rendered image back "
                f"{back_after:.1f}s after the writer stopped")


def test_a_writer_that_rewrites_the_hash_annotation_is_backed_off_too(cluster, start_operator, audit_log, wait_for):
    start_operator()
    assert apply_clusternetwork(cluster, MKS).returncode == 0
    wait_converged(cluster, MKS, timeout=90)
    want = _calico_node_image(next(o for o in rendered_objects(MKS) if o["kind"] == "DaemonSet"))

    mark = audit_log.mark()
    writer = OtherWriter(cluster, seconds=HASH_FIGHT_SECONDS, rewrite_hash=True)
    started = time.monotonic()
    writer.start()
    writer.join(HASH_FIGHT_SECONDS + 30)
    assert not writer.is_alive(), "the other writer did not stop"
    fight = time.monotonic() - started
    # A quarter of its pace is plenty of fight against a budget of 7 (the pace drops on a loaded machine, and when
    # each operator write is a rollout).
    assert writer.patches >= HASH_FIGHT_SECONDS / PERIOD / 4, f"the other writer got only {writer.patches} patches in"

    ds_patches = [e for e in operator_writes(audit_log, mark, OPERATOR_USER)
                  if (e.get("objectRef") or {}).get("resource") == "daemonsets"
                  and e["objectRef"].get("name") == "canal" and e["verb"] == "patch"]
    limit = guard_allows(fight)
    assert 1 <= len(ds_patches) <= limit, (
        f"{len(ds_patches)} PATCHes of the canal DaemonSet in {fight:.0f}s (the guard allows {limit}) against "
        f"{writer.patches} hash-rewriting changes: the rewritten hash got past the back-off. "
        f"{describe_writes(ds_patches)}")
    events = events_for(cluster, "ConflictingWriter", cnet=get_clusternetwork(cluster))
    assert any("DaemonSet kube-system/canal" in e["message"] for e in events), "no ConflictingWriter Event"

    def rendered_image_back() -> bool:
        ds = json.loads(cluster.kubectl("get", "ds", "canal", "-n", CNI_NAMESPACE, "-o", "json").stdout)
        assert _calico_node_image(ds) == want, f"calico-node image is {_calico_node_image(ds)}"
        return True

    wait_for(rendered_image_back, timeout=330, what="the canal DaemonSet back at the rendered image")
    wait_converged(cluster, MKS, timeout=90)
    SUMMARY.add(f"conflicting writer rewriting the hash annotation: {writer.patches} changes in {fight:.0f}s; "
                f"operator PATCHes of the DaemonSet {len(ds_patches)} (the guard allows {limit}); "
                f"{len(events)} ConflictingWriter Event(s)")
