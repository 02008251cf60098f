"""What one cluster's watches said, kept as projections: the few fields the decisions read, not whole objects.

Fed by whoever watches the cluster (kopf's handlers in-cluster; the fleet's own watches later), read by the reconciler.
Every `put_*` returns whether anything the operator reports on changed, so the feeder pokes the loop only then
(most node updates are heartbeats that change nothing we read).

    workloads   every DaemonSet and Deployment in the CNI namespace, and known CNIs' DaemonSets in any other
                (calico-system, kube-flannel, ...), as small dicts (there are a handful)
    pods        CNI pods (providers.is_cni_pod), as health.facts.PodFacts
    nodes       every node, as health.facts.NodeFacts
    managed     the objects we manage, whole: drift is judged field by field against what we render
    clusternetwork  the newest ClusterNetwork body seen, from watch events and our own patch responses
"""

from __future__ import annotations

from ..health.facts import NodeFacts, PodFacts, node_facts, pod_facts
from ..objects import ObjectRef, is_managed, resource_version


def workload_view(body: dict) -> dict:
    """A DaemonSet or Deployment reduced to what health, detection and drift read."""
    meta, spec = body.get("metadata", {}), body.get("spec", {})
    template = (spec.get("template") or {}).get("spec") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels") or {},
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("cni-operator.io/")},
            "generation": meta.get("generation"),
        },
        "spec": {
            "replicas": spec.get("replicas"),
            "selector": spec.get("selector"),
            "template": {
                "metadata": {"labels": ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}},
                "spec": {"containers": [{"name": c.get("name"), "image": c.get("image")}
                                        for c in template.get("containers") or []]},
            },
        },
        "status": body.get("status") or {},
    }


def intent(body: dict | None) -> tuple | None:
    """What the user asks for, as far as pacing goes: which ClusterNetwork, which generation, being deleted or not."""
    if body is None:
        return None
    meta = body.get("metadata") or {}
    return (meta.get("uid"), meta.get("generation"), bool(meta.get("deletionTimestamp")))


class Projections:
    def __init__(self) -> None:
        self.workloads: dict[tuple[str, str, str], dict] = {}  # (namespace, name, kind)
        self.pods: dict[tuple[str, str], PodFacts] = {}
        self.nodes: dict[str, NodeFacts] = {}
        self.managed: dict[ObjectRef, dict] = {}
        self.clusternetwork: dict | None = None
        self._clusternetwork_rv = 0  # newest resourceVersion seen, deletions included

    # ---- feeding

    def put_workload(self, body: dict) -> bool:
        meta = body.get("metadata") or {}
        key, view = (meta.get("namespace") or "", meta.get("name"), body.get("kind")), workload_view(body)
        if self.workloads.get(key) == view:
            return False
        self.workloads[key] = view
        return True

    def drop_workload(self, namespace: str, name: str, kind: str) -> bool:
        return self.workloads.pop((namespace, name, kind), None) is not None

    def put_pod(self, body: dict) -> bool:
        facts = pod_facts(body)
        key = (facts.namespace, facts.name)
        if self.pods.get(key) == facts:
            return False
        self.pods[key] = facts
        return True

    def drop_pod(self, namespace: str, name: str) -> bool:
        return self.pods.pop((namespace, name), None) is not None

    def put_node(self, body: dict) -> bool:
        facts = node_facts(body)
        if self.nodes.get(facts.name) == facts:
            return False
        self.nodes[facts.name] = facts
        return True

    def drop_node(self, name: str) -> bool:
        return self.nodes.pop(name, None) is not None

    def observe_managed(self, body: dict, *, deleted: bool = False) -> bool:
        """Keep the newest body of each managed object; True when it is ours (so a change may be drift). A body
        that no longer carries our label (a CRD released for its users' objects) leaves the cache: the label-filtered
        watch never reports it again, and a stale copy would make every later pass release it anew."""
        ref = ObjectRef.of(body)
        if not is_managed(body):
            self.managed.pop(ref, None)
            return False
        if deleted:
            self.managed.pop(ref, None)
        elif resource_version(body) >= resource_version(self.managed.get(ref)):
            self.managed[ref] = body
        return True

    def update_clusternetwork(self, body: dict, *, deleted: bool = False) -> bool:
        """Keep the newest ClusterNetwork we know of: from watch events and from our own patch responses.

        A patch response can be older than an event that arrived while the patch was in flight (say, the user's
        delete); taking it would make the next pass act on a ClusterNetwork that is already being deleted.
        """
        rv = resource_version(body)
        if rv and rv < self._clusternetwork_rv:
            return False
        self._clusternetwork_rv = max(rv, self._clusternetwork_rv)
        self.clusternetwork = None if deleted else dict(body)
        return True

    # ---- reading

    def lookup(self, ref: ObjectRef) -> dict | None:
        return self.managed.get(ref)

    def workload_list(self) -> list[dict]:
        return list(self.workloads.values())

    def workload(self, namespace: str, name: str, kind: str) -> dict | None:
        return self.workloads.get((namespace, name, kind))

    def pods_of(self, app: str) -> list[PodFacts]:
        return [p for p in self.pods.values() if p.label("k8s-app") == app]

    def pod_list(self) -> list[PodFacts]:
        return list(self.pods.values())

    def node_list(self) -> list[NodeFacts]:
        return list(self.nodes.values())
