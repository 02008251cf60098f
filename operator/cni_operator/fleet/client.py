"""The operator's two clients for ONE target cluster, built from the credentials its kubeconfig Secret holds.

    .kube        a cni_operator.kube.Kube (synchronous: the per-target session runs it in threads, as the in-cluster
                 mode does) for get, list, apply, delete; every request first takes a token from this target's rate
                 limiter (ratelimit.TokenBucket, 20 QPS with a burst of 30 by default, as Cluster API's per-cluster
                 client)
    .session()   an aiohttp.ClientSession for the remote watches and the probe (asyncio: no thread per watch), with
                 at most a few connections to this target; `request()` is a request through it that takes a token
    .probe(t)    one cheap request that proves the credentials work: a reach.Reach

Both clients use the same CA, client certificate and key (written to files only this process may read, in a private
directory close() removes: urllib3 and ssl load a client certificate from a file only), the same bearer token,
tls-server-name, proxy-url and User-Agent (the target's audit log shows who wrote: `cni-operator/<version> fleet
<namespace>/<name>`, as the session words it). insecure-skip-tls-verify, which the credentials rules allow only with
the operator's opt-in, turns off the server's certificate check in both. With the opt-in, a kubeconfig that needs the
kubernetes client's loader (exec, auth-provider, file references) goes through that loader, and the aiohttp side takes
what the loader set up (files, token, refreshed on each request).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import tempfile
from typing import Self
from urllib.parse import urlsplit

import aiohttp
import kubernetes

from ..kube import Kube, KubeError
from .credentials import MALFORMED, CredentialsError, TargetCredentials
from .ratelimit import TokenBucket
from .reach import OK, Reach, classify

CONNECTIONS_PER_TARGET = 8  # aiohttp: the watches of one target and its probe; more wait for a free one
POOL_PER_TARGET = 4  # urllib3: the session's threads writing to one target at once
# A request every target's identity may make (`cni-operator target-rbac`: even the imported one reads nodes), that
# needs valid credentials, and costs the server one object: 401/403 here mean the credentials, not the network.
PROBE_PATH = "/api/v1/nodes"
PROBE_QUERY = {"limit": "1"}


class _LimitedKube(Kube):
    """Kube whose every request waits for a token of its target's bucket first."""

    def __init__(self, api_client: kubernetes.client.ApiClient, timeout: float, bucket: TokenBucket) -> None:
        super().__init__(api_client, timeout=timeout)
        self.bucket = bucket

    def _call(self, method: str, path: str, **kwargs):
        self.bucket.take()
        return super()._call(method, path, **kwargs)


