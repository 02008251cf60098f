"""status.applied.inventory read back with distrust (session/inventory.py), and what it is checked against:
render.renderable, every object identity any catalog version renders for a provider."""

from __future__ import annotations

import pytest
from cni_operator.api import Provider
from cni_operator.catalog import load_catalog
from cni_operator.objects import ObjectRef
from cni_operator.render import render, renderable
from cni_operator.session.inventory import MAX_NAMED, provider_of, read_inventory, trusted_refs
from cni_operator.validation import check

CANAL_DS = ObjectRef("apps/v1", "DaemonSet", "canal", "kube-system")
CANAL_CONFIG = ObjectRef("v1", "ConfigMap", "canal-config", "kube-system")

# Every option, set away from its default (one variant each where values exclude each other).
OPTIONS = {
    Provider.CANAL: [
        {}, {"canal": {"backend": "host-gw"}}, {"canal": {"backend": "wireguard"}},
        {"canal": {"vxlanPort": 4789, "vni": 4096, "iface": "eth1", "masquerade": False, "iptablesBackend": "NFT",
                   "logSeverity": "Debug"}},
        {"podCIDR": "10.96.0.0/12", "mtu": 1450, "registry": "mirror.local:5000/cni",
         "imagePullSecrets": [{"name": "regcred"}], "rollout": {"maxUnavailable": "10%"}},
    ],
    Provider.AWS_VPC_CNI: [
        {}, {"awsVpcCni": {"region": "cn-north-1", "warmENITarget": 2, "warmIPTarget": 5, "minimumIPTarget": 10,
                           "warmPrefixTarget": 1, "enablePrefixDelegation": True, "externalSNAT": True,
                           "customNetworking": True, "eniConfigLabelDef": "topology.kubernetes.io/zone",
                           "enablePodENI": True, "enableNetworkPolicy": True}},
        {"mtu": 1500, "registry": "mirror.local", "imagePullSecrets": [{"name": "regcred"}],
         "rollout": {"maxUnavailable": 3}},
    ],
}
CLUSTER_TYPE = {Provider.CANAL: "mks", Provider.AWS_VPC_CNI: "eks"}


def _cases():
    catalog = load_catalog()
    for provider, variants in OPTIONS.items():
        for version in catalog.versions(provider):
            for i, options in enumerate(variants):
                yield pytest.param(provider, {"clusterType": CLUSTER_TYPE[provider], "cni": {"version": version},
                                              **options}, id=f"{provider.value}-{version}-{i}")


@pytest.mark.parametrize("provider, spec", list(_cases()))
def test_no_option_renders_an_object_renderable_does_not_know(provider, spec):
    """renderable() renders default options only; that stands for every spec because options never change which
    objects are rendered. If one ever does, an inventory entry for its object would be ignored instead of pruned."""
    rendered = render(check(spec).spec)
    objects = {ObjectRef.of(o) for o in rendered.apply} | set(rendered.prune)
    assert objects <= renderable(provider)


def test_renderable_is_per_provider():
    canal, aws = renderable(Provider.CANAL), renderable(Provider.AWS_VPC_CNI)
    assert CANAL_DS in canal and CANAL_DS not in aws
    assert ObjectRef("apps/v1", "DaemonSet", "aws-node", "kube-system") in aws - canal
    # Every version counts: v3.31.4's AdminNetworkPolicy CRD and v3.32.1's ClusterNetworkPolicy CRD.
    names = {r.name for r in canal if r.kind == "CustomResourceDefinition"}
    assert {"adminnetworkpolicies.policy.networking.k8s.io", "clusternetworkpolicies.policy.networking.k8s.io"} <= names


def entry(ref: ObjectRef) -> dict:
    return ref.as_status()


def test_only_entries_the_catalog_renders_are_trusted():
    status = {"applied": {"inventory": [
        entry(CANAL_DS),
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w"},  # a kind nobody knows
        entry(ObjectRef("v1", "Secret", "bootstrap-token", "kube-system")),  # a kind the operator never writes
        entry(ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", "cluster-admin")),  # a known kind, not ours
        entry(ObjectRef("v1", "ConfigMap", "canal-config", "default")),  # our name, another namespace
        entry(ObjectRef("apps/v1", "DaemonSet", "aws-node", "kube-system")),  # the other provider's
        entry(CANAL_CONFIG),
        entry(CANAL_DS),  # twice
        {"apiVersion": "v1", "kind": "ConfigMap"},  # no name
        "DaemonSet/canal",  # not an object
    ]}}
    inventory = read_inventory(status, trusted_refs(Provider.CANAL))
    assert inventory.trusted == [CANAL_DS, CANAL_CONFIG]
    assert inventory.ignored == [
        "example.com/v1 Widget w",
        "v1 Secret kube-system/bootstrap-token",
        "rbac.authorization.k8s.io/v1 ClusterRole cluster-admin",
        "v1 ConfigMap default/canal-config",
        "apps/v1 DaemonSet kube-system/aws-node",
        "v1 ConfigMap (no name)",
        "entry 9: not an object",
    ]


@pytest.mark.parametrize("status", [None, {}, {"applied": None}, {"applied": {"inventory": "all of it"}},
                                    {"applied": "x"}])
def test_a_missing_or_malformed_inventory_is_empty(status):
    inventory = read_inventory(status, trusted_refs(Provider.CANAL))
    assert inventory.trusted == [] and inventory.ignored == []


def test_this_pass_render_is_trusted_too():
    extra = ObjectRef("v1", "ConfigMap", "new-in-this-render", "kube-system")
    status = {"applied": {"inventory": [entry(extra)]}}
    assert read_inventory(status, trusted_refs(Provider.CANAL, [extra])).trusted == [extra]
    assert read_inventory(status, trusted_refs(None, [extra])).trusted == []  # no provider: nothing is trusted


def test_the_warning_names_the_entries_and_where_to_look():
    status = {"applied": {"inventory": [{"apiVersion": "v1", "kind": "Secret", "name": f"s{i}",
                                         "namespace": "kube-system"} for i in range(MAX_NAMED + 2)]}}
    inventory = read_inventory(status, trusted_refs(Provider.CANAL))
    text = inventory.warning(Provider.CANAL)
    assert text.startswith(f"ignored {MAX_NAMED + 2} entries of status.applied.inventory that cni-operator never "
                           "renders for canal: v1 Secret kube-system/s0; ")
    assert "and 2 more" in text and f"s{MAX_NAMED}" not in text
    assert "not read, changed or deleted" in text and "clusternetworks/status" in text


@pytest.mark.parametrize("spec, provider", [
    ({"clusterType": "mks"}, Provider.CANAL),
    ({"clusterType": "eks", "bad": True}, Provider.AWS_VPC_CNI),  # only clusterType is read
    ({"clusterType": "imported"}, None),
    ({"clusterType": "gke"}, None),
    ({}, None),
    (None, None),
])
def test_provider_of_a_raw_spec(spec, provider):
    assert provider_of(spec) is provider
