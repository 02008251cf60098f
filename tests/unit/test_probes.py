"""/healthz (probes.py): what it answers in each state, and that it listens where it is told, loopback by default."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

from cni_operator import metrics, probes


def test_healthy_until_a_reason_not_to_serve_and_again_once_it_is_gone():
    health = probes.Health("standby: waiting for the Lease kube-system/cni-operator")
    assert health.answer() == (200, "ok: standby: waiting for the Lease kube-system/cni-operator\n")
    health.problem("crd", "the ClusterNetwork CRD clusternetworks.cni-operator.io is not installed")
    assert health.answer() == (503, ("not serving: the ClusterNetwork CRD clusternetworks.cni-operator.io is not "
                                    "installed\n"))
    health.problem("crd", None)
    health.state("serving ClusterNetworks")
    assert health.answer() == (200, "ok: serving ClusterNetworks\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_both_endpoints_listen_on_loopback_only_by_default():
    health = probes.Health("serving")
    health_port, metrics_port = _free_port(), _free_port()

    async def scenario():
        servers = [await probes.start_server(health, health_port), await metrics.start_server(metrics_port)]
        try:
            listening = [address for server in servers for address in server.addresses]
            ok = await asyncio.to_thread(_get, f"http://127.0.0.1:{health_port}/healthz")
            health.problem("crd", "the ClusterNetwork CRD is not installed")
            failing = await asyncio.to_thread(_get, f"http://127.0.0.1:{health_port}/healthz")
            scraped = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
            return listening, ok, failing, scraped
        finally:
            for server in servers:
                await server.cleanup()

    listening, ok, failing, scraped = asyncio.run(scenario())
    assert sorted(listening) == sorted([("127.0.0.1", health_port), ("127.0.0.1", metrics_port)])
    assert ok == (200, "ok: serving\n")
    assert failing == (503, "not serving: the ClusterNetwork CRD is not installed\n")
    assert scraped[0] == 200
