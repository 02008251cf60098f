"""The reconciler's decision table (session/reconcile.py), one pass at a time, against an in-memory API server.

A real ClusterSession (projections, applier, status writer, announcer, Event recorder) talks to FakeKube
(fake_kube.py). Watch events reach the session through its observe_* methods, as kopf's handlers deliver them; each
test then runs `reconciler.step` and checks what a user would: which objects were written and how, the status
(phase, condition reasons, applied.inventory, drift), the returned retry delay, and the Events posted.

Rows: no ClusterNetwork; invalid spec; imported; paused; first install refused (foreign CNI, wrong cluster type);
first install; upgrade with prune; apply failure; finalizer add/remove; deletion (Orphan, Delete, deletes failing);
retry delays (grace period, conflicting writer); idle; images from a registry the operator may not pull from;
inventory entries the catalog never renders; a pass that fails.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import time
from dataclasses import dataclass

import pytest
from cni_operator import api
from cni_operator.apply.diff import canonical_hash, with_hash_annotation
from cni_operator.health import GRACE_SECONDS
from cni_operator.kube import KubeError
from cni_operator.objects import FINALIZER, MANAGED, ObjectRef, is_managed, kind_rank
from cni_operator.registry_policy import RegistryPolicy
from cni_operator.render import Rendered, render
from cni_operator.session import ClusterSession
from cni_operator.session.reconcile import APPLY_RETRY_SECONDS, DELETE_ATTEMPTS
from cni_operator.validation import check
from fake_kube import FakeKube, Request, deliver, flush_events, merge

CNET = ObjectRef(f"{api.GROUP}/{api.VERSION}", api.KIND, "default")
CANAL_DS = ObjectRef("apps/v1", "DaemonSet", "canal", "kube-system")
CNP_CRD = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                    "clusternetworkpolicies.policy.networking.k8s.io")
CANAL_CONFIG = ObjectRef("v1", "ConfigMap", "canal-config", "kube-system")
WORKLOAD_RANK = kind_rank("DaemonSet")


# ---------------------------------------------------------------------------------------------- API-shaped bodies


def ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, *, labels: dict | None = None, provider_id: str = "") -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "creationTimestamp": ago(86400), "labels": labels or {}},
            "spec": {"providerID": provider_id} if provider_id else {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, node_name: str, labels: dict, *, ready: bool = True, since: str | None = None) -> dict:
    since = since or ago(3600)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(labels)},
            "spec": {"nodeName": node_name},
            "status": {"phase": "Running",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(3600)},
                                      {"type": "Ready", "status": str(ready), "lastTransitionTime": since}],
                       "containerStatuses": [{"name": "main", "ready": ready, "restartCount": 0,
                                              "state": {"running": {"startedAt": ago(3600)}}}]}}


def cilium() -> dict:
    """A CNI the operator did not install."""
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "cilium", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}},
                     "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
                                  "spec": {"containers": [{"name": "cilium-agent",
                                                           "image": "quay.io/cilium/cilium:v1.16.1"}]}}},
            "status": {"desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2,
                       "numberUnavailable": 0, "observedGeneration": 1}}


def rendered(spec: dict) -> Rendered:
    return render(check(spec).spec)


def refs(objects: list[dict]) -> list[ObjectRef]:
    return [ObjectRef.of(o) for o in objects]


def inventory(status: dict) -> list[ObjectRef]:
    return [ObjectRef.from_status(i) for i in status["applied"]["inventory"]]


def cond(status: dict, type_: str) -> tuple[str, str]:
    found = next(c for c in status["conditions"] if c["type"] == type_)
    return found["status"], found["reason"]


# ---------------------------------------------------------------------------------------------- the harness


@dataclass
class Pass:
    delay: float | None
    requests: list[Request]  # the operator's requests in this pass, Event POSTs included
    events: list[dict]  # Events posted in this pass

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.verb in ("apply", "delete", "patch")]

    def verbs(self, verb: str) -> list[ObjectRef]:
        return [r.ref for r in self.requests if r.verb == verb]

    @property
    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.events]

    def event(self, reason: str) -> dict:
        return next(e for e in self.events if e["reason"] == reason)


STATUS_ONLY = [("patch", CNET, "status")]


def shape(writes: list[Request]) -> list[tuple]:
    return [(r.verb, r.ref, r.subresource) for r in writes]


class Cluster:
    """One cluster: the fake API server, the session watching it, and what other actors do to it."""

    def __init__(self, registry_policy: RegistryPolicy | None = None) -> None:
        self.kube = FakeKube()
        self.session = ClusterSession(self.kube, singleton="default", min_interval=0.0,
                                      registry_policy=registry_policy or RegistryPolicy())

    def create(self, spec: dict, finalizers: tuple[str, ...] = ()) -> None:
        meta = {"name": "default", **({"finalizers": list(finalizers)} if finalizers else {})}
        self.kube.put({"apiVersion": CNET.api_version, "kind": CNET.kind, "metadata": meta, "spec": spec})

    def edit_spec(self, change: dict) -> None:
        self.kube.edit(CNET, lambda body: body.update(spec=merge(body["spec"], change)))

    def add(self, *objects: dict) -> None:
        for obj in objects:
            self.kube.put(obj)

    def step(self) -> Pass:
        """The watches deliver what happened, then one pass runs; every Event it queued is sent before returning."""
        deliver(self.kube, self.session)
        self.kube.requests.clear()
        seen = len(self.kube.events)
        delay = asyncio.run(self._pass())
        flush_events(self.session.recorder)
        return Pass(delay, list(self.kube.requests), self.kube.events[seen:])

    def session_pass(self) -> tuple[Pass, Exception | None]:
        """One pass as the session's loop runs it (ClusterSession._pass: failures are reported, then raised to the
        loop, or retried when transient); returns the pass and what it raised."""
        deliver(self.kube, self.session)
        self.kube.requests.clear()
        seen = len(self.kube.events)

        async def run() -> float | None:
            self.session.loop._loop = asyncio.get_running_loop()
            try:
                return await self.session._pass()
            finally:
                self.session.loop._loop = None

        delay, raised = None, None
        try:
            delay = asyncio.run(run())
        except Exception as exc:  # noqa: BLE001 - what the loop would get
            raised = exc
        flush_events(self.session.recorder)
        return Pass(delay, list(self.kube.requests), self.kube.events[seen:]), raised

    async def _pass(self) -> float | None:
        # As when the session's loop runs: the apply step's responses are fed back into the projections on this
        # event loop (ClusterSession._remember -> CoalescingLoop.call_soon). The loop's task itself is not started,
        # so the observe_* pokes start no pass of their own: the test runs each pass.
        self.session.loop._loop = asyncio.get_running_loop()
        try:
            return await self.session.reconciler.step(self.session.projections.clusternetwork)
        finally:
            self.session.loop._loop = None

    def run_cni(self) -> None:
        """Play the kubelet and the workload controllers: a ready pod per node (one per Deployment replica) and
        full, observed status on every managed DaemonSet and Deployment."""
        nodes = [r.name for r in self.kube.objects if r.kind == "Node"]
        for ref, obj in list(self.kube.objects.items()):
            if ref.kind not in ("DaemonSet", "Deployment") or not is_managed(obj):
                continue
            labels = {**obj["spec"]["template"]["metadata"]["labels"],  # which template a pod runs, as the controllers say
                      "controller-revision-hash": canonical_hash([obj["spec"]["template"]])[:10]}
            hosts = nodes if ref.kind == "DaemonSet" else nodes[: obj["spec"].get("replicas") or 1]
            for host in hosts:
                self.kube.put(pod(f"{ref.name}-{host}", host, labels))
            n, generation = len(hosts), obj["metadata"]["generation"]
            status = {"desiredNumberScheduled": n, "numberReady": n, "updatedNumberScheduled": n,
                      "numberAvailable": n, "numberUnavailable": 0} if ref.kind == "DaemonSet" else \
                {"replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}
            self.kube.edit(ref, lambda body, s=status, g=generation: body.update(status={**s, "observedGeneration": g}))

    @property
    def cnet(self) -> dict | None:
        return self.kube.objects.get(CNET)

    @property
    def status(self) -> dict:
        return self.cnet.get("status") or {}

    def close(self) -> None:
        self.session.recorder.close()
        self.session.applier.pool.shutdown(wait=True)


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.close()


def installed(c: Cluster, spec: dict, nodes: tuple[str, ...] = ("n1", "n2")) -> Pass:
    """A cluster with the CNI of `spec` installed by the operator and running Ready; returns the install pass."""
    c.add(*(node(n) for n in nodes))
    c.create(spec)
    install = c.step()
    c.run_cni()
    assert c.step().delay is None and c.status["phase"] == "Ready", c.status
    return install


# ---------------------------------------------------------------------------------------------- the rows


def test_no_clusternetwork_no_request(cluster):
    cluster.add(node("n1"), cilium())
    p = cluster.step()
    assert p.delay is None
    assert p.requests == [] and p.events == []


@pytest.mark.parametrize("spec, field", [
    ({"clusterType": "mks", "cni": {"version": "v3.99.0"}}, "spec.cni.version: v3.99.0 is not in the catalog"),
    ({"clusterType": "mks", "canal": {"vxlanPort": "8472"}}, "spec.canal.vxlanPort"),  # pydantic: not an integer
], ids=["unknown-version", "rejected-by-the-model"])
def test_invalid_spec_fails_and_writes_nothing_but_status(cluster, spec, field):
    cluster.add(node("n1"))
    cluster.create(spec)
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY
    status = cluster.status
    assert status["phase"] == "Failed"
    for type_ in ("Degraded", "Stalled"):
        assert cond(status, type_) == ("True", "InvalidConfiguration")
    assert cond(status, "Applied") == ("False", "InvalidConfiguration")
    assert field in next(c for c in status["conditions"] if c["type"] == "Degraded")["message"]
    assert p.delay is None
    assert p.reasons == ["InvalidConfiguration"]  # the phase change, said once
    assert [r for r in cluster.kube.objects if r.kind != "Node" and r != CNET] == []

    again = cluster.step()
    assert again.writes == [] and again.events == []


def test_imported_reports_the_running_cni_and_writes_nothing_but_status(cluster):
    cluster.add(node("n1"), node("n2"), cilium(), pod("cilium-a", "n1", {"k8s-app": "cilium"}),
                pod("cilium-b", "n2", {"k8s-app": "cilium"}))
    cluster.create({"clusterType": "imported"})
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY
    assert p.events == [] and p.verbs("post") == []  # no Event on an imported cluster
    status = cluster.status
    assert status["phase"] == "Unmanaged"
    assert cond(status, "Applied") == ("False", "Unmanaged")
    assert [(d["provider"], d["workload"], d["version"]) for d in status["detected"]] == \
        [("cilium", "kube-system/cilium", "v1.16.1")]
    assert status["readySummary"] == "2/2"
    assert p.delay is None


def test_paused_applies_nothing_and_reports_the_drift(cluster):
    spec = {"clusterType": "mks"}
    installed(cluster, spec)
    # Someone changes the canal image by hand; the user pauses the operator.
    containers = cluster.kube.objects[CANAL_DS]["spec"]["template"]["spec"]["containers"]
    index = next(i for i, c in enumerate(containers) if c["name"] == "calico-node")
    cluster.kube.edit(CANAL_DS, lambda b: b["spec"]["template"]["spec"]["containers"][index].update(
        image="quay.io/calico/node:hotfix"))
    cluster.edit_spec({"paused": True})

    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY  # nothing reverted, nothing applied
    status = cluster.status
    assert status["phase"] == "Paused"
    assert cond(status, "Applied") == ("False", "Paused")
    assert status["drift"] == {"unreverted": 1, "objects": [
        f"DaemonSet kube-system/canal: paused (.spec.template.spec.containers[{index}].image)"]}
    live = cluster.kube.objects[CANAL_DS]["spec"]["template"]["spec"]["containers"][index]
    assert live["image"] == "quay.io/calico/node:hotfix"
    assert p.delay is None


@pytest.mark.parametrize("extra, reason", [
    (cilium(), "ForeignCNIDetected"),
    (node("ip-10-0-0-1", labels={"eks.amazonaws.com/nodegroup": "ng-1"}), "ClusterTypeMismatch"),
], ids=["foreign-cni", "eks-markers-with-mks"])
def test_first_install_is_refused(cluster, extra, reason):
    cluster.add(node("n1"), extra)
    cluster.create({"clusterType": "mks", "deletionPolicy": "Delete"})
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY  # no apply, and no finalizer either
    status = cluster.status
    assert status["phase"] == "Failed"
    for type_ in ("Degraded", "Stalled"):
        assert cond(status, type_) == ("True", reason)
    assert p.reasons == [reason]
    assert p.delay is None
    assert FINALIZER not in (cluster.cnet["metadata"].get("finalizers") or [])


def test_a_cni_left_by_an_earlier_clusternetwork_blocks_another_provider(cluster):
    installed(cluster, {"clusterType": "mks"})  # deletionPolicy Orphan: canal stays, with our label
    cluster.kube.remove(CNET)
    cluster.step()
    cluster.create({"clusterType": "eks"})
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY, "installed aws-node next to the canal left behind"
    assert cond(cluster.status, "Degraded") == ("True", "ForeignCNIDetected")
    assert "kube-system/canal" in next(c for c in cluster.status["conditions"] if c["type"] == "Degraded")["message"]


@pytest.mark.parametrize("spec, nodes", [
    ({"clusterType": "mks"}, [node("n1"), node("n2")]),
    ({"clusterType": "eks"}, [node("ip-10-0-0-1", labels={"eks.amazonaws.com/nodegroup": "ng-1"},
                                   provider_id="aws:///eu-west-1a/i-0123456789abcdef0")]),
], ids=["canal", "aws-vpc-cni"])
def test_first_install_applies_every_rendered_object(cluster, spec, nodes):
    want = rendered(spec)
    cluster.add(*nodes)
    cluster.create(spec)
    p = cluster.step()

    applies = [r for r in p.requests if r.verb == "apply"]
    by_ref = {r.ref: r.body for r in applies}
    assert len(by_ref) == len(applies) == len(want.apply)  # each object once
    for obj in want.apply:
        assert by_ref[ObjectRef.of(obj)] == with_hash_annotation(obj)
    ranks = [kind_rank(r.ref.kind) >= WORKLOAD_RANK for r in applies]
    assert ranks == sorted(ranks), "a workload was applied before what it depends on"
    assert p.verbs("delete") == []
    assert [w for w in shape(p.writes) if w[0] == "patch"] == STATUS_ONLY  # Orphan: no finalizer

    status = cluster.status
    assert inventory(status) == refs(want.apply)
    assert status["applied"]["objects"] == len(want.apply)
    assert (status["provider"], status["version"]) == (want.provider.value, want.version)
    assert cond(status, "Applied") == ("True", "Applied")
    installing = p.event("Installing")
    assert installing["type"] == "Normal"
    assert installing["message"] == \
        f"installing {want.provider.value} {want.version}: created {len(want.apply)} objects"
    assert all(cluster.kube.objects[ObjectRef.of(o)] for o in want.apply)


# KNOWN BUG, the two tests below fail on purpose. A pass judges health from the projections, whose workloads only the
# watches fill: ClusterSession._remember feeds the apply responses into projections.managed (drift) but not into
# projections.workloads, so _report_applied assesses the DaemonSet and Deployment as they were before its own apply.


def test_first_install_pass_does_not_call_the_workloads_it_just_created_missing(cluster):
    """Just created, reported gone: phase Degraded, Degraded=True/WorkloadMissing and a Warning Event on every first
    install, until the next pass. (docs/health.md: WorkloadMissing is a workload the operator applied that is gone.)"""
    cluster.add(node("n1"))
    cluster.create({"clusterType": "mks"})
    p = cluster.step()
    status = cluster.status
    assert cond(status, "Degraded")[1] != "WorkloadMissing", \
        f"just created, reported missing: phase {status['phase']}, events {p.reasons}"
    assert status["phase"] == "Installing"
    assert cond(status, "Progressing") == ("True", "RollingOut")
    assert p.reasons == ["Installing"]


def test_an_upgrade_pass_does_not_report_the_new_generation_settled_before_its_rollout(cluster):
    """The old DaemonSet, settled, judged for the new generation: Progressing=False/Stable and Reconciling=False with
    observedGeneration 2, which kstatus readers (Flux, Argo CD, kubectl wait) take as done before the rollout began."""
    installed(cluster, {"clusterType": "mks", "cni": {"version": "v3.31.4"}})
    cluster.edit_spec({"cni": {"version": "v3.32.1"}})
    cluster.step()
    status = cluster.status
    assert status["observedGeneration"] == cluster.cnet["metadata"]["generation"] == 2
    assert cond(status, "Reconciling") == ("True", "RollingOut"), \
        "the new generation reported reconciled before its DaemonSet picked it up"
    assert cond(status, "Progressing") == ("True", "RollingOut")


def test_upgrade_prunes_what_the_new_version_drops(cluster):
    old_spec, new_spec = {"clusterType": "mks", "cni": {"version": "v3.31.4"}}, \
        {"clusterType": "mks", "cni": {"version": "v3.32.1"}}
    old, new = rendered(old_spec), rendered(new_spec)
    dropped = sorted(set(refs(old.apply)) - set(refs(new.apply)), key=str)
    assert dropped and CNP_CRD not in refs(old.apply)  # the catalog still has something to prune and to add
    installed(cluster, old_spec)
    assert inventory(cluster.status) == refs(old.apply)

    cluster.edit_spec(new_spec)
    p = cluster.step()
    assert sorted(p.verbs("delete"), key=str) == dropped
    assert [r.ref for r in p.requests if r.verb == "apply"].count(CNP_CRD) == 1
    assert {r.ref for r in p.requests if r.verb == "apply"} == set(refs(new.apply))  # the version label moved
    assert all(ref not in cluster.kube.objects for ref in dropped)
    assert CNP_CRD in cluster.kube.objects
    status = cluster.status
    assert inventory(status) == refs(new.apply)
    assert status["version"] == "v3.32.1"
    assert {"Updating", "Pruned"} <= set(p.reasons)
    for ref in dropped:
        assert ref.describe() in p.event("Pruned")["message"]


def test_upgrade_keeps_a_dropped_crd_that_still_holds_objects(cluster):
    old_spec = {"clusterType": "mks", "cni": {"version": "v3.31.4"}}
    installed(cluster, old_spec)
    anp = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                    "adminnetworkpolicies.policy.networking.k8s.io")
    assert anp in inventory(cluster.status) and anp not in refs(rendered({"clusterType": "mks"}).apply)
    cluster.kube.instances[anp.name] = 2  # two users' AdminNetworkPolicies

    cluster.edit_spec({"clusterType": "mks", "cni": {"version": "v3.32.1"}})
    p = cluster.step()
    assert anp not in p.verbs("delete")
    crd = cluster.kube.objects[anp]
    assert "app.kubernetes.io/managed-by" not in (crd["metadata"].get("labels") or {}), "still labelled as ours"
    assert crd["metadata"]["annotations"]["cni-operator.io/retained"]
    status = cluster.status
    assert anp not in inventory(status), "a later delete would take it"
    assert [(r["name"], r.get("objects")) for r in status["retained"]] == [(anp.name, 2)]
    assert "2 objects of its kind exist" in p.event("CRDRetained")["message"]
    # the empty one beside it is pruned as before
    banp = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                     "baselineadminnetworkpolicies.policy.networking.k8s.io")
    assert banp in p.verbs("delete")


def test_deletion_keeps_crds_with_users_objects_and_removes_the_rest(cluster):
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    want = rendered(spec)
    installed(cluster, spec)
    cluster.kube.instances.update({"networkpolicies.crd.projectcalico.org": 3, "ippools.crd.projectcalico.org": 1})
    cluster.kube.remove(CNET)

    p = cluster.step()
    kept = {r for r in refs(want.apply) if r.name in cluster.kube.instances}
    assert len(kept) == 2 and not kept & set(p.verbs("delete"))
    assert sorted(p.verbs("delete"), key=str) == sorted(set(refs(want.apply)) - kept, key=str)
    assert all(ref in cluster.kube.objects for ref in kept)
    assert sorted(e["message"].split(" ")[2] for e in p.events if e["reason"] == "CRDRetained") == sorted(
        r.name for r in kept)
    assert "kept 2 CRDs instead of deleting them" in p.event("Deleted")["message"]
    assert cluster.cnet is None


def test_deletion_of_a_paused_clusternetwork_removes_nothing(cluster):
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    install = installed(cluster, spec)
    cluster.edit_spec({**spec, "paused": True})
    cluster.step()
    cluster.kube.remove(CNET)

    p = cluster.step()
    assert p.verbs("delete") == []
    assert all(ref in cluster.kube.objects for ref in install.verbs("apply"))
    assert "removed nothing" in p.event("DeletionPaused")["message"]
    assert cluster.cnet is None  # the finalizer is released all the same


def test_an_unpinned_version_stays_when_the_catalog_default_moves(cluster, monkeypatch):
    from cni_operator.catalog import load_catalog

    installed(cluster, {"clusterType": "mks"})  # no cni.version: the catalog default is installed
    first = cluster.status["version"]
    other = next(v for v in load_catalog().versions(api.Provider.CANAL) if v != first)
    monkeypatch.setitem(load_catalog().defaults, api.Provider.CANAL, other)  # an operator with another default

    cluster.edit_spec({"mtu": 1450})  # any pass: a spec change, a restart, a resync
    p = cluster.step()
    assert cluster.status["version"] == first
    ds = next(o for r, o in cluster.kube.objects.items() if r.kind == "DaemonSet")
    node = next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node")
    assert node["image"].endswith(f":{first}"), node["image"]
    assert p.verbs("delete") == [], "a moved version would prune"

    cluster.edit_spec({"cni": {"version": other}})  # the user moves it
    cluster.step()
    assert cluster.status["version"] == other


def test_an_unpinned_version_missing_from_the_catalog_is_reported_not_moved(cluster, monkeypatch):
    from cni_operator.catalog import load_catalog

    installed(cluster, {"clusterType": "mks"})
    status = cluster.status
    cluster.kube.objects[CNET]["status"] = {**status, "version": "v3.30.0"}  # installed by an older operator
    cluster.edit_spec({"mtu": 1450})
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY
    degraded = next(c for c in cluster.status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "InvalidConfiguration"
    assert "installed canal v3.30.0 stays" in degraded["message"], degraded["message"]
    assert load_catalog().versions(api.Provider.CANAL)[0] in degraded["message"]


def test_a_burst_of_spec_edits_is_one_rollout_of_the_last(cluster):
    cluster.session.reconciler.spec_quiet = 30.0  # long enough that no pass of this test outlives it by accident
    installed(cluster, {"clusterType": "mks"})
    ds = next(r for r in cluster.kube.objects if r.kind == "DaemonSet")
    for severity in ("Warning", "Error", "Debug"):  # each a new pod template
        cluster.edit_spec({"canal": {"logSeverity": severity}})
        p = cluster.step()
        assert ds not in p.verbs("apply"), f"rolled the DaemonSet for {severity} while edits were still coming"
        assert 0 < p.delay <= 30.0, "no pass asked for once the spec is quiet"
        ready = next(c for c in cluster.status["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["observedGeneration"]) == ("False", cluster.cnet["metadata"]["generation"])
        assert cluster.status["version"] == "v3.32.1" and cluster.status["phase"] == "Installing"

    config_only = cluster.step()  # the same generation, still young: nothing rolls, the wait shrinks
    assert ds not in config_only.verbs("apply") and config_only.delay <= p.delay

    cluster.session.reconciler._spec_seen = (cluster.session.reconciler._spec_seen[0], time.monotonic() - 31)
    p = cluster.step()  # quiet long enough: the last edit is applied, once
    assert p.verbs("apply").count(ds) == 1
    env = {e["name"]: e.get("value") for c in cluster.kube.objects[ds]["spec"]["template"]["spec"]["containers"]
           for e in c.get("env") or []}
    assert env.get("FELIX_LOGSEVERITYSCREEN") == "Debug", env.get("FELIX_LOGSEVERITYSCREEN")


def test_a_config_only_change_is_not_held_back(cluster):
    cluster.session.reconciler.spec_quiet = 30.0
    installed(cluster, {"clusterType": "mks"})
    cluster.edit_spec({"mtu": 1450})  # the ConfigMap only: no pod restarts, nothing to gather
    p = cluster.step()
    assert [r.kind for r in p.verbs("apply")] == ["ConfigMap"]


def test_apply_failure_keeps_in_the_inventory_what_may_exist(cluster):
    old_spec, new_spec = {"clusterType": "mks", "cni": {"version": "v3.31.4"}}, \
        {"clusterType": "mks", "cni": {"version": "v3.32.1"}}
    old, new = rendered(old_spec), rendered(new_spec)
    installed(cluster, old_spec)
    cluster.kube.fail(CNP_CRD, "apply", 422, "Invalid", "spec.versions: Invalid value")
    cluster.edit_spec(new_spec)

    p = cluster.step()
    assert p.delay == APPLY_RETRY_SECONDS
    assert p.verbs("delete") == []  # no prune after a failure
    assert not [r for r in p.requests if r.verb == "apply" and kind_rank(r.ref.kind) >= WORKLOAD_RANK], \
        "workloads applied although what they depend on failed"
    status = cluster.status
    first_wave = [r for r in refs(new.apply) if kind_rank(r.kind) < WORKLOAD_RANK and r != CNP_CRD]
    kept = inventory(status)
    assert len(kept) == len(set(kept))
    assert set(kept) == set(refs(old.apply)) | set(first_wave)  # the old objects (dropped ones too) + what went in
    assert CNP_CRD not in kept
    assert status["phase"] == "Degraded"
    assert cond(status, "Degraded") == ("True", "ApplyFailed")
    assert cond(status, "Applied") == ("False", "ApplyFailed")
    assert cond(status, "Reconciling") == ("True", "ApplyFailed")
    failed = p.event("ApplyFailed")
    assert failed["type"] == "Warning" and CNP_CRD.describe() in failed["message"]

    # Once the API server takes it, the next pass finishes the upgrade and prunes what the old version left.
    cluster.kube.heal(CNP_CRD, "apply")
    p = cluster.step()
    assert cluster.status["rollout"]["phase"] == "Canary"  # now applied, the pods' update starts (rows below)
    assert inventory(cluster.status) == refs(new.apply)
    assert sorted(p.verbs("delete"), key=str) == sorted(set(refs(old.apply)) - set(refs(new.apply)), key=str)


def test_apply_failure_on_a_first_install_keeps_only_what_was_created(cluster):
    spec = {"clusterType": "mks"}
    want = rendered(spec)
    cluster.add(node("n1"))
    cluster.kube.fail(CANAL_CONFIG, "apply", 403, "Forbidden", "configmaps is forbidden")
    cluster.create(spec)
    p = cluster.step()
    assert p.delay == APPLY_RETRY_SECONDS
    first_wave = [r for r in refs(want.apply) if kind_rank(r.kind) < WORKLOAD_RANK and r != CANAL_CONFIG]
    assert set(inventory(cluster.status)) == set(first_wave)
    assert cond(cluster.status, "Degraded") == ("True", "ApplyFailed")
    assert "ApplyFailed" in p.reasons


def test_finalizer_follows_the_deletion_policy(cluster):
    cluster.add(node("n1"))
    cluster.create({"clusterType": "mks", "deletionPolicy": "Delete"}, finalizers=("example.com/keep",))
    rv = cluster.cnet["metadata"]["resourceVersion"]
    p = cluster.step()
    patch = p.writes[0]  # before anything is applied: a deletion from now on waits for the inventory's removal
    assert (patch.verb, patch.ref, patch.subresource) == ("patch", CNET, "")
    assert patch.body == {"metadata": {"finalizers": ["example.com/keep", FINALIZER], "resourceVersion": rv}}
    assert cluster.cnet["metadata"]["finalizers"] == ["example.com/keep", FINALIZER]
    assert [w for w in shape(cluster.step().writes) if w == ("patch", CNET, "")] == []  # added once

    cluster.edit_spec({"deletionPolicy": "Orphan"})
    p = cluster.step()
    metadata_patches = [r for r in p.writes if r.ref == CNET and not r.subresource]
    assert [r.body["metadata"]["finalizers"] for r in metadata_patches] == [["example.com/keep"]]
    assert cluster.cnet["metadata"]["finalizers"] == ["example.com/keep"]


def test_deletion_with_orphan_leaves_the_cni_running(cluster):
    install = installed(cluster, {"clusterType": "mks"})
    cluster.kube.remove(CNET)  # no finalizer: gone at once
    p = cluster.step()
    assert p.requests == [] and p.delay is None
    assert all(ref in cluster.kube.objects for ref in install.verbs("apply"))


def test_deletion_with_delete_removes_the_inventory_in_reverse_order_then_the_finalizer(cluster):
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    want = rendered(spec)
    installed(cluster, spec)
    cluster.kube.remove(CNET)
    assert cluster.cnet["metadata"]["deletionTimestamp"]

    p = cluster.step()
    deleted = p.verbs("delete")
    assert sorted(deleted, key=str) == sorted(refs(want.apply), key=str)
    ranks = [kind_rank(r.kind) for r in deleted]
    assert ranks == sorted(ranks, reverse=True), "not workloads first, CRDs last"
    assert deleted[-1].kind == "CustomResourceDefinition"
    last = p.writes[-1]
    assert (last.verb, last.ref, last.body) == ("patch", CNET, {"metadata": {"finalizers": []}})
    assert p.delay is None
    assert cluster.cnet is None  # the API server finished the deletion
    assert not any(ref in cluster.kube.objects for ref in refs(want.apply))
    assert p.event("Deleted")["message"] == f"removed {len(want.apply)} CNI objects"


def test_deletion_gives_up_after_five_attempts_and_releases_the_finalizer(cluster):
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    installed(cluster, spec)
    cluster.kube.fail(CANAL_DS, "delete", 403, "Forbidden", "daemonsets.apps \"canal\" is forbidden")
    cluster.kube.remove(CNET)

    for attempt in range(1, DELETE_ATTEMPTS):
        p = cluster.step()
        assert p.delay == 5.0 * attempt
        if attempt > 1:
            assert p.verbs("delete") == [CANAL_DS]  # the rest went on the first attempt
        assert shape(p.writes)[-1] == ("patch", CNET, "status")  # says why it waits, keeps the finalizer
        assert FINALIZER in cluster.cnet["metadata"]["finalizers"]
        assert cond(cluster.status, "Ready") == ("False", "Deleting")
        message = next(c for c in cluster.status["conditions"] if c["type"] == "Ready")["message"]
        assert f"attempt {attempt}/{DELETE_ATTEMPTS}" in message
        assert p.reasons == []

    p = cluster.step()
    assert p.delay is None
    assert p.verbs("delete") == [CANAL_DS]
    assert (p.writes[-1].ref, p.writes[-1].body) == (CNET, {"metadata": {"finalizers": []}})
    assert cluster.cnet is None
    incomplete = p.event("DeleteIncomplete")
    assert incomplete["type"] == "Warning" and "DaemonSet kube-system/canal" in incomplete["message"]
    assert CANAL_DS in cluster.kube.objects  # left behind, and said so


def test_deletion_attempts_are_counted_per_clusternetwork(cluster):
    """KNOWN BUG (fails on purpose): Reconciler._deletion_attempts is reset only when a pass removes the finalizer.
    When the ClusterNetwork goes another way mid-deletion (its finalizer removed by hand), the count carries over to
    the next ClusterNetwork's deletion, which then gives up after 5 - n attempts instead of 5."""
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    installed(cluster, spec)
    cluster.kube.fail(CANAL_DS, "delete", 403, "Forbidden", "daemonsets.apps \"canal\" is forbidden")
    cluster.kube.remove(CNET)
    assert [cluster.step().delay for _ in range(2)] == [5.0, 10.0]
    cluster.kube.edit(CNET, lambda b: b["metadata"].update(finalizers=[]))  # kubectl patch ... finalizers: []
    assert cluster.step().requests == [] and cluster.cnet is None

    cluster.create(spec)  # a new ClusterNetwork, installed again, then deleted with the same DaemonSet stuck
    cluster.step()
    cluster.kube.remove(CNET)
    delays = []
    while cluster.cnet is not None and len(delays) < DELETE_ATTEMPTS + 1:
        delays.append(cluster.step().delay)
    assert delays == [5.0 * n for n in range(1, DELETE_ATTEMPTS)] + [None]


