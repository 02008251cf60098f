"""/metrics is valid Prometheus text: each family's HELP/TYPE precede all of its samples."""

from cni_operator.metrics import Metrics


def test_families_are_contiguous_and_typed():
    m = Metrics()
    m.describe("op_apply_duration_seconds", "summary", "Apply time.")
    m.describe("op_reconciles_total", "counter", "Passes.")
    m.observe("op_apply_duration_seconds", 0.5)
    m.observe("op_apply_duration_seconds", 1.5)
    m.inc("op_reconciles_total", result="ok")
    lines = m.exposition().splitlines()
    assert lines == [
        "# HELP op_apply_duration_seconds Apply time.",
        "# TYPE op_apply_duration_seconds summary",
        "op_apply_duration_seconds_count 2",
        "op_apply_duration_seconds_sum 2",
        "# HELP op_reconciles_total Passes.",
        "# TYPE op_reconciles_total counter",
        'op_reconciles_total{result="ok"} 1',
    ]