class TargetClient:
    def __init__(self, creds: TargetCredentials, *, user_agent: str, qps: float = 20.0, burst: int = 30,
                 timeout: float = 10.0, connections: int = CONNECTIONS_PER_TARGET) -> None:
        """CONNECTIONS bounds the aiohttp session's connections: every watch holds one for as long as it runs, so it
        must exceed the number of watches, or the probe waits for a free one and reads as a timeout.
        TIMEOUT bounds each request of `.kube` and each connect and read of `.request()` (not a watch's stream:
        watch.RemoteWatch sets its own). Raises CredentialsError for a proxy-url aiohttp cannot use."""
        self.creds = creds
        self.server = creds.server.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.connections = connections
        self.bucket = TokenBucket(qps, burst)
        self._session: aiohttp.ClientSession | None = None
        self._dir = tempfile.mkdtemp(prefix="cni-operator-target-")  # mode 0700
        try:
            self.configuration = self._configuration()
            if self.configuration.proxy and urlsplit(self.configuration.proxy).scheme not in ("http", "https"):
                raise CredentialsError(MALFORMED, f"the kubeconfig's proxy-url {self.configuration.proxy} is not an "
                                       "http:// or https:// proxy, the only kinds the operator's watches can use")
            api = kubernetes.client.ApiClient(self.configuration)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        api.user_agent = user_agent
        self.kube: Kube = _LimitedKube(api, timeout, self.bucket)

    # ---- building

    def _private_file(self, name: str, data: bytes) -> str:
        path = os.path.join(self._dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def _configuration(self) -> kubernetes.client.Configuration:
        configuration = kubernetes.client.Configuration()
        creds = self.creds
        if creds.kubeconfig:  # the opt-in: exec, auth-provider and file references need the loader
            kubernetes.config.load_kube_config_from_dict(creds.kubeconfig, context=creds.context,
                                                         client_configuration=configuration, persist_config=False,
                                                         temp_file_path=self._dir)
        else:
            configuration.host = self.server
            if creds.certificate_authority_data:
                configuration.ssl_ca_cert = self._private_file("ca.crt", creds.certificate_authority_data)
            if creds.client_certificate_data and creds.client_key_data:
                configuration.cert_file = self._private_file("client.crt", creds.client_certificate_data)
                configuration.key_file = self._private_file("client.key", creds.client_key_data)
            if creds.token:
                configuration.api_key = {"BearerToken": creds.token}
                configuration.api_key_prefix = {"BearerToken": "Bearer"}
            configuration.tls_server_name = creds.tls_server_name
            configuration.proxy = creds.proxy_url
        if creds.insecure_skip_tls_verify:
            configuration.verify_ssl = False
        configuration.connection_pool_maxsize = POOL_PER_TARGET
        # One attempt per call, bounded by the timeout: urllib3's default of 3 retries would hold a session thread
        # 4 timeouts long on a stopped server. The session retries on its own schedule (and knows why).
        configuration.retries = False
        return configuration

    def _ssl_context(self) -> ssl.SSLContext:
        configuration = self.configuration
        if not configuration.verify_ssl:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)  # None: the system's roots
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        return context

    def _authorization(self) -> dict[str, str]:
        """The Authorization header, if any: from the configuration each time, so a token the loader refreshes
        (the opt-in's exec plugin) is current."""
        value = (self.configuration.auth_settings().get("BearerToken") or {}).get("value")
        return {"Authorization": value} if value else {}

    # ---- asyncio side

    def session(self) -> aiohttp.ClientSession:
        """This target's aiohttp session, made on first use inside the running event loop (call it from there)."""
        asyncio.get_running_loop()  # RuntimeError outside a loop: a session belongs to one loop
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, ssl=self._ssl_context())
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False,
                headers={"User-Agent": self.user_agent, "Accept": "application/json", **self._authorization()},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout))
        return self._session

    def url(self, path: str) -> str:
        return self.server + path  # the server URL may have a path of its own (a proxy in front of the API)

    async def request(self, method: str, path: str, *, params=None, timeout: aiohttp.ClientTimeout | None = None,
                      ) -> aiohttp.ClientResponse:
        """METHOD PATH through this target's session after a token of its bucket; the caller releases the response
        (`async with`). TIMEOUT replaces the session's (connect and read: self.timeout each)."""
        await self.bucket.take_async()
        return await self._send(method, path, params=params, timeout=timeout)

    async def _send(self, method: str, path: str, *, params=None, timeout: aiohttp.ClientTimeout | None = None,
                    ) -> aiohttp.ClientResponse:
        kwargs = {"timeout": timeout} if timeout is not None else {}
        return await self.session().request(
            method, self.url(path), params=params, headers=self._authorization(), proxy=self.configuration.proxy,
            server_hostname=self.configuration.tls_server_name or None, **kwargs)

    async def probe(self, timeout: float) -> Reach:
        """One authenticated GET (PROBE_PATH), bounded by TIMEOUT seconds once its token is taken: OK, or why not."""
        await self.bucket.take_async()  # outside the deadline: a busy target's queue is not a slow server
        try:
            async with asyncio.timeout(timeout):
                response = await self._send("GET", PROBE_PATH, params=PROBE_QUERY,
                                            timeout=aiohttp.ClientTimeout(total=timeout))
                async with response:
                    await raise_for_status(response)
                    await response.read()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is a Reach: classify says which
            return classify(exc, self.server)
        return OK

    # ---- closing

    async def close(self) -> None:
        """Close both clients and remove the credential files. Idempotent."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        await asyncio.to_thread(self.kube.api.close)
        shutil.rmtree(self._dir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """KubeError(status, reason, message) for an answer >= 400, from the Status object the API server sends."""
    if response.status < 400:
        return
    raw = await response.read()
    try:
        status = json.loads(raw)
        reason, message = status.get("reason", ""), status.get("message", "")
    except (ValueError, AttributeError):
        reason, message = response.reason or "", raw.decode(errors="replace")[:500]
    raise KubeError(response.status, reason, message)