def test_a_pod_inside_its_grace_period_asks_for_a_recheck(cluster):
    installed(cluster, {"clusterType": "mks"})
    since = ago(10)
    cluster.add(pod("canal-n2", "n2", {"k8s-app": "canal"}, ready=False, since=since))  # the kubelet
    cluster.kube.edit(CANAL_DS, lambda b: b["status"].update(numberReady=1, numberUnavailable=1))  # its controller
    before = dt.datetime.now(dt.UTC)
    p = cluster.step()
    after = dt.datetime.now(dt.UTC)
    # No event marks the end of the grace period: the pass asks to be run again then (+0.5 s to be past it).
    not_ready_for = [(t - dt.datetime.fromisoformat(since)).total_seconds() for t in (after, before)]
    assert GRACE_SECONDS - not_ready_for[0] + 0.499 <= p.delay <= GRACE_SECONDS - not_ready_for[1] + 0.501
    assert cond(cluster.status, "Degraded") == ("False", "AsExpected")  # not a problem yet
    assert cond(cluster.status, "Progressing") == ("True", "PodsStarting")
    assert [w for w in shape(p.writes) if w[0] != "patch"] == []


def test_a_conflicting_writer_is_backed_off_from(cluster):
    installed(cluster, {"clusterType": "mks"})
    containers = cluster.kube.objects[CANAL_DS]["spec"]["template"]["spec"]["containers"]
    index = next(i for i, c in enumerate(containers) if c["name"] == "calico-node")

    def other_writer():
        cluster.kube.edit(CANAL_DS, lambda b: b["spec"]["template"]["spec"]["containers"][index].update(
            image="quay.io/calico/node:theirs"))

    for revert in range(3):  # the guard's budget: reverted at once
        other_writer()
        third_started = time.monotonic()
        p = cluster.step()
        third_ended = time.monotonic()
        assert p.verbs("apply") == [CANAL_DS]
        assert p.delay is None
        if revert == 0:
            assert p.event("DriftReverted")["type"] == "Warning"
    live = cluster.kube.objects[CANAL_DS]["spec"]["template"]["spec"]["containers"][index]
    assert live["image"] != "quay.io/calico/node:theirs"

    other_writer()
    fourth_started = time.monotonic()
    p = cluster.step()
    fourth_ended = time.monotonic()
    assert p.verbs("apply") == []  # not now, but when the back-off (5 s after the third revert) ends
    assert third_started + 5.0 - fourth_ended <= p.delay <= third_ended + 5.0 - fourth_started
    assert p.event("ConflictingWriter")["type"] == "Warning"
    assert cluster.status["drift"]["objects"] == ["DaemonSet kube-system/canal: backing off from a conflicting writer"]


