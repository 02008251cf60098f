"""BENCHMARKS.md's fleet section (bench/bench_fleet.py) between its own markers, and its rows of the Summary table
(those beginning `| 7.`): written by `python -m bench.bench_fleet` or a BENCH_FLEET=1 run of `make bench`; any other
run carries both over (report.markdown calls carry()). `python -m bench.report_fleet` writes them again from
bench/results_fleet.json."""

from __future__ import annotations

import re

BEGIN, END = "<!-- fleet:begin -->", "<!-- fleet:end -->"
TITLE = "## 7. Fleet mode"
COMMAND = ".venv/bin/python hack/localcluster.py up --nodes 3 --targets 5 && .venv/bin/python -m bench.bench_fleet"
ROW = "| 7. "
LATENCY_GOAL = 0.2  # seconds, p50 (issue 11: the same as in-cluster, p50 < 200 ms)
INSTALL_CLOSE_TO_1 = 1.5  # N targets at once / one: "close to 1" (each target has its own task and rate limit)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _per_min(count: int, seconds: float) -> str:
    return f"{count * 60 / seconds:.1f}" if count else "0"


def _cpu(window: dict, process: dict | None = None) -> str:
    """CPU seconds over the window, as a share of one core (of PROCESS's figures in it, default the fleet operator)."""
    return f"{(process or window)['cpu_seconds'] / window['seconds'] * 100:.2f}%"


def _writes(w: dict) -> tuple[int, int]:
    return w["management_writes"], sum(w["target_writes"].values())


def summary_rows(r: dict) -> list[str]:
    f = r["fleet"]
    idle, inst, lat = f["idle"]["windows"], f["install"], f["latency"]
    base, top = idle[0], idle[-1]
    n = top["targets_served"]
    verdict = "met" if lat["rcn_p50"] < LATENCY_GOAL else f"**not met** ({_ms(lat['rcn_p50'])})"
    writes = sum(sum(_writes(w)) for w in idle)
    rows = [
        [f"7. fleet: operator RSS with {n} targets idle (per target)",
         f"{top['rss_mib']:.1f} MiB (+{top['rss_per_target_mib']:.1f} MiB per target)",
         (f"same process, 0 targets: {base['rss_mib']:.1f} MiB; in-cluster operator: "
         f"{base['incluster']['rss_mib']:.1f} MiB"), f"{top['rss_mib'] / base['rss_mib']:.2f}×", "-", "-"],
        [f"7. fleet: operator CPU with {n} targets idle (per target)",
         f"{_cpu(top)} of a core (+{top['cpu_per_target_s_per_min']:.2f} s a minute per target)",
         f"same process, 0 targets: {_cpu(base)}; in-cluster operator: {_cpu(base, base['incluster'])}", "-", "-",
         "-"],
        [f"7. fleet: install on {inst['targets']} targets at once → all Ready", f"{inst['ready_s']['all']:.2f} s",
         f"one target: {inst['ready_s']['one']:.2f} s", f"{inst['ready_s']['ratio']:.2f}×",
         f"close to 1 (≤ {INSTALL_CLOSE_TO_1})",
         "met" if inst["ready_s"]["ratio"] <= INSTALL_CLOSE_TO_1 else "**not met**"],
        ["7. fleet: readiness change in a target → RemoteClusterNetwork status, p50 / p99",
         f"{_ms(lat['rcn_p50'])} / {_ms(lat['rcn_p99'])}",
         f"the target's DaemonSet numberReady: {_ms(lat['ds_p50'])} / {_ms(lat['ds_p99'])}",
         f"{lat['rcn_p50'] / lat['ds_p50']:.2f}×", "p50 < 200 ms", verdict],
        [f"7. fleet: writes in {len(idle)} idle windows of {f['idle']['seconds']:.0f} s (management + targets)",
         f"{writes} (+{sum(w['lease_renewals'] for w in idle)} Lease renewals)", "-", "-", "0",
         "met" if writes == 0 else "**missed**"],
    ]
    return ["| " + " | ".join(row) + " |" for row in rows]


