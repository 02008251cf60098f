"""BENCHMARKS.md's upgrade section (bench/bench_upgrade.py), between its own markers: written by a BENCH_UPGRADE=1
run of `make bench` or by `python -m bench.bench_upgrade` alone; any other run carries the last one over with its
date, as the scale section is. `python -m bench.report_upgrade` writes it again from bench/results_upgrade.json."""

from __future__ import annotations

import re

from cni_operator.session.rollout import scaled

BEGIN, END = "<!-- upgrade:begin -->", "<!-- upgrade:end -->"
TITLE = "## 6. Upgrade of a CNI"
COMMAND = "BENCH_UPGRADE_NODES=100 BENCH_UPGRADE_POLICIES=fast,default .venv/bin/python -m bench.bench_upgrade"


def _policy(p: dict) -> str:
    if set(p) <= {"progressDeadlineSeconds"}:
        return "default (canary 1, soakSeconds 30, maxUnavailable 1)"
    return ", ".join(f"{k} {v}" for k, v in p.items() if k != "progressDeadlineSeconds")


def _worst(side: dict, nodes: int) -> str:
    limit = scaled(side["max_unavailable"], nodes)
    return f"{side['worst']}" + (f" (**more than {limit}**)" if side["worst"] > limit else f" (limit {limit})")


def _sampling(side: dict) -> str:
    return f"{side['events']} + {side['samples']}, {side['longest_gap_s']:.1f} s"


def _phases(phases: list) -> str:
    return " → ".join(f"{name} {at:.0f} s" for name, at in phases)


def section(r: dict) -> str:
    u, m = r["upgrade"], r["machine"]
    rows, notes = [], []
    for name, e in u["policies"].items():
        b, o = e["baseline"], e["operator"]
        rows.append([f"{name}: {_policy(o['policy'])}", str(o["max_unavailable"]),
                     f"{o['seconds']:.1f} s", f"{b['seconds']:.1f} s", f"{o['seconds'] / b['seconds']:.2f}×",
                     _worst(o, u["nodes"]), _worst(b, u["nodes"]), f"{_sampling(o)} / {_sampling(b)}"])
        at = dict(o["phases"])
        rolling = at.get("Complete", o["seconds"]) - at.get("Rolling", o["seconds"])
        notes.append(f"- {name}: where the operator's {o['seconds']:.0f} s went: the new template reached the canal "
                     f"DaemonSet after {o['template_applied_s']:.1f} s (the spec's 2 s quiet time, then the apply of "
                     f"the whole render); status showed {_phases(o['phases'])}; so rolling the {u['nodes'] - 1} "
                     f"nodes after the canary took {rolling:.0f} s, against {b['seconds']:.0f} s for the baseline's "
                     f"whole rollout. Worst moment {o['worst_at_s']:.0f} s after the apply (baseline "
                     f"{b['worst_at_s']:.0f} s).")
        errors = o["sample_errors"] + b["sample_errors"]
        if errors:
            notes.append(f"  The sampler's watch broke {errors} times (listed again each time).")
    header = ["policy", "maxUnavailable", "operator: to Complete", "baseline: DaemonSet RollingUpdate", "ratio",
              "operator: max nodes without a Ready canal pod", "baseline: same",
              "sampler: pod events + 200 ms ticks, longest gap (operator / baseline)"]
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
         "Both sides counted the nodes without a Ready, non-terminating pod of their DaemonSet after every pod event "
         "of a watch and every 200 ms (tests/harness/rollout.py, the rollout tests' sampler). One run per side: "
         "the figures are single measurements, not medians.\n"),
        _table(header, rows) + "\n",
        *notes,
        "",
        ("The operator's extra time is the canary and its soak (the DaemonSet controller has neither) and a slower "
         "roll: the DaemonSet controller deletes the next old pod on the event that a new one is available, the "
         "operator on its next pass, and passes are at least 1 s apart (CNI_OPERATOR_MIN_INTERVAL).\n"),
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


if __name__ == "__main__":  # `python -m bench.report_upgrade`: the section again from bench/results_upgrade.json
    import json

    from tests.harness.repo import REPO

    target = REPO / "BENCHMARKS.md"
    results = json.loads((REPO / "bench" / "results_upgrade.json").read_text())
    target.write_text(replace_section(target.read_text(), section(results)))
    print(f"wrote the upgrade section of {target} from bench/results_upgrade.json")
