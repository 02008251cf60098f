"""Which kubeconfigs fleet mode accepts for a target (fleet/credentials.py): inline credentials only, every unsafe
or malformed one refused with its reason and a message naming the field and what to do, unless explicitly allowed.
"""

from __future__ import annotations

import base64
import copy

import pytest
import yaml
from cni_operator.fleet import credentials as c

CA = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcfake\n-----END EC PRIVATE KEY-----\n"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def kubeconfig(**user) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "t1",
        "contexts": [{"name": "t1", "context": {"cluster": "t1", "user": "operator"}},
                     {"name": "other", "context": {"cluster": "other", "user": "admin"}}],
        "clusters": [{"name": "t1", "cluster": {"server": "https://10.0.0.1:6443",
                                                "certificate-authority-data": b64(CA)}},
                     # Not the current context's: never read, even though it is unsafe.
                     {"name": "other", "cluster": {"server": "http://evil", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "operator", "user": user or {"token": "abc.def"}},
                  {"name": "admin", "user": {"exec": {"command": "rm"}}}],
    }


def parse(config: dict, **kwargs) -> c.TargetCredentials:
    return c.parse(yaml.safe_dump(config), source="Secret t1-kubeconfig key 'value'", **kwargs)


def refused(config: dict | str, reason: str, *words: str, **kwargs) -> str:
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    with pytest.raises(c.CredentialsError) as exc:
        c.parse(text, source="Secret t1-kubeconfig key 'value'", **kwargs)
    assert exc.value.reason == reason, exc.value.message
    for word in words:
        assert word in exc.value.message, exc.value.message
    assert exc.value.message.startswith("Secret t1-kubeconfig key 'value': ")
    return exc.value.message


def cluster_of(config: dict) -> dict:
    return config["clusters"][0]["cluster"]


def user_of(config: dict) -> dict:
    return config["users"][0]["user"]


# ---------------------------------------------------------------- accepted


def test_token_and_inline_ca_are_taken_from_the_current_context_only():
    got = parse(kubeconfig())
    assert (got.context, got.server, got.token) == ("t1", "https://10.0.0.1:6443", "abc.def")
    assert got.certificate_authority_data == CA and got.client_certificate_data is None
    assert got.allowed_unsafe == ()
    assert "abc.def" not in repr(got)  # a token never reaches a log line through repr


