"""kopf_runner: a kopf operator inside the test process (kopf's KopfRunner), for the substrate test only
(test_substrate.py: does kopf itself work against this control plane, under a ServiceAccount's RBAC?). The
operator under test never runs this way: its tests start `cni-operator run` as a separate process
(tests/harness/operator.py, the start_operator fixture).

    kopf_runner   function  kopf_runner(kubeconfig, *, namespaces=(), registry=None, settings=None,
                                        modules=(), paths=(), args=(), timeout=60, reraise=True)
                            -> context manager yielding kopf.testing.KopfRunner

How the kubeconfig reaches kopf. kopf authenticates through login handlers. With the `kubernetes` library installed
its only default is `login_via_client`, which asks that library for its *default* kubeconfig, a location computed at
import time (so setting KUBECONFIG later does nothing) and then rewrites the library's global default configuration.
A test needs a specific identity (a ServiceAccount kubeconfig from `sa_kubeconfig`) and must not disturb its own
admin clients, so:
  * a login handler registered on the registry (`kopf.on.login`, a regular non-fallback handler, so kopf's
    fallbacks stay out of the way) returns `kopf.login_with_kubeconfig()` for the kubeconfig of the running
    operator, with a priority above anything else the operator code registers; outside kopf_runner it behaves like
    kopf's default (`kopf.login_via_client`);
  * for the duration of the run KUBECONFIG and the kubernetes library's default kubeconfig location point at the
    same file, so operator code that builds its own client with `kubernetes.config.load_kube_config()` acts as the
    same identity as kopf itself.
One operator at a time: the identity is process-wide while a runner is active.

RBAC kopf needs for itself, even when run with --namespace: get/list/watch on customresourcedefinitions and on
namespaces (cluster-wide). Without them kopf retries with backoff for ~50s before it serves any resource, which shows
up as a slow test, not a failure. Add create on events to see kopf's per-object events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner
from kubernetes.config import kube_config

# Above kopf's own piggybacking priorities (10-20) and anything an operator plausibly sets for its own login.
TEST_LOGIN_PRIORITY = 10_000

_active: dict[str, str] = {}  # {"kubeconfig": path} while a kopf_runner is running
# Registries that carry our login handler, compared by identity (registries do not define equality).
_registered: list[kopf.OperatorRegistry] = []


def _test_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    if "kubeconfig" not in _active:
        return kopf.login_via_client(**kwargs)
    # KUBECONFIG is set to _active["kubeconfig"] while the runner is active: kopf's own parser reads it.
    info = kopf.login_with_kubeconfig(**kwargs)
    return dataclasses.replace(info, priority=TEST_LOGIN_PRIORITY) if info else None


def _ensure_login_handler(registry: kopf.OperatorRegistry) -> None:
    if not any(r is registry for r in _registered):
        kopf.on.login(registry=registry, id="cni-operator-tests-login")(_test_login)
        _registered.append(registry)


@contextlib.contextmanager
def run_kopf(
    kubeconfig: Path | str,
    *,
    namespaces: Sequence[str] = (),
    registry: kopf.OperatorRegistry | None = None,
    settings: kopf.OperatorSettings | None = None,
    modules: Sequence[str] = (),
    paths: Sequence[str] = (),
    args: Sequence[str] = (),
    timeout: float = 60,
    reraise: bool = True,
) -> Iterator[KopfRunner]:
    """Run `kopf run --standalone` in a thread as the identity in KUBECONFIG; stop it when the block ends.

    Handlers come from REGISTRY (default: kopf's global registry, where `@kopf.on...` in imported modules land),
    and/or from MODULES (-m) and PATHS. Without NAMESPACES the operator is cluster-wide. On exit, an exception in
    the operator is re-raised (reraise=True), so a crashing operator fails the test.
    """
    if _active:
        raise RuntimeError(f"an operator is already running as {_active['kubeconfig']}; run one at a time")
    kubeconfig = str(Path(kubeconfig).resolve())
    registry = registry if registry is not None else kopf.get_default_registry()
    _ensure_login_handler(registry)
    cli = ["run", "--standalone"]
    cli += [f"--namespace={ns}" for ns in namespaces] or ["--all-namespaces"]
    for m in modules:
        cli += ["-m", m]
    cli += [*args, *map(str, paths)]

    saved_env, saved_default = os.environ.get("KUBECONFIG"), kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = kubeconfig
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig
    _active["kubeconfig"] = kubeconfig
    try:
        with KopfRunner(
            cli, registry=registry, settings=settings, timeout=timeout, reraise=reraise
        ) as runner:
            yield runner
    finally:
        _active.clear()
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved_default
        if saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved_env


@pytest.fixture
def kopf_runner() -> Callable[..., contextlib.AbstractContextManager[KopfRunner]]:
    """Factory for run_kopf (see above); use as `with kopf_runner(kubeconfig, namespaces=[ns]) as runner:`."""
    return run_kopf
