"""Why talking to a target failed (fleet/reach.py), from real exceptions: each client the operator uses (a plain
socket, ssl, aiohttp, urllib3 under the kubernetes client through cni_operator.kube) against a local port nothing
listens on, a TLS server whose certificate another CA signed, a host name that cannot resolve, a server that accepts
and never answers; and the API server's own refusals (KubeError 401, 403, 5xx). Also the per-target rate limit
(fleet/ratelimit.py), with a clock of its own.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from cni_operator.fleet import reach
from cni_operator.fleet.client import TargetClient
from cni_operator.fleet.credentials import TargetCredentials
from cni_operator.fleet.ratelimit import TokenBucket
from cni_operator.kube import KubeError

# ---- real failures to classify

@pytest.fixture()
def closed_port() -> int:
    """A local port nothing listens on (bound once, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """Two throw-away CAs: `server` signs the TLS server's certificate (for 127.0.0.1); `other` signs nothing."""
    if not shutil.which("openssl"):
        pytest.fail("the openssl command is needed to make the test certificates", pytrace=False)
    d = tmp_path_factory.mktemp("pki")
    for ca in ("server-ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                 "-subj", f"/CN={ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt", cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "server-ca.crt", "-CAkey", "server-ca.key",
             "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.crt", cwd=d)
    return d


@pytest.fixture()
def tls_server(pki):
    """A TLS server on 127.0.0.1 (certificate of server-ca) that completes handshakes and closes: its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused our certificate: what the test wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture()
def silent_server():
    """A port that accepts connections (the kernel's backlog) and never answers, like a SIGSTOPped API server."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield listener.getsockname()[1]
    listener.close()


def through_target_client(server: str, *, ca: Path | None = None, timeout: float = 5.0,
                          ) -> tuple[BaseException, reach.Reach]:
    """What the operator's own client (fleet/client.py) meets at SERVER: the exception of a `.kube` call (urllib3
    under the kubernetes client) and the Reach of a probe (aiohttp)."""
    creds = TargetCredentials(context="t", server=server, token="not-a-token",
                              certificate_authority_data=ca.read_bytes() if ca else None)

    async def both():
        async with TargetClient(creds, user_agent="test", timeout=timeout) as client:
            exc = await asyncio.to_thread(raised, client.kube.list, "v1", "Node")
            return exc, await client.probe(timeout)

    return asyncio.run(both())


def raised(fn, *args) -> BaseException:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is what the test looks at
        return exc
    raise AssertionError(f"{fn.__name__} did not fail")


def aiohttp_get(url: str, *, cafile: Path | None = None, timeout: float = 5.0) -> BaseException:
    async def get():
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        async with aiohttp.ClientSession() as session, session.get(
                url, ssl=context, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            await r.read()

    return raised(asyncio.run, get())


def assert_reach(exc: BaseException, server: str, reason: str, *words: str) -> reach.Reach:
    r = reach.classify(exc, server)
    assert (r.ok, r.reason) == (False, reason), f"{exc!r} -> {r}"
    assert server in r.message, r.message
    for word in words:
        assert word in r.message, r.message
    assert r.reason in reach.REASONS
    return r


def test_a_closed_port_is_connection_refused_whichever_client_saw_it(closed_port):
    server = f"https://127.0.0.1:{closed_port}"
    plain = raised(socket.create_connection, ("127.0.0.1", closed_port), 5)
    assert isinstance(plain, ConnectionRefusedError)
    through_aiohttp = aiohttp_get(server + "/api")
    assert isinstance(through_aiohttp, aiohttp.ClientConnectorError)
    through_kube, probed = through_target_client(server)
    assert type(through_kube).__name__ == "NewConnectionError"  # urllib3's, wrapping ConnectionRefusedError
    for exc in (plain, through_aiohttp, through_kube):
        r = assert_reach(exc, server, reach.CONNECTION_REFUSED, "refused the connection")
        assert not r.credentials_problem
    assert probed == reach.classify(plain, server)


def test_a_certificate_of_another_ca_is_a_tls_error(tls_server, pki):
    server = f"https://127.0.0.1:{tls_server}"
    context = ssl.create_default_context(cafile=str(pki / "other-ca.crt"))

    def handshake():
        with socket.create_connection(("127.0.0.1", tls_server), 5) as s, context.wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.do_handshake()

    plain = raised(handshake)
    assert isinstance(plain, ssl.SSLCertVerificationError)
    through_aiohttp = aiohttp_get(server + "/api", cafile=pki / "other-ca.crt")
    through_kube, probed = through_target_client(server, ca=pki / "other-ca.crt")
    for exc in (plain, through_aiohttp, through_kube):
        # The words ssl itself gives (not the wrapper's), and what to change in the kubeconfig.
        r = assert_reach(exc, server, reach.TLS_ERROR, "unable to get local issuer certificate",
                         "certificate-authority-data")
    assert probed == r


def test_the_right_ca_passes_the_handshake_so_the_tls_server_is_not_the_problem(tls_server, pki):
    context = ssl.create_default_context(cafile=str(pki / "server-ca.crt"))
    with socket.create_connection(("127.0.0.1", tls_server), 5) as s, context.wrap_socket(s, server_hostname="127.0.0.1") as t:
        assert t.version()  # what the test above refuses is the CA, nothing else


def test_an_unresolvable_host_is_name_resolution():
    server = "https://api.cluster-that-does-not-exist.invalid:6443"
    plain = raised(socket.getaddrinfo, "api.cluster-that-does-not-exist.invalid", 6443)
    assert isinstance(plain, socket.gaierror)
    through_aiohttp = aiohttp_get(server + "/api")
    through_kube, probed = through_target_client(server)
    for exc in (plain, through_aiohttp, through_kube):
        assert_reach(exc, server, reach.NAME_RESOLUTION, "does not resolve", "DNS")
    assert probed.reason == reach.NAME_RESOLUTION


def test_a_server_that_never_answers_is_a_timeout(silent_server):
    server = f"https://127.0.0.1:{silent_server}"
    started = time.monotonic()
    through_aiohttp = aiohttp_get(server + "/api", timeout=0.5)
    through_kube, probed = through_target_client(server, timeout=0.5)
    assert time.monotonic() - started < 10  # each within its timeout, no retries
    for exc in (through_aiohttp, through_kube):
        assert_reach(exc, server, reach.TIMEOUT, "did not answer in time")
    assert probed.reason == reach.TIMEOUT


@pytest.mark.parametrize(("status", "reason", "credentials", "words"), [
    (401, reach.UNAUTHORIZED, True, ("401", "fresh credentials", "target-rbac")),
    (403, reach.FORBIDDEN, True, ("403", "cannot list nodes", "target-rbac")),
    (500, reach.SERVER_ERROR, False, ("500", "retries")),
    (503, reach.SERVER_ERROR, False, ("503",)),
    (429, reach.SERVER_ERROR, False, ("429",)),
    (404, reach.CONNECTION_FAILED, False, ("404", "server URL")),
])
def test_the_api_servers_refusals_by_status(status, reason, credentials, words):
    server = "https://10.0.0.1:6443"
    exc = KubeError(status, "Whatever", 'nodes is forbidden: User "x" cannot list nodes')
    r = assert_reach(exc, server, reason, *words)
    assert r.credentials_problem is credentials


def test_a_status_found_through_the_chain_and_the_first_telling_cause_wins(closed_port):
    server = "https://10.0.0.1:6443"
    try:
        try:
            raise KubeError(401, "Unauthorized", "Unauthorized")
        except KubeError as inner:
            raise RuntimeError("the session's wrapper") from inner
    except RuntimeError as outer:
        assert_reach(outer, server, reach.UNAUTHORIZED)
    try:
        try:
            socket.create_connection(("127.0.0.1", closed_port), 5)
        except OSError:
            raise ValueError("while handling it") from None  # __context__ kept, __cause__ None
    except ValueError as outer:
        assert outer.__cause__ is None and isinstance(outer.__context__, ConnectionRefusedError)
        assert_reach(outer, server, reach.CONNECTION_REFUSED)
    refused = OSError(errno.ECONNREFUSED, "Connect call failed")  # asyncio's form: an OSError with that errno
    assert_reach(refused, server, reach.CONNECTION_REFUSED)


def test_anything_else_is_connection_failed_in_its_own_words():
    r = assert_reach(aiohttp.ServerDisconnectedError("Server disconnected"), "https://h:1", reach.CONNECTION_FAILED,
                     "ServerDisconnectedError: Server disconnected", "server URL")
    assert not r.credentials_problem and not r.ok
    assert reach.OK.ok and reach.OK.reason == "" and not reach.OK.credentials_problem


def test_a_cycle_of_causes_ends():
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert [str(e) for e in reach.causes(a)] == ["a", "b"]
    assert reach.classify(a, "https://h:1").reason == reach.CONNECTION_FAILED


# ---- the rate limit of one target

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_lets_a_burst_through_then_spaces_requests_by_one_over_qps():
    clock = Clock()
    bucket = TokenBucket(qps=20, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]  # each later caller waits behind the one before
    assert waits == pytest.approx([0.05, 0.10, 0.15])
    clock.now += 1.0  # a quiet second refills it, up to the burst only
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.05)


def test_the_bucket_is_shared_by_threads_without_losing_a_token():
    clock = Clock()
    bucket = TokenBucket(qps=10, burst=1, clock=clock)
    waits: list[float] = []
    threads = [threading.Thread(target=lambda: waits.extend(bucket.reserve() for _ in range(50))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 reservations at one instant: one free, then one every 0.1 s, none twice.
    assert sorted(round(w, 6) for w in waits) == [round(i / 10, 6) for i in range(200)]


def test_take_and_take_async_wait_for_their_turn():
    bucket = TokenBucket(qps=50, burst=1)
    started = time.monotonic()
    bucket.take()
    bucket.take()
    asyncio.run(bucket.take_async())
    assert time.monotonic() - started >= 0.035  # two waits of 1/50 s (the clock's resolution aside)


def test_a_bucket_without_rate_is_refused():
    with pytest.raises(ValueError, match="qps > 0"):
        TokenBucket(qps=0, burst=1)
