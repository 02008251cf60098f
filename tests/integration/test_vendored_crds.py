"""The CRDs the operator installs are upstream's, schemas and all: on the cluster they read back as the vendored
manifest has them, the API server validates and defaults Calico resources with them, and `kubectl explain`
documents their fields. (The render is compared byte for byte in tests/unit/test_upstream_fidelity.py; this is
what a user sees.)"""

from __future__ import annotations

import json

from cni_operator.render import vendored

from tests.harness.clusternetwork import install

VERSION = "v3.32.1"
TIER = {"apiVersion": "crd.projectcalico.org/v1", "kind": "Tier"}


def _live_crds(cluster) -> dict[str, dict]:
    items = json.loads(cluster.kubectl("get", "crd", "-l", "cni-operator.io/provider=canal", "-o", "json").stdout)
    return {crd["metadata"]["name"]: crd for crd in items["items"]}


def test_the_installed_crds_are_upstreams_and_validate_calico_resources(cluster, start_operator):
    operator = start_operator()
    install(cluster, {"clusterType": "mks", "cni": {"version": VERSION}})

    upstream = {o["metadata"]["name"]: o for o in vendored.upstream_objects("canal", VERSION)
                if o["kind"] == "CustomResourceDefinition"}
    live = _live_crds(cluster)
    assert sorted(live) == sorted(upstream)
    for name, crd in upstream.items():
        # What the server keeps of what was applied: names, scope and every version with its schema, unchanged.
        for key in ("group", "names", "scope", "versions"):
            assert json.dumps(live[name]["spec"][key], sort_keys=True) == json.dumps(crd["spec"][key], sort_keys=True), \
                f"{name} spec.{key} differs from upstream's"

    # The API server enforces Calico's own rules now (a CEL rule of the Tier schema) ...
    bad = {**TIER, "metadata": {"name": "default"}, "spec": {"order": 1000000, "defaultAction": "Pass"}}
    res = cluster.kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0 and "The 'default' tier must have default action 'Deny'" in res.stderr, res.stderr
    # ... and fills in its defaults. (The Tier goes with its CRD when the start_operator fixture resets the cluster.)
    tier = {**TIER, "metadata": {"name": "vendored-crds-test"}, "spec": {"order": 500}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(tier))
    got = json.loads(cluster.kubectl("get", "tiers.crd.projectcalico.org", "vendored-crds-test", "-o", "json").stdout)
    assert got["spec"]["defaultAction"] == "Deny", got["spec"]

    explained = cluster.kubectl("explain", "felixconfigurations.spec.nftablesMode",
                                "--api-version=crd.projectcalico.org/v1").stdout
    assert "nftablesMode" in explained.lower() or "NFTablesMode" in explained, explained

    # Full schemas cost the operator little: it keeps the live CRDs it manages (drift is judged field by field).
    print(f"operator RSS after install with upstream's CRDs: {operator.rss_mib():.0f} MiB "
          f"(peak {operator.hwm_mib():.0f} MiB); live canal CRDs: "
          f"{sum(len(json.dumps(c)) for c in live.values()) / 1024:.0f} KiB of JSON")
