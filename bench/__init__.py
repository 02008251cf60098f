"""`make bench`: the operator measured against baselines on the same cluster (see bench/run.py, docs/benchmarks.md).

A package run from the repository root (`python -m bench.run`), so it imports the harness it shares with the k8s
test tiers as `tests.harness` (cluster, audit log, reset, operator process) without touching sys.path.
"""
