#!/usr/bin/env python3
"""Build (or reuse) the local control plane binaries and the kstatus test tool from Go wrappers in hack/go/.

    python3 hack/toolchain.py build [COMPONENT ...]   build what is missing or out of date
    python3 hack/toolchain.py path BINARY             print where BINARY comes from (env override or cache)
    python3 hack/toolchain.py list                    every binary, its version and where it resolves

Binaries land in ~/.cache/cni-operator/bin/<component>-<version>/ (override the root with CNI_OPERATOR_CACHE).
The version of each component is read from its hack/go/<component>/go.mod: that is the only place it is pinned.
A component is rebuilt when its pinned version changes, or when its go.sum changes (a dependency bump without a
version bump must not leave a stale binary behind), or, for a wrapper with code of its own (kstatus), its .go.

Every binary can be replaced by a prebuilt one with an environment variable (KUBE_APISERVER_BIN, ETCD_BIN, ...);
a component whose binaries are all overridden is not built at all, so a machine without Go can still run the suite.

Standard library only: `make tools` runs this with the system python3, before any venv exists.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GO_DIR = REPO / "hack" / "go"

# Bump when the build recipe below changes in a way that must invalidate cached binaries.
RECIPE = 1

# A progress line at least this often, so a 5-minute compile never looks hung.
PROGRESS_EVERY_S = 20.0


@dataclass(frozen=True)
class Binary:
    name: str  # file name of the binary
    package: str  # Go package to build, relative to the wrapper module
    env: str  # environment variable that overrides the path


@dataclass(frozen=True)
class Component:
    name: str
    module: str  # the upstream module whose version is the component's version
    binaries: tuple[Binary, ...]
    extra_files: tuple[str, ...] = field(default=())  # written next to the binaries at build time
    # The wrapper has code of its own (not just a main calling upstream): rebuilt when its *.go files change.
    own_code: bool = False

    @property
    def dir(self) -> Path:
        return GO_DIR / self.name


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "kubernetes",
            "k8s.io/kubernetes",
            (
                Binary("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", "KUBE_APISERVER_BIN"),
                Binary(
                    "kube-controller-manager",
                    "k8s.io/kubernetes/cmd/kube-controller-manager",
                    "KUBE_CONTROLLER_MANAGER_BIN",
                ),
                Binary("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", "KUBE_SCHEDULER_BIN"),
                Binary("kubectl", "k8s.io/kubernetes/cmd/kubectl", "KUBECTL_BIN"),
            ),
        ),
        Component("etcd", "go.etcd.io/etcd/server/v3", (Binary("etcd", ".", "ETCD_BIN"),)),
        Component(
            "kwok",
            "sigs.k8s.io/kwok",
            (Binary("kwok", "sigs.k8s.io/kwok/cmd/kwok", "KWOK_BIN"),),
            extra_files=("kwok-stages.yaml",),
        ),
        Component("helm", "helm.sh/helm/v3", (Binary("helm", "helm.sh/helm/v3/cmd/helm", "HELM_BIN"),)),
        # Not part of the control plane: a test tool printing kstatus's verdict (Current, InProgress, Failed,
        # ...) on one object, as Flux and cli-utils compute it. Its version is the cli-utils version.
        Component(
            "kstatus", "sigs.k8s.io/cli-utils", (Binary("kstatus", ".", "KSTATUS_BIN"),), own_code=True
        ),
    )
}
BINARIES: dict[str, tuple[Component, Binary]] = {
    b.name: (c, b) for c in COMPONENTS.values() for b in c.binaries
}

# kwok's own defaults for a fast cluster, as kwokctl assembles them: nodes become Ready at once and keep a lease,
# pods go Running+Ready at once, Job pods complete, deleted pods are removed (there is no kubelet to do it).
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


class ToolchainError(Exception):
    """One clear, actionable message; main() prints it and exits non-zero."""


def cache_root() -> Path:
    return Path(os.environ.get("CNI_OPERATOR_CACHE", Path.home() / ".cache" / "cni-operator"))


def pinned_version(component: Component) -> str:
    """The version of the component's upstream module, from its wrapper go.mod (single or block require)."""
    gomod = component.dir / "go.mod"
    text = gomod.read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(component.module)}\s+(v\S+)", text, re.MULTILINE)
    if not m:
        raise ToolchainError(
            f"{gomod} does not require {component.module}; cannot tell which version to build."
        )
    return m.group(1)


def go_directive(component: Component) -> str:
    m = re.search(r"^go\s+(\S+)", (component.dir / "go.mod").read_text(), re.MULTILINE)
    return m.group(1) if m else "0"


def bin_dir(component: Component) -> Path:
    return cache_root() / "bin" / f"{component.name}-{pinned_version(component)}"


def build_log(component: Component) -> Path:
    return cache_root() / "logs" / f"build-{component.name}-{pinned_version(component)}.log"


def resolve(binary: str) -> Path:
    """Where BINARY comes from: its environment variable if set, else the cache. Does not build."""
    if binary not in BINARIES:
        raise ToolchainError(f"unknown binary {binary!r}; known: {', '.join(BINARIES)}")
    component, b = BINARIES[binary]
    override = os.environ.get(b.env)
    if override:
        return Path(override)
    return bin_dir(component) / b.name


