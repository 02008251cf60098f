"""The local control plane itself: what every other integration test relies on.

Each test checks what a user of the cluster would check with kubectl: nodes Ready, a kube-system DaemonSet with one
Running+Ready pod per node, a deleted node's pod going away, the audit log naming the ServiceAccount that wrote,
and a kopf operator running in-process as that ServiceAccount reacting to a custom resource.
"""

from __future__ import annotations

import uuid

import kopf
import pytest

from tests.harness.repo import toolchain

pytestmark = pytest.mark.k8s


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def _pod_ready(pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
    )


def _daemonset(name: str) -> dict:
    # What a CNI DaemonSet looks like to the scheduler: tolerates every taint, one pod per node.
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}],
                },
            },
        },
    }


def test_server_is_the_pinned_kubernetes_release(cluster):
    if not cluster.local:
        pytest.skip("only our own cluster runs the pinned release")
    want = toolchain.pinned_version(toolchain.COMPONENTS["kubernetes"])
    assert cluster.version.get_code().git_version == want


def test_fake_nodes_are_ready(cluster):
    nodes = cluster.fake_nodes()
    assert nodes, "no fake nodes (label type=kwok)"
    if cluster.expected_nodes is not None:
        assert len(nodes) == cluster.expected_nodes
    not_ready = [n.metadata.name for n in nodes if not _ready(n)]
    assert not_ready == []
    for n in nodes:
        assert n.metadata.annotations.get("kwok.x-k8s.io/node") == "fake"


def test_kube_system_daemonset_gets_one_ready_pod_per_node(cluster, cleanup, wait_for):
    name = unique_name("substrate-ds")
    cluster.apps.create_namespaced_daemon_set("kube-system", _daemonset(name))
    cleanup.add(cluster.apps.delete_namespaced_daemon_set, name, "kube-system")
    nodes = sorted(n.metadata.name for n in cluster.core.list_node().items if _ready(n))

    def rolled_out():
        st = cluster.apps.read_namespaced_daemon_set_status(name, "kube-system").status
        assert st.desired_number_scheduled == len(nodes), (
            f"desired {st.desired_number_scheduled}, Ready nodes {nodes}"
        )
        assert st.number_ready == st.desired_number_scheduled, (
            f"ready {st.number_ready}/{st.desired_number_scheduled}"
        )
        return st

    wait_for(rolled_out, timeout=60, what=f"DaemonSet {name} ready on every node")
    pods = cluster.core.list_namespaced_pod("kube-system", label_selector=f"app={name}").items
    assert sorted(p.spec.node_name for p in pods) == nodes  # exactly one per node
    assert all(_pod_ready(p) for p in pods), [(p.metadata.name, p.status.phase) for p in pods]


def test_deleting_a_node_removes_its_daemonset_pod(cluster, cleanup, wait_for):
    # Our own extra node, so the shared nodes stay as the other tests expect them.
    (node,) = cluster.add_fake_nodes(1)
    cleanup.add(cluster.delete_node, node)
    wait_for(lambda: _ready(cluster.core.read_node(node)), timeout=30, what=f"{node} Ready")
    name = unique_name("substrate-ds")
    cluster.apps.create_namespaced_daemon_set("kube-system", _daemonset(name))
    cleanup.add(cluster.apps.delete_namespaced_daemon_set, name, "kube-system")

    def pods_on_node():
        return cluster.core.list_namespaced_pod(
            "kube-system", label_selector=f"app={name}", field_selector=f"spec.nodeName={node}"
        ).items

    def pod_running_on_node():
        pods = pods_on_node()
        assert len(pods) == 1, f"{len(pods)} pods on {node}"
        assert _pod_ready(pods[0]), f"{pods[0].metadata.name} is {pods[0].status.phase}"
        return True

    wait_for(pod_running_on_node, timeout=60, what=f"a Ready pod of {name} on {node}")
    desired_before = cluster.apps.read_namespaced_daemon_set_status(
        name, "kube-system"
    ).status.desired_number_scheduled

    cluster.delete_node(node)

    # The pod garbage collector removes pods bound to a node that no longer exists (after its 40s quarantine).
    def pod_gone():
        left = [p.metadata.name for p in pods_on_node()]
        assert left == [], f"still there: {left}"
        return True

    wait_for(pod_gone, timeout=150, interval=1, what=f"the pod of {name} on deleted node {node} to go away")
    wait_for(
        lambda: (
            cluster.apps.read_namespaced_daemon_set_status(
                name, "kube-system"
            ).status.desired_number_scheduled
            == desired_before - 1
        ),
        timeout=30,
        what="the DaemonSet to stop counting the deleted node",
    )


