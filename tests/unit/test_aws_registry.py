"""Region -> EKS add-on image registry (cni_operator.aws_registry)."""

from __future__ import annotations

import re

import pytest
from cni_operator.aws_registry import DEFAULT_ACCOUNT, UnknownRegionError, known_regions, registry_for


@pytest.mark.parametrize(
    "region, registry",
    [
        ("us-west-2", "602401143452.dkr.ecr.us-west-2.amazonaws.com"),
        ("us-east-1", "602401143452.dkr.ecr.us-east-1.amazonaws.com"),
        ("eu-west-1", "602401143452.dkr.ecr.eu-west-1.amazonaws.com"),
        ("ap-northeast-1", "602401143452.dkr.ecr.ap-northeast-1.amazonaws.com"),
        # Opt-in and newer regions have their own accounts.
        ("af-south-1", "877085696533.dkr.ecr.af-south-1.amazonaws.com"),
        ("ap-east-1", "800184023465.dkr.ecr.ap-east-1.amazonaws.com"),
        ("ap-southeast-3", "296578399912.dkr.ecr.ap-southeast-3.amazonaws.com"),
        ("me-south-1", "558608220178.dkr.ecr.me-south-1.amazonaws.com"),
        ("eu-south-1", "590381155156.dkr.ecr.eu-south-1.amazonaws.com"),
        ("ap-southeast-7", "121268973566.dkr.ecr.ap-southeast-7.amazonaws.com"),
    ],
)
def test_commercial_regions(region, registry):
    assert registry_for(region) == registry


@pytest.mark.parametrize(
    "region, registry",
    [
        ("cn-north-1", "918309763551.dkr.ecr.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "961992271922.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_china_regions_use_the_cn_partition_domain(region, registry):
    assert registry_for(region) == registry


@pytest.mark.parametrize(
    "region, registry",
    [
        ("us-gov-west-1", "013241004608.dkr.ecr.us-gov-west-1.amazonaws.com"),
        ("us-gov-east-1", "151742754352.dkr.ecr.us-gov-east-1.amazonaws.com"),
    ],
)
def test_govcloud_regions(region, registry):
    assert registry_for(region) == registry


@pytest.mark.parametrize("region", ["mars-north-1", "us-west-9", "ap-east-2", ""])
def test_unknown_region_is_a_clear_value_error(region):
    with pytest.raises(UnknownRegionError) as caught:
        registry_for(region)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert repr(region) in message
    assert "us-west-2" in message and "cn-north-1" in message and "us-gov-west-1" in message
    assert "spec.registry" in message


def test_known_regions_sorted_unique_and_well_formed():
    regions = known_regions()
    assert regions == sorted(set(regions))
    for region in regions:
        assert re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region), region
        assert re.fullmatch(
            r"\d{12}\.dkr\.ecr\." + re.escape(region) + r"\.amazonaws\.com(\.cn)?", registry_for(region)
        )


def test_every_known_region_fits_the_api_region_pattern():
    from cni_operator.api import AwsVpcCniOptions

    for region in known_regions():
        assert AwsVpcCniOptions(region=region).region == region


def test_most_commercial_regions_share_one_account():
    shared = [r for r in known_regions() if registry_for(r).startswith(DEFAULT_ACCOUNT + ".")]
    assert len(shared) >= 15
    assert not any(r.startswith(("cn-", "us-gov-")) for r in shared)