def kwok_stages() -> Path:
    """kwok's stage config: KWOK_STAGES if set, else next to the kwok binary, else in the kwok cache dir."""
    if os.environ.get("KWOK_STAGES"):
        return Path(os.environ["KWOK_STAGES"])
    beside = resolve("kwok").parent / "kwok-stages.yaml"
    return beside if beside.exists() else bin_dir(COMPONENTS["kwok"]) / "kwok-stages.yaml"


def _fingerprint(component: Component) -> dict:
    gosum = component.dir / "go.sum"
    fingerprint = {
        "version": pinned_version(component),
        "go.sum": hashlib.sha256(gosum.read_bytes()).hexdigest() if gosum.exists() else "",
        "recipe": RECIPE,
    }
    if component.own_code:
        digest = hashlib.sha256()
        for src in sorted(component.dir.glob("*.go")):
            digest.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
        fingerprint["sources"] = digest.hexdigest()
    return fingerprint


def is_current(component: Component) -> bool:
    d = bin_dir(component)
    stamp = d / ".stamp.json"
    if not stamp.exists():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    want = _fingerprint(component)
    files = [b.name for b in component.binaries] + list(component.extra_files)
    return all(recorded.get(k) == v for k, v in want.items()) and all((d / f).exists() for f in files)


def fully_overridden(component: Component) -> bool:
    return all(os.environ.get(b.env) for b in component.binaries)


def _ldflags(component: Component, version: str) -> str:
    """Version stamps the upstream release builds set, so `--version` prints the real version."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags: list[str] = ["-s", "-w"]  # no symbol tables: smaller binaries, faster links

    def x(var: str, val: str) -> None:
        flags.append(f"-X '{var}={val}'")

    if component.name == "kubernetes":
        major, minor = re.match(r"v(\d+)\.(\d+)", version).groups()  # type: ignore[union-attr]
        # Kubernetes' own hack/lib/version.sh stamps both packages; kubectl reports the client-go one.
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            x(f"{pkg}.gitVersion", version)
            x(f"{pkg}.gitMajor", major)
            x(f"{pkg}.gitMinor", minor)
            x(f"{pkg}.gitTreeState", "clean")
            x(f"{pkg}.buildDate", now)
            # The module proxy does not tell us the commit; say so instead of leaving a $Format placeholder.
            x(f"{pkg}.gitCommit", "unknown")
    elif component.name == "kwok":
        x("sigs.k8s.io/kwok/pkg/consts.Version", version.lstrip("v"))
        x("sigs.k8s.io/kwok/pkg/consts.KubeVersion", pinned_version(COMPONENTS["kubernetes"]).lstrip("v"))
    elif component.name == "helm":
        x("helm.sh/helm/v3/internal/version.version", version)
        x("helm.sh/helm/v3/internal/version.gitTreeState", "clean")
        x("helm.sh/helm/v3/internal/version.gitCommit", "unknown")
        # helm's default .Capabilities.KubeVersion follows the client-go it was built with, like its Makefile does.
        m = re.search(
            r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.", (component.dir / "go.mod").read_text(), re.MULTILINE
        )
        if m:
            for pkg in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
                x(f"{pkg}.k8sVersionMajor", "1")
                x(f"{pkg}.k8sVersionMinor", m.group(1))
    elif component.name == "etcd":
        # etcd's version is a constant in go.etcd.io/etcd/api/v3/version, fixed by the module version itself;
        # only the commit is stamped, to replace the misleading "use ./build instead of go build" placeholder.
        x("go.etcd.io/etcd/api/v3/version.GitSHA", "unknown")
    return " ".join(flags)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # sum.golang.org is not reachable here; go.sum in each wrapper module is the integrity check.
        GOSUMDB="off",
        # Never download a different Go: the installed one is what we test with.
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=readonly -buildvcs=false",
    )
    return env


def _check_go(components: list[Component]) -> str:
    go = shutil.which("go")
    if not go:
        envs = ", ".join(b.env for c in components for b in c.binaries)
        raise ToolchainError(
            "Go toolchain not found on PATH. Install Go "
            f">= {max(go_directive(c) for c in components)} (https://go.dev/dl) and re-run `make tools`, "
            f"or point these variables at prebuilt binaries: {envs}."
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=_go_env(), check=False)
    have = out.stdout.strip().removeprefix("go")
    for c in components:
        need = go_directive(c)
        if _vkey(have) < _vkey(need):
            raise ToolchainError(
                f"{c.dir.relative_to(REPO)}/go.mod needs Go >= {need} but `go` is {have or 'unknown'}. "
                "Install a newer Go (https://go.dev/dl) and re-run `make tools`."
            )
    return go


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3]) or (0,)


def _write_kwok_stages(go: str, component: Component, out_dir: Path, log) -> None:
    """Concatenate kwok's default stages from the exact module version being built."""
    res = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", component.module],
        cwd=component.dir,
        capture_output=True,
        text=True,
        env=_go_env(),
        check=False,
    )
    log.write(res.stdout + res.stderr)
    src = Path(res.stdout.strip())
    if res.returncode != 0 or not src.is_dir():
        raise RuntimeError(f"cannot locate {component.module} source in the module cache")
    parts = [
        f"# kwok default stages from {component.module}@{pinned_version(component)} (generated by toolchain.py)"
    ]
    for rel in KWOK_STAGE_FILES:
        parts.append(f"---\n# {rel}\n" + (src / rel).read_text().strip() + "\n")
    (out_dir / "kwok-stages.yaml").write_text("\n".join(parts))


