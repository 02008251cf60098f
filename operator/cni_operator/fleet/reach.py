"""Whether one attempt to talk to a target cluster worked, and if not, why, in words (pure).

The per-target session turns a failed request into a status condition: `Reachable=False` with a reason a user can
act on (the server refused the connection, did not answer, showed a certificate the kubeconfig does not trust, ...),
or `CredentialsValid=False` when the server answered and refused the credentials (401) or the request (403).
`classify` looks at the exception a client raised (aiohttp, urllib3 under the kubernetes client, ssl, socket,
asyncio, or cni_operator.kube.KubeError) and the causes it wraps, and names only what it can see: anything it
cannot place is `ConnectionFailed` with the exception's own words.

No kubernetes client and no kopf here (the import-linter's "pure" contract): a KubeError is recognised by its integer
`status`, as the kubernetes client's ApiException and aiohttp's ClientResponseError are.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import urllib3.exceptions

# The reasons, CamelCase, as a condition's reason.
CONNECTION_REFUSED = "ConnectionRefused"
TIMEOUT = "Timeout"
TLS_ERROR = "TLSError"
NAME_RESOLUTION = "NameResolution"
UNAUTHORIZED = "Unauthorized"
FORBIDDEN = "Forbidden"
SERVER_ERROR = "ServerError"
CONNECTION_FAILED = "ConnectionFailed"
REASONS = (CONNECTION_REFUSED, TIMEOUT, TLS_ERROR, NAME_RESOLUTION, UNAUTHORIZED, FORBIDDEN, SERVER_ERROR,
           CONNECTION_FAILED)

_RBAC_FIX = "`cni-operator target-rbac --cluster-type TYPE` prints the identity and the roles it needs"


@dataclass(frozen=True)
class Reach:
    """The outcome of one attempt to talk to a target: OK, or the reason (one of REASONS) and a message."""

    ok: bool
    reason: str = ""
    message: str = ""

    @property
    def credentials_problem(self) -> bool:
        """The server answered and refused who we are (401) or what we asked (403): CredentialsValid=False, the
        target itself is reachable."""
        return self.reason in (UNAUTHORIZED, FORBIDDEN)


OK = Reach(True)


def classify(exc: BaseException, server: str) -> Reach:
    """Why talking to SERVER failed with EXC: the most telling cause found in EXC and what it wraps."""
    chain = list(causes(exc))
    for rule in (_http_status, _untrusted, _tls, _name_resolution, _refused, _timeout):
        for cause in chain:
            reach = rule(cause, server)
            if reach is not None:
                return reach
    root = chain[-1]
    return Reach(False, CONNECTION_FAILED, f"cannot talk to the API server {server}: {_words(root)}; check that "
                 "the server URL in the kubeconfig is the target's API server and that the operator can reach it")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """EXC, then what it wraps, depth first, each once: __cause__, __context__, urllib3's MaxRetryError.reason and
    ProxyError.original_error, aiohttp's ClientConnectorError.os_error."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, name, None) for name in ("reason", "original_error", "os_error")]
        inner += [current.__context__, current.__cause__]  # popped in reverse: the cause first
        stack.extend(e for e in inner if isinstance(e, BaseException) and id(e) not in seen)


def _words(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _http_status(exc: BaseException, server: str) -> Reach | None:
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or isinstance(status, bool) or status < 400:
        return None
    said = getattr(exc, "message", None) or str(exc)
    if status == 401:
        return Reach(False, UNAUTHORIZED, f"the API server {server} does not accept the credentials (401 "
                     "Unauthorized): the token expired or was revoked, or the client certificate is not signed by "
                     "the target's CA; put fresh credentials in the kubeconfig Secret (" + _RBAC_FIX + ")")
    if status == 403:
        return Reach(False, FORBIDDEN, f"the API server {server} accepts the credentials but refuses the request "
                     f"(403 Forbidden: {said}); grant the identity in the kubeconfig the roles it needs ("
                     + _RBAC_FIX + ", apply them in the target)")
    if status >= 500 or status == 429:
        return Reach(False, SERVER_ERROR, f"the API server {server} answered {status} ({said}): it is overloaded "
                     "or unhealthy (etcd, an aggregated API); the operator retries, check the API server if it lasts")
    return Reach(False, CONNECTION_FAILED, f"the API server {server} answered {status} ({said}), which the "
                 "operator does not expect there; check that the server URL in the kubeconfig is the target's API "
                 "server and not a proxy in front of something else")


def _untrusted(exc: BaseException, server: str) -> Reach | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        # aiohttp's ClientConnectorCertificateError is one too, without the words: ssl's own error is its cause.
        why = next((c.verify_message for c in causes(exc) if getattr(c, "verify_message", None)), _words(exc))
        return Reach(False, TLS_ERROR, f"the API server {server} shows a certificate the kubeconfig does not trust "
                     f"({why}); set certificate-authority-data to the CA that signed the target's API server "
                     "certificate (and tls-server-name if the certificate names another host)")
    return None


def _tls(exc: BaseException, server: str) -> Reach | None:
    if isinstance(exc, ssl.SSLError | urllib3.exceptions.SSLError | aiohttp.ClientSSLError):
        return Reach(False, TLS_ERROR, f"the TLS handshake with {server} failed ({_words(exc)}); check that the "
                     "server URL points at the API server's TLS port and that the client certificate (if any) is "
                     "the target's")
    return None


def _name_resolution(exc: BaseException, server: str) -> Reach | None:
    if isinstance(exc, socket.gaierror | urllib3.exceptions.NameResolutionError | aiohttp.ClientConnectorDNSError):
        return Reach(False, NAME_RESOLUTION, f"the host name of {server} does not resolve ({_words(exc)}); check the "
                     "server URL in the kubeconfig and the DNS the operator's pod uses")
    return None


def _refused(exc: BaseException, server: str) -> Reach | None:
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
        return Reach(False, CONNECTION_REFUSED, f"the API server {server} refused the connection: nothing listens "
                     "on that address and port (the API server is down or restarting, or the kubeconfig names the "
                     "wrong port); the operator retries")
    return None


def _timeout(exc: BaseException, server: str) -> Reach | None:
    # urllib3's NewConnectionError is a ConnectTimeoutError for history's sake: it is a timeout only when what it
    # wraps is (then that cause matches here by itself).
    is_urllib3_timeout = (isinstance(exc, urllib3.exceptions.TimeoutError)
                          and not isinstance(exc, urllib3.exceptions.NewConnectionError))
    if isinstance(exc, TimeoutError) or is_urllib3_timeout:
        return Reach(False, TIMEOUT, f"the API server {server} did not answer in time ({_words(exc)}): it is "
                     "stopped, overloaded, or something on the network path drops the packets; the operator "
                     "retries, check the API server and the path from the operator to it")
    return None