def test_an_idle_cluster_sees_no_writes(cluster):
    spec = {"clusterType": "mks"}
    installed(cluster, spec)
    p = cluster.step()
    assert p.writes == [] and p.events == [] and p.delay is None
    # Reads only: the objects other catalog versions render, looked up live before a prune (none exist here).
    assert {r.verb for r in p.requests} <= {"get"}
    assert set(p.verbs("get")) <= set(rendered(spec).prune)


# ---------------------------------------------------------------------------------------------- registry policy


def message(status: dict, type_: str = "Degraded") -> str:
    return next(c for c in status["conditions"] if c["type"] == type_)["message"]


def test_images_from_a_registry_not_allowed_are_refused_and_nothing_is_written(cluster):
    spec = {"clusterType": "mks"}
    installed(cluster, spec)
    before = {ref: copy.deepcopy(obj) for ref, obj in cluster.kube.objects.items() if is_managed(obj)}
    cluster.edit_spec({"registry": "attacker.example"})

    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY  # not one object, not half of them
    assert {ref: obj for ref, obj in cluster.kube.objects.items() if is_managed(obj)} == before
    status = cluster.status
    assert status["phase"] == "Failed"
    for type_ in ("Degraded", "Stalled"):
        assert cond(status, type_) == ("True", "RegistryNotAllowed")
    assert cond(status, "Applied") == ("False", "RegistryNotAllowed")
    assert cond(status, "Reconciling")[0] == "False"  # nothing happens without a person
    text = message(status)
    assert "spec.registry attacker.example is not an allowed image registry" in text
    assert "the catalog's registries (docker.io, quay.io" in text and "allowedRegistries" in text
    assert status["readySummary"] == "2/2"  # the CNI that runs is still reported
    warning = p.event("RegistryNotAllowed")
    assert warning["type"] == "Warning" and "attacker.example" in warning["message"]
    assert p.delay is None
    again = cluster.step()
    assert again.writes == [] and again.events == []

    cluster.edit_spec({"registry": ""})  # fixed: the same objects as before, nothing to write but status
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY
    assert cluster.status["phase"] == "Ready" and cond(cluster.status, "Stalled")[0] == "False"
    assert "Recovered" in p.reasons