def _idle_table(f: dict) -> str:
    rows = []
    base = f["idle"]["windows"][0]
    inc = base["incluster"]
    rows.append(["in-cluster operator, 1 ClusterNetwork (baseline)", f"{inc['rss_mib']:.1f}", "-",
                 _cpu(base, inc), "-", "-",
                 (f"{_per_min(inc['writes'], base['seconds'])} (+{_per_min(inc['lease_renewals'], base['seconds'])} "
                 "Lease)"), "-"])
    for w in f["idle"]["windows"]:
        n, s = w["targets_served"], w["seconds"]
        mgmt, targets = _writes(w)
        rows.append([f"fleet operator, {n} target{'s' if n != 1 else ''}" + (" (baseline)" if not n else ""),
                     f"{w['rss_mib']:.1f}", f"{w['rss_per_target_mib']:+.1f}" if n else "-",
                     _cpu(w),
                     f"{w['cpu_per_target_s_per_min']:+.2f} s" if n else "-", f"{w['passes']:.0f}",
                     f"{_per_min(mgmt, s)} (+{_per_min(w['lease_renewals'], s)} Lease)", _per_min(targets, s)])
    return _table(["process", "RSS MiB", "RSS per target (vs 0)", "CPU (of one core)", "CPU per target per minute",
                   "reconcile passes", "writes/min, management cluster", "writes/min, all targets"], rows)


def _install_table(inst: dict) -> str:
    rows = [[f"{inst['targets']} targets at once", f"{inst['applied_s']['all']:.2f} s", f"{inst['ready_s']['all']:.2f} s"],
            ["one target (t1)", f"{inst['applied_s']['one']:.2f} s", f"{inst['ready_s']['one']:.2f} s"],
            ["ratio (N at once / one)", f"{inst['applied_s']['ratio']:.2f}×", f"{inst['ready_s']['ratio']:.2f}×"]]
    if "first_write_s" in inst:
        fw, lw = inst["first_write_s"], inst["last_write_s"]
        where = (f"\n\nWhere the time went (the target's audit log; for N at once the last target, median over the "
                 f"runs): the operator's first write in a target {fw['one']:.1f} s after the apply for one target, "
                 f"{fw['all']:.1f} s for {inst['targets']} at once; its last write (the CNI's objects all in place) "
                 f"{lw['one']:.1f} s / {lw['all']:.1f} s.")
    else:
        where = ""
    runs = ", ".join(f"{a['ready_s']:.1f}/{o['ready_s']:.1f} s" for a, o in
                     zip(inst["sides"]["all"], inst["sides"]["one"], strict=True))
    return (_table(["apply → every RemoteClusterNetwork", "Applied (median)", "Ready (median)"], rows)
            + f"\n\nEvery run, Ready (N at once / one): {runs}.{where}")


def _memory(f: dict) -> str:
    per = [sum(v.values()) for v in f.get("memory_per_target", {}).values()]
    if not per:
        return ""
    return (f"Each target's control plane (kube-apiserver, controller-manager, scheduler, kwok; the etcd is shared) "
            f"held {min(per):.0f}-{max(per):.0f} MiB RSS.")


