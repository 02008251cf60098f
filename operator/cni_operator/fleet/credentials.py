"""Which kubeconfigs fleet mode may use to reach a target cluster, and what it takes from them (pure).

A RemoteClusterNetwork points at a kubeconfig in a Secret; whoever may write that Secret decides what the operator
does with it. A kubeconfig is a program as much as data: `exec` and `auth-provider` run commands (or plugins) inside
the operator's pod, a file reference (client-certificate, client-key, certificate-authority, tokenFile) reads the
operator's own files (its ServiceAccount token, sent to a server of the writer's choosing), and
`insecure-skip-tls-verify` or an http:// server hands the credentials to whoever is on the path. So only inline data
is accepted (certificate-authority-data, client-certificate-data + client-key-data, token), unless the operator was
started with an explicit opt-in (`allow_unsafe`), and then each unsafe field is still listed for a warning.

Every refusal is a CredentialsError with a reason (the future `CredentialsValid` condition's) and a message naming
the field and what to do. Only the current context is read: other contexts, clusters and users are ignored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

# The reasons of condition CredentialsValid=False. The first three need the management cluster's API (the operator
# side, not built yet); the rest are decided here.
SECRET_NOT_FOUND = "SecretNotFound"
CLUSTER_NOT_FOUND = "ClusterNotFound"
SECRET_KEY_MISSING = "SecretKeyMissing"
MALFORMED = "MalformedKubeconfig"
UNSAFE = "UnsafeKubeconfig"
UNAUTHORIZED = "Unauthorized"  # the target answered 401
FORBIDDEN = "Forbidden"  # the target answered 403

OPT_IN_FLAG = "--allow-unsafe-kubeconfigs"
_FIX = (
    "use a kubeconfig with inline credentials only: a token (or client-certificate-data and client-key-data) of the "
    "identity `cni-operator target-rbac` prints, and certificate-authority-data"
)

# User fields that reference a file or run something, with what they do; each is refused unless allowed.
_UNSAFE_USER_FIELDS = {
    "exec": "runs a command inside the operator's pod",
    "auth-provider": "runs an authentication plugin inside the operator's pod",
    "client-certificate": "reads a file from the operator's pod",
    "client-key": "reads a file from the operator's pod",
    "tokenFile": "reads a file from the operator's pod (such as its own ServiceAccount token)",
    "username": "sends a password (basic authentication, which Kubernetes no longer serves)",
    "password": "sends a password (basic authentication, which Kubernetes no longer serves)",
    "as": "impersonates another identity, which needs the right to impersonate in the target",
    "as-uid": "impersonates another identity, which needs the right to impersonate in the target",
    "as-groups": "impersonates other groups, which needs the right to impersonate in the target",
    "as-user-extra": "impersonates another identity, which needs the right to impersonate in the target",
}
_UNSAFE_CLUSTER_FIELDS = {
    "certificate-authority": "reads a file from the operator's pod",
}


class CredentialsError(ValueError):
    """A kubeconfig the operator will not use: REASON (CamelCase, for the condition) and a message in words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class TargetCredentials:
    """What the operator needs to reach one target, taken from the current context of its kubeconfig."""

    context: str
    server: str
    certificate_authority_data: bytes | None = None  # PEM; None: the system's trust roots
    client_certificate_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = field(default=None, repr=False)
    tls_server_name: str | None = None
    proxy_url: str | None = None
    insecure_skip_tls_verify: bool = False  # only ever True with the opt-in
    # The whole kubeconfig, for the opt-in only: exec and auth-provider need a kubeconfig loader, not these fields.
    kubeconfig: dict = field(default_factory=dict, repr=False)
    # Unsafe fields accepted because the operator was started with the opt-in, in words (for a warning).
    allowed_unsafe: tuple[str, ...] = ()


