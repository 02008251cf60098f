"""The fleet substrate itself (hack/localtargets.py): each target is a cluster of its own next to the management
cluster, and what the fleet tests do to one target (a write, a frozen or killed API server) shows in that target only.
What is checked is what a user of the clusters sees: kubectl, the API, TLS, the audit logs, and etcd's keys.
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlparse

import pytest
from kubernetes.client.exceptions import ApiException

from tests.harness.audit import AuditLog
from tests.harness.cleanup import unique_name
from tests.harness.repo import localcluster
from tests.harness.targets import etcd_key_count, finish_restart, localtargets


def _address(server: str) -> tuple[str, int]:
    url = urlparse(server)
    return url.hostname, url.port


def _tls_handshake(server: str, ca, cert_dir=None) -> int:
    """GET /api on SERVER trusting only CA (and, with CERT_DIR, as the admin of that pki directory): the HTTP status."""
    import http.client

    ctx = ssl.create_default_context(cafile=str(ca))
    if cert_dir is not None:
        ctx.load_cert_chain(str(cert_dir / "admin.crt"), str(cert_dir / "admin.key"))
    host, port = _address(server)
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/api")
        return conn.getresponse().status
    finally:
        conn.close()


def _answers(cluster) -> bool:
    """The API server answers /readyz (AssertionError otherwise: `not yet` for wait_for)."""
    res = cluster.kubectl("get", "--raw", "/readyz", "--request-timeout=5s", check=False, timeout=30)
    assert res.returncode == 0 and res.stdout.strip() == "ok", f"{cluster.server}: {res.stderr.strip()}"
    return True


def _namespace_with_marker(target, cleanup, hint: str) -> str:
    ns = unique_name("fleet", hint)
    target.cluster.core.create_namespace({"metadata": {"name": ns, "labels": {"cni-operator.io/test": "true"}}})
    cleanup.add(target.cluster.core.delete_namespace, ns)
    target.cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "marker"},
                                                          "data": {"written-in": target.name}})
    return ns


def test_each_target_has_its_own_identity_credentials_and_nodes(cluster, targets):
    kube_system = {"management": cluster.core.read_namespace("kube-system").metadata.uid}
    node_uids = {"management": {n.metadata.uid for n in cluster.fake_nodes()}}
    for t in targets:
        # Its kubeconfig names it; its API server's certificate is signed by its own CA, not the others'.
        name = t.cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].name}").stdout
        assert name == f"cni-operator-{t.name}"
        assert _tls_handshake(t.cluster.server, t.ca, t.paths.pki) == 200
        for other in targets:
            if other is not t:
                with pytest.raises(ssl.SSLCertVerificationError):
                    _tls_handshake(other.cluster.server, t.ca)
                # t's admin certificate, with other's CA trusted: TLS works, other does not know t's admin.
                assert _tls_handshake(other.cluster.server, other.ca, t.paths.pki) == 401
        with pytest.raises(ssl.SSLCertVerificationError):
            _tls_handshake(cluster.server, t.ca)
        kube_system[t.name] = t.cluster.core.read_namespace("kube-system").metadata.uid
        # Its own fake nodes, all Ready (its own kwok plays their kubelets).
        nodes = t.cluster.fake_nodes()
        assert len(nodes) >= t.cluster.expected_nodes >= 1
        not_ready = [n.metadata.name for n in nodes
                     if not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        assert not not_ready, f"{t.name}: nodes not Ready: {not_ready}"
        node_uids[t.name] = {n.metadata.uid for n in nodes}
    assert len(set(kube_system.values())) == len(kube_system), f"kube-system UIDs shared: {kube_system}"
    all_uids = [uid for uids in node_uids.values() for uid in uids]
    assert len(all_uids) == len(set(all_uids)), "a Node object is seen by two clusters"


def test_a_node_added_to_one_target_is_ready_there_and_nowhere_else(cluster, targets, cleanup, wait_for):
    t = targets[1]
    before = {x.name: {n.metadata.name for n in x.cluster.fake_nodes()} for x in targets}
    before["management"] = {n.metadata.name for n in cluster.fake_nodes()}
    [name] = t.cluster.add_fake_nodes(1)
    cleanup.add(t.cluster.delete_node, name)

    def ready():
        node = t.cluster.core.read_node(name)
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []), "not Ready"
        return node

    uid = wait_for(ready, timeout=30, what=f"{name} Ready in {t.name}").metadata.uid
    for other in [x for x in targets if x is not t]:
        assert {n.metadata.name for n in other.cluster.fake_nodes()} == before[other.name]
        assert uid not in {n.metadata.uid for n in other.cluster.fake_nodes()}
    assert {n.metadata.name for n in cluster.fake_nodes()} == before["management"]


def test_a_write_in_one_target_is_invisible_in_the_others_and_in_the_management_cluster(cluster, targets, cleanup):
    t = targets[0]
    ns = _namespace_with_marker(t, cleanup, "isolation")
    assert t.cluster.core.read_namespaced_config_map("marker", ns).data == {"written-in": t.name}
    for other in [x.cluster for x in targets[1:]] + [cluster]:
        with pytest.raises(ApiException) as e:
            other.core.read_namespace(ns)
        assert e.value.status == 404, f"{other.server} answers for {ns}"
    # Where it lives: under t's key prefix in the one etcd, nowhere else.
    key = f"configmaps/{ns}/marker"
    assert etcd_key_count(f"{localtargets.etcd_prefix(t.name)}/{key}") == 1
    assert etcd_key_count(f"/registry/{key}") == 0
    for other in targets[1:]:
        assert etcd_key_count(f"{localtargets.etcd_prefix(other.name)}/{key}") == 0


def test_a_frozen_target_api_server_leaves_the_others_answering(cluster, targets, cleanup, wait_for):
    t, others = targets[0], targets[1:]
    pids = {(x.name, c): x.pid(c) for x in targets for c in localtargets.TARGET_COMPONENTS}
    with t.frozen("kube-apiserver"):
        # SIGSTOP: the port still accepts connections (the kernel's backlog), nothing answers.
        started = time.monotonic()
        res = t.cluster.kubectl("get", "--raw", "/readyz", "--request-timeout=2s", check=False, timeout=30)
        assert res.returncode != 0, f"{t.name} answered while stopped: {res.stdout}"
        assert any(w in res.stderr.lower() for w in ("timeout", "deadline")), res.stderr
        assert time.monotonic() - started >= 2
        for other in others:
            assert _answers(other.cluster)
            _namespace_with_marker(other, cleanup, "while-frozen")  # writes too
        assert _answers(cluster)
    wait_for(lambda: _answers(t.cluster), timeout=30, what=f"{t.name} answering after SIGCONT")
    assert {(x.name, c): x.pid(c) for x in targets for c in localtargets.TARGET_COMPONENTS} == pids


def test_a_killed_target_api_server_restarts_alone_and_keeps_its_data(cluster, targets, cleanup, wait_for):
    t, others = targets[2], [x for x in targets if x is not targets[2]]
    ns = _namespace_with_marker(t, cleanup, "survives")
    pids = {(x.name, c): x.pid(c) for x in targets for c in localtargets.TARGET_COMPONENTS}
    management = {c: pid for c, pid, _ in localcluster.read_pids()}
    old = pids[(t.name, "kube-apiserver")]
    restart = t.restart("kube-apiserver", kill=True, down=3, wait=False)

    def refused():
        try:
            socket.create_connection(_address(t.cluster.server), timeout=2).close()
        except ConnectionRefusedError:
            return True
        raise AssertionError("still accepting connections")

    wait_for(refused, timeout=20, what=f"{t.name}'s API server down (connection refused)")
    for other in others:  # during the outage
        assert _answers(other.cluster)
    assert _answers(cluster)
    finish_restart(restart)

    assert _answers(t.cluster)
    assert t.cluster.core.read_namespaced_config_map("marker", ns).data == {"written-in": t.name}
    new = t.pid("kube-apiserver")
    assert new != old
    pids[(t.name, "kube-apiserver")] = new
    assert {(x.name, c): x.pid(c) for x in targets for c in localtargets.TARGET_COMPONENTS} == pids
    assert {c: pid for c, pid, _ in localcluster.read_pids()} == management


def test_audit_logs_are_per_target(cluster, audit_log, targets, cleanup):
    logs = {t.name: AuditLog(t.audit_log_path) for t in targets}
    marks = {name: log.mark() for name, log in logs.items()}
    management_mark = audit_log.mark()
    written = {}
    for t in targets:
        name = unique_name("audit", t.name)
        t.cluster.core.create_namespaced_config_map("default", {"metadata": {"name": name}})
        cleanup.add(t.cluster.core.delete_namespaced_config_map, name, "default")
        written[t.name] = name
    for t in targets:
        [entry] = logs[t.name].wait_for(verb="create", resource="configmaps", name=written[t.name],
                                        since=marks[t.name])
        assert entry["user"]["username"] == "kubernetes-admin"
        assert entry["responseStatus"]["code"] == 201
        for other, name in written.items():
            if other != t.name:
                assert not logs[t.name].entries(name=name, since=marks[t.name]), f"{t.name}'s log has {other}'s write"
    for name in written.values():
        assert not audit_log.entries(name=name, since=management_mark), "the management cluster's log has it"