@pytest.mark.parametrize("spec", [
    {"clusterType": "mks", "registry": "attacker.example", "deletionPolicy": "Delete"},
    {"clusterType": "eks", "registry": "attacker.example/eks"},
    {"clusterType": "mks", "registry": "attacker.example", "paused": True},  # said before the pause
], ids=["first-install", "eks", "paused"])
def test_a_first_install_from_a_registry_not_allowed_applies_nothing(cluster, spec):
    cluster.add(node("n1", provider_id="aws:///eu-west-1a/i-0123456789abcdef0"))
    cluster.create(spec)
    p = cluster.step()
    assert shape(p.writes) == STATUS_ONLY  # no apply, and no finalizer either
    assert cond(cluster.status, "Degraded") == ("True", "RegistryNotAllowed")
    assert [r for r in cluster.kube.objects if r.kind != "Node" and r != CNET] == []


def test_a_mirror_the_administrator_allows_is_used_and_the_catalog_registries_are_then_refused():
    cluster = Cluster(RegistryPolicy.parse("mirror.local:5000"))
    try:
        install = installed(cluster, {"clusterType": "mks", "registry": "mirror.local:5000"})
        images = [c["image"] for r in install.requests if r.verb == "apply" and r.ref.kind == "DaemonSet"
                  for c in r.body["spec"]["template"]["spec"]["containers"]]
        assert images and all(image.startswith("mirror.local:5000/") for image in images)

        cluster.edit_spec({"registry": ""})  # back to quay.io and docker.io, which this operator may not use
        p = cluster.step()
        assert shape(p.writes) == STATUS_ONLY
        assert cond(cluster.status, "Degraded") == ("True", "RegistryNotAllowed")
        assert "registries that are not allowed: quay.io, docker.io" in message(cluster.status)
    finally:
        cluster.close()


