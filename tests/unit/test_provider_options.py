"""Provider options of issue 10 item 4 (api/providers.py) where they meet the rest of the operator: the CRD's rules
say what pydantic says, ENIConfig inventory entries are trusted by kind for the VPC CNI only, and the new options
leave the default render alone. (Each option's render: test_render_aws.py / test_render_canal.py; each invalid
value: test_api.py INVALID; admission on a real API server: tests/integration/test_provider_options.py.)"""

from __future__ import annotations

import pytest
from cni_operator import api
from cni_operator.objects import ObjectRef
from cni_operator.schema import crd
from cni_operator.schema.rules import PROVIDER_RULES, RULES
from cni_operator.session.inventory import read_inventory, trusted_refs
from cni_operator.validation import check, validate

ENI = ObjectRef("crd.k8s.amazonaws.com/v1alpha1", "ENIConfig", "us-west-2c")


def _spec_node(*path: str) -> dict:
    node = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for part in path:
        node = node["properties"][part]
    return node


def test_provider_rules_are_in_the_crd_on_their_fields():
    assert set(PROVIDER_RULES) <= set(RULES)
    aws = _spec_node("awsVpcCni")
    messages = {rule["message"] for rule in aws.get("x-kubernetes-validations", [])}
    assert {api.IPV6_WORDS, api.ENI_CONFIGS_WORDS} <= messages
    assert {rule.get("fieldPath") for rule in aws["x-kubernetes-validations"]} >= {".enableIPv6", ".eniConfigs"}
    eni_configs = aws["properties"]["eniConfigs"]
    # One ENIConfig per name: the API server refuses a repeated zone (list-map key), as pydantic does.
    assert (eni_configs["x-kubernetes-list-type"], eni_configs["x-kubernetes-list-map-keys"]) == ("map", ["name"])
    assert eni_configs["items"]["required"] == ["name", "subnet"]
    for port in (aws["properties"]["nodeAgentMetricsPort"], _spec_node("canal", "felixPrometheusMetricsPort")):
        assert (port["minimum"], port["maximum"]) == (1, 65535)


@pytest.mark.parametrize("aws, field, words", [
    ({"enableIPv6": True}, "spec.awsVpcCni.enableIPv6", api.IPV6_WORDS),
    ({"eniConfigs": [{"name": "us-west-2a", "subnet": "subnet-12345678"}]}, "spec.awsVpcCni.eniConfigs",
     api.ENI_CONFIGS_WORDS),
])
def test_cni_operator_validate_says_what_admission_says(aws, field, words):
    assert {p.field: p.message for p in validate({"clusterType": "eks", "awsVpcCni": aws})} == {field: words}


@pytest.mark.parametrize("aws", [
    {"enableIPv6": True, "enablePrefixDelegation": True},
    {"customNetworking": True, "eniConfigs": [{"name": n, "subnet": "subnet-0123456789abcdef0"} for n in
                                              ("us-west-2a", "us-gov-west-1b", "us-west-2-lax-1a", "usw2-az1",
                                               "use1-lax1-az1", "cn-north-1a")]},
    *({"serviceAccountRoleArn": arn} for arn in ("arn:aws:iam::111122223333:role/a",
                                                 "arn:aws-cn:iam::111122223333:role/path/to/Role+=,.@_-x",
                                                 "arn:aws-us-gov:iam::111122223333:role/a", "")),
])
def test_valid_provider_options_pass(aws):
    assert validate({"clusterType": "eks", "awsVpcCni": aws}) == []


def test_an_eniconfig_entry_is_trusted_by_kind_for_the_vpc_cni_only():
    """ENIConfig names are the user's, so renderable() cannot list them: an inventory entry left by a spec that
    dropped one is trusted by kind (and the prune only ever releases it). Canal renders no ENIConfig CRD."""
    status = {"applied": {"inventory": [ENI.as_status(),
                                        {**ENI.as_status(), "namespace": "default"}]}}  # ENIConfig is cluster-scoped
    aws = read_inventory(status, trusted_refs(api.Provider.AWS_VPC_CNI))
    assert aws.trusted == [ENI] and aws.ignored == ["crd.k8s.amazonaws.com/v1alpha1 ENIConfig default/us-west-2c"]
    assert read_inventory(status, trusted_refs(api.Provider.CANAL)).trusted == []
    assert read_inventory(status, trusted_refs(None)).trusted == []


def test_never_deleted_kinds_include_eniconfigs():
    from cni_operator.apply import NEVER_DELETED_KINDS
    from cni_operator.kube import collection_path

    assert "ENIConfig" in NEVER_DELETED_KINDS
    assert collection_path(ENI.api_version, ENI.kind) == "/apis/crd.k8s.amazonaws.com/v1alpha1/eniconfigs"


def test_every_object_an_eniconfigs_spec_renders_is_trusted_in_a_later_inventory():
    """test_inventory.py checks that no option renders an object renderable() does not know; ENIConfigs are the one
    exception (their names are the user's), and this is what stands in for it: a later pass, whose spec no longer
    lists them, still trusts every entry this render leaves in status.applied.inventory."""
    from cni_operator.render import render

    spec = check({"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "us-west-2a", "subnet": "subnet-12345678"}, {"name": "usw2-az2", "subnet": "subnet-87654321"}]}}).spec
    refs = [ObjectRef.of(obj) for obj in render(spec).apply]
    assert sum(ref.kind == "ENIConfig" for ref in refs) == 2
    inventory = read_inventory({"applied": {"inventory": [ref.as_status() for ref in refs]}},
                               trusted_refs(api.Provider.AWS_VPC_CNI))
    assert inventory.trusted == refs and inventory.ignored == []


def test_cni_operator_diff_shows_a_dropped_eniconfig_as_released_not_pruned():
    from cni_operator.objects import MANAGED_BY, MANAGED_BY_LABEL
    from cni_operator.preview import KEEP, prune_step

    live = {"apiVersion": ENI.api_version, "kind": ENI.kind,
            "metadata": {"name": ENI.name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}, "spec": {"subnet": "subnet-1"}}
    step = prune_step(ENI, live, lambda crd: pytest.fail("an ENIConfig is not a CRD: nothing to count"))
    assert step.action == KEEP and "never deletes an ENIConfig" in step.why
    assert prune_step(ENI, {**live, "metadata": {"name": ENI.name}}, None) is None  # the user's: not even released
