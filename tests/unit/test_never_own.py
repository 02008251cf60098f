"""CRDs a provider never owns (manifests/catalog.yaml neverOwn: on EKS the control plane's PolicyEndpoint CRDs) and
the provider-dependent rollout default, against the in-memory API server of test_reconcile.py.

An older cni-operator rendered and labelled policyendpoints.networking.k8s.aws. The new one must release that copy
(remove our labels, never delete it), on an ordinary pass and on a deletion with deletionPolicy Delete, whether or
not it holds PolicyEndpoints; and report the CRD's absence when enableNetworkPolicy needs it.
"""

from __future__ import annotations

import pytest
from cni_operator.api import RolloutOptions, parse_spec
from cni_operator.catalog import CatalogError, load_catalog, parse_catalog, resolve
from cni_operator.objects import MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL, ObjectRef
from cni_operator.preview import KEEP, prune_step
from cni_operator.session.foreign_crds import REASON
from test_reconcile import CNET, Cluster, inventory, node

PE = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", "policyendpoints.networking.k8s.aws")
EKS = {"clusterType": "eks"}
OUR_LABELS = (MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL)


def old_operators_policyendpoints_crd() -> dict:
    """The PolicyEndpoint CRD as an older cni-operator applied it: our labels on the control plane's CRD."""
    return {
        "apiVersion": PE.api_version, "kind": PE.kind,
        "metadata": {"name": PE.name, "labels": {
            "app.kubernetes.io/name": "amazon-network-policy-controller-k8s", MANAGED_BY_LABEL: "cni-operator",
            PROVIDER_LABEL: "aws-vpc-cni", VERSION_LABEL: "v1.23.1"},
            "annotations": {"cni-operator.io/applied-hash": "old"}},
        "spec": {"group": "networking.k8s.aws", "scope": "Namespaced",
                 "names": {"kind": "PolicyEndpoint", "plural": "policyendpoints"},
                 "versions": [{"name": "v1alpha1", "served": True, "storage": True}]},
    }


def installed(cluster: Cluster, spec: dict) -> None:
    """The VPC CNI of `spec` installed by the operator on two EC2 nodes, running Ready."""
    cluster.add(*(node(f"ip-10-0-0-{i}", labels={"eks.amazonaws.com/nodegroup": "ng-1"},
                       provider_id=f"aws:///eu-west-1a/i-000000000000000{i}") for i in (1, 2)))
    cluster.create(spec)
    cluster.step()
    cluster.run_cni()
    assert cluster.step().delay is None and cluster.status["phase"] == "Ready", cluster.status


def in_inventory(cluster: Cluster, ref: ObjectRef) -> None:
    """As an older operator's status had it: the CRD among what it applied."""
    def add(body):
        body["status"]["applied"]["inventory"].append(
            {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name})
    cluster.kube.edit(CNET, add)


@pytest.fixture
def cluster():
    c = Cluster()
    # As in the operator (handlers.COMPLETE_KINDS): the watch lists every managed CRD before the first pass, so a
    # cache miss means "absent" and a pass GETs nothing.
    c.session.applier.complete = lambda ref: ref.kind == "CustomResourceDefinition"
    yield c
    c.close()


@pytest.mark.parametrize("objects", [0, 1])
def test_a_pass_releases_the_old_operators_policyendpoints_crd_and_never_deletes_it(cluster, objects):
    spec = {**EKS, "awsVpcCni": {"enableNetworkPolicy": True}}
    installed(cluster, spec)
    cluster.add(old_operators_policyendpoints_crd())
    in_inventory(cluster, PE)
    cluster.kube.instances[PE.name] = objects

    p = cluster.step()
    assert PE not in p.verbs("delete") and PE not in p.verbs("apply")
    crd = cluster.kube.objects[PE]
    labels = crd["metadata"]["labels"]
    assert not set(OUR_LABELS) & set(labels), labels
    assert labels["app.kubernetes.io/name"] == "amazon-network-policy-controller-k8s"  # theirs, kept
    assert crd["metadata"]["annotations"]["cni-operator.io/retained"]
    assert PE not in inventory(cluster.status)
    assert [r["name"] for r in cluster.status["retained"]] == [PE.name]
    assert "never installs, changes or deletes it" in p.event("CRDReleased")["message"]
    assert "CRDRetained" not in p.reasons  # not the "delete it yourself" advice: it is not the user's to delete

    again = cluster.step()
    assert not again.writes and "CRDReleased" not in again.reasons  # released once, then left alone


def test_a_labelled_copy_is_released_even_when_no_inventory_names_it(cluster):
    installed(cluster, EKS)
    cluster.add(old_operators_policyendpoints_crd())  # the status that listed it was lost
    p = cluster.step()
    assert PE not in p.verbs("delete")
    assert MANAGED_BY_LABEL not in cluster.kube.objects[PE]["metadata"]["labels"]


def test_an_unlabelled_policyendpoints_crd_is_never_touched(cluster):
    installed(cluster, EKS)
    crd = old_operators_policyendpoints_crd()
    crd["metadata"]["labels"] = {"app.kubernetes.io/name": "amazon-network-policy-controller-k8s"}
    cluster.add(crd)
    p = cluster.step()
    assert not [r for r in p.requests if r.ref == PE and r.verb != "get"]


