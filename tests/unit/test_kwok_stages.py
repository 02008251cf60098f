"""hack/kwok/stages-failure.yaml, the kwok stages that make pods fail on purpose, read as text: its three stages
repeat the same definitions (YAML anchors do not cross documents), so the copies must agree; the patterns must pick
the images docs/local-cluster.md names; and kwok must be started with the file. What kwok does with it is tested
against the local cluster in tests/integration/test_substrate_failures.py."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.harness.repo import REPO, localcluster

STAGES = REPO / "hack" / "kwok" / "stages-failure.yaml"
# The regular expressions as the Go templates spell them (raw strings); the jq copies escape the backslash.
PULL = r"^fail\.invalid[:/]"
CRASH = r":[^/@:]*-crashloop$"
BACKOFFS = ["1s", "2s", "4s", "8s", "16s", "30s"]


@pytest.fixture(scope="module")
def stages() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(STAGES.read_text()) if d]
    return {d["metadata"]["name"]: d for d in docs}


def _expressions(stage: dict) -> list[dict]:
    return [e["jq"] for e in stage["spec"]["selector"]["matchExpressions"]]


def _templates(stage: dict) -> list[str]:
    return [s["patch"]["template"] for s in stage["spec"].get("steps") or [] if "patch" in s]


def test_three_pod_stages_that_outweigh_kwoks_own(stages):
    assert sorted(stages) == ["pod-failure-hold", "pod-failure-restart", "pod-failure-start"]
    for name, stage in stages.items():
        assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1" and stage["kind"] == "Stage", name
        assert stage["spec"]["resourceRef"] == {"apiGroup": "v1", "kind": "Pod"}, name
        # kwok's fast stages have weight 0: any positive weight wins every time both match.
        assert stage["spec"]["weight"] > 0, name
        # Deleting pods are left to kwok's pod-delete stage.
        assert {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"} in _expressions(stage), name


def test_the_stages_share_their_selectors_and_exclude_each_other(stages):
    keys: dict[str, set[str]] = {}
    verdicts: dict[str, dict[str, str]] = {}
    for name, stage in stages.items():
        for expr in _expressions(stage):
            if expr["key"].startswith(".metadata"):
                continue
            label = ("stale" if "def stale" in expr["key"] else "failing" if "def pull" in expr["key"]
                     else "crashLoopBackOff")  # fmt: skip
            keys.setdefault(label, set()).add(expr["key"])
            assert expr["operator"] == "In" and len(expr["values"]) == 1, (name, expr)
            verdicts.setdefault(name, {})[label] = expr["values"][0]
    assert {label: len(texts) for label, texts in keys.items()} == {"failing": 1, "stale": 1, "crashLoopBackOff": 1}
    assert verdicts == {
        "pod-failure-start": {"failing": "true", "stale": "true"},
        "pod-failure-hold": {"failing": "true", "stale": "false", "crashLoopBackOff": "false"},
        "pod-failure-restart": {"failing": "true", "stale": "false", "crashLoopBackOff": "true"},
    }
    # The jq definitions of which images fail are the same in both keys that have them.
    failing, stale = next(iter(keys["failing"])), next(iter(keys["stale"]))
    assert failing.splitlines()[:2] == stale.splitlines()[:2]


def test_templates_and_selectors_use_the_same_patterns_and_back_off(stages):
    jq_pull, jq_crash = PULL.replace("\\", "\\\\"), CRASH
    for name, stage in stages.items():
        for expr in _expressions(stage):
            if "def pull" in expr["key"]:
                assert f'test("{jq_pull}")' in expr["key"] and f'test("{jq_crash}")' in expr["key"], name
    (start,) = _templates(stages["pod-failure-start"])
    assert f"`{PULL}`" in start and f"`{CRASH}`" in start
    table = "list " + " ".join(f'"{b}"' for b in BACKOFFS)
    (restart,) = _templates(stages["pod-failure-restart"])
    assert table in start and table in restart
    delay = stages["pod-failure-restart"]["spec"]["delay"]["durationFrom"]["jq"]["expression"]
    assert "[" + ", ".join(f'"{b}"' for b in BACKOFFS) + "]" in delay
    assert _templates(stages["pod-failure-hold"]) == [] and not stages["pod-failure-hold"]["spec"]["steps"]


@pytest.mark.parametrize(("image", "fails"), [
    ("fail.invalid/calico/node:v3.32.1", "pull"),
    ("fail.invalid:5000/mirror/calico/node:v3.32.1", "pull"),
    ("fail.invalid/calico/node:v3.32.1-crashloop", "pull"),  # a pull failure comes first
    ("quay.io/calico/node:v3.32.1-crashloop", "crash"),
    ("mirror.local:5000/calico/node:v3.32.1-crashloop", "crash"),
    ("quay.io/calico/node:v3.32.1", None),
    ("quay.io/fail.invalid/node:v3.32.1", None),  # the registry is quay.io
    ("mirror.local:5000/calico/node-crashloop", None),  # -crashloop in the repository name, not the tag
    ("quay.io/calico/node:v3.32.1-crashloop@sha256:" + "0" * 64, None),  # pinned by digest: the tag is not used
])  # fmt: skip
def test_which_images_fail(image, fails):
    # Go's RE2 and Python's re agree on these patterns (anchors, classes, literals).
    pull = re.search(PULL, image) is not None
    crash = not pull and re.search(CRASH, image) is not None
    assert ("pull" if pull else "crash" if crash else None) == fails


def test_kwok_loads_its_fast_stages_then_ours(tmp_path):
    base = tmp_path / "kwok-stages.yaml"
    cmd = localcluster.kwok_command("/bin/kwok", [base, localcluster.KWOK_FAILURE_STAGES])
    assert [a for a in cmd if a.startswith("--config=")] == [f"--config={base}", f"--config={STAGES}"]


def test_up_notices_a_changed_stage_file(tmp_path):
    ours = tmp_path / "stages.yaml"
    ours.write_text("a: 1\n")
    before = localcluster.configs_fingerprint([ours])
    assert localcluster.configs_fingerprint([ours]) == before
    ours.write_text("a: 2\n")
    assert localcluster.configs_fingerprint([ours]) != before