def build_component(go: str, component: Component) -> float:
    version = pinned_version(component)
    final = bin_dir(component)
    tmp = final.with_name(final.name + ".partial")
    logpath = build_log(component)
    logpath.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = [
        go,
        "build",
        "-trimpath",  # also what the shared build cache was warmed with: same flags, same cache keys
        "-ldflags",
        _ldflags(component, version),
        "-o",
        str(tmp) + os.sep,
        *[b.package for b in component.binaries],
    ]
    label = f"{component.name} {version}"
    print(
        f">> building {label} ({', '.join(b.name for b in component.binaries)}); log: {logpath}", flush=True
    )
    start = time.monotonic()
    with open(logpath, "w") as log:
        log.write(f"$ cd {component.dir} && {shlex.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=component.dir, env=_go_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    rc = proc.wait(timeout=PROGRESS_EVERY_S)
                    break
                except subprocess.TimeoutExpired:
                    print(f"   {label}: still building, {time.monotonic() - start:.0f}s", flush=True)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if rc == 0 and component.name == "kwok":
            try:
                _write_kwok_stages(go, component, tmp, log)
            except (OSError, RuntimeError) as e:
                log.write(f"\nwriting kwok-stages.yaml failed: {e}\n")
                rc = 1
    elapsed = time.monotonic() - start
    if rc != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = logpath.read_text().splitlines()[-15:]
        sys.stderr.write("\n".join("   | " + line for line in tail) + "\n")
        hint = ""
        if "proxy.golang.org" in "\n".join(tail) or "dial tcp" in "\n".join(tail):
            hint = " It looks like the Go module proxy is unreachable: check network access / GOPROXY."
        raise ToolchainError(
            f"building {label} failed after {elapsed:.0f}s (exit {rc}); full log: {logpath}.{hint} "
            f"Fix the cause and re-run `make tools`, or set {', '.join(b.env for b in component.binaries)} "
            "to prebuilt binaries."
        )
    (tmp / ".stamp.json").write_text(
        json.dumps({**_fingerprint(component), "built_in_s": round(elapsed)}) + "\n"
    )
    # Swap in atomically so an interrupted build never leaves a half-filled cache directory behind.
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    print(f">> built {label} in {elapsed:.0f}s -> {final}", flush=True)
    return elapsed


def cmd_build(names: list[str]) -> int:
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise ToolchainError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    selected = [COMPONENTS[n] for n in (names or COMPONENTS)]
    todo = []
    for c in selected:
        if fully_overridden(c):
            missing = [
                f"{b.env}={os.environ[b.env]}" for b in c.binaries if not Path(os.environ[b.env]).is_file()
            ]
            if missing:
                raise ToolchainError(
                    f"{', '.join(missing)}: no such file. Fix the variable or unset it to build."
                )
            print(f">> {c.name}: using prebuilt binaries from {', '.join(b.env for b in c.binaries)}")
        elif is_current(c):
            print(f">> {c.name} {pinned_version(c)}: up to date in {bin_dir(c)}")
        else:
            todo.append(c)
    if not todo:
        return 0
    go = _check_go(todo)
    total = time.monotonic()
    for c in todo:
        build_component(go, c)
    print(f">> toolchain ready ({time.monotonic() - total:.0f}s)")
    return 0


def cmd_path(binary: str) -> int:
    p = resolve(binary)
    if not p.exists():
        component, b = BINARIES[binary]
        if os.environ.get(b.env):
            raise ToolchainError(
                f"{b.env}={p}: no such file. Fix the variable, or unset it to use the cache."
            )
        raise ToolchainError(
            f"{binary} not found at {p}. Run `make tools` (builds {component.name}) or set {b.env}."
        )
    print(p)
    return 0


def cmd_list() -> int:
    for name, (component, b) in BINARIES.items():
        p = resolve(name)
        state = "env" if os.environ.get(b.env) else ("ok" if p.exists() else "missing")
        print(f"{name:24} {pinned_version(component):10} {state:8} {p}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build or reuse the binaries")
    b.add_argument("components", nargs="*", help=f"subset of: {', '.join(COMPONENTS)}")
    p = sub.add_parser("path", help="print the path of one binary")
    p.add_argument("binary", choices=sorted(BINARIES) + ["kwok-stages"])
    sub.add_parser("list", help="every binary with its version and resolved path")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "build":
            return cmd_build(args.components)
        if args.cmd == "path":
            if args.binary == "kwok-stages":
                print(kwok_stages())
                return 0
            return cmd_path(args.binary)
        return cmd_list()
    except ToolchainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
