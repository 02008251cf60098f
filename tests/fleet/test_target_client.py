"""The operator's client for one target (fleet/client.py) and its remote watches (fleet/watch.py), against the real
target clusters t1..t3: a probe says OK, Unauthorized, Forbidden, TLSError or Timeout as the target really answers;
a watch delivers what kubectl-side writes do, lists again after a real 410, survives a SIGSTOPped API server and
delivers again after SIGCONT; the User-Agent and the rate limit show where a user would see them (the target's audit
log, the time requests take).

The event loop runs in a thread of its own (as in the operator, the watch is a coroutine on it); the test thread
writes through the target's admin client and polls what was delivered, with deadlines.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cni_operator.fleet import reach
from cni_operator.fleet.client import TargetClient
from cni_operator.fleet.credentials import TargetCredentials, parse
from cni_operator.fleet.watch import RemoteWatch

from tests.harness.audit import AuditLog
from tests.harness.cleanup import unique_name
from tests.harness.polling import holds_for


class Loop:
    """An asyncio loop in a daemon thread; run(coro) waits for a result, spawn(coro) returns the future."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fleet-test-loop", daemon=True)
        self.thread.start()

    def spawn(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float = 60):
        return self.spawn(coro).result(timeout)

    def close(self) -> None:
        async def cancel_rest():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture()
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.close()


@pytest.fixture()
def clients(loop):
    """clients(creds, **kwargs) -> a TargetClient, closed (on the loop) at teardown."""
    made: list[TargetClient] = []

    def make(creds: TargetCredentials, **kwargs) -> TargetClient:
        kwargs.setdefault("user_agent", "cni-operator-test/fleetio")
        client = TargetClient(creds, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        loop.run(client.close())


def admin_creds(target) -> TargetCredentials:
    """The target's admin kubeconfig through the operator's credentials rules (it is inline: client cert data)."""
    return parse(Path(target.cluster.kubeconfig).read_text(), source=f"{target.name}'s admin kubeconfig")


def kubeconfig_text(server: str, ca: bytes, user: dict) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": server,
                                                "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": "u", "user": user}],
    })


def namespace_in(target, cleanup, hint: str) -> str:
    ns = unique_name("fleetio", hint)
    target.cluster.core.create_namespace({"metadata": {"name": ns, "labels": {"cni-operator.io/test": "true"}}})
    cleanup.add(target.cluster.core.delete_namespace, ns)
    return ns