def from_secret_data(data: Mapping[str, str] | None, key: str, *, secret: str,
                     allow_unsafe: bool = False) -> TargetCredentials:
    """The credentials in key KEY of a Secret's data (base64 values, as the API returns them), or CredentialsError."""
    data = data or {}
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise CredentialsError(SECRET_KEY_MISSING, f"Secret {secret} has no key {key!r} (its keys: {keys}); set "
                               "spec.target.kubeconfigSecretRef.key to the key that holds the kubeconfig")
    try:
        text = base64.b64decode(data[key], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise CredentialsError(MALFORMED, f"Secret {secret} key {key!r} is not base64-encoded UTF-8 text; store "
                               "the kubeconfig file as it is (kubectl create secret generic --from-file)") from None
    return parse(text, source=f"Secret {secret} key {key!r}", allow_unsafe=allow_unsafe)


def parse(text: str, *, source: str = "the kubeconfig", allow_unsafe: bool = False) -> TargetCredentials:
    """The credentials of the current context of kubeconfig TEXT, or CredentialsError naming the field."""
    def malformed(what: str) -> CredentialsError:
        return CredentialsError(MALFORMED, f"{source}: {what}")

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise malformed(f"is not valid YAML{where}; store a kubeconfig file as kubectl writes it") from None
    if not isinstance(config, dict):
        raise malformed("is not a kubeconfig (a YAML mapping with clusters, users, contexts and current-context)")
    if config.get("kind", "Config") != "Config":
        raise malformed(f"has kind {config.get('kind')!r}; a kubeconfig has kind Config")
    current = config.get("current-context")
    if not current or not isinstance(current, str):
        raise malformed("has no current-context; set it to the context the operator should use "
                        "(kubectl config use-context NAME --kubeconfig FILE)")
    context = _named(config, "contexts", "context", current, source)
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not cluster_name or not user_name:
        missing = "cluster" if not cluster_name else "user"
        raise malformed(f"context {current!r} names no {missing}; a context names both a cluster and a user")
    cluster = _named(config, "clusters", "cluster", cluster_name, source)
    user = _named(config, "users", "user", user_name, source)

    unsafe: list[str] = []
    for name, why in _UNSAFE_CLUSTER_FIELDS.items():
        if cluster.get(name):
            unsafe.append(f"clusters[{cluster_name}].cluster.{name} {why}")
    insecure = cluster.get("insecure-skip-tls-verify") not in (None, False, "false", "")
    if insecure:
        unsafe.append(f"clusters[{cluster_name}].cluster.insecure-skip-tls-verify turns off the check of the "
                      "server's certificate, so anyone on the path can take the credentials")
    for name, why in _UNSAFE_USER_FIELDS.items():
        if user.get(name):
            unsafe.append(f"users[{user_name}].user.{name} {why}")

    server = cluster.get("server")
    if not server or not isinstance(server, str):
        raise malformed(f"clusters[{cluster_name}].cluster.server is missing; set the target API server's URL, "
                        "such as https://10.0.0.1:6443")
    url = urlsplit(server)
    if url.scheme == "http":
        unsafe.append(f"clusters[{cluster_name}].cluster.server {server} is plain http, so the credentials cross "
                      "the network unencrypted")
    elif url.scheme != "https" or not url.hostname:
        raise malformed(f"clusters[{cluster_name}].cluster.server {server!r} is not an https:// URL with a host")
    if unsafe and not allow_unsafe:
        raise CredentialsError(UNSAFE, f"{source}: {'; '.join(unsafe)}. Refused: {_FIX}; or start the operator "
                               f"with {OPT_IN_FLAG} if you trust every writer of these Secrets")

    where_ca = f"clusters[{cluster_name}].cluster.certificate-authority-data"
    where_user = f"users[{user_name}].user"
    ca = _pem(cluster.get("certificate-authority-data"), where_ca, source)
    cert = _pem(user.get("client-certificate-data"), f"{where_user}.client-certificate-data", source)
    key = _pem(user.get("client-key-data"), f"{where_user}.client-key-data", source)
    if (cert is None) != (key is None):
        given, lacking = ("client-certificate-data", "client-key-data") if key is None else (
            "client-key-data", "client-certificate-data")
        raise malformed(f"{where_user} has {given} but no {lacking}; a client certificate needs both")
    token = user.get("token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise malformed(f"{where_user}.token is empty; set the ServiceAccount token, or remove the field")
    usable_unsafe = allow_unsafe and any(user.get(name) for name in _UNSAFE_USER_FIELDS)
    if cert is None and token is None and not usable_unsafe:
        raise malformed(f"{where_user} holds no credentials; {_FIX}")
    return TargetCredentials(
        context=current,
        server=server,
        certificate_authority_data=ca,
        client_certificate_data=cert,
        client_key_data=key,
        token=token,
        tls_server_name=cluster.get("tls-server-name") or None,
        proxy_url=cluster.get("proxy-url") or None,
        insecure_skip_tls_verify=insecure,
        kubeconfig=config if unsafe else {},
        allowed_unsafe=tuple(unsafe),
    )


def _named(config: dict, section: str, inner: str, name: str, source: str) -> dict[str, Any]:
    """The `inner` mapping of the entry called NAME in list SECTION (contexts, clusters, users)."""
    entries = config.get(section)
    if not isinstance(entries, list):
        raise CredentialsError(MALFORMED, f"{source}: has no {section} list, which {name!r} should be in")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(inner)
            if not isinstance(body, dict):
                raise CredentialsError(MALFORMED, f"{source}: {section}[{name}] has no {inner} mapping")
            return body
    known = ", ".join(str(e.get("name")) for e in entries if isinstance(e, dict)) or "none"
    raise CredentialsError(MALFORMED, f"{source}: {section} has no entry named {name!r} (it has: {known})")


def _pem(value: Any, where: str, source: str) -> bytes | None:
    """A base64 PEM field decoded, or None when absent; anything else is MalformedKubeconfig naming WHERE."""
    if value in (None, ""):
        return None
    try:
        decoded = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialsError(MALFORMED, f"{source}: {where} is not base64; it holds the PEM file base64-encoded "
                               "(base64 -w0 FILE)") from None
    if b"-----BEGIN " not in decoded:
        raise CredentialsError(MALFORMED, f"{source}: {where} is not a PEM certificate or key once decoded")
    return decoded