# ---------------------------------------------------------------------------------------------- inventory from status

WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "namespace": "kube-system"}
CLUSTER_ADMIN = ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "cluster-admin")
BOOTSTRAP_SECRET = ObjectRef("v1", "Secret", "bootstrap-token-abcdef", "kube-system")
COREDNS_CONFIG = ObjectRef("v1", "ConfigMap", "coredns", "kube-system")


def foreign(ref: ObjectRef) -> dict:
    """An object the catalog never renders, even labelled as ours: only the inventory check keeps it safe."""
    meta = {"name": ref.name, "labels": dict(MANAGED), **({"namespace": ref.namespace} if ref.namespace else {})}
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta}


def tamper(c: Cluster, *entries: dict) -> None:
    """Someone with `patch` on clusternetworks/status adds inventory entries."""
    c.kube.edit(CNET, lambda body: body["status"]["applied"]["inventory"].extend(entries))


def test_an_inventory_entry_of_an_unknown_kind_is_ignored_said_and_dropped(cluster):
    spec = {"clusterType": "mks"}
    installed(cluster, spec)
    tamper(cluster, WIDGET)
    p = cluster.step()  # once, every pass failed here (the kind has no API path) and status froze
    assert all(r.ref is None or r.ref.kind != "Widget" for r in p.requests)
    warning = p.event("InventoryEntriesIgnored")
    assert warning["type"] == "Warning" and "example.com/v1 Widget kube-system/w" in warning["message"]
    assert shape(p.writes) == STATUS_ONLY
    assert inventory(cluster.status) == refs(rendered(spec).apply)  # the entry is gone
    assert cluster.status["phase"] == "Ready"
    again = cluster.step()
    assert again.writes == [] and again.events == []


