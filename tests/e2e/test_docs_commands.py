"""The commands the docs give, run as written, wherever they can run here.

Each command is read from the Markdown itself (the fenced block under a given heading, or the line that matches), not
copied into this file, so a doc that changes is a doc that is tested. They run in bash from the repository root with
the PATH and KUBECONFIG a user would have after `source .cluster/env` (or, for the .cluster/env test, with nothing but
what the block itself sources):

- docs/development.md: `PYTEST_ARGS="-x -k drift" bash hack/run-tests.sh` must not fail because `-k` leaves a tier
  with nothing to run (it did: pytest's exit 5 counted as a failure), while a tier whose files collect no test at all
  still fails;
- docs/development.md: `bash hack/demo.sh clean`, then `source .cluster/env` and the Helm steps (clean used to delete
  .cluster/env);
- docs/local-cluster.md: `make cluster-up` on a running cluster keeps the nodes a person added (it used to scale them
  back to 3);
- docs/install.md: the zero-touch apply of manifests/install-mks.yaml, then the removal commands: nothing the bundle
  created is left but the CRDs and the ClusterNetwork, which are kept on purpose (the events Role and RoleBinding in
  `default` used to be left behind).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import localcluster  # hack/ is on sys.path via tests/conftest.py
import pytest
import toolchain
import yaml

from tests.harness.repo import REPO

pytestmark = pytest.mark.timeout(600)

DOCS = REPO / "docs"


# ------------------------------------------------------------------------------------------------ reading the docs


def section(path: Path, heading: str) -> str:
    """The text under HEADING (a whole line, e.g. '## Removing the operator') up to the next heading of its level or
    higher. Fenced code is skipped when looking for headings (a '# comment' line in a block is not one)."""
    lines = path.read_text().splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start, fenced, out = None, False, []
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        is_heading = not fenced and re.match(r"#+ ", line)
        if start is None:
            if line.strip() == heading:
                start = True
            continue
        if is_heading and len(line) - len(line.lstrip("#")) <= level:
            break
        out.append(line)
    assert start, f"{path.relative_to(REPO)} has no heading {heading!r}"
    return "\n".join(out)


def code_blocks(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def block(path: Path, heading: str, index: int = 0) -> str:
    blocks = code_blocks(section(path, heading))
    assert len(blocks) > index, f"{path.relative_to(REPO)}, {heading!r}: no code block #{index}"
    return blocks[index]


def user_env(cluster) -> dict[str, str]:
    """What `source .cluster/env` gives, for the cluster under test (also a KUBECONFIG_TESTS one)."""
    dirs = [str(toolchain.resolve("kubectl").parent), str(toolchain.resolve("helm").parent),
            str(Path(sys.executable).parent)]  # fmt: skip
    return {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": os.pathsep.join([*dirs, os.environ["PATH"]]),
    }


def sh(script: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a doc's block as a user pastes it into bash, stopping at the first failing command."""
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=timeout, check=False)  # fmt: skip


def explain(res: subprocess.CompletedProcess) -> str:
    return f"exit {res.returncode}\n--- stdout\n{res.stdout[-6000:]}\n--- stderr\n{res.stderr[-4000:]}"


# ------------------------------------------------------------------------------------------------ hack/run-tests.sh

SUMMARY_LINE = re.compile(r"^=+ (.*) in [0-9.]+s \(\d+:\d\d:\d\d\) =+$")


