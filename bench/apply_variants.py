"""What-if for the install figure: the operator's apply step alone (cni_operator.apply.Applier.sync, in-process, no
kopf), from nothing, in variants that change one thing each, against `kubectl apply --server-side` of the same file.
Not part of `make bench`; run it on a cluster that is up (`make cluster-up`), with nothing installed:

    .venv/bin/python -m bench.apply_variants [ROUNDS]      (from the repository root; default 5; variants
                                                           interleaved round by round)

Variants (the operator code is not changed; the Applier is built with other arguments, or one function replaced):
    as shipped        8 threads, kind-by-kind waves, a GET for every object the cache has not seen
    no pre-apply GET  the cache answers "known absent" ({}), so nothing is read before the apply
    one wave          every object in one parallel batch (the kind order replaced by a constant)
    two waves         everything but the workloads, then the workloads (DaemonSet, Deployment, PDB)
    no GET, one wave / no GET, two waves   both changes
    1 thread          as shipped with parallelism 1 (kubectl's way)
Each runs as the bench ServiceAccount under the chart's RBAC, like the operator.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchOperator, log, median
from tests.harness.cluster import connect
from tests.harness.reset import reset_cluster, wait_crds_serving

WORKLOADS = ("DaemonSet", "Deployment", "PodDisruptionBudget")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cluster = connect()  # the cluster that is up: KUBECONFIG_TESTS, else this worktree's local one
    workdir = Path(tempfile.mkdtemp(prefix="cni-operator-apply-variants-"))
    op = BenchOperator(cluster, workdir)
    kubeconfig = str(op.grant())
    # load_api_client() below reads the kubernetes library's default kubeconfig location, which the library fixed
    # when it was first imported (connect() did, before there was a bench identity): point it and KUBECONFIG at the
    # bench ServiceAccount's kubeconfig, so the Applier acts as that identity.
    from kubernetes.config import kube_config

    os.environ["KUBECONFIG"] = kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig

    from cni_operator import apply as apply_mod
    from cni_operator.api import parse_spec
    from cni_operator.kube import Kube, load_api_client
    from cni_operator.render import render, to_yaml

    rendered = render(parse_spec({"clusterType": "mks"}))
    manifest = workdir / "canal.yaml"
    manifest.write_text(to_yaml(rendered.apply))
    kube = Kube(load_api_client())
    shipped_rank = apply_mod._rank

    def applier(variant: str):
        if "one wave" in variant:
            apply_mod._rank = lambda ref: 0
        elif "two waves" in variant:
            apply_mod._rank = lambda ref: int(ref.kind in WORKLOADS)
        else:
            apply_mod._rank = shipped_rank
        lookup = (lambda ref: {}) if "GET" in variant else None
        return apply_mod.Applier(kube, lookup=lookup, parallelism=1 if variant == "1 thread" else 8)

    variants = ["as shipped", "no pre-apply GET", "one wave", "two waves", "no GET, one wave", "no GET, two waves",
                "1 thread"]
    times: dict[str, list[float]] = {v: [] for v in variants + ["kubectl --server-side"]}
    try:
        for r in range(rounds):
            for variant, samples in times.items():
                reset_cluster(cluster)
                t0 = time.monotonic()
                if variant == "kubectl --server-side":
                    cluster.kubectl("apply", "--server-side", "-f", str(manifest))
                else:
                    a = applier(variant)
                    outcome = a.sync(rendered.apply, rendered.prune)
                    assert not outcome.errors, outcome.errors
                    a.pool.shutdown()
                samples.append(time.monotonic() - t0)
                wait_crds_serving(cluster)
            log(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()))
    finally:
        apply_mod._rank = shipped_rank
        reset_cluster(cluster)
        op.revoke()
    base = median(times["kubectl --server-side"])
    print(f"\n| variant (apply step only, {rounds} rounds) | median | ratio to kubectl |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {median(v) * 1000:.0f} ms | {median(v) / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