def test_audit_log_names_the_serviceaccount_that_wrote(cluster, namespace, sa_kubeconfig, audit_log):
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]}]
    kubeconfig = sa_kubeconfig(namespace, "writer", rules)
    user = f"system:serviceaccount:{namespace}:writer"
    import kubernetes

    sa_core = kubernetes.client.CoreV1Api(cluster.client_for(kubeconfig))
    mark = audit_log.mark()
    sa_core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "written-by-sa"}, "data": {"k": "v"}}
    )
    # A write the ServiceAccount is not allowed to make is audited too, with its identity and the refusal.
    with pytest.raises(kubernetes.client.exceptions.ApiException) as refused:
        sa_core.create_namespaced_secret(namespace, {"metadata": {"name": "not-allowed"}})
    assert refused.value.status == 403

    created = audit_log.wait_for(
        user=user, verb="create", resource="configmaps", namespace=namespace, name="written-by-sa", since=mark
    )
    assert len(created) == 1
    assert created[0]["responseStatus"]["code"] == 201
    assert created[0]["user"]["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                                            "system:authenticated"]  # fmt: skip
    denied = audit_log.wait_for(user=user, verb="create", resource="secrets", namespace=namespace, since=mark)
    assert [e["responseStatus"]["code"] for e in denied] == [403]
    # And the admin's own writes are not attributed to the ServiceAccount.
    assert audit_log.entries(user=user, resource="namespaces", since=mark) == []


SUBSTRATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "substrates.test.cni-operator.io"},
    "spec": {
        "group": "test.cni-operator.io",
        "scope": "Namespaced",
        "names": {"plural": "substrates", "singular": "substrate", "kind": "Substrate"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"who": {"type": "string"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def substrate_crd(cluster, cleanup, wait_for):
    from kubernetes.client.exceptions import ApiException

    try:
        cluster.apiext.create_custom_resource_definition(SUBSTRATE_CRD)
        cleanup.add(cluster.apiext.delete_custom_resource_definition, SUBSTRATE_CRD["metadata"]["name"])
    except ApiException as e:
        if e.status != 409:
            raise

    def established():
        crd = cluster.apiext.read_custom_resource_definition(SUBSTRATE_CRD["metadata"]["name"])
        conds = {c.type: c.status for c in (crd.status.conditions or [])}
        assert conds.get("Established") == "True", conds
        return True

    wait_for(established, timeout=30, what="CRD substrates.test.cni-operator.io Established")
    return SUBSTRATE_CRD


def test_kopf_handler_runs_in_process_as_a_serviceaccount(
    cluster, namespace, substrate_crd, sa_kubeconfig, kopf_runner, audit_log, wait_for
):
    rules = [
        {"apiGroups": ["test.cni-operator.io"], "resources": ["substrates"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["test.cni-operator.io"], "resources": ["substrates/status"], "verbs": ["get", "patch"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        # kopf itself, even with --namespace: it watches CRDs (resources appearing) and namespaces (-n accepts
        # globs); without these it retries with backoff for ~50s before serving anything.
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    ]  # fmt: skip
    kubeconfig = sa_kubeconfig(namespace, "operator", rules)
    user = f"system:serviceaccount:{namespace}:operator"

    registry = kopf.OperatorRegistry()

    @kopf.on.create("test.cni-operator.io", "v1", "substrates", registry=registry)
    def greet(spec, patch, **_):
        patch.status["greeting"] = f"hello {spec['who']}"

    mark = audit_log.mark()
    with kopf_runner(kubeconfig, namespaces=[namespace], registry=registry) as runner:
        cluster.custom.create_namespaced_custom_object(
            "test.cni-operator.io", "v1", namespace, "substrates",
            {"apiVersion": "test.cni-operator.io/v1", "kind": "Substrate", "metadata": {"name": "s1"},
             "spec": {"who": "world"}},
        )  # fmt: skip

        def greeted():
            obj = cluster.custom.get_namespaced_custom_object(
                "test.cni-operator.io", "v1", namespace, "substrates", "s1"
            )
            assert obj.get("status", {}).get("greeting") == "hello world", obj.get("status")
            return obj

        wait_for(greeted, timeout=60, what="the kopf handler to set status.greeting")

    assert runner.exception is None
    assert runner.exit_code == 0, runner.output
    # The operator's writes reached the API server as the ServiceAccount, not as the admin running the test.
    patches = audit_log.wait_for(user=user, verb="patch", resource="substrates", namespace=namespace, name="s1",
                                 since=mark)  # fmt: skip
    assert all(e["responseStatus"]["code"] == 200 for e in patches), [e["responseStatus"] for e in patches]
