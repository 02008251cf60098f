"""spec.workloads at admission: every invalid case `cni-operator validate` refuses (tests/unit/workload_cases.py) is
refused by the real API server too, naming the field, in the same words wherever the words are ours (CEL rules and
patterns); the valid cases pass. The CRD is installed under a throw-away group, as in test_crd_rules.py."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.harness.crd_rules import crd_under_group

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from workload_cases import INVALID, VALID

pytestmark = pytest.mark.k8s

GROUP = f"celw{uuid.uuid4().hex[:6]}.cni-operator.io"

# Cases whose admission message is the API server's own (an enum, a range, a length): only the field is checked.
SERVER_WORDS = {"toleration-operator", "toleration-effect", "toleration-seconds-negative", "required-operator",
                "preferred-operator", "preferred-weight", "preferred-values", "container-name", "limits-memory"}

ADMISSION_FIELD = {"container-of-other-provider": "spec.workloads.containers",
                   "container-on-eks": "spec.workloads.containers"}


@pytest.fixture(scope="module")
def installed(cluster):
    yield from crd_under_group(cluster, GROUP)


def dry_run(cluster, spec: dict):
    doc = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"}, "spec": spec}
    return cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc),
                           check=False)


@pytest.mark.parametrize("case, spec, field, words", INVALID, ids=[row[0] for row in INVALID])
def test_invalid_options_are_refused_at_admission(installed, case, spec, field, words):
    result = dry_run(installed, spec)
    assert result.returncode != 0, f"{case}: admitted"
    # pydantic reports a rule on a list item at the item, CEL at the field it names inside it (fieldPath); the
    # containers' fit with clusterType is one rule over the list.
    field = ADMISSION_FIELD.get(case, re.sub(r"\[\d+\]$", "", field))
    assert f"{field}:" in result.stderr or f"{field}." in result.stderr or f"{field}[" in result.stderr, (
        result.stderr)
    if case not in SERVER_WORDS:
        for word in words:
            assert word in result.stderr, f"{case}: {result.stderr!r} should mention {word!r}"


@pytest.mark.parametrize("spec", VALID, ids=["mks", "eks"])
def test_valid_options_are_admitted(installed, spec):
    result = dry_run(installed, spec)
    assert result.returncode == 0, result.stderr
