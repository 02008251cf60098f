"""Fleet mode: the operator in a management cluster, one RemoteClusterNetwork per target cluster (docs/fleet.md).

Built so far: the pure groundwork, no runtime yet. `credentials.py` decides which kubeconfigs may be used to reach a
target; `target_rbac.py` prints the identity the operator needs in a target (`cni-operator target-rbac`);
`client.py`, `watch.py`, `reach.py` and `ratelimit.py` are the I/O to one target (a rate-limited client, async watches,
why a request failed).
"""
