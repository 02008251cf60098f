"""Fault tier: the real operator (a subprocess under the chart's RBAC) against faults and bad input.

Bounded: every loop has a count and a deadline; FAULT_ITERATIONS (default 2) sets how many SIGKILL iterations run,
FAULT_SEED fixes every random choice. The iteration counts and results are printed at the end of the run
("fault suite" section) and recorded in docs/faults.md.
"""

from __future__ import annotations

from faultkit import ITERATIONS, SEED, SUMMARY


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not SUMMARY.lines:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line(f"FAULT_ITERATIONS={ITERATIONS} FAULT_SEED={SEED}")
    for line in SUMMARY.lines:
        terminalreporter.write_line(line)
