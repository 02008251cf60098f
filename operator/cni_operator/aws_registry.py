"""AWS region -> the Amazon ECR registry that serves the EKS add-on images (VPC CNI, its init image, the agent).

Pure data and string formatting: no AWS calls. The registry is `<account>.dkr.ecr.<region>.<domain>`, where the
account differs per region and the domain per partition (`amazonaws.com.cn` in the China regions).

Source: Amazon EKS User Guide, "View Amazon container image registries for Amazon EKS add-ons"
(https://docs.aws.amazon.com/eks/latest/userguide/add-ons-images.html, also served as
https://docs.amazonaws.cn/en_us/eks/latest/userguide/add-ons-images.html). Every row below is either read there or
read in a public copy of that table that cites it (aws-ia Terraform EKS Blueprints `amazon_container_image_registry_uris`);
the GovCloud rows also match the images in the VPC CNI's own us-gov manifests (aws/amazon-vpc-cni-k8s PR #3792 for
us-gov-east-1) and eksctl issue #7999 (us-gov-west-1). Regions we could not confirm are left out on purpose
(ap-east-2: the guide lists account 533267051163 but with an ap-east-1 host, which looks like a typo; ca-west-1,
il-central-1, mx-central-1: not found in the copies we could read). A cluster there can still install by setting
`spec.registry` to a mirror.
"""

from __future__ import annotations

# The account most commercial regions use.
DEFAULT_ACCOUNT = "602401143452"

_COMMERCIAL_DEFAULT = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

# Opt-in and newer regions, China and GovCloud: each has its own account.
_OWN_ACCOUNT = {
    "af-south-1": "877085696533",
    "ap-east-1": "800184023465",
    "ap-south-2": "900889452093",
    "ap-southeast-3": "296578399912",
    "ap-southeast-4": "491585149902",
    "ap-southeast-5": "151610086707",
    "ap-southeast-6": "333609536671",
    "ap-southeast-7": "121268973566",
    "eu-central-2": "900612956339",
    "eu-south-1": "590381155156",
    "eu-south-2": "455263428931",
    "me-central-1": "759879836304",
    "me-south-1": "558608220178",
    "cn-north-1": "918309763551",
    "cn-northwest-1": "961992271922",
    "us-gov-east-1": "151742754352",
    "us-gov-west-1": "013241004608",
}

ACCOUNTS: dict[str, str] = {**{region: DEFAULT_ACCOUNT for region in _COMMERCIAL_DEFAULT}, **_OWN_ACCOUNT}


class UnknownRegionError(ValueError):
    """The region has no known EKS add-on image registry."""

    def __init__(self, region: str):
        self.region = region
        super().__init__(
            f"awsVpcCni.region {region!r} has no known EKS image registry; allowed: {', '.join(known_regions())} "
            "(or set spec.registry to a mirror that holds the images)"
        )


def known_regions() -> list[str]:
    """Every region with a known registry, sorted."""
    return sorted(ACCOUNTS)


def domain_for(region: str) -> str:
    """The DNS suffix of the partition the region belongs to."""
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def registry_for(region: str) -> str:
    """`<account>.dkr.ecr.<region>.<domain>` for the region; UnknownRegionError if the region is not in the table."""
    try:
        account = ACCOUNTS[region]
    except KeyError:
        raise UnknownRegionError(region) from None
    return f"{account}.dkr.ecr.{region}.{domain_for(region)}"