def test_inline_client_certificate():
    got = parse(kubeconfig(**{"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}))
    assert (got.client_certificate_data, got.client_key_data, got.token) == (CERT, KEY, None)


def test_no_ca_means_the_system_trust_roots_and_tls_server_name_is_kept():
    config = kubeconfig()
    del cluster_of(config)["certificate-authority-data"]
    cluster_of(config)["tls-server-name"] = "api.t1"
    got = parse(config)
    assert got.certificate_authority_data is None and got.tls_server_name == "api.t1"


def test_from_secret_data_decodes_the_key():
    data = {"value": b64(yaml.safe_dump(kubeconfig())), "other": b64("x")}
    assert c.from_secret_data(data, "value", secret="tenant-a/t1-kubeconfig").server == "https://10.0.0.1:6443"


# ---------------------------------------------------------------- unsafe: refused unless allowed

UNSAFE_USERS = {
    "exec": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws"}},
    "auth-provider": {"auth-provider": {"name": "oidc", "config": {}}},
    "client-certificate": {"client-certificate": "/etc/cert.pem", "client-key-data": b64(KEY)},
    "client-key": {"client-certificate-data": b64(CERT), "client-key": "/etc/key.pem"},
    "tokenFile": {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
    "username": {"username": "admin", "password": "secret"},
    "as": {"token": "abc", "as": "system:admin"},
    "as-groups": {"token": "abc", "as-groups": ["system:masters"]},
}


@pytest.mark.parametrize("field", sorted(UNSAFE_USERS))
def test_unsafe_user_fields_are_refused_naming_the_field(field):
    message = refused(kubeconfig(**UNSAFE_USERS[field]), c.UNSAFE, f"users[operator].user.{field} ",
                      "cni-operator target-rbac", c.OPT_IN_FLAG)
    assert "users[admin]" not in message  # another context's user is never read


@pytest.mark.parametrize("field, value, words", [
    ("certificate-authority", "/etc/ca.pem", "reads a file"),
    ("insecure-skip-tls-verify", True, "turns off the check of the server's certificate"),
    ("server", "http://10.0.0.1:8080", "plain http"),
])
def test_unsafe_cluster_fields_are_refused_naming_the_field(field, value, words):
    config = kubeconfig()
    cluster_of(config)[field] = value
    refused(config, c.UNSAFE, f"clusters[t1].cluster.{field}", words, "Refused: use a kubeconfig with inline")


def test_every_unsafe_field_is_named_at_once():
    config = kubeconfig(exec={"command": "x"}, tokenFile="/t")
    cluster_of(config)["insecure-skip-tls-verify"] = True
    message = refused(config, c.UNSAFE)
    assert all(f in message for f in ("user.exec", "user.tokenFile", "cluster.insecure-skip-tls-verify"))


def test_the_opt_in_accepts_unsafe_fields_and_lists_them():
    config = kubeconfig(exec={"command": "aws"})
    cluster_of(config)["insecure-skip-tls-verify"] = True
    got = parse(config, allow_unsafe=True)
    assert got.token is None and got.insecure_skip_tls_verify is True
    assert got.kubeconfig["users"][0]["user"]["exec"] == {"command": "aws"}  # for a kubeconfig loader
    assert [s.split(" ")[0] for s in got.allowed_unsafe] == [
        "clusters[t1].cluster.insecure-skip-tls-verify", "users[operator].user.exec"]


def test_insecure_skip_tls_verify_false_is_safe_and_a_string_true_is_not():
    config = kubeconfig()
    cluster_of(config)["insecure-skip-tls-verify"] = False
    got = parse(config)
    assert got.allowed_unsafe == () and got.insecure_skip_tls_verify is False and got.kubeconfig == {}
    cluster_of(config)["insecure-skip-tls-verify"] = "true"
    refused(config, c.UNSAFE, "insecure-skip-tls-verify")


# ---------------------------------------------------------------- malformed: refused always


def without(path: list, config: dict | None = None) -> dict:
    config = copy.deepcopy(config or kubeconfig())
    node = config
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return config


@pytest.mark.parametrize("config, words", [
    ("{not: [yaml", "is not valid YAML at line"),
    ("just a string", "is not a kubeconfig"),
    ({**kubeconfig(), "kind": "Secret"}, "has kind 'Secret'"),
    (without(["current-context"]), "has no current-context; set it"),
    ({**kubeconfig(), "current-context": "nope"}, "contexts has no entry named 'nope' (it has: t1, other)"),
    (without(["contexts", 0, "context", "user"]), "context 't1' names no user"),
    (without(["clusters"]), "has no clusters list"),
    ({**kubeconfig(), "users": [{"name": "someone", "user": {"token": "x"}}]}, "users has no entry named 'operator'"),
    ({**kubeconfig(), "users": [{"name": "operator"}]}, "users[operator] has no user mapping"),
    (without(["clusters", 0, "cluster", "server"]), "clusters[t1].cluster.server is missing"),
    ({**kubeconfig(), "clusters": [{"name": "t1", "cluster": {"server": "ftp://x"}}]}, "is not an https:// URL"),
    ({**kubeconfig(), "clusters": [{"name": "t1", "cluster": {"server": "https://x",
                                                              "certificate-authority-data": "%%%"}}]},
     "certificate-authority-data is not base64"),
    ({**kubeconfig(), "clusters": [{"name": "t1", "cluster": {"server": "https://x",
                                                              "certificate-authority-data": b64("hello")}}]},
     "certificate-authority-data is not a PEM"),
    (kubeconfig(**{"client-certificate-data": b64(CERT)}), "has client-certificate-data but no client-key-data"),
    (kubeconfig(**{"client-key-data": b64(KEY)}), "has client-key-data but no client-certificate-data"),
    (kubeconfig(token="  "), "users[operator].user.token is empty"),
    (kubeconfig(**{"tls-server-name": "x"}), "users[operator].user holds no credentials"),
])
def test_malformed_kubeconfigs_are_refused_naming_the_problem(config, words):
    refused(config, c.MALFORMED, words)
    refused(config, c.MALFORMED, words, allow_unsafe=True)  # the opt-in is about safety, not shape


def test_a_missing_key_names_the_keys_there_are():
    with pytest.raises(c.CredentialsError) as exc:
        c.from_secret_data({"kubeconfig": b64("x"), "ca": b64("y")}, "value", secret="tenant-a/t1")
    assert exc.value.reason == c.SECRET_KEY_MISSING
    assert exc.value.message == ("Secret tenant-a/t1 has no key 'value' (its keys: ca, kubeconfig); set "
                                 "spec.target.kubeconfigSecretRef.key to the key that holds the kubeconfig")
    with pytest.raises(c.CredentialsError, match="its keys: none"):
        c.from_secret_data(None, "value", secret="tenant-a/t1")


def test_data_that_is_not_base64_text_is_malformed():
    for value in ("not base64!", b64(b"\xff\xfe")):
        with pytest.raises(c.CredentialsError) as exc:
            c.from_secret_data({"value": value}, "value", secret="tenant-a/t1")
        assert exc.value.reason == c.MALFORMED and "kubectl create secret generic --from-file" in exc.value.message
