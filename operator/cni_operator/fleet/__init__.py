"""Fleet mode: the operator in a management cluster, one RemoteClusterNetwork per target cluster (docs/fleet.md).

    handlers   kopf, for the RemoteClusterNetworks only (a registry of its own)
    manager    one TargetSession per RemoteClusterNetwork
    target     credentials -> connect -> serve, for one target; reports it away (Reachable, CredentialsValid)
    source     the kubeconfig from its Secret (or Cluster API's), read with `get` only
    feeds      which watches of the target feed its cluster session
    client, watch, reach, ratelimit   the I/O to one target: a rate-limited client, async watches, why it failed
    conditions, settings, credentials  pure: status while away, pacing, which kubeconfigs may be used
    target_rbac, commands   `cni-operator target-rbac`: the identity the operator needs in a target
"""
