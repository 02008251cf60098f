"""hack/gen-bundle.py's own transformations: the generated CRD as the chart's template, and CRDs first in a bundle.
(test_bundle_in_sync.py checks its output is committed; test_chart.py that the template renders the generated CRD.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_bundle", REPO / "hack" / "gen-bundle.py")
gen_bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_bundle)


def test_chart_crd_wraps_the_generated_crd_in_the_crds_values():
    template = gen_bundle.chart_crd((REPO / "crds" / "clusternetworks.yaml").read_text())
    lines = template.splitlines()
    assert lines[1] == '{{- if include "cni-operator.crdsEnabled" . }}' and lines[-1] == "{{- end }}"
    assert '{{- include "cni-operator.crdOwnershipGuard" . }}' in lines
    assert "    helm.sh/resource-policy: keep" in lines
    assert template == (REPO / "charts" / "cni-operator" / "templates" / "crd-clusternetworks.yaml").read_text()


@pytest.mark.parametrize("change", [
    lambda crd: crd.replace("description: mks", "description: '{{ mks }}'"),  # Helm would run it as template code
    lambda crd: crd.replace("  labels:\n", "  annotations: {a: b}\n  labels:\n", 1),  # two annotations keys
    lambda crd: crd.replace("name: clusternetworks.cni-operator.io", "name: other.example.com", 1),
])  # fmt: skip
def test_chart_crd_refuses_a_crd_shape_it_does_not_know(change):
    crd = (REPO / "crds" / "clusternetworks.yaml").read_text()
    assert change(crd) != crd
    with pytest.raises(gen_bundle.BundleError, match="teach hack/gen-bundle.py"):
        gen_bundle.chart_crd(change(crd))


def test_crds_first_moves_every_crd_ahead_and_keeps_the_order_of_the_rest():
    rendered = (
        "---\n# Source: a\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n"
        "---\n# Source: b\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n"
        "---\n# Source: c\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
    )
    docs = [d for d in yaml.safe_load_all(gen_bundle.crds_first(rendered)) if d]
    assert [d["kind"] for d in docs] == ["CustomResourceDefinition", "ServiceAccount", "ConfigMap"]