@pytest.mark.parametrize("ref", [CLUSTER_ADMIN, BOOTSTRAP_SECRET, COREDNS_CONFIG], ids=lambda r: r.name)
def test_an_inventory_entry_naming_an_object_the_catalog_never_renders_is_never_touched(cluster, ref):
    installed(cluster, {"clusterType": "mks"})
    cluster.add(foreign(ref))
    cluster.kube.fail(ref, "get", 403, "Forbidden", "not the operator's")  # as outside its RBAC
    rv = cluster.kube.objects[ref]["metadata"]["resourceVersion"]
    cluster.edit_spec({"cni": {"version": "v3.31.4"}})  # a downgrade: a pass that prunes
    tamper(cluster, ref.as_status())
    p = cluster.step()
    assert [r for r in p.requests if r.ref == ref] == []
    assert cluster.kube.objects[ref]["metadata"]["resourceVersion"] == rv
    assert ref.describe().split(" ", 1)[1] in p.event("InventoryEntriesIgnored")["message"]
    assert ref not in inventory(cluster.status)
    assert cond(cluster.status, "Degraded")[1] != "ApplyFailed"  # the truth, not Degraded forever


@pytest.mark.parametrize("ref", [CLUSTER_ADMIN, BOOTSTRAP_SECRET, COREDNS_CONFIG], ids=lambda r: r.name)
def test_deletion_with_delete_removes_only_what_the_catalog_renders(cluster, ref):
    spec = {"clusterType": "mks", "deletionPolicy": "Delete"}
    installed(cluster, spec)
    cluster.add(foreign(ref))
    rv = cluster.kube.objects[ref]["metadata"]["resourceVersion"]
    tamper(cluster, ref.as_status(), WIDGET)
    cluster.kube.remove(CNET)
    p = cluster.step()
    assert sorted(p.verbs("delete"), key=str) == sorted(refs(rendered(spec).apply), key=str)
    assert cluster.kube.objects[ref]["metadata"]["resourceVersion"] == rv
    assert p.event("Deleted")["message"] == f"removed {len(rendered(spec).apply)} CNI objects"
    assert "InventoryEntriesIgnored" in p.reasons
    assert cluster.cnet is None  # nothing held the deletion up


