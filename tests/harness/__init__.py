"""The harness the k8s test tiers and `make bench` share: one way to reach the cluster, read its audit log, reset
it between runs and run the operator, so a fix to any of them reaches both.

    repo.py            where the repository is; hack/localcluster.py and hack/toolchain.py as modules
    polling.py         wait_for (poll with a deadline, never sleep to synchronise), holds_for (poll throughout a window:
                       "this never happens"), wait_quiet (an observation window)
    cleanup.py         Cleanup (undo actions, newest first, 404s ignored), unique_name
    cluster.py         Cluster (admin kubeconfig, API clients, kubectl, fake nodes) and connect() to find or start it
    access.py          ServiceAccounts with given RBAC and a token kubeconfig (the identity the audit log shows)
    audit.py           the API server's audit log: marks, filters, rotated files, an incremental follower
    managed.py         what the operator manages (label, kinds) and how tests list it
    reset.py           reset_cluster(): nothing of an earlier install left, whoever made it
    operator.py        the real operator as a separate process under the chart's RBAC
    clusternetwork.py  the ClusterNetwork as a user handles it: apply, read, conditions, its Events
    targets.py         the fleet tier's target clusters t1..tN: their clusters, audit logs, and their processes to
                       freeze, kill and restart

Imported as `tests.harness` from the repository root: pytest puts the root on sys.path (`pythonpath` in
pyproject.toml) and the bench runs as `python -m bench.run` from there, so nobody edits sys.path by hand.
pytest-specific glue (fixtures, pytest.fail/skip) stays in tests/conftest.py; nothing here imports pytest.
"""