def configmap(ns: str, name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


# ---- probe


def test_the_admin_kubeconfig_probes_ok_and_its_files_are_private_until_close(targets, loop, clients):
    t1 = targets[0]
    creds = admin_creds(t1)
    assert creds.client_certificate_data and creds.client_key_data and creds.token is None
    client = clients(creds)
    assert loop.run(client.probe(5)) == reach.OK
    files = [client.configuration.ssl_ca_cert, client.configuration.cert_file, client.configuration.key_file]
    directory = Path(files[0]).parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert {n.metadata.name for n in t1.cluster.fake_nodes()} <= {
        n["metadata"]["name"] for n in client.kube.list("v1", "Node")}  # the sync client too
    loop.run(client.close())
    assert not directory.exists()


def test_a_bad_token_is_unauthorized_and_a_token_without_rights_is_forbidden(targets, loop, clients, cleanup):
    t1 = targets[0]
    ca = t1.ca.read_bytes()
    bad = parse(kubeconfig_text(t1.cluster.server, ca, {"token": "not-a-token-of-t1"}))
    unauthorized = loop.run(clients(bad).probe(5))
    assert unauthorized.reason == reach.UNAUTHORIZED and unauthorized.credentials_problem, unauthorized

    # A ServiceAccount of t1 with no role: t1 knows it (authenticated) and lets it read nothing.
    ns = namespace_in(t1, cleanup, "forbidden")
    t1.cluster.core.create_namespaced_service_account(ns, {"metadata": {"name": "nobody"}})
    token = t1.cluster.core.create_namespaced_service_account_token(
        "nobody", ns, {"spec": {"expirationSeconds": 3600}}).status.token
    nobody = parse(kubeconfig_text(t1.cluster.server, ca, {"token": token}))
    forbidden = loop.run(clients(nobody).probe(5))
    assert forbidden.reason == reach.FORBIDDEN and forbidden.credentials_problem, forbidden
    assert f"system:serviceaccount:{ns}:nobody" in forbidden.message  # the server's own words, naming who


def test_another_targets_ca_is_a_tls_error_unless_verification_is_off(targets, loop, clients):
    t1, t2 = targets[0], targets[1]
    creds = admin_creds(t1)
    wrong = TargetCredentials(**{**creds.__dict__, "certificate_authority_data": t2.ca.read_bytes()})
    refused = loop.run(clients(wrong).probe(5))
    assert refused.reason == reach.TLS_ERROR and t1.cluster.server in refused.message, refused
    with pytest.raises(Exception) as exc:
        clients(wrong).kube.list("v1", "Node")
    assert reach.classify(exc.value, t1.cluster.server).reason == reach.TLS_ERROR
    # insecure-skip-tls-verify (possible only with the operator's opt-in) turns the check off in both clients.
    insecure = TargetCredentials(**{**wrong.__dict__, "insecure_skip_tls_verify": True})
    client = clients(insecure)
    assert loop.run(client.probe(5)) == reach.OK
    assert client.kube.list("v1", "Node")


def test_a_frozen_api_server_is_a_timeout_within_the_probes_timeout(targets, loop, clients):
    t1 = targets[0]
    client = clients(admin_creds(t1))
    assert loop.run(client.probe(5)) == reach.OK  # a pooled connection now exists: the probe reuses it
    with t1.frozen("kube-apiserver"):
        started = time.monotonic()
        frozen = loop.run(client.probe(2))
        took = time.monotonic() - started
    assert frozen.reason == reach.TIMEOUT, frozen
    assert 2 <= took < 3.5, took


# ---- what the target sees: User-Agent, rate limit


def test_the_user_agent_of_both_clients_is_in_the_targets_audit_log(targets, loop, clients, cleanup):
    t1 = targets[0]
    log = AuditLog(t1.audit_log_path)
    ns = namespace_in(t1, cleanup, "agent")
    agent = f"cni-operator/test fleet tenant-a/{unique_name('c', 'agent')}"
    client = clients(admin_creds(t1), user_agent=agent)
    mark = log.mark()
    client.kube.apply(configmap(ns, "written", by="kube"))  # the synchronous client (urllib3)

    async def delete_through_aiohttp():
        response = await client.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/written")
        async with response:
            return response.status

    assert loop.run(delete_through_aiohttp()) == 200
    [applied] = log.wait_for(verb="patch", resource="configmaps", namespace=ns, name="written", since=mark)
    [deleted] = log.wait_for(verb="delete", resource="configmaps", namespace=ns, name="written", since=mark)
    assert applied["userAgent"] == agent and deleted["userAgent"] == agent
    assert applied["user"]["username"] == deleted["user"]["username"] == "kubernetes-admin"
    assert applied["responseStatus"]["code"] == 201  # created by server-side apply


def test_each_request_waits_for_a_token_of_the_targets_bucket(targets, loop, clients):
    t1 = targets[0]
    slow = clients(admin_creds(t1), qps=10, burst=2)
    started = time.monotonic()
    for _ in range(12):
        slow.kube.list("v1", "Node")
    assert time.monotonic() - started >= 0.95  # 2 at once, then 10 at 10 a second

    async def probes(n):
        for _ in range(n):
            assert await slow.probe(5) == reach.OK

    started = time.monotonic()
    loop.run(probes(5))  # the aiohttp side shares the same bucket (empty now)
    assert time.monotonic() - started >= 0.45


# ---- remote watch


class Seen:
    """What a watch delivered and reported, for the test thread to poll."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []  # (type, name, data's "v")
        self.troubles: list[reach.Reach] = []
        self.recovered = 0

    def deliver(self, kind: str, obj: dict) -> None:
        assert obj["apiVersion"] == "v1" and obj["kind"] == "ConfigMap"
        self.events.append((kind, obj["metadata"]["name"], (obj.get("data") or {}).get("v", "")))

    def trouble(self, r: reach.Reach) -> None:
        self.troubles.append(r)

    def recover(self) -> None:
        self.recovered += 1

    def has(self, *event: str) -> bool:
        assert event in self.events, f"no {event} in {self.events}"
        return True


def watch_of(client, ns: str, seen: Seen, **kwargs) -> RemoteWatch:
    return RemoteWatch(client, api_version="v1", kind="ConfigMap", namespace=ns, deliver=seen.deliver,
                       on_trouble=seen.trouble, on_recovered=seen.recover, **kwargs)


def test_a_watch_delivers_added_modified_and_deleted(targets, loop, clients, cleanup, wait_for, monkeypatch):
    t1 = targets[0]
    core = t1.cluster.core
    ns = namespace_in(t1, cleanup, "watch")
    for i in range(5):
        core.create_namespaced_config_map(ns, configmap(ns, f"before-{i}", v="0"))
    monkeypatch.setattr("cni_operator.fleet.watch.PAGE_SIZE", 2)  # the first list in pages of 2
    seen = Seen()
    gate = asyncio.Semaphore(1)
    # The server ends each watch request after 2-3 s (timeoutSeconds; 240-300 by default): the watch goes on.
    watch = watch_of(clients(admin_creds(t1)), ns, seen, connect_gate=gate, server_timeout=(2, 3))
    loop.run(watch.list_initial())
    assert sorted(seen.events) == [("ADDED", f"before-{i}", "0") for i in range(5)] + [
        ("ADDED", "kube-root-ca.crt", "")]
    task = loop.spawn(watch.run())
    core.create_namespaced_config_map(ns, configmap(ns, "new", v="1"))
    wait_for(lambda: seen.has("ADDED", "new", "1"), timeout=15)
    core.patch_namespaced_config_map("new", ns, {"data": {"v": "2"}})
    wait_for(lambda: seen.has("MODIFIED", "new", "2"), timeout=15)
    core.delete_namespaced_config_map("new", ns)
    wait_for(lambda: seen.has("DELETED", "new", "2"), timeout=15)
    holds_for(lambda: not seen.troubles and not task.done(), 4, what="watching on after the server ends a watch")
    core.create_namespaced_config_map(ns, configmap(ns, "later", v="3"))
    wait_for(lambda: seen.has("ADDED", "later", "3"), timeout=15)
    core.delete_namespaced_config_map("later", ns)
    wait_for(lambda: seen.has("DELETED", "later", "3"), timeout=15)
    assert len(seen.events) == 6 + 5  # the first list, then each write exactly once
    assert set(watch.ledger.versions) == {(ns, f"before-{i}") for i in range(5)} | {(ns, "kube-root-ca.crt")}


def test_a_watch_too_old_for_the_server_lists_again_and_reports_what_changed(targets, loop, clients, cleanup,
                                                                           wait_for):
    t1 = targets[0]
    core = t1.cluster.core
    ns = namespace_in(t1, cleanup, "gone")
    for name in ("kept", "changed", "deleted"):
        core.create_namespaced_config_map(ns, configmap(ns, name, v="0"))
    seen = Seen()
    watch = watch_of(clients(admin_creds(t1)), ns, seen)
    loop.run(watch.list_initial())
    # While nobody watches: one changes, one goes, one comes. Then the watch resumes from a resourceVersion the
    # server no longer has: it answers 410 Gone, and the watch lists again.
    core.patch_namespaced_config_map("changed", ns, {"data": {"v": "1"}})
    core.delete_namespaced_config_map("deleted", ns)
    core.create_namespaced_config_map(ns, configmap(ns, "created", v="0"))
    seen.events.clear()
    watch.resource_version = "1"
    loop.spawn(watch.run())
    wait_for(lambda: seen.has("DELETED", "deleted", ""), timeout=15)
    assert sorted(seen.events) == [("ADDED", "created", "0"), ("DELETED", "deleted", ""),
                                   ("MODIFIED", "changed", "1")]  # "kept" and kube-root-ca.crt: unchanged, silent
    assert not seen.troubles
    core.patch_namespaced_config_map("kept", ns, {"data": {"v": "5"}})
    wait_for(lambda: seen.has("MODIFIED", "kept", "5"), timeout=15)  # and it watches on from the new list


def test_a_watch_survives_a_frozen_api_server_and_delivers_again_after(targets, loop, clients, cleanup, wait_for):
    t1 = targets[0]
    core = t1.cluster.core
    ns = namespace_in(t1, cleanup, "frozen")
    seen = Seen()
    # A short idle timeout (the default is 90 s, above the server's minutely bookmarks) to see it in seconds.
    watch = watch_of(clients(admin_creds(t1), timeout=3), ns, seen, idle_timeout=4)
    loop.run(watch.list_initial())
    loop.spawn(watch.run())
    core.create_namespaced_config_map(ns, configmap(ns, "before", v="1"))
    wait_for(lambda: seen.has("ADDED", "before", "1"), timeout=15)
    # A quiet but healthy server: the stream goes silent, the watch starts again from where it was, no trouble.
    holds_for(lambda: not seen.troubles, 9, what="no trouble on a quiet, healthy target")
    with t1.frozen("kube-apiserver"):
        troubles = wait_for(lambda: seen.troubles, timeout=30, what="on_trouble while the API server is stopped")
    assert troubles[0].reason == reach.TIMEOUT and not troubles[0].credentials_problem, troubles
    assert t1.cluster.server in troubles[0].message
    wait_for(lambda: seen.recovered >= 1, timeout=60, what="the watch running again after SIGCONT")
    core.create_namespaced_config_map(ns, configmap(ns, "after", v="2"))
    wait_for(lambda: seen.has("ADDED", "after", "2"), timeout=30)
    assert [e for e in seen.events if e[0] == "ADDED" and e[1] == "before"] == [("ADDED", "before", "1")]