def test_deletion_with_delete_releases_the_crd_even_when_empty(cluster):
    spec = {**EKS, "deletionPolicy": "Delete"}
    installed(cluster, spec)
    cluster.add(old_operators_policyendpoints_crd())
    in_inventory(cluster, PE)
    cluster.kube.instances[PE.name] = 0  # empty: an owned CRD would be deleted now
    cluster.kube.remove(CNET)

    p = cluster.step()
    assert PE not in p.verbs("delete")
    assert PE in cluster.kube.objects
    assert MANAGED_BY_LABEL not in cluster.kube.objects[PE]["metadata"]["labels"]
    eni = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com")
    assert eni in p.verbs("delete")  # the CRD the operator does own goes, as before
    assert "CRDReleased" in p.reasons


def test_network_policy_without_the_crd_is_reported_once_per_generation(cluster):
    spec = {**EKS, "awsVpcCni": {"enableNetworkPolicy": True}}
    installed(cluster, spec)
    p, raised = cluster.session_pass()
    assert raised is None
    assert [(r.verb, r.ref) for r in p.requests if r.ref.kind == PE.kind] == [("get", PE)]
    message = p.event(REASON)["message"]
    assert message.startswith("policyendpoints.networking.k8s.aws is not installed: on EKS the control plane "
                              "installs it when network policy is enabled in the cluster's VPC CNI configuration; "
                              "elsewhere install it")
    assert "awsVpcCni.enableNetworkPolicy has no effect" in message
    p, _ = cluster.session_pass()
    assert REASON not in p.reasons and not [r for r in p.requests if r.ref == PE]  # asked once: no GET per pass
    cluster.edit_spec({"awsVpcCni": {"warmENITarget": 2}})  # a new generation asks again (the recorder then
    p, _ = cluster.session_pass()                              # counts the repeated Event instead of a new one)
    assert [(r.verb, r.ref) for r in p.requests if r.ref.kind == PE.kind] == [("get", PE)]


def test_network_policy_with_the_crd_present_or_off_says_nothing(cluster):
    installed(cluster, EKS)  # enableNetworkPolicy false: the agent does not need it
    p, _ = cluster.session_pass()
    assert REASON not in p.reasons
    crd = old_operators_policyendpoints_crd()
    crd["metadata"]["labels"] = {}
    cluster.add(crd)
    cluster.edit_spec({"awsVpcCni": {"enableNetworkPolicy": True}})
    p, _ = cluster.session_pass()
    assert REASON not in p.reasons


def test_preview_shows_the_crd_released_not_pruned():
    step = prune_step(PE, old_operators_policyendpoints_crd(), lambda crd: 0)
    assert step.action == KEEP and "never owns it" in step.why


# ---------------------------------------------------------------- the catalog


def test_catalog_never_own_is_per_provider():
    catalog = load_catalog()
    eks = [crd.name for crd in catalog.foreign_crds(parse_spec(EKS).provider)]
    assert PE.name in eks
    assert not catalog.foreign_crds(parse_spec({"clusterType": "mks"}).provider)
    (needed,) = [crd for crd in catalog.foreign_crds(parse_spec(EKS).provider) if crd.needed_when]
    assert needed.name == PE.name and needed.needed_when == "enableNetworkPolicy"
    assert "\n" not in needed.installed_by and needed.installed_by.startswith("on EKS the control plane")


# ---------------------------------------------------------------- the rollout default


@pytest.mark.parametrize(("spec", "expected"), [
    ({"clusterType": "eks"}, "10%"),  # upstream aws-node: RollingUpdate maxUnavailable 10%
    ({"clusterType": "eks", "rollout": {"soakSeconds": 60}}, "10%"),  # a rollout block without the field
    ({"clusterType": "eks", "rollout": {"maxUnavailable": 1}}, 1),  # set: kept, even when it equals Canal's
    ({"clusterType": "eks", "rollout": {"maxUnavailable": "25%"}}, "25%"),
    ({"clusterType": "mks"}, 1),  # upstream canal.yaml: maxUnavailable 1
    ({"clusterType": "mks", "rollout": {"maxUnavailable": "10%"}}, "10%"),
])
def test_max_unavailable_defaults_to_the_providers_upstream_value(spec, expected):
    resolved = resolve(parse_spec(spec))
    assert resolved.rollout.max_unavailable == expected
    assert resolve(resolved).rollout.max_unavailable == expected  # resolving twice changes nothing


def test_a_catalog_without_a_rollout_default_keeps_one():
    catalog = parse_catalog({"aws-vpc-cni": {"versions": {"v1.0.0": {"images": {}, "templates": []}}}})
    assert resolve(parse_spec({"clusterType": "eks", "cni": {"version": "v1.0.0"}}), catalog).rollout \
        .max_unavailable == 1


@pytest.mark.parametrize("value", ["0%", 0, "150%", "ten"])
def test_a_catalog_rollout_default_is_checked_like_a_users(value):
    with pytest.raises(CatalogError, match="rollout.maxUnavailable"):
        parse_catalog({"aws-vpc-cni": {"rollout": {"maxUnavailable": value},
                                       "versions": {"v1.0.0": {"images": {}, "templates": []}}}})


def test_the_crd_does_not_default_max_unavailable():
    """A CRD default would make the API server store 1 in every ClusterNetwork, and 10% would never apply."""
    schema = RolloutOptions.model_json_schema(by_alias=True)
    assert "default" not in schema["properties"]["maxUnavailable"]