# ---------------------------------------------------------------------------------------------- a pass that fails


def test_a_pass_that_fails_says_so_in_status_and_recovers(cluster, monkeypatch):
    installed(cluster, {"clusterType": "mks", "rollout": {"soakSeconds": 0}})

    def broken(*_args, **_kwargs):
        raise RuntimeError("something the operator did not expect")

    monkeypatch.setattr(cluster.session.applier, "sync", broken)
    cluster.edit_spec({"canal": {"logSeverity": "Debug"}})
    p, raised = cluster.session_pass()
    assert isinstance(raised, RuntimeError)  # the loop still gets it, and retries with back-off
    status = cluster.status
    assert status["observedGeneration"] == cluster.cnet["metadata"]["generation"] == 2
    assert status["phase"] == "Degraded"
    for type_ in ("Degraded", "Reconciling"):
        assert cond(status, type_) == ("True", "ReconcileError")
    assert cond(status, "Ready") == ("False", "ReconcileError")
    assert cond(status, "Stalled")[0] == "False"
    assert "pass failed" in message(status) and "RuntimeError: something the operator did not expect" in \
        message(status)
    assert p.event("ReconcileError")["type"] == "Warning"

    monkeypatch.undo()
    p, raised = cluster.session_pass()
    assert raised is None
    assert cond(cluster.status, "Degraded")[0] == "False"
    assert cond(cluster.status, "Ready") == ("False", "RollingOut")  # the change is applied and rolls out
    cluster.run_cni()
    cluster.step()
    assert cluster.status["phase"] == "Ready"


def test_api_trouble_is_reported_only_once_it_persists(cluster, monkeypatch):
    installed(cluster, {"clusterType": "mks"})

    def unavailable(*_args, **_kwargs):
        raise KubeError(503, "ServiceUnavailable", "the server is currently unable to handle the request")

    monkeypatch.setattr(cluster.session.applier, "sync", unavailable)
    cluster.edit_spec({"canal": {"logSeverity": "Debug"}})
    for attempt in range(1, 4):
        p, raised = cluster.session_pass()
        assert raised is None and p.delay == 2 ** attempt  # retried by the session itself
        if attempt < 3:
            assert p.writes == [] and cluster.status["phase"] == "Ready"  # a blip does not flap the phase
    assert cond(cluster.status, "Degraded") == ("True", "ReconcileError")
    assert "503 ServiceUnavailable" in message(cluster.status)


def test_a_failure_to_report_a_failed_pass_does_not_hide_the_error(cluster, monkeypatch):
    installed(cluster, {"clusterType": "mks"})
    monkeypatch.setattr(cluster.session.applier, "sync", lambda *a, **k: 1 / 0)
    cluster.kube.fail(CNET, "patch", 403, "Forbidden", "status is not ours any more")
    cluster.edit_spec({"canal": {"logSeverity": "Debug"}})
    p, raised = cluster.session_pass()
    assert isinstance(raised, ZeroDivisionError)
    assert [r.subresource for r in p.writes] == ["status"]  # it tried


# ---------------------------------------------------------------------------------------------- operator-driven updates
# An installed CNI's DaemonSet is OnDelete: the operator deletes the old pods itself, canary first, gated on health,
# within maxUnavailable, and puts the previous render back when a gate or the deadline fails (session/rollout.py).

OLD, NEW = {"clusterType": "mks", "cni": {"version": "v3.31.4"}}, {"cni": {"version": "v3.32.1"}}
REVISION = "controller-revision-hash"


class DaemonSetController:
    """Plays the DaemonSet controller with OnDelete (a pod per node of the current template, only where a node has
    none) and the kubelet (Ready, or failing where `fails(template)` says so)."""

    def __init__(self, c: Cluster, fails=lambda template: None):
        self.c, self.fails, self.made = c, fails, 0

    def revision(self, template: dict) -> str:
        return canonical_hash([template])[:10]

    def pods(self) -> list[dict]:
        return [o for r, o in self.c.kube.objects.items() if r.kind == "Pod" and r.name.startswith("canal-")]

    def sync(self) -> None:
        ds = self.c.kube.objects[CANAL_DS]
        template, revision = ds["spec"]["template"], self.revision(ds["spec"]["template"])
        nodes = sorted(r.name for r in self.c.kube.objects if r.kind == "Node")
        hosted = {p["spec"]["nodeName"] for p in self.pods()}
        for host in nodes:
            if host not in hosted:
                self.made += 1
                body = pod(f"canal-{host}-{self.made}", host, {**template["metadata"]["labels"], REVISION: revision},
                           since=ago(0))
                problem = self.fails(template)
                if problem == "CrashLoopBackOff":
                    body["status"]["containerStatuses"][0] = {
                        "name": "calico-node", "ready": False, "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
                if problem:
                    body["status"]["conditions"][1]["status"] = "False"
                self.c.kube.put(body)
        pods = self.pods()
        status = {"desiredNumberScheduled": len(nodes), "numberReady": sum(self.ready(p) for p in pods),
                  "updatedNumberScheduled": sum(p["metadata"]["labels"][REVISION] == revision for p in pods),
                  "observedGeneration": ds["metadata"]["generation"]}
        status["numberUnavailable"] = len(nodes) - status["numberReady"]
        self.c.kube.edit(CANAL_DS, lambda body: body.update(status=status))
        for ref, obj in list(self.c.kube.objects.items()):  # calico-kube-controllers: running and Ready
            if ref.kind == "Deployment":
                self.c.kube.put(pod(f"{ref.name}-0", nodes[0], obj["spec"]["template"]["metadata"]["labels"]))
                self.c.kube.edit(ref, lambda body, g=obj["metadata"]["generation"]: body.update(status={
                    "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
                    "observedGeneration": g}))

    @staticmethod
    def ready(p: dict) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])

    def revisions(self) -> dict[str, str]:
        return {p["spec"]["nodeName"]: p["metadata"]["labels"][REVISION] for p in self.pods()}


def rolled(c: Cluster, ctl: DaemonSetController, nodes: int, rollout: dict) -> str:
    """The old version installed by the operator on `nodes` nodes and Ready; returns its pods' revision."""
    c.add(*(node(f"n{i}") for i in range(1, nodes + 1)))
    c.create({**OLD, "rollout": rollout})
    c.step()
    ctl.sync()
    assert c.step().delay is None and c.status["phase"] == "Ready", c.status
    return set(ctl.revisions().values()).pop()


def deleted_pods(p: Pass) -> list[str]:
    return [r.name for r in p.verbs("delete") if r.kind == "Pod"]


def clock(monkeypatch, seconds: float) -> None:
    """Move the operator's clock forward: soaks and deadlines pass without sleeping."""
    from cni_operator.objects import utcnow
    from cni_operator.session import reconcile
    monkeypatch.setattr(reconcile, "utcnow", lambda: utcnow() + dt.timedelta(seconds=seconds))


