"""BENCHMARKS.md's upgrade section (bench/bench_upgrade.py), between its own markers: written by a BENCH_UPGRADE=1
run of `make bench` or by `python -m bench.bench_upgrade` alone; any other run carries the last one over with its
date, as the scale section is."""

from __future__ import annotations

import re

BEGIN, END = "<!-- upgrade:begin -->", "<!-- upgrade:end -->"
TITLE = "## 6. Upgrade of a CNI"
COMMAND = "BENCH_UPGRADE_NODES=100 BENCH_UPGRADE_POLICIES=fast,default .venv/bin/python -m bench.bench_upgrade"


def _policy(p: dict) -> str:
    if set(p) <= {"progressDeadlineSeconds"}:
        return "default (canary 1, soakSeconds 30, maxUnavailable 1)"
    return ", ".join(f"{k} {v}" for k, v in p.items() if k != "progressDeadlineSeconds")


def _sampling(side: dict) -> str:
    return f"{side['samples']}, {side['longest_gap_s']:.1f} s"


def _phases(phases: list) -> str:
    return " → ".join(f"{name} {at:.0f} s" for name, at in phases)


def section(r: dict) -> str:
    u, m = r["upgrade"], r["machine"]
    rows, notes = [], []
    for name, e in u["policies"].items():
        b, o = e["baseline"], e["operator"]
        rows.append([f"{name}: {_policy(o['policy'])}", str(o["max_unavailable"]),
                     f"{o['seconds']:.1f} s", f"{b['seconds']:.1f} s", f"{o['seconds'] / b['seconds']:.2f}×",
                     f"{o['worst']}", f"{b['worst']}", f"{_sampling(o)} / {_sampling(b)}"])
        notes.append(f"- {name}: the new template was in the canal DaemonSet {o['template_applied_s']:.1f} s after "
                     f"the apply; operator phases (seconds after the apply when status showed them): "
                     f"{_phases(o['phases'])}; worst moment {o['worst_at_s']:.1f} s after the apply "
                     f"(baseline {b['worst_at_s']:.1f} s).")
        errors = o["sample_errors"] + b["sample_errors"]
        if errors:
            notes.append(f"  {errors} samples failed (a list call that errored) and are missing from the counts.")
    header = ["policy", "maxUnavailable", "operator: to Complete", "baseline: DaemonSet RollingUpdate", "ratio",
              "operator: max nodes without a Ready canal pod", "baseline: same",
              "samples, longest gap (operator / baseline)"]
    return "\n".join([
        BEGIN,
        TITLE + "\n",
        (f"Measured {r['started']} on {m['nproc']} CPUs ({m['cpu']}); load average {r['load_before']} before, "
         f"{r['load_after']} after (other worktrees' control planes and tests ran meanwhile); "
         f"{r['wall_seconds']:.0f} s in all.\n"),
        f"```\n{COMMAND}\n```\n",
        (f"Canal {u['from']} → {u['to']} on {u['nodes']} kwok nodes, one canal pod each. Operator: `kubectl apply` of "
         "the ClusterNetwork with the new cni.version until status.rollout says Complete and Ready=True (the "
         "operator deletes old pods itself: canary, soak, batches within maxUnavailable). Baseline in the same run: "
         "the same pod template change applied to a plain DaemonSet with `updateStrategy: RollingUpdate` and the "
         "same maxUnavailable, rolled by the DaemonSet controller, until `kubectl rollout status` would return. "
         "Both sides sampled every 200 ms for nodes without a Ready, non-terminating pod of their DaemonSet "
         "(tests/harness/rollout.py, the rollout tests' sampler). One run per side: the figures are single "
         "measurements, not medians.\n"),
        _table(header, rows) + "\n",
        *notes,
        "",
        ("The operator's extra time is the canary and its soak (soakSeconds; the DaemonSet controller has neither), "
         "and its minimum spacing of passes (1 s): each batch waits for the pass after the previous one is Ready.\n"),
        END,
    ]) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def carried_over(previous: str) -> str:
    """The last upgrade section of PREVIOUS (BENCHMARKS.md before this run), or a 'not run yet' one."""
    old = re.search(re.escape(BEGIN) + r"(.*?)" + re.escape(END), previous, re.DOTALL)
    if old:
        return f"{BEGIN}{old.group(1)}{END}\n"
    return f"{BEGIN}\n{TITLE}\n\nNot run yet: `{COMMAND}` (about 15 minutes).\n{END}\n"


def replace_section(document: str, new: str) -> str:
    """DOCUMENT with its upgrade section replaced by NEW (appended when it has none)."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: new, document, count=1)
    return document.rstrip("\n") + "\n\n" + new
