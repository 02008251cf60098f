"""The render framework, provider-independent: determinism, apply order, labels, registry override, purity."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cni_operator.api import parse_spec
from cni_operator.images import with_registry as override_registry
from cni_operator.objects import KIND_ORDER, MANAGED_BY, MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL
from cni_operator.render import render, to_yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

SPECS = [
    {"clusterType": "mks"},
    {"clusterType": "mks", "cni": {"version": "v3.31.4"}},
    {"clusterType": "mks", "canal": {"backend": "host-gw", "iface": "eth1"}, "registry": "mirror.local:5000",
     "imagePullSecrets": [{"name": "regcred"}], "rollout": {"maxUnavailable": "10%"}},
]


@pytest.mark.parametrize("raw", SPECS)
def test_two_renders_are_byte_identical(raw):
    first = to_yaml(render(parse_spec(raw)).apply)
    second = to_yaml(render(parse_spec(raw)).apply)
    assert first == second


def test_render_is_identical_across_processes_and_hash_seeds():
    code = (
        "from cni_operator.api import parse_spec; from cni_operator.render import render, to_yaml;"
        "import sys; sys.stdout.write(to_yaml(render(parse_spec({'clusterType': 'mks'})).apply))"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop() == to_yaml(render(parse_spec({"clusterType": "mks"})).apply)


@pytest.mark.parametrize("raw", SPECS)
def test_apply_order_crds_then_identities_and_rbac_then_config_then_workloads(raw):
    objects = render(parse_spec(raw)).apply
    ranks = [KIND_ORDER.index(o["kind"]) for o in objects]  # every kind rendered is a known kind
    assert ranks == sorted(ranks)
    kinds = [o["kind"] for o in objects]
    last_crd = max(i for i, k in enumerate(kinds) if k == "CustomResourceDefinition")
    first_rbac = min(i for i, k in enumerate(kinds) if k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"))
    last_rbac = max(i for i, k in enumerate(kinds) if k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"))
    config = kinds.index("ConfigMap")
    first_workload = min(i for i, k in enumerate(kinds) if k in ("DaemonSet", "Deployment"))
    assert last_crd < first_rbac and last_rbac < config < first_workload
    assert kinds[first_workload:] == ["DaemonSet", "Deployment", "PodDisruptionBudget"]


@pytest.mark.parametrize("raw", SPECS)
def test_every_object_carries_managed_by_provider_and_version_labels(raw):
    rendered = render(parse_spec(raw))
    assert rendered.apply
    for obj in rendered.apply:
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED_BY_LABEL] == MANAGED_BY
        assert labels[PROVIDER_LABEL] == rendered.provider.value
        assert labels[VERSION_LABEL] == rendered.version


def test_imported_cluster_renders_nothing():
    rendered = render(parse_spec({"clusterType": "imported"}))
    assert (rendered.provider, rendered.version, rendered.apply, rendered.prune) == (None, None, [], [])


def test_prune_is_stable_across_repeated_renders_and_specs():
    default = render(parse_spec({"clusterType": "mks"})).prune
    assert render(parse_spec({"clusterType": "mks"})).prune == default
    other = render(parse_spec({"clusterType": "mks", "canal": {"iface": "eth9"}, "mtu": 1400})).prune
    assert other == default  # options do not change which objects exist
    assert render(parse_spec({"clusterType": "mks", "cni": {"version": "v3.31.4"}})).prune != default


def test_render_does_not_mutate_between_calls():
    first = render(parse_spec({"clusterType": "mks"}))
    first.apply[0]["metadata"]["labels"]["tampered"] = "yes"
    first.prune.clear()
    second = render(parse_spec({"clusterType": "mks"}))
    assert "tampered" not in second.apply[0]["metadata"]["labels"]
    assert second.prune


@pytest.mark.parametrize(
    ("image", "registry", "expected"),
    [
        ("docker.io/flannel/flannel:v0.24.4", "mirror.local:5000", "mirror.local:5000/flannel/flannel:v0.24.4"),
        ("quay.io/calico/node:v3.32.1", "mirror.local", "mirror.local/calico/node:v3.32.1"),
        ("quay.io/calico/node:v3.32.1", "mirror.local/prefix/", "mirror.local/prefix/calico/node:v3.32.1"),
        ("localhost/calico/cni:v1", "reg.example", "reg.example/calico/cni:v1"),
        ("localhost:5000/calico/cni:v1", "reg.example", "reg.example/calico/cni:v1"),
        ("calico/node:v3.32.1", "mirror.local", "mirror.local/calico/node:v3.32.1"),  # implicit Docker Hub
        ("amazon-k8s-cni:v1.23.1", "mirror.local:5000", "mirror.local:5000/amazon-k8s-cni:v1.23.1"),
        ("602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.23.1", "mirror.local",
         "mirror.local/amazon-k8s-cni:v1.23.1"),
        ("quay.io/calico/node@sha256:abc", "mirror.local", "mirror.local/calico/node@sha256:abc"),
        ("quay.io/calico/node:v3.32.1", "", "quay.io/calico/node:v3.32.1"),
    ],
)
def test_override_registry(image, registry, expected):
    assert override_registry(image, registry) == expected


@pytest.mark.parametrize("raw", SPECS)
def test_to_yaml_round_trips(raw):
    objects = render(parse_spec(raw)).apply
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects


def test_to_yaml_writes_multiline_strings_as_blocks():
    text = to_yaml([{"data": {"a": "x\ny\n", "b": "one line"}}])
    assert text == "---\ndata:\n  a: |\n    x\n    y\n  b: one line\n"


# ---------------------------------------------------------------- purity


def test_import_linter_contract_holds():
    lint = VENV_BIN / "lint-imports"
    command = [str(lint)] if lint.exists() else [shutil.which("lint-imports") or "lint-imports"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    contract = (REPO / "pyproject.toml").read_text()
    for module in ("cni_operator.render", "cni_operator.health", "cni_operator.api", "cni_operator.catalog"):
        assert f'"{module}"' in contract, f"{module} is not covered by the purity contract"


def test_rendering_loads_neither_kopf_nor_kubernetes():
    code = (
        "import sys; from cni_operator.api import parse_spec; from cni_operator.render import render;"
        "render(parse_spec({'clusterType': 'mks'}));"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kopf', 'kubernetes'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