def run_tests_sh(tmp_path: Path, pytest_args: str, tiers: str) -> subprocess.CompletedProcess:
    # KUBECONFIG_TESTS keeps the script from starting, reusing or stopping a cluster; no test below reaches one.
    kubeconfig = tmp_path / "unused-kubeconfig"
    kubeconfig.write_text("# the tiers run here select no test that would use it\n")
    env = {**os.environ, "PYTEST_ARGS": pytest_args, "TIERS": tiers, "KUBECONFIG_TESTS": str(kubeconfig)}
    return subprocess.run(["bash", "hack/run-tests.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=480, check=False)  # fmt: skip


def test_pytest_args_that_leave_a_tier_nothing_to_run_do_not_fail_it(tmp_path):
    """development.md's `PYTEST_ARGS="-x -k drift" bash hack/run-tests.sh`, on the e2e tier only (which has no drift
    test, so -k deselects all of it; running all tiers here would run the suite inside itself)."""
    (args,) = re.findall(
        r'^PYTEST_ARGS="([^"]+)" bash hack/run-tests\.sh$',
        (DOCS / "development.md").read_text(),
        re.MULTILINE,
    )
    res = run_tests_sh(tmp_path, args, "e2e")
    assert res.returncode == 0, explain(res)
    assert "== e2e: PYTEST_ARGS" in res.stdout and "deselected every test of this tier" in res.stdout, (
        explain(res)
    )
    last = res.stdout.strip().splitlines()[-1]
    counts = SUMMARY_LINE.match(last)
    assert counts, f"the last line is not a pytest-style summary: {last!r}"
    assert "passed" in counts.group(1) and "deselected" in counts.group(1), last
    assert "failed" not in counts.group(1) and "error" not in counts.group(1), last


def test_a_tier_whose_files_collect_no_test_still_fails(tmp_path):
    """The other side: a tier that has test files but collects nothing under its own selection (here a test that is
    not marked k8s, as a broken marker would leave it) is a failure, PYTEST_ARGS or not."""
    probe = tmp_path / "probe-tier"
    probe.mkdir()
    (probe / "test_probe.py").write_text("def test_tier_probe():\n    pass\n")
    tier = os.path.relpath(probe, REPO / "tests")  # the script runs tests/$tier
    res = run_tests_sh(tmp_path, "-k tier_probe", tier)
    assert res.returncode == 1, explain(res)
    assert "has test files but pytest collected none" in res.stderr, explain(res)
    assert f"== FAILED: {tier} (exit 5)" in res.stderr, explain(res)
    last = res.stdout.strip().splitlines()[-1]
    assert SUMMARY_LINE.match(last) and "1 error" in last, last


# ------------------------------------------------------------------------------------------- the local cluster only


def local_only(cluster) -> None:
    if not cluster.local:
        pytest.skip(
            "runs hack/demo.sh and hack/localcluster.py: the local control plane, not KUBECONFIG_TESTS"
        )


def test_demo_clean_keeps_cluster_env_for_the_install_steps_that_follow(cluster, cleanup):
    """development.md, "Trying the install paths on the local cluster": clean, source .cluster/env, helm install,
    look, helm uninstall, delete the kept ClusterNetwork. Run with neither kubectl, helm nor KUBECONFIG given: the
    block must get them from .cluster/env."""
    local_only(cluster)
    steps = block(DOCS / "development.md", "### Trying the install paths on the local cluster")
    assert steps.startswith("bash hack/demo.sh clean\nsource .cluster/env\n"), steps
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    helm = str(toolchain.resolve("helm"))
    cleanup.add(cluster.kubectl, "delete", "cnet", "default", "--ignore-not-found", check=False)
    cleanup.add(subprocess.run, [helm, f"--kubeconfig={cluster.kubeconfig}", "uninstall", "cni-operator",
                                 "--namespace", "kube-system", "--ignore-not-found"], capture_output=True)  # fmt: skip

    res = sh(steps, env)
    assert res.returncode == 0, explain(res)
    assert (localcluster.P.root / "env").is_file(), ".cluster/env is gone after the documented steps"
    assert "deployment.apps/cni-operator" in res.stdout and re.search(
        r"^default\s+mks\b", res.stdout, re.MULTILINE
    ), explain(res)
    assert 'release "cni-operator" uninstalled' in res.stdout, explain(res)
    assert not cluster.kubectl("get", "cnet", "default", "--ignore-not-found", "-o", "name").stdout.strip()


def test_make_cluster_up_keeps_the_nodes_a_person_added(cluster, cleanup):
    """local-cluster.md: `up` on a running cluster adds missing nodes and never removes any. As in the demo: add
    nodes with `python3 hack/localcluster.py nodes N`, then `make cluster-up` (NODES unset: 3) keeps them."""
    local_only(cluster)
    text = (DOCS / "local-cluster.md").read_text()
    assert "it never removes nodes" in text and "make cluster-up" in text
    before = len(cluster.fake_nodes())
    more = max(before, 3) + 2
    env = {k: v for k, v in os.environ.items() if k not in ("NODES", "KUBECONFIG")}

    def nodes(n: int) -> None:
        res = subprocess.run(["python3", "hack/localcluster.py", "nodes", str(n)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
        assert res.returncode == 0, explain(res)

    cleanup.add(nodes, before)  # gives back the size the suite runs with (nodes and state.json)
    nodes(more)
    res = subprocess.run(["make", "cluster-up"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                         check=False)  # fmt: skip
    assert res.returncode == 0, explain(res)
    assert f"kept all {more} fake nodes although 3 were asked for" in res.stdout, explain(res)
    assert "localcluster.py nodes 3` removes the others" in res.stdout, explain(res)
    assert len(cluster.fake_nodes()) == more
    assert localcluster.read_state()["nodes"] == more


# ------------------------------------------------------------------------------------------------ docs/install.md


def _bundle(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((REPO / "manifests" / name).read_text()) if d]


def _exists(cluster, kind: str, name: str, namespace: str | None) -> bool:
    res = cluster.kubectl("get", kind, name, *(["-n", namespace] if namespace else []), "--ignore-not-found",
                          "-o", "name", check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return bool(res.stdout.strip())


def test_install_md_removal_leaves_nothing_of_the_bundle_but_crds_and_clusternetwork(
    cluster, cleanup, wait_for
):
    """install.md: the zero-touch command with install-mks.yaml, then "Removing the operator" for the bundle, as
    written. Everything the bundle created must be gone except what the page says stays: the CRDs and the
    ClusterNetwork. The KopfPeering and the Lease the operator creates go too."""
    if cluster.kubectl("get", "clusternetworks.cni-operator.io", "default", "--ignore-not-found", "-o", "name",
                       check=False).stdout.strip():  # fmt: skip
        pytest.skip("ClusterNetwork `default` exists already (held by another test); it is a singleton")
    install_md = DOCS / "install.md"
    zero_touch = block(install_md, "## 1. Zero-touch (a provisioning controller)")
    assert "manifests/install-mks.yaml" in zero_touch, zero_touch
    removal = block(install_md, "## Removing the operator")
    docs = _bundle("install-mks.yaml")
    kinds = {d["kind"] for d in docs}
    assert {"Role", "RoleBinding", "ClusterNetwork", "Deployment"} <= kinds, kinds
    for d in reversed(docs):  # whatever the outcome, leave only the CRDs (shared by the suite)
        if d["kind"] == "ClusterNetwork":
            cleanup.add(cluster.kubectl, "delete", "cnet", "default", "--ignore-not-found", check=False)
            cleanup.add(cluster.kubectl, "patch", "cnet", "default", "--type=merge", "-p",
                        '{"metadata":{"finalizers":null}}', check=False)  # fmt: skip
        elif d["kind"] != "CustomResourceDefinition":
            ns = d["metadata"].get("namespace")
            cleanup.add(cluster.kubectl, "delete", "--ignore-not-found", d["kind"].lower(), d["metadata"]["name"],
                        *(["-n", ns] if ns else []), check=False)  # fmt: skip
    env = user_env(cluster)

    applied = sh(f"timeout 120 bash -c {shlex.quote(zero_touch)}", env, timeout=180)
    assert applied.returncode == 0, explain(applied)
    for d in docs:
        assert _exists(cluster, d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")), d[
            "metadata"
        ]
    # The operator makes these itself (the KopfPeering when it runs more than one replica, the Lease always; the fake
    # nodes run no container, so here they are made by hand): the removal must cover them too.
    for made in ({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering"},
                 {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "gone_1"}}):
        cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(
            {**made, "metadata": {"name": "cni-operator", "namespace": "kube-system"}}))
        cleanup.add(cluster.kubectl, "delete", made["kind"].lower(), "cni-operator", "-n", "kube-system",
                    "--ignore-not-found", check=False)  # fmt: skip

    removed = sh(removal, env)
    assert removed.returncode == 0, explain(removed)

    def only_crds_and_clusternetwork_left() -> bool:
        left = [f"{d['kind']} {d['metadata'].get('namespace', '')}/{d['metadata']['name']}" for d in docs
                if d["kind"] not in ("CustomResourceDefinition", "ClusterNetwork")
                and _exists(cluster, d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))]  # fmt: skip
        assert not left, f"left behind by the documented removal: {left}"
        assert not _exists(cluster, "kopfpeering", "cni-operator", "kube-system"), "KopfPeering left behind"
        assert not _exists(cluster, "lease", "cni-operator", "kube-system"), "the operator's Lease left behind"
        return True

    wait_for(only_crds_and_clusternetwork_left, timeout=60, what="the bundle's objects to be gone")
    for d in docs:
        if d["kind"] in ("CustomResourceDefinition", "ClusterNetwork"):
            assert _exists(cluster, d["kind"], d["metadata"]["name"], None), (
                f"{d['kind']} should have been kept"
            )
