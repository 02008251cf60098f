"""BENCHMARKS.md from the results of one run (`python -m bench.report` rewrites it from bench/results.json): machine, versions, date, every figure as a table with its baseline,
ratio and target, the command to reproduce it, and every missed target named with what the run measured about it.

The scale section is only measured with BENCH_SCALE=1; a default run keeps the previous scale section (between the
markers below, with its own date) rather than dropping figures, and says so.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from tests.harness.repo import REPO, toolchain

SCALE_BEGIN, SCALE_END = "<!-- scale:begin -->", "<!-- scale:end -->"
INSTALL_TARGET = 0.8
RSS_TARGET_MIB = 120
RSS_BEFORE = ((1000, 121), (5000, 189))  # VmRSS peaks of the 2026-11-28 run, kept whole node and pod views


# ---------------------------------------------------------------------------------------------- machine, versions


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return {"nproc": len(os.sched_getaffinity(0)), "memory_gib": round(mem_kib / 1024 / 1024, 1), "cpu": cpu,
            "kernel": platform.release()}


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def versions() -> dict:
    import yaml

    packages = {name: metadata.version(name) for name in ("cni-operator", "kopf", "kubernetes", "pydantic",
                                                           "Jinja2", "PyYAML", "aiohttp")}
    return {
        "python": platform.python_version(),
        **packages,
        "libyaml": "yes" if hasattr(yaml, "CSafeLoader") else "no",
        "kube-apiserver": _first_line([str(toolchain.resolve("kube-apiserver")), "--version"]),
        "kubectl": _first_line([str(toolchain.resolve("kubectl")), "version", "--client"]),
        "etcd": _first_line([str(toolchain.resolve("etcd")), "--version"]),
        "kwok": _first_line([str(toolchain.resolve("kwok")), "--version"]),
    }


# ---------------------------------------------------------------------------------------------------- formatting


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def writes_text(by_kind: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in by_kind.items()) or "none"


# ---------------------------------------------------------------------------------------------------- sections


def header(r: dict) -> str:
    m, v, s = r["machine"], r.get("versions", {}), r["settings"]
    rows = [["machine", f"{m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}"],
            ["date", r["started"]],
            ["load average (1/5/15 min) before / after", f"{r['load_before']} / {r.get('load_after', '?')}"],
            ["python / kopf / kubernetes client", f"{v.get('python')} / {v.get('kopf')} / {v.get('kubernetes')}"],
            ["pydantic / Jinja2 / PyYAML (libyaml)",
             f"{v.get('pydantic')} / {v.get('Jinja2')} / {v.get('PyYAML')} ({v.get('libyaml')})"],
            ["kube-apiserver / kubectl", f"{v.get('kube-apiserver')} / {v.get('kubectl')}"],
            ["etcd / kwok", f"{v.get('etcd')} / {v.get('kwok')}"],
            ["settings", (f"BENCH_RUNS={s['runs']} BENCH_CHANGES={s['changes']} "
                         f"BENCH_IDLE_SECONDS={s['idle_seconds']:g} BENCH_SCALE={'1' if s['scale'] else '0'}")],
            ["wall time of the run", f"{r.get('wall_seconds', 0):.0f} s"]]
    return ("# Benchmarks\n\n"
            "Written by `make bench` (`bench/run.py`); every figure is a median over the runs of one invocation, next "
            "to a baseline measured in the same invocation on the same cluster. How each figure is measured, and what "
            "the misses mean: [docs/benchmarks.md](docs/benchmarks.md). Every sample: `bench/results.json`.\n\n"
            "The machine is shared (other worktrees run their own control planes on the same 2 CPUs at the same "
            "time), so absolute times move between runs; ratios to the baseline of the same run are the figures to "
            "compare.\n\n" + table(["", ""], rows) + "\n")


def summary(r: dict) -> str:
    rows = []
    inst = r.get("install")
    if inst:
        verdict = "met" if inst["ratio"] <= INSTALL_TARGET else f"**missed** ({ratio(inst['ratio'])})"
        rows.append(["1. install: `kubectl apply` of the ClusterNetwork → Applied=True",
                     sec(inst["operator_median_s"]),
                     f"`kubectl apply --server-side` of the rendered objects: {sec(inst['kubectl_median_s'])}",
                     ratio(inst["ratio"]), f"≤ {INSTALL_TARGET}", verdict])
    for series, label in (("isolated", "2. readiness change → CR status, p50 / p99 (idle operator)"),
                          ("back_to_back", "2. same, changes back to back (operator busy)")):
        lat = r.get("latency", {}).get(series)
        if lat:
            rows.append([label, f"{ms(lat['cr_p50'])} / {ms(lat['cr_p99'])}",
                         f"DaemonSet numberReady: {ms(lat['ds_p50'])} / {ms(lat['ds_p99'])}",
                         ratio(lat["cr_p50"] / lat["ds_p50"]), "-", "-"])
    idle = r.get("idle")
    if idle:
        renewals = f" (+{idle['lease_renewals']} Lease renewals)" if idle.get("lease_renewals") else ""
        rows.append([f"3. operator writes in {idle['seconds']:.0f} s idle", f"{idle['writes']}{renewals}", "-", "-",
                     "0", "met" if idle["writes"] == 0 else f"**missed** ({writes_text(idle['by_kind'])})"])
    for change in r.get("per_change", []):
        rows.append([f"3. writes for one change: {change['change']}", str(change["writes"]), "-", "-", "-", "-"])
    rnd = r.get("render")
    if rnd:
        for name in ("canal", "aws-vpc-cni"):
            x = rnd[name]
            rows.append([f"5. render {name} in-process (warm)", ms(x["warm_s"]),
                         f"parse the same YAML: {ms(x['baseline_s'])}", ratio(x["ratio_warm"]), "-", "-"])
    cli = r.get("cli")
    if cli:
        rows.append(["5. `cni-operator versions` wall time", ms(cli["versions_s"]),
                     f"`python -c pass`: {ms(cli['python_s'])}", ratio(cli["ratio_versions"]), "-", "-"])
    return "## Summary\n\n" + table(["figure", "measured", "baseline (same run)", "ratio", "target", "verdict"],
                                    rows) + "\n"


def install_section(r: dict) -> str:
    inst = r.get("install")
    if not inst:
        return ""
    op, kc = inst["operator_phases"], inst["kubectl_phases"]
    rows = [["total (median)", sec(inst["operator_median_s"]), sec(inst["kubectl_median_s"])],
            ["objects written", f"{op['writes']:.0f}", f"{kc['writes']:.0f}"],
            ["kubectl process start → first request", ms(op["kubectl start"]) + " (the CR)",
             ms(kc["kubectl start"])],
            ["CR created → operator's first write", ms(op["reaction"]), "-"],
            ["first → last write of the CNI objects", ms(op["apply"]), ms(kc["apply"])],
            ["last CNI object → Applied status patch", ms(op["report"]), "-"],
            ["status patch → our watch sees it / kubectl exits", ms(op["notice"]), ms(kc["exit"])]]
    samples = table(["run", "operator", "kubectl --server-side"],
                    [[str(i + 1), sec(o["total"]), sec(k["total"])]
                     for i, (o, k) in enumerate(zip(inst["operator"], inst["kubectl"]))])
    text = [
        "## 1. Install time\n",
        "```\nmake bench        # BENCH_RUNS=7 runs per side\n```\n",
        (f"From nothing (all {inst['objects']} Canal objects deleted and their pods gone) to installed, alternating "
         "the two sides. Operator: `kubectl apply -f clusternetwork.yaml` (mks) until a watch on the ClusterNetwork "
         "sees Applied=True for its generation; the operator was already running. Baseline: `kubectl apply "
         "--server-side -f canal-rendered.yaml` (the output of `cni-operator render`, written before the clock "
         "starts) until kubectl exits.\n"),
        (f"Ratio of medians **{ratio(inst['ratio'])}** (median of per-pair ratios {ratio(inst['ratio_pairs_median'])})"
         f"; target ≤ {INSTALL_TARGET}.\n"),
        "Where the time goes (medians; from the audit log's request timestamps):\n",
        table(["phase", "operator", "kubectl --server-side"], rows) + "\n",
    ]
    if inst["ratio"] > INSTALL_TARGET:
        start = op["kubectl start"] - kc["kubectl start"]
        apply = op["apply"] - kc["apply"]
        own = op["reaction"] + op["report"]
        tail = op["notice"] - kc["exit"]
        signed = lambda v: f"{'+' if v >= 0 else '−'}{ms(abs(v))}"
        text.append(
            f"**Target missed** ({ratio(inst['ratio'])} against ≤ {INSTALL_TARGET}). Operator minus kubectl, by "
            f"phase: start {signed(start)} (a 4-line ClusterNetwork against 40 objects to parse), apply "
            f"{signed(apply)} (the same {inst['objects']} objects, 8 threads against one request at a time), the "
            f"operator's own reaction and report {signed(own)}, the end {signed(tail)}. To get under the target the "
            f"operator's apply and report steps must shrink; [docs/benchmarks.md](docs/benchmarks.md#1-install-time) "
            "shows by how much each known cost would move it (`bench/apply_variants.py`).\n")
    text.append("<details><summary>every run</summary>\n\n" + samples + "\n\n</details>\n")
    return "\n".join(text)


def latency_section(r: dict) -> str:
    lat = r.get("latency")
    if not lat:
        return ""
    rows = []
    for label, name in (("isolated", "idle operator (no pass for 1.5 s before each change)"),
                        ("back_to_back", "back to back (next change as soon as the last is reflected)")):
        x = lat[label]
        gets = "-" if x.get("crd_gets") is None or not x.get("passes") else f"{x['crd_gets'] / x['passes']:.1f}"
        rows.append([name, str(x["changes"]), f"{ms(x['cr_p50'])} / {ms(x['cr_p99'])}",
                     f"{ms(x['ds_p50'])} / {ms(x['ds_p99'])}", f"{ms(x['pod_p50'])} / {ms(x['pod_p99'])}",
                     f"{x['passes'] / x['changes']:.2f}", f"{x['status_patches_per_change']:.2f}", gets])
    return "\n".join([
        "## 2. Readiness latency\n",
        "```\nmake bench        # BENCH_CHANGES=30 changes per series\n```\n",
        ("A canal pod's Ready condition is patched (status subresource, as the admin), alternating not-ready / ready "
         "over the pods; the clock stops when a watch on the ClusterNetwork delivers a readySummary that counts the "
         "change. Baselines from watches opened in the same process: the DaemonSet's numberReady "
         "(kube-controller-manager's view, what `kubectl get ds` shows) and the pod's own watch event (the earliest "
         "anyone can know). Percentiles are nearest-rank: with 30 samples p99 is the slowest one.\n"),
        table(["series", "changes", "ClusterNetwork p50 / p99", "DaemonSet p50 / p99", "pod event p50 / p99",
               "passes per change", "status patches per change", "CRD GETs per pass"], rows) + "\n",
        ("Back to back, the operator's minimum spacing of passes (CNI_OPERATOR_MIN_INTERVAL, 1 s) sets the latency: "
         "by design, so status is patched at most about once a second under churn.\n"),
    ])


def writes_section(r: dict) -> str:
    idle = r.get("idle")
    if not idle:
        return "## 3. Operator writes\n\nNot measured: no audit log (set AUDIT_LOG_TESTS with KUBECONFIG_TESTS).\n"
    rows = [[c["change"], str(c["writes"]), str(c["managed_object_writes"]), str(c["status_patches"]),
             str(c["events"]), f"{c['passes']:.0f}", sec(c["settled_after_s"])] for c in r.get("per_change", [])]
    verdict = ("met: zero writes" if idle["writes"] == 0 else
               f"**target missed**: {writes_text(idle['by_kind'])}")
    return "\n".join([
        "## 3. Operator writes\n",
        "```\nmake bench        # BENCH_IDLE_SECONDS=60\n```\n",
        ("From the API server's audit log, user `system:serviceaccount:kube-system:cni-operator-bench` (the operator "
         "under the chart's RBAC), verbs create/update/patch/delete.\n"),
        (f"Idle, CNI Ready, nothing changing, {idle['seconds']:.0f} s: **{idle['writes']} writes** (target 0, "
         f"{verdict}), besides {idle.get('lease_renewals', 0)} renewals of the operator's Lease (the one write "
         f"an idle operator makes by design); {idle['passes']:.0f} reconcile passes, "
         f"{idle['cpu_seconds']:.2f} CPU seconds, RSS {idle['rss_mib']:.0f} MiB.\n"),
        ("One change at a time, counted until the ClusterNetwork is Ready with Progressing=False for the new "
         "generation and no pass has started for 2 s:\n"),
        table(["change", "writes", "CNI objects", "status patches", "Events", "passes", "settled after"], rows)
        + "\n",
    ])


def render_section(r: dict) -> str:
    rnd, cli = r.get("render"), r.get("cli")
    if not rnd:
        return ""
    rows = [[name, str(rnd[name]["objects"]), f"{rnd[name]['yaml_bytes'] / 1024:.0f} KiB", ms(rnd[name]["warm_s"]),
             ms(rnd[name]["cold_s"]), ms(rnd[name]["baseline_s"]), ratio(rnd[name]["ratio_warm"]),
             ratio(rnd[name]["ratio_cold"])] for name in ("canal", "aws-vpc-cni")]
    rows_cli = [["`cni-operator versions`", ms(cli["versions_s"]), ratio(cli["ratio_versions"])],
                ["`cni-operator render -f -` (mks)", ms(cli["render_s"]), ratio(cli["ratio_render"])],
                ["`python -c pass` (baseline)", ms(cli["python_s"]), "1.00×"]]
    return "\n".join([
        "## 5. Render time and CLI start-up\n",
        f"```\nmake bench        # in-process timeit; medians of {rnd['repeat']} interleaved rounds\n```\n",
        ("`render(parse_spec(spec))` in-process. Warm: what every reconcile pass costs (templates loaded, the other "
         "catalog versions' object names memoised per spec). Cold: a spec not rendered before (the memo emptied, so "
         "the other versions are rendered once too). Baseline: loading the same objects from the pre-rendered YAML "
         f"with the same loader ({rnd['loader']}), the least a static manifest costs; the ratio is the price of "
         "templating.\n"),
        table(["provider", "objects", "YAML", "render warm", "render cold", "parse YAML (baseline)", "warm ratio",
               "cold ratio"], rows) + "\n",
        *assess_part(r),
        f"CLI wall time, median of {cli['runs']} interleaved runs each:\n",
        table(["command", "wall time", "ratio to python"], rows_cli) + "\n",
    ])


def assess_part(r: dict) -> list[str]:
    assess = r.get("assess")
    if not assess:
        return []
    rows = [[str(n), ms(t), f"{100 * t:.1f}%"] for n, t in assess.items()]
    return [("`health.assess` in-process over synthetic node and pod views (what every reconcile pass computes, on "
             "the event loop the watches share), against the 1 s minimum spacing of passes:\n"),
            table(["nodes", "assess", "share of 1 s"], rows) + "\n"]


def scale_section(r: dict, previous: str) -> str:
    sc = r.get("scale")
    if sc is None:
        old = re.search(re.escape(SCALE_BEGIN) + r"(.*?)" + re.escape(SCALE_END), previous, re.DOTALL)
        if old and "Not run yet" not in old.group(1):
            body = old.group(1).strip()
            if "Carried over" not in body:
                body = body.replace("## 4. Scale\n", "## 4. Scale\n\n*Carried over from an earlier `BENCH_SCALE=1` "
                                    "run (its date and machine are in its first line below); this run did not "
                                    "measure scale.*\n", 1)
            return f"{SCALE_BEGIN}\n{body}\n{SCALE_END}\n"
        return (f"{SCALE_BEGIN}\n## 4. Scale\n\nNot run yet: `BENCH_SCALE=1 make bench` (tens of minutes).\n"
                f"{SCALE_END}\n")
    if "skipped" in sc:
        return f"{SCALE_BEGIN}\n## 4. Scale\n\nSkipped: {sc['skipped']}.\n{SCALE_END}\n"
    m = r["machine"]
    rows_join, rows_idle, rows_churn, rows_mem = [], [], [], []
    errors = []
    for n, e in sc["sizes"].items():
        j, i, c = e.get("join"), e.get("idle"), e.get("churn")
        if j:
            opt = lambda v: "-" if v is None else sec(v)
            rows_join.append([str(n), str(j["nodes_added"]), sec(j["create_s"]),
                              opt(j["ds_ready_s"]) + ("" if j["settled"] else " (never settled)"),
                              f"{j['stuck_not_ready']}" + ("" if j["settled"] else " not ready at the end"),
                              opt(j["cr_ready_s"]), opt(j["lag_s"]),
                              f"{j['tracking_median']} / {j['tracking_p99']}",
                              f"{j['status_patches']:.0f} ({j['status_patches'] / j['wall_s']:.2f}/s)",
                              f"{j['cpu_s']:.0f} ({100 * j['cpu_s'] / j['wall_s']:.0f}%)"])
        if i:
            rows_idle.append([str(n), f"{i['seconds']:.0f} s", writes_text(i["writes"]), f"{i['passes']:.0f}",
                              f"{i['cpu_s']:.2f}", f"{100 * i['cpu_s'] / i['seconds']:.1f}%"])
        if c:
            rows_churn.append([str(n), f"{c['flips_per_s']:.1f}", f"{c['seconds']:.0f} s",
                               f"{c['status_patches']:.0f} ({c['audit_status_writes']} in the audit log)",
                               f"{c['status_patches_per_s']:.2f}", f"{c['passes_per_s']:.2f}", f"{c['cpu_s']:.1f}",
                               f"{100 * c['cpu_share']:.0f}%", sec(c["settle_s"])])
        rss = [f"{x['rss_mib']:.0f}" if x else "-" for x in (j, i, c)]
        rows_mem.append([str(n), *rss, f"{e['hwm_mib']:.0f}" if "hwm_mib" in e else "-"])
        if "error" in e:
            errors.append(f"**{n} nodes did not complete**: {e['error']}.")
    worked = [n for n, e in sc["sizes"].items() if "error" not in e]
    largest = f"Largest size that completed: **{max(worked, key=int)} nodes**." if worked else "No size completed."
    return "\n".join([
        SCALE_BEGIN,
        "## 4. Scale\n",
        f"Measured {r['started']} on {m['nproc']} CPUs ({m['cpu']}), load average {r['load_before']} at the start.\n",
        ("```\nBENCH_SCALE=1 make bench     # BENCH_SCALE_NODES=1000,5000 BENCH_CHURN_SECONDS=60 BENCH_CHURN_RATE=10\n"
         "```\n"),
        largest + (" " + " ".join(errors) if errors else "") + "\n",
        *[f"*Note:* {note}\n" for note in sc.get("notes", [])],
        ("Join: fake nodes created (8 threads). Baseline: the canal DaemonSet's status settling with a pod on every "
         "node (unchanged for 10 s; numberReady R, normally N). The operator's figure: its readySummary saying R/N, "
         "from then on; lag = the difference. *Stuck*: pods kube-controller-manager marked not ready while kwok "
         "renewed node leases late (made ready again by the bench before the next phases). *Tracking*: once a second "
         "while every pod was scheduled, |readySummary count − DaemonSet numberReady|, median / p99, in pods.\n"),
        table(["nodes", "added", "create nodes", "DaemonSet settled", "stuck", "ClusterNetwork says R/N", "lag",
               "tracking (pods)", "status patches", "operator CPU s (share)"], rows_join) + "\n",
        "Idle at that size:\n",
        table(["nodes", "window", "writes", "passes", "CPU s", "CPU share"], rows_idle) + "\n",
        ("Rolling readiness churn (one pod made not ready per flip, made ready again 10 flips later), then every pod "
         "made ready and the time until the status says N/N:\n"),
        table(["nodes", "flips/s", "window", "status patches", "patches/s", "passes/s", "CPU s", "CPU share",
               "N/N again after"], rows_churn) + "\n",
        "Operator memory (VmRSS after each phase, VmHWM = peak since start), MiB:\n",
        table(["nodes", "after join", "after idle", "after churn", "peak"], rows_mem) + "\n",
        (f"Target (issue 'one per-cluster pipeline'): <= {RSS_TARGET_MIB} MiB at 5,000 nodes and 5,000 CNI pods. Before "
         "the session kept projections instead of whole objects, the same method measured "
         + ", ".join(f"{rss} MiB at {n:,} nodes" for n, rss in RSS_BEFORE) + " (2026-11-28).\n"),
        SCALE_END,
    ]) + "\n"


def markdown(r: dict, previous: str = "") -> str:
    from bench import report_fleet, report_upgrade

    upgrade = report_upgrade.section(r) if "upgrade" in r else report_upgrade.carried_over(previous)
    parts = [header(r), summary(r), install_section(r), latency_section(r), writes_section(r),
             scale_section(r, previous), render_section(r), upgrade]
    return report_fleet.carry("\n".join(p for p in parts if p), r.get("fleet"), previous)


if __name__ == "__main__":
    import json

    target = REPO / "BENCHMARKS.md"
    results = json.loads((REPO / "bench" / "results.json").read_text())
    target.write_text(markdown(results, previous=target.read_text() if target.exists() else ""))
    print(f"wrote {target} from bench/results.json")
