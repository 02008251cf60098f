"""hack/vendor-upstream.py: stores a release manifest byte for byte with its source, from a file or a git clone,
and refuses what is not the release it is told it is."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CANAL = REPO / "manifests" / "upstream" / "canal" / "v3.32.1" / "canal.yaml"


@pytest.fixture
def script(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("vendor_upstream", REPO / "hack" / "vendor-upstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "UPSTREAM_DIR", tmp_path / "upstream")
    return module


def _source(root: Path, provider: str, version: str) -> dict:
    return yaml.safe_load((root / "upstream" / provider / version / "SOURCE.yaml").read_text(encoding="utf-8"))


def test_from_a_file_stores_the_bytes_and_their_source(script, tmp_path):
    assert script.main(["canal", "v3.32.1", "--from", str(CANAL), "--commit", "abc123", "--retrieved", "2026-12-01"]) == 0
    stored = tmp_path / "upstream" / "canal" / "v3.32.1" / "canal.yaml"
    assert stored.read_bytes() == CANAL.read_bytes()
    source = _source(tmp_path, "canal", "v3.32.1")
    assert source == {**source, "repo": "projectcalico/calico", "tag": "v3.32.1", "path": "manifests/canal.yaml",
                      "sha256": hashlib.sha256(CANAL.read_bytes()).hexdigest(), "commit": "abc123",
                      "retrieved": "2026-12-01"}
    assert script.main(["--check"]) == 0
    stored.write_bytes(stored.read_bytes() + b"# edited\n")
    assert script.main(["--check"]) == 1


def test_the_repository_copies_match_their_sources():
    spec = importlib.util.spec_from_file_location("vendor_upstream_repo", REPO / "hack" / "vendor-upstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check_all() == []


def test_the_wrong_release_is_refused(script, tmp_path, capsys):
    assert script.main(["canal", "v3.31.4", "--from", str(CANAL)]) == 1
    assert "no image tagged v3.31.4" in capsys.readouterr().err
    not_yaml = tmp_path / "page.html"
    not_yaml.write_text("<html>404: Not Found</html>\n: : :\n")
    assert script.main(["canal", "v3.32.1", "--from", str(not_yaml)]) == 1
    assert not (tmp_path / "upstream" / "canal").exists()


def test_from_a_git_clone_at_the_tag_or_a_commit(script, tmp_path, capsys):
    clone = tmp_path / "calico"
    (clone / "manifests").mkdir(parents=True)
    (clone / "manifests" / "canal.yaml").write_bytes(CANAL.read_bytes())

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "Prepare v3.32.1 release")
    commit = git("rev-parse", "HEAD")
    assert script.main(["canal", "v3.32.1", "--git-dir", str(clone / ".git")]) == 1
    assert "--ref with the release commit" in capsys.readouterr().err
    assert script.main(["canal", "v3.32.1", "--git-dir", str(clone / ".git"), "--ref", commit]) == 0
    source = _source(tmp_path, "canal", "v3.32.1")
    assert source["commit"] == commit and "Prepare v3.32.1 release" in source["obtained"]
    git("tag", "v3.32.1")
    assert script.main(["canal", "v3.32.1", "--git-dir", str(clone / ".git")]) == 0
    assert _source(tmp_path, "canal", "v3.32.1")["obtained"] == "git show v3.32.1:manifests/canal.yaml"
