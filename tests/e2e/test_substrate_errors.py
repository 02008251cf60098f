"""The three ways the substrate fails for a newcomer each end in one clear message that says what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.harness.repo import REPO


def _run(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_missing_go_toolchain(tmp_path: Path):
    # An empty cache forces a build; a PATH without Go makes it impossible.
    result = _run(["hack/toolchain.py", "build", "etcd"], {"CNI_OPERATOR_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert "Go toolchain not found" in line and "make tools" in line and "ETCD_BIN" in line, line


def test_failed_build_names_its_log(tmp_path: Path):
    # No module proxy and an empty module cache: the build itself fails.
    result = _run(["hack/toolchain.py", "build", "etcd"],
                  {"CNI_OPERATOR_CACHE": str(tmp_path), "GOMODCACHE": str(tmp_path / "mod"), "GOPROXY": "off"})
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    log = tmp_path / "logs" / line.split("full log: ")[1].split(". ")[0].rsplit("/", 1)[1]
    assert "building etcd" in line and "failed" in line and log.is_file(), line
    assert "GOPROXY=off" in log.read_text()


def test_port_clash_names_the_component(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(["hack/localcluster.py", "up", "--apiserver-port", str(port)],
                      {"CNI_OPERATOR_CLUSTER_DIR": str(tmp_path / "cluster")})
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert f"port {port}" in line and "kube-apiserver" in line and "--apiserver-port" in line, line