def test_an_upgrade_goes_canary_soak_batches_complete_within_max_unavailable(cluster, monkeypatch):
    ctl = DaemonSetController(cluster)
    old = rolled(cluster, ctl, 5, {"canary": 1, "soakSeconds": 30, "maxUnavailable": 2})
    cluster.edit_spec(NEW)
    p = cluster.step()
    assert CANAL_DS in p.verbs("apply") and deleted_pods(p) == [], "no pod goes before the controller saw the template"
    assert cluster.status["rollout"]["phase"] == "Canary" and cluster.status["rollout"]["canaryNodes"] == ["n1"]
    assert "RolloutStarted" in p.reasons
    ctl.sync()
    p = cluster.step()
    assert deleted_pods(p) == ["canal-n1-1"], "the canary node alone, although maxUnavailable is 2"
    ctl.sync()
    cluster.step()
    rollout = cluster.status["rollout"]
    assert (rollout["phase"], rollout["nodesUpdated"], rollout["from"], rollout["to"]) == \
        ("Soaking", 1, "v3.31.4", "v3.32.1")
    assert cond(cluster.status, "Ready") == ("False", "RollingOut")
    assert deleted_pods(cluster.step()) == [], "nothing more during the soak"
    clock(monkeypatch, 31)
    seen = []
    for _ in range(6):
        p = cluster.step()
        unready = sum(not ctl.ready(q) for q in ctl.pods())
        assert len(deleted_pods(p)) + unready <= 2, "more than maxUnavailable nodes without a Ready CNI pod"
        seen.append(cluster.status["rollout"]["phase"])
        ctl.sync()
        if seen[-1] == "Complete":
            break
    assert seen[0] == "Rolling" and seen[-1] == "Complete", seen
    assert old not in ctl.revisions().values() and len(ctl.revisions()) == 5
    assert cluster.status["rollout"]["nodesUpdated"] == 5
    assert cluster.step() and cond(cluster.status, "Ready") == ("True", "AllNodesReady")


def test_a_failing_canary_is_rolled_back_and_the_generation_not_tried_again(cluster):
    ctl = DaemonSetController(cluster, fails=lambda t: "CrashLoopBackOff" if "v3.32.1" in str(t) else None)
    old = rolled(cluster, ctl, 4, {"canary": 1, "soakSeconds": 0, "maxUnavailable": 1})
    old_ds = copy.deepcopy(cluster.kube.objects[CANAL_DS]["spec"]["template"])
    cluster.edit_spec(NEW)
    cluster.step()
    ctl.sync()
    assert deleted_pods(cluster.step()) == ["canal-n1-1"]
    ctl.sync()  # the canary's new pod crash-loops
    p = cluster.step()
    assert "UpgradeRolledBack" in p.reasons and "n1" in p.event("UpgradeRolledBack")["message"]
    p = cluster.step()
    assert CANAL_DS in p.verbs("apply"), "the previous render is applied again"
    assert cluster.kube.objects[CANAL_DS]["spec"]["template"] == old_ds
    ctl.sync()  # the controller sees the old template again
    p = cluster.step()
    assert len(deleted_pods(p)) == 1, "the crash-looping pod is replaced"
    ctl.sync()
    cluster.step()
    status = cluster.status
    assert set(ctl.revisions().values()) == {old}
    assert status["rollout"]["phase"] == "RolledBack" and status["version"] == "v3.31.4"
    assert cond(status, "Degraded") == ("True", "UpgradeRolledBack")
    assert cond(status, "Stalled") == ("True", "UpgradeRolledBack")
    assert cond(status, "Ready")[0] == "False"
    assert "canal-n1-" in message(status) and "v3.32.1" in message(status)
    idle = cluster.step()
    assert [r for r in idle.writes if r.ref != CNET] == [], "the rolled-back generation is not tried again"
    cluster.edit_spec({"cni": {"version": "v3.31.4"}, "mtu": 1450})  # a new spec: the operator acts again
    cluster.step()
    assert cond(cluster.status, "Stalled")[0] == "False"


def test_an_update_past_its_deadline_is_rolled_back(cluster, monkeypatch):
    ctl = DaemonSetController(cluster, fails=lambda t: "NotReady" if "v3.32.1" in str(t) else None)
    rolled(cluster, ctl, 3, {"canary": 1, "soakSeconds": 0, "progressDeadlineSeconds": 60})
    cluster.edit_spec(NEW)
    cluster.step()
    ctl.sync()
    cluster.step()
    ctl.sync()  # the canary's pod never gets Ready, with no problem to name
    assert cluster.step() and cluster.status["rollout"]["phase"] == "Canary"
    clock(monkeypatch, 61)
    p = cluster.step()
    assert "UpgradeRolledBack" in p.reasons
    assert "progressDeadlineSeconds" in cluster.status["rollout"]["message"]


def test_auto_rollback_false_stops_and_reports(cluster):
    ctl = DaemonSetController(cluster, fails=lambda t: "CrashLoopBackOff" if "v3.32.1" in str(t) else None)
    rolled(cluster, ctl, 3, {"canary": 1, "soakSeconds": 0, "autoRollback": False})
    cluster.edit_spec(NEW)
    cluster.step()
    ctl.sync()
    cluster.step()
    ctl.sync()
    p = cluster.step()
    assert "UpgradeFailed" in p.reasons
    new_template = copy.deepcopy(cluster.kube.objects[CANAL_DS]["spec"]["template"])
    for _ in range(2):
        p = cluster.step()
        assert deleted_pods(p) == [] and cluster.kube.objects[CANAL_DS]["spec"]["template"] == new_template
    assert cluster.status["rollout"]["phase"] == "Failed"
    assert cond(cluster.status, "Degraded") == ("True", "UpgradeFailed")
    assert cond(cluster.status, "Stalled") == ("True", "UpgradeFailed")
    assert sum(ctl.ready(q) for q in ctl.pods()) == 2, "the other nodes keep the old version"


def test_a_restarted_operator_resumes_the_update(cluster, monkeypatch):
    ctl = DaemonSetController(cluster)
    rolled(cluster, ctl, 3, {"canary": 1, "soakSeconds": 30})
    cluster.edit_spec(NEW)
    cluster.step()
    ctl.sync()
    cluster.step()
    ctl.sync()
    cluster.step()
    assert cluster.status["rollout"]["phase"] == "Soaking"
    cluster.close()
    cluster.session = ClusterSession(cluster.kube, singleton="default", min_interval=0.0,
                                     registry_policy=RegistryPolicy())  # a new process: what it lists, it knows
    cluster.kube.watch = [("ADDED", copy.deepcopy(o)) for o in cluster.kube.objects.values()]
    p = cluster.step()
    assert deleted_pods(p) == [] and cluster.status["rollout"]["phase"] == "Soaking", "the soak is not cut short"
    clock(monkeypatch, 31)
    phases = []
    for _ in range(5):
        cluster.step()
        ctl.sync()
        phases.append(cluster.status["rollout"]["phase"])
    assert phases[0] == "Rolling" and phases[-1] == "Complete", phases