def section(r: dict) -> str:
    f, m = r["fleet"], r["machine"]
    lat, s = f["latency"], r["settings"]
    n = len(f["targets"])
    verdict = "met" if lat["rcn_p50"] < LATENCY_GOAL else "**not met**"
    return "\n".join([
        BEGIN, TITLE + "\n",
        (f"Measured {r['started']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB; load average "
         f"{r['load_before']} before, {r['load_after']} after (other worktrees' control planes and tests ran "
         f"meanwhile); {r['wall_seconds']:.0f} s in all. Settings: BENCH_FLEET_IDLE_SECONDS={s['idle_seconds']:g} "
         f"BENCH_FLEET_RUNS={s['runs']} BENCH_FLEET_CHANGES={s['changes']}.\n"),
        f"```\n{COMMAND}\n```\n",
        (f"`cni-operator run --fleet` in the management cluster as the chart's fleet identity, {n} real target "
         f"clusters ({', '.join(f['targets'])}, {f['nodes_per_target']} kwok nodes each), each reached with a token of "
         f"the `cni-operator target-rbac --cluster-type mks` identity; one mks RemoteClusterNetwork per target. "
         f"{_memory(f)} How each figure is measured: [docs/benchmarks.md](docs/benchmarks.md#7-fleet-mode).\n"),
        "### Idle cost per target, and writes per idle minute\n",
        _idle_table(f) + "\n",
        "### Install on N targets at once vs one\n",
        _install_table(f["install"]) + "\n",
        "### Readiness change in a target → RemoteClusterNetwork status\n",
        _table(["", "p50", "p99"], [
            ["RemoteClusterNetwork readySummary (watch in the management cluster)", _ms(lat["rcn_p50"]),
             _ms(lat["rcn_p99"])],
            ["baseline: the target's DaemonSet numberReady (watch in the target)", _ms(lat["ds_p50"]),
             _ms(lat["ds_p99"])],
            ["the pod's own event (watch in the target)", _ms(lat["pod_p50"]), _ms(lat["pod_p99"])]]) + "\n",
        (f"{lat['changes']} changes in {lat['target']} ({lat['pods']} canal pods), each made when the operator had "
         f"started no pass for 1.5 s; goal p50 < 200 ms: {verdict}. {lat['status_patches_per_change']:.1f} status "
         f"patches per change in the management cluster; writes in the target meanwhile: "
         f"{sum(lat['target_writes'].values())}.\n"),
        END,
    ]) + "\n"


def _summary_bounds(lines: list[str]) -> tuple[int, int]:
    """The first and one-past-last line of the Summary table's rows (header and rule excluded)."""
    start = next(i for i, line in enumerate(lines) if line.strip() == "## Summary")
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|")) + 2
    end = first
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return first, end


def _with(document: str, section_text: str, rows: list[str]) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)
    if pattern.search(document):
        document = pattern.sub(lambda _: section_text, document, count=1)
    else:
        document = document.rstrip("\n") + "\n\n" + section_text
    lines = document.split("\n")
    if not any(line.strip() == "## Summary" for line in lines):
        return document
    first, end = _summary_bounds(lines)
    kept = [line for line in lines[first:end] if not line.startswith(ROW)]
    return "\n".join(lines[:first] + kept + rows + lines[end:])


def replace(document: str, r: dict) -> str:
    """DOCUMENT with the fleet section and Summary rows of results R."""
    return _with(document, section(r), summary_rows(r))


def carry(document: str, r: dict | None, previous: str) -> str:
    """For report.markdown: DOCUMENT (a fresh BENCHMARKS.md) with the fleet figures of R (what bench_fleet.measure
    returned, in a BENCH_FLEET=1 run), or else PREVIOUS's (the last BENCHMARKS.md)."""
    if r and "skipped" not in r.get("fleet", {"skipped": True}):
        return replace(document, r)
    old = re.search(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", previous, re.DOTALL)
    if not old:
        return _with(document, f"{BEGIN}\n{TITLE}\n\nNot run yet: `{COMMAND}` (about 15 minutes).\n{END}\n", [])
    return _with(document, old.group(0), [line for line in previous.split("\n") if line.startswith(ROW)])


if __name__ == "__main__":  # `python -m bench.report_fleet`: the section again from bench/results_fleet.json
    import json

    from tests.harness.repo import REPO

    target = REPO / "BENCHMARKS.md"
    target.write_text(replace(target.read_text(), json.loads((REPO / "bench" / "results_fleet.json").read_text())))
    print(f"wrote the fleet section of {target} from bench/results_fleet.json")
