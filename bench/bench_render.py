"""5. Render time in-process, and CLI start-up.

Render: `render(parse_spec(raw))` for Canal (mks) and the AWS VPC CNI (eks), the whole spec -> objects path the
operator runs on every pass. Two cases: warm (what every pass costs: the jinja2 environments are built and the
identities of the other catalog versions, needed for pruning, are memoised per distinct spec) and cold (a spec the
process has not rendered before: the memo emptied, so the other catalog versions are rendered too).

Baseline: loading the same objects from a pre-rendered YAML file with the same YAML loader (libyaml's CSafeLoader
when PyYAML has it). That is the least a tool shipping a static manifest must do with it, so the ratio is the
price of templating (jinja2, the per-version catalog, the spec -> context step, labels, ordering) over not
templating at all. Comparing with yaml.safe_dump of the result would measure the emitter, which render never runs.

Health at size: `health.assess` (the pure function every pass runs: node coverage, pod problems, conditions) over
synthetic views of N nodes with one ready canal pod each (the same projections the operator's indexes keep), next to
the 1 s minimum spacing of passes it has to fit in. It runs on the event loop kopf's watches share.

CLI start-up: wall time of `cni-operator versions` (a real command: imports, argument parsing, the catalog) against
`python -c pass` with the same interpreter, interleaved in one loop.
"""

from __future__ import annotations

import subprocess
import sys
import time
import timeit
from pathlib import Path

import yaml
from cni_operator import render as render_mod
from cni_operator.api import parse_spec
from cni_operator.render import render, to_yaml

from bench.common import median

SPECS = {"canal": {"clusterType": "mks"}, "aws-vpc-cni": {"clusterType": "eks"}}
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _per_call(fn, number: int) -> float:
    return timeit.timeit(fn, number=number) / number


def render_times(repeat: int) -> dict:
    """Medians over REPEAT rounds; each round times warm, cold and the baseline one after the other, so a burst of
    background load falls on all three rather than on one."""
    out = {"loader": LOADER.__name__, "repeat": repeat}
    for name, raw in SPECS.items():
        objects = render(parse_spec(raw)).apply
        text = to_yaml(objects)

        def warm(raw=raw):
            return render(parse_spec(raw))

        def cold(raw=raw):
            render_mod._REFS_MEMO.clear()
            return render(parse_spec(raw))

        def baseline(text=text):
            return [d for d in yaml.load_all(text, Loader=LOADER) if d]

        samples: dict[str, list[float]] = {"warm": [], "cold": [], "baseline": []}
        for _ in range(repeat):
            samples["warm"].append(_per_call(warm, 10))
            samples["cold"].append(_per_call(cold, 5))
            samples["baseline"].append(_per_call(baseline, 10))
        out[name] = {
            "objects": len(objects),
            "yaml_bytes": len(text.encode()),
            **{f"{k}_s": median(v) for k, v in samples.items()},
            "ratio_warm": median(samples["warm"]) / median(samples["baseline"]),
            "ratio_cold": median(samples["cold"]) / median(samples["baseline"]),
        }
    return out


def assess_times(sizes: tuple[int, ...] = (3, 1000, 5000), repeat: int = 5) -> dict:
    import datetime as dt

    from cni_operator import health
    from cni_operator.health.facts import node_facts as node_view
    from cni_operator.health.facts import pod_facts as pod_view

    now = dt.datetime.now(dt.UTC)
    ts = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = {"running": {"startedAt": ts}}

    def node(i: int) -> dict:
        return node_view({"metadata": {"name": f"kwok-node-{i}", "creationTimestamp": ts, "labels": {}},
                          "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})

    def pod(i: int) -> dict:
        return pod_view({
            "metadata": {"name": f"canal-{i:05d}", "namespace": "kube-system", "labels": {"k8s-app": "canal"}},
            "spec": {"nodeName": f"kwok-node-{i}"},
            "status": {"phase": "Running",
                       "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts}
                                      for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                       "containerStatuses": [{"name": c, "ready": True, "restartCount": 0, "state": running}
                                             for c in ("calico-node", "kube-flannel")]}})

    out = {}
    for n in sizes:
        nodes, pods = [node(i) for i in range(n)], [pod(i) for i in range(n)]
        ds = {"kind": "DaemonSet", "metadata": {"name": "canal", "generation": 1},
              "status": {"observedGeneration": 1, "desiredNumberScheduled": n, "numberReady": n,
                         "updatedNumberScheduled": n, "numberUnavailable": 0}}
        number = 20 if n < 1000 else 2

        def once(ds=ds, nodes=nodes, pods=pods):
            return health.assess(ds, nodes, pods, now, generation=1, applied=True, provider="canal")
        out[n] = median([_per_call(once, number) for _ in range(repeat)])
    return out


def cli_startup(runs: int) -> dict:
    cli = str(Path(sys.executable).parent / "cni-operator")
    commands = {"cli": [cli, "versions"], "python": [sys.executable, "-c", "pass"],
                "render_cli": [cli, "render", "-f", "-"]}
    cr = yaml.safe_dump({"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
                         "metadata": {"name": "default"}, "spec": {"clusterType": "mks"}})
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(2):  # warm the page cache and .pyc files; not counted
        for cmd in commands.values():
            subprocess.run(cmd, input=cr, capture_output=True, text=True, check=True)
    for _ in range(runs):
        for key, cmd in commands.items():
            t0 = time.monotonic()
            subprocess.run(cmd, input=cr, capture_output=True, text=True, check=True)
            times[key].append(time.monotonic() - t0)
    return {
        "runs": runs,
        "versions_s": median(times["cli"]),
        "render_s": median(times["render_cli"]),
        "python_s": median(times["python"]),
        "ratio_versions": median(times["cli"]) / median(times["python"]),
        "ratio_render": median(times["render_cli"]) / median(times["python"]),
    }
