"""helm, pinned by the toolchain, against the test cluster."""

from __future__ import annotations

import subprocess

from .repo import REPO, toolchain


def helm(cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`helm ARGS` with the cluster's admin kubeconfig; raises AssertionError with helm's output when it fails and
    CHECK."""
    cmd = [str(toolchain.resolve("helm")), f"--kubeconfig={cluster.kubeconfig}", *args]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, cwd=REPO)
    if check and res.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
