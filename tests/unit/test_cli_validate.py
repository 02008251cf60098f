"""`cni-operator validate` on what users point it at: a zero-touch bundle (many kinds, one ClusterNetwork), and
misspelt field names, which get the nearest known one. Run as a user runs it (the console script)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli import INVALID, MKS, assert_no_traceback, cli

REPO = Path(__file__).resolve().parents[2]


def test_validate_a_zero_touch_bundle_checks_its_clusternetwork_and_skips_the_rest():
    """The bundles are CRDs, RBAC, a Deployment and one ClusterNetwork: only the last is checked, the rest counted."""
    bundle = REPO / "manifests" / "install-mks.yaml"
    docs = [d for d in yaml.safe_load_all(bundle.read_text()) if d]
    others = [d["kind"] for d in docs if d["kind"] != "ClusterNetwork"]
    assert len(others) == len(docs) - 1 and len(others) > 5
    result = cli("validate", "-f", str(bundle))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"valid (1 ClusterNetwork; skipped {len(others)} document(s): "), line
    assert f"{others.count('CustomResourceDefinition')} CustomResourceDefinition" in line
    assert "1 Deployment" in line and line.endswith("(not ClusterNetwork))"), line


def test_validate_multi_document_file_reports_the_clusternetwork_by_document_number(write):
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    result = cli("validate", "-f", write(config_map + "---\n" + INVALID.replace("mtu: 9100", "podCidr: 10.0.0.0/16")))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("document 2: spec.podCidr: unknown field; did you mean podCIDR?") for line in lines), lines
    assert lines[-1] == "skipped 1 document(s): 1 ConfigMap (not ClusterNetwork)", lines
    assert not any(line.startswith("document 1") for line in lines)


def test_validate_file_without_a_clusternetwork_says_so():
    result = cli("validate", "-f", "manifests/install.yaml")  # the console script runs in the repository
    assert result.returncode == 1
    assert "no ClusterNetwork document in manifests/install.yaml; it holds" in result.stderr, result.stderr
    assert_no_traceback(result)


def test_validate_single_document_of_another_kind_is_still_checked(write):
    """One document is always validated: a misspelt kind is an error, not a skipped document."""
    result = cli("validate", "-f", write(MKS.replace("kind: ClusterNetwork", "kind: ClusterNetworks")))
    assert result.returncode == 1 and "kind: must be ClusterNetwork" in result.stderr, result.stderr


@pytest.mark.parametrize(("spec", "field", "meant"), [
    ({"clusterType": "mks", "podCidr": "10.0.0.0/16"}, "spec.podCidr", "podCIDR"),  # case
    ({"clusterType": "mks", "pod_cidr": "10.0.0.0/16"}, "spec.pod_cidr", "podCIDR"),  # snake_case
    ({"clusterType": "mks", "podCDIR": "10.0.0.0/16"}, "spec.podCDIR", "podCIDR"),  # typo
    ({"clusterType": "mks", "canal": {"backnd": "vxlan"}}, "spec.canal.backnd", "backend"),  # nested
    ({"clusterType": "mks", "delettionPolicy": "Orphan"}, "spec.delettionPolicy", "deletionPolicy"),
])  # fmt: skip
def test_validate_unknown_field_names_the_nearest_known_one(write, spec, field, meant):
    doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
           "spec": spec}
    result = cli("validate", "-f", write(yaml.safe_dump(doc)))
    assert result.returncode == 1
    assert f"{field}: unknown field; did you mean {meant}? allowed here: " in result.stderr, result.stderr


def test_validate_unknown_field_far_from_every_name_gets_no_guess(write):
    doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
           "spec": {"clusterType": "mks", "zzzz": 1}}
    result = cli("validate", "-f", write(yaml.safe_dump(doc)))
    assert "spec.zzzz: unknown field; allowed here: " in result.stderr, result.stderr
