"""The ClusterNetwork API: every default and every validation rule (api.py + validation.py).

Each invalid spec must yield a problem on the right camelCase field whose message names what is allowed.
"""

from __future__ import annotations

import re

import pydantic
import pytest
from cni_operator import api
from cni_operator.aws_registry import known_regions
from cni_operator.catalog import load_catalog, resolve
from cni_operator.validation import Problem, summary, validate, validate_object
from workload_cases import INVALID as WORKLOAD_INVALID

CATALOG = load_catalog()
CANAL_VERSIONS = CATALOG.versions(api.Provider.CANAL)
AWS_VERSIONS = CATALOG.versions(api.Provider.AWS_VPC_CNI)


def problems_of(spec: dict) -> dict[str, str]:
    problems = validate(spec)
    fields = [p.field for p in problems]
    assert len(fields) == len(set(fields)), f"one problem per field: {problems}"
    return {p.field: p.message for p in problems}


# ---------------------------------------------------------------- defaults


def test_spec_defaults():
    spec = api.parse_spec({"clusterType": "mks"})
    assert spec.cluster_type is api.ClusterType.MKS
    assert spec.cni.provider is None and spec.cni.version is None
    assert spec.pod_cidr == "10.244.0.0/16"
    assert spec.mtu == 0
    assert spec.registry == ""
    assert spec.image_pull_secrets == []
    assert spec.canal is None and spec.aws_vpc_cni is None
    assert spec.rollout.max_unavailable == 1
    assert spec.paused is False
    assert spec.deletion_policy is api.DeletionPolicy.ORPHAN


def test_canal_defaults_after_resolve():
    spec = resolve(api.parse_spec({"clusterType": "mks"}))
    assert spec.cni.provider is api.Provider.CANAL
    assert spec.cni.version == CATALOG.defaults[api.Provider.CANAL] == CANAL_VERSIONS[-1]
    canal = spec.canal
    assert canal.backend is api.FlannelBackend.VXLAN
    assert (canal.vxlan_port, canal.vni, canal.iface, canal.masquerade) == (8472, 1, "", True)
    assert canal.iptables_backend is api.IptablesBackend.AUTO
    assert canal.log_severity is api.LogSeverity.INFO
    assert spec.aws_vpc_cni is None


def test_aws_defaults_after_resolve():
    spec = resolve(api.parse_spec({"clusterType": "eks"}))
    assert spec.cni.provider is api.Provider.AWS_VPC_CNI
    assert spec.cni.version == CATALOG.defaults[api.Provider.AWS_VPC_CNI] == AWS_VERSIONS[-1]
    aws = spec.aws_vpc_cni
    assert aws.region == "us-west-2"
    assert aws.warm_eni_target == 1
    assert (aws.warm_ip_target, aws.minimum_ip_target, aws.warm_prefix_target) == (None, None, None)
    assert not any([aws.enable_prefix_delegation, aws.external_snat, aws.custom_networking, aws.enable_pod_eni,
                    aws.enable_network_policy])
    assert aws.eni_config_label_def == ""
    assert spec.canal is None


def test_imported_gets_no_provider_and_nothing_is_filled():
    spec = api.parse_spec({"clusterType": "imported"})
    assert spec.provider is None
    assert resolve(spec) == spec


def test_partial_option_block_keeps_other_defaults():
    spec = resolve(api.parse_spec({"clusterType": "mks", "canal": {"vxlanPort": 4789}}))
    assert spec.canal.vxlan_port == 4789 and spec.canal.vni == 1 and spec.canal.backend is api.FlannelBackend.VXLAN


def test_camel_case_aliases_on_the_wire():
    spec = api.parse_spec({
        "clusterType": "eks",
        "podCIDR": "10.42.0.0/16",
        "awsVpcCni": {"warmENITarget": 2, "warmIPTarget": 5, "minimumIPTarget": 10, "externalSNAT": True,
                      "enablePodENI": True, "eniConfigLabelDef": "topology.kubernetes.io/zone"},
    })
    assert spec.pod_cidr == "10.42.0.0/16"
    aws = spec.aws_vpc_cni
    assert (aws.warm_eni_target, aws.warm_ip_target, aws.minimum_ip_target) == (2, 5, 10)
    assert aws.external_snat and aws.enable_pod_eni
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert {"podCIDR", "awsVpcCni", "clusterType", "imagePullSecrets", "deletionPolicy"} <= set(dumped)
    assert {"warmENITarget", "warmIPTarget", "minimumIPTarget", "externalSNAT", "enablePodENI"} <= set(
        dumped["awsVpcCni"])


def test_parse_spec_rejects_snake_case_names():
    # The apiserver would prune pod_cidr as an unknown field; accepting it here would render a different network.
    with pytest.raises(pydantic.ValidationError):
        api.parse_spec({"clusterType": "mks", "pod_cidr": "10.42.0.0/16"})


# ---------------------------------------------------------------- valid edges


@pytest.mark.parametrize(
    "spec",
    [
        {"clusterType": "mks"},
        {"clusterType": "eks"},
        {"clusterType": "imported"},
        {"clusterType": "mks", "cni": {"provider": "canal"}},
        {"clusterType": "eks", "cni": {"provider": "aws-vpc-cni"}},
        *({"clusterType": "mks", "cni": {"version": v}} for v in CANAL_VERSIONS),
        *({"clusterType": "eks", "cni": {"version": v}} for v in AWS_VERSIONS),
        {"clusterType": "mks", "podCIDR": "10.0.0.0/8"},
        {"clusterType": "mks", "podCIDR": "192.168.100.16/28"},
        {"clusterType": "mks", "mtu": 576},
        {"clusterType": "mks", "mtu": 9001},
        {"clusterType": "mks", "mtu": 1450},
        {"clusterType": "mks", "registry": "mirror.local:5000"},
        {"clusterType": "mks", "registry": "registry.example.com/team/mirror"},
        {"clusterType": "mks", "imagePullSecrets": [{"name": "regcred"}] * 16},
        {"clusterType": "mks", "imagePullSecrets": [{"name": "team-a.regcred-2"}, {"name": "a" * 253}]},
        *({"clusterType": "mks", "canal": {"iface": name}}
          for name in ("eth0", "ens5", "enp0s31f6", "bond0.100", "br-lan_1", "wg@0", "x" * 15, "10.0.0.1", ".a")),
        *({"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": key}}
          for key in ("k8s.amazonaws.com/eniConfig", "topology.kubernetes.io/zone", "zone", "Zone_1.a", "x" * 63)),
        {"clusterType": "mks", "canal": {}},
        {"clusterType": "mks", "canal": None},
        {"clusterType": "mks", "canal": {"backend": "host-gw", "vxlanPort": 1, "vni": 16777215, "iface": "eth1",
                                         "masquerade": False, "iptablesBackend": "NFT", "logSeverity": "Debug"}},
        {"clusterType": "mks", "canal": {"backend": "wireguard", "vxlanPort": 65535, "iptablesBackend": "Legacy",
                                         "logSeverity": "Fatal"}},
        {"clusterType": "eks", "awsVpcCni": {"region": "us-gov-west-1"}},
        {"clusterType": "eks", "awsVpcCni": {"region": "cn-north-1"}},
        {"clusterType": "eks", "awsVpcCni": {"region": "il-central-1"}, "registry": "mirror.local"},
        {"clusterType": "eks", "awsVpcCni": {"warmENITarget": 0, "warmIPTarget": 10000, "minimumIPTarget": 0,
                                             "warmPrefixTarget": 100, "enablePrefixDelegation": True,
                                             "externalSNAT": True, "customNetworking": True,
                                             "eniConfigLabelDef": "a" * 253 + "/" + "b" * 63, "enablePodENI": True,
                                             "enableNetworkPolicy": True}},
        {"clusterType": "mks", "rollout": {"maxUnavailable": 1000}},
        {"clusterType": "mks", "rollout": {"maxUnavailable": "1%"}},
        {"clusterType": "mks", "rollout": {"maxUnavailable": "100%"}},
        {"clusterType": "mks", "rollout": {}},
        {"clusterType": "mks", "paused": True, "deletionPolicy": "Delete"},
    ],
)
def test_valid_specs(spec):
    assert validate(spec) == []


# ---------------------------------------------------------------- every rule, one invalid spec each

CANAL_FIELDS = "backend, vxlanPort, vni, iface, masquerade, iptablesBackend, logSeverity"

INVALID = [
    # (id, spec, field, words the message must contain)
    ("clusterType-missing", {}, "spec.clusterType", ["required", "mks, eks, imported"]),
    ("clusterType-enum", {"clusterType": "aks"}, "spec.clusterType", ["mks, eks, imported"]),
    ("clusterType-type", {"clusterType": 1}, "spec.clusterType", ["mks, eks, imported"]),
    ("provider-enum", {"clusterType": "mks", "cni": {"provider": "calico"}}, "spec.cni.provider",
     ["canal, aws-vpc-cni"]),
    ("provider-mks", {"clusterType": "mks", "cni": {"provider": "aws-vpc-cni"}}, "spec.cni.provider",
     ["does not fit clusterType 'mks'", "allowed: 'canal'"]),
    ("provider-eks", {"clusterType": "eks", "cni": {"provider": "canal"}}, "spec.cni.provider",
     ["does not fit clusterType 'eks'", "allowed: 'aws-vpc-cni'"]),
    ("provider-imported", {"clusterType": "imported", "cni": {"provider": "canal"}}, "spec.cni.provider",
     ["allowed: none", "unset"]),
    ("version-pattern", {"clusterType": "mks", "cni": {"version": "3.32.1"}}, "spec.cni.version",
     ["v1.2.3", *CANAL_VERSIONS, *AWS_VERSIONS]),
    ("version-catalog-canal", {"clusterType": "mks", "cni": {"version": "v9.9.9"}}, "spec.cni.version",
     ["v9.9.9", "not in the catalog for canal", *CANAL_VERSIONS]),
    ("version-catalog-aws", {"clusterType": "eks", "cni": {"version": CANAL_VERSIONS[-1]}}, "spec.cni.version",
     ["not in the catalog for aws-vpc-cni", *AWS_VERSIONS]),
    ("version-imported", {"clusterType": "imported", "cni": {"version": "v1.0.0"}}, "spec.cni.version",
     ["must be unset", "imported"]),
    ("podCIDR-syntax", {"clusterType": "mks", "podCIDR": "10.244.0.0"}, "spec.podCIDR",
     ["IPv4", "/8 and /28", "10.244.0.0/16"]),
    ("podCIDR-octet", {"clusterType": "mks", "podCIDR": "10.256.0.0/16"}, "spec.podCIDR", ["IPv4", "/8 and /28"]),
    ("podCIDR-host-bits", {"clusterType": "mks", "podCIDR": "10.244.1.0/16"}, "spec.podCIDR",
     ["host bits", "10.244.0.0/16"]),
    ("podCIDR-ipv6", {"clusterType": "mks", "podCIDR": "fd00::/64"}, "spec.podCIDR", ["IPv4"]),
    ("podCIDR-too-small", {"clusterType": "mks", "podCIDR": "10.0.0.0/29"}, "spec.podCIDR", ["/8 and /28"]),
    ("podCIDR-too-big", {"clusterType": "mks", "podCIDR": "10.0.0.0/7"}, "spec.podCIDR", ["/8 and /28"]),
    ("podCIDR-type", {"clusterType": "mks", "podCIDR": 10}, "spec.podCIDR", ["IPv4"]),
    ("mtu-low", {"clusterType": "mks", "mtu": 575}, "spec.mtu", ["0 (automatic)", "576 and 9001"]),
    ("mtu-high", {"clusterType": "mks", "mtu": 9002}, "spec.mtu", ["0 (automatic)", "576 and 9001"]),
    ("mtu-negative", {"clusterType": "mks", "mtu": -1}, "spec.mtu", ["0 (automatic)", "576 and 9001"]),
    ("mtu-string", {"clusterType": "mks", "mtu": "1500"}, "spec.mtu", ["0 (automatic)", "576 and 9001"]),
    ("registry-upper", {"clusterType": "mks", "registry": "Mirror.local"}, "spec.registry",
     ["lower case", "mirror.local:5000"]),
    ("registry-scheme", {"clusterType": "mks", "registry": "https://mirror.local"}, "spec.registry",
     ["mirror.local:5000"]),
    ("registry-long", {"clusterType": "mks", "registry": "a" * 254}, "spec.registry", ["mirror.local:5000"]),
    ("pullSecret-empty", {"clusterType": "mks", "imagePullSecrets": [{"name": ""}]},
     "spec.imagePullSecrets[0].name", ["Secret name", "DNS subdomain"]),
    ("pullSecret-path", {"clusterType": "mks", "imagePullSecrets": [{"name": "a"}, {"name": "../../etc/passwd"}]},
     "spec.imagePullSecrets[1].name", ["Secret name", "DNS subdomain", "lower-case letters", "regcred"]),
    ("pullSecret-upper", {"clusterType": "mks", "imagePullSecrets": [{"name": "RegCred"}]},
     "spec.imagePullSecrets[0].name", ["DNS subdomain"]),
    ("pullSecret-newline", {"clusterType": "mks", "imagePullSecrets": [{"name": "regcred\n"}]},
     "spec.imagePullSecrets[0].name", ["DNS subdomain"]),
    ("pullSecret-long", {"clusterType": "mks", "imagePullSecrets": [{"name": "a" * 254}]},
     "spec.imagePullSecrets[0].name", ["at most 253"]),
    ("pullSecret-missing", {"clusterType": "mks", "imagePullSecrets": [{"name": "a"}, {}]},
     "spec.imagePullSecrets[1].name", ["required"]),
    ("pullSecret-string", {"clusterType": "mks", "imagePullSecrets": ["regcred"]}, "spec.imagePullSecrets[0]",
     ["object", "name"]),
    ("pullSecret-many", {"clusterType": "mks", "imagePullSecrets": [{"name": "a"}] * 17}, "spec.imagePullSecrets",
     ["at most 16"]),
    ("pullSecret-not-list", {"clusterType": "mks", "imagePullSecrets": "regcred"}, "spec.imagePullSecrets",
     ["list"]),
    ("canal-with-eks", {"clusterType": "eks", "canal": {}}, "spec.canal", ["only allowed with clusterType mks"]),
    ("canal-with-imported", {"clusterType": "imported", "canal": {}}, "spec.canal",
     ["only allowed with clusterType mks"]),
    ("canal-not-object", {"clusterType": "mks", "canal": "vxlan"}, "spec.canal", ["object", CANAL_FIELDS]),
    ("aws-with-mks", {"clusterType": "mks", "awsVpcCni": {}}, "spec.awsVpcCni", ["only allowed with clusterType eks"]),
    ("aws-with-imported", {"clusterType": "imported", "awsVpcCni": {}}, "spec.awsVpcCni",
     ["only allowed with clusterType eks"]),
    ("backend-enum", {"clusterType": "mks", "canal": {"backend": "ipip"}}, "spec.canal.backend",
     ["vxlan, host-gw, wireguard"]),
    ("vxlanPort-low", {"clusterType": "mks", "canal": {"vxlanPort": 0}}, "spec.canal.vxlanPort", ["1 and 65535"]),
    ("vxlanPort-high", {"clusterType": "mks", "canal": {"vxlanPort": 65536}}, "spec.canal.vxlanPort",
     ["1 and 65535"]),
    ("vxlanPort-string", {"clusterType": "mks", "canal": {"vxlanPort": "8472"}}, "spec.canal.vxlanPort",
     ["integer", "1 and 65535"]),
    ("vxlanPort-float", {"clusterType": "mks", "canal": {"vxlanPort": 8472.5}}, "spec.canal.vxlanPort",
     ["integer", "1 and 65535"]),
    ("vni-low", {"clusterType": "mks", "canal": {"vni": 0}}, "spec.canal.vni", ["1 and 16777215"]),
    ("vni-high", {"clusterType": "mks", "canal": {"vni": 16777216}}, "spec.canal.vni", ["1 and 16777215"]),
    ("iface-long", {"clusterType": "mks", "canal": {"iface": "e" * 16}}, "spec.canal.iface", ["Linux interface name", "1 to 15", "eth1"]),
    ("iface-64", {"clusterType": "mks", "canal": {"iface": "e" * 64}}, "spec.canal.iface", ["Linux interface name", "1 to 15", "eth1"]),
    ("iface-newline", {"clusterType": "mks", "canal": {"iface": "eth0\nFOO=1"}}, "spec.canal.iface",
     ["Linux interface name", "control characters"]),
    ("iface-trailing-newline", {"clusterType": "mks", "canal": {"iface": "eth0\n"}}, "spec.canal.iface",
     ["Linux interface name"]),
    ("iface-nul", {"clusterType": "mks", "canal": {"iface": "eth0\x00"}}, "spec.canal.iface",
     ["Linux interface name", "control characters"]),
    ("iface-tab", {"clusterType": "mks", "canal": {"iface": "eth\t0"}}, "spec.canal.iface", ["spaces"]),
    ("iface-space", {"clusterType": "mks", "canal": {"iface": "eth 0"}}, "spec.canal.iface", ["spaces"]),
    ("iface-slash", {"clusterType": "mks", "canal": {"iface": "../eth0"}}, "spec.canal.iface", ["no /"]),
    ("iface-colon", {"clusterType": "mks", "canal": {"iface": "eth0:1"}}, "spec.canal.iface", [":"]),
    ("iface-dot", {"clusterType": "mks", "canal": {"iface": "."}}, "spec.canal.iface", ["not only dots"]),
    ("iface-dotdot", {"clusterType": "mks", "canal": {"iface": ".."}}, "spec.canal.iface", ["not only dots"]),
    ("iface-non-ascii", {"clusterType": "mks", "canal": {"iface": "eth\u00e9"}}, "spec.canal.iface",
     ["printable ASCII"]),
    ("masquerade-string", {"clusterType": "mks", "canal": {"masquerade": "yes"}}, "spec.canal.masquerade",
     ["true or false"]),
    ("iptablesBackend-enum", {"clusterType": "mks", "canal": {"iptablesBackend": "nft"}},
     "spec.canal.iptablesBackend", ["Auto, Legacy, NFT"]),
    ("logSeverity-enum", {"clusterType": "mks", "canal": {"logSeverity": "info"}}, "spec.canal.logSeverity",
     ["Debug, Info, Warning, Error, Fatal"]),
    ("region-pattern", {"clusterType": "eks", "awsVpcCni": {"region": "Oregon"}}, "spec.awsVpcCni.region",
     ["AWS region", "us-west-2"]),
    ("region-unknown", {"clusterType": "eks", "awsVpcCni": {"region": "xx-nowhere-1"}}, "spec.awsVpcCni.region",
     ["xx-nowhere-1", "no known EKS image registry", *known_regions(), "spec.registry"]),
    ("warmENITarget-low", {"clusterType": "eks", "awsVpcCni": {"warmENITarget": -1}}, "spec.awsVpcCni.warmENITarget",
     ["0 and 100"]),
    ("warmENITarget-high", {"clusterType": "eks", "awsVpcCni": {"warmENITarget": 101}},
     "spec.awsVpcCni.warmENITarget", ["0 and 100"]),
    ("warmIPTarget-high", {"clusterType": "eks", "awsVpcCni": {"warmIPTarget": 10001}}, "spec.awsVpcCni.warmIPTarget",
     ["0 and 10000"]),
    ("minimumIPTarget-low", {"clusterType": "eks", "awsVpcCni": {"minimumIPTarget": -1}},
     "spec.awsVpcCni.minimumIPTarget", ["0 and 10000"]),
    ("warmPrefixTarget-high", {"clusterType": "eks", "awsVpcCni": {"warmPrefixTarget": 101}},
     "spec.awsVpcCni.warmPrefixTarget", ["0 and 100"]),
    ("enablePrefixDelegation-string", {"clusterType": "eks", "awsVpcCni": {"enablePrefixDelegation": "true"}},
     "spec.awsVpcCni.enablePrefixDelegation", ["true or false"]),
    ("externalSNAT-int", {"clusterType": "eks", "awsVpcCni": {"externalSNAT": 1}}, "spec.awsVpcCni.externalSNAT",
     ["true or false"]),
    ("customNetworking-string", {"clusterType": "eks", "awsVpcCni": {"customNetworking": "no"}},
     "spec.awsVpcCni.customNetworking", ["true or false"]),
    ("enablePodENI-string", {"clusterType": "eks", "awsVpcCni": {"enablePodENI": "on"}},
     "spec.awsVpcCni.enablePodENI", ["true or false"]),
    ("enableNetworkPolicy-string", {"clusterType": "eks", "awsVpcCni": {"enableNetworkPolicy": "on"}},
     "spec.awsVpcCni.enableNetworkPolicy", ["true or false"]),
    ("eniConfigLabelDef-long", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "x" * 318}},
     "spec.awsVpcCni.eniConfigLabelDef", ["node label key", "at most 63"]),
    ("eniConfigLabelDef-name-64", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "k8s.io/" + "x" * 64}},
     "spec.awsVpcCni.eniConfigLabelDef", ["node label key", "at most 63"]),
    ("eniConfigLabelDef-newline", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "zone\nFOO=1"}},
     "spec.awsVpcCni.eniConfigLabelDef", ["node label key", "k8s.amazonaws.com/eniConfig"]),
    ("eniConfigLabelDef-long-prefix", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "a" * 254 + "/b"}},
     "spec.awsVpcCni.eniConfigLabelDef", ["prefix before /", "at most 253"]),
    ("eniConfigLabelDef-two-slashes", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "a/b/c"}},
     "spec.awsVpcCni.eniConfigLabelDef", ["node label key"]),
    ("eniConfigLabelDef-upper-prefix", {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "K8S.io/zone"}},
     "spec.awsVpcCni.eniConfigLabelDef", ["DNS subdomain"]),
    # provider options of issue 10 item 4 (api/providers.py): metrics, IRSA, ENIConfigs, IPv6
    ("roleArn-not-arn", {"clusterType": "eks", "awsVpcCni": {"serviceAccountRoleArn": "aws-node-role"}},
     "spec.awsVpcCni.serviceAccountRoleArn", ["IAM role ARN", "12-digit account"]),
    ("roleArn-short-account", {"clusterType": "eks", "awsVpcCni": {
        "serviceAccountRoleArn": "arn:aws:iam::12345:role/x"}}, "spec.awsVpcCni.serviceAccountRoleArn",
     ["12-digit account"]),
    ("roleArn-user-not-role", {"clusterType": "eks", "awsVpcCni": {
        "serviceAccountRoleArn": "arn:aws:iam::111122223333:user/x"}}, "spec.awsVpcCni.serviceAccountRoleArn",
     ["role/"]),
    ("roleArn-other-partition", {"clusterType": "eks", "awsVpcCni": {
        "serviceAccountRoleArn": "arn:aws-xx:iam::111122223333:role/x"}}, "spec.awsVpcCni.serviceAccountRoleArn",
     ["arn:aws-cn"]),
    ("eniConfigs-without-custom-networking", {"clusterType": "eks", "awsVpcCni": {
        "eniConfigs": [{"name": "us-west-2a", "subnet": "subnet-0123456789abcdef0"}]}}, "spec.awsVpcCni.eniConfigs",
     ["customNetworking: true"]),
    ("eniConfigs-name-not-a-zone", {"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "US-West-2a", "subnet": "subnet-0123456789abcdef0"}]}}, "spec.awsVpcCni.eniConfigs[0].name",
     ["availability zone name such as us-west-2a"]),
    ("eniConfigs-name-twice", {"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "us-west-2a", "subnet": "subnet-0123456789abcdef0"},
        {"name": "us-west-2a", "subnet": "subnet-12345678"}]}}, "spec.awsVpcCni.eniConfigs[1].name",
     ["us-west-2a appears twice"]),
    ("eniConfigs-subnet", {"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "us-west-2a", "subnet": "subnet-xyz"}]}}, "spec.awsVpcCni.eniConfigs[0].subnet",
     ["subnet ID such as subnet-0123456789abcdef0"]),
    ("eniConfigs-subnet-missing", {"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "us-west-2a"}]}}, "spec.awsVpcCni.eniConfigs[0].subnet", ["required"]),
    ("eniConfigs-security-group", {"clusterType": "eks", "awsVpcCni": {"customNetworking": True, "eniConfigs": [
        {"name": "us-west-2a", "subnet": "subnet-12345678", "securityGroups": ["sg-1"]}]}},
     "spec.awsVpcCni.eniConfigs[0].securityGroups[0]", ["security group ID such as sg-0123456789abcdef0"]),
    ("ipv6-without-prefix-delegation", {"clusterType": "eks", "awsVpcCni": {"enableIPv6": True}},
     "spec.awsVpcCni.enableIPv6", ["enablePrefixDelegation: true"]),
    ("disableMetrics-string", {"clusterType": "eks", "awsVpcCni": {"disableMetrics": "yes"}},
     "spec.awsVpcCni.disableMetrics", ["true or false"]),
    ("disableIntrospection-string", {"clusterType": "eks", "awsVpcCni": {"disableIntrospection": "yes"}},
     "spec.awsVpcCni.disableIntrospection", ["true or false"]),
    ("nodeAgentMetricsPort-zero", {"clusterType": "eks", "awsVpcCni": {"nodeAgentMetricsPort": 0}},
     "spec.awsVpcCni.nodeAgentMetricsPort", ["1 and 65535"]),
    ("nodeAgentMetricsPort-health", {"clusterType": "eks", "awsVpcCni": {"nodeAgentMetricsPort": 8163}},
     "spec.awsVpcCni.nodeAgentMetricsPort", ["must not be 8163", "health probe"]),
    ("felixMetrics-string", {"clusterType": "mks", "canal": {"felixPrometheusMetricsEnabled": "on"}},
     "spec.canal.felixPrometheusMetricsEnabled", ["true or false"]),
    ("felixMetricsPort-high", {"clusterType": "mks", "canal": {"felixPrometheusMetricsPort": 65536}},
     "spec.canal.felixPrometheusMetricsPort", ["1 and 65535"]),
    ("felixMetricsPort-health", {"clusterType": "mks", "canal": {"felixPrometheusMetricsPort": 9099}},
     "spec.canal.felixPrometheusMetricsPort", ["must not be 9099"]),
    ("canary-zero", {"clusterType": "mks", "rollout": {"canary": 0}}, "spec.rollout.canary",
     ["count of nodes between 1 and 1000", "1% and 100%"]),
    ("canary-malformed", {"clusterType": "mks", "rollout": {"canary": "half"}}, "spec.rollout.canary",
     ["count of nodes", "such as 5%"]),
    ("soakSeconds-negative", {"clusterType": "mks", "rollout": {"soakSeconds": -1}}, "spec.rollout.soakSeconds",
     ["0"]),
    ("progressDeadlineSeconds-zero", {"clusterType": "mks", "rollout": {"progressDeadlineSeconds": 0}},
     "spec.rollout.progressDeadlineSeconds", ["1"]),
    ("progressDeadlineSeconds-below-soak", {"clusterType": "mks", "rollout": {"soakSeconds": 60,
                                                                          "progressDeadlineSeconds": 30}},
     "spec.rollout.progressDeadlineSeconds", ["progressDeadlineSeconds must be at least rollout.soakSeconds"]),
    ("soakSeconds-over-default-deadline", {"clusterType": "mks", "rollout": {"soakSeconds": 900}},
     "spec.rollout", ["progressDeadlineSeconds must be at least rollout.soakSeconds"]),
    ("autoRollback-string", {"clusterType": "mks", "rollout": {"autoRollback": "no"}}, "spec.rollout.autoRollback",
     ["true or false"]),
    ("maxUnavailable-zero", {"clusterType": "mks", "rollout": {"maxUnavailable": 0}}, "spec.rollout.maxUnavailable",
     ["1 and 1000", "1% and 100%"]),
    ("maxUnavailable-high", {"clusterType": "mks", "rollout": {"maxUnavailable": 1001}},
     "spec.rollout.maxUnavailable", ["1 and 1000", "1% and 100%"]),
    ("maxUnavailable-zero-percent", {"clusterType": "mks", "rollout": {"maxUnavailable": "0%"}},
     "spec.rollout.maxUnavailable", ["1 and 1000", "1% and 100%"]),
    ("maxUnavailable-over-100-percent", {"clusterType": "mks", "rollout": {"maxUnavailable": "101%"}},
     "spec.rollout.maxUnavailable", ["1% and 100%"]),
    ("maxUnavailable-number-string", {"clusterType": "mks", "rollout": {"maxUnavailable": "10"}},
     "spec.rollout.maxUnavailable", ["1% and 100%"]),
    ("maxUnavailable-bool", {"clusterType": "mks", "rollout": {"maxUnavailable": True}},
     "spec.rollout.maxUnavailable", ["1 and 1000"]),
    ("paused-string", {"clusterType": "mks", "paused": "yes"}, "spec.paused", ["true or false"]),
    ("deletionPolicy-enum", {"clusterType": "mks", "deletionPolicy": "delete"}, "spec.deletionPolicy",
     ["Orphan, Delete"]),
    ("adoption-enum", {"clusterType": "mks", "adoption": "Always"}, "spec.adoption",
     ["IfEquivalent, Takeover, Never"]),
    ("unknown-top", {"clusterType": "mks", "backend": "vxlan"}, "spec.backend",
     ["unknown field", "clusterType", "podCIDR", "canal", "deletionPolicy"]),
    ("unknown-nested", {"clusterType": "mks", "canal": {"port": 8472}}, "spec.canal.port",
     ["unknown field", CANAL_FIELDS]),
    ("snake-case-alias", {"clusterType": "mks", "pod_cidr": "10.42.0.0/16"}, "spec.pod_cidr",
     ["unknown field", "podCIDR"]),
    ("snake-case-nested", {"clusterType": "eks", "awsVpcCni": {"warm_eni_target": 2}},
     "spec.awsVpcCni.warm_eni_target", ["unknown field", "warmENITarget"]),
    ("spec-not-object", "mks", "spec", ["object", "clusterType"]),
]


@pytest.mark.parametrize("spec, field, words", [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_each_invalid_spec_names_the_field_and_the_allowed_values(spec, field, words):
    problems = problems_of(spec) if isinstance(spec, dict) else {p.field: p.message for p in validate(spec)}
    assert field in problems, f"expected a problem on {field}, got {problems}"
    message = problems[field]
    for word in words:
        assert word in message, f"{field}: {message!r} should mention {word!r}"
    # pydantic's own phrasing never leaks out.
    assert "Input should" not in message and "Value error" not in message and "errors.pydantic.dev" not in message


def test_every_spec_field_has_an_invalid_case():
    """Adding a field to the models without a validation case here fails this test."""
    from cni_operator.schema.crd import spec_schema

    def leaves(node, path):
        target = node["items"] if node.get("type") == "array" else node
        children = target.get("properties", {})
        if not children:
            yield path
        for name, child in children.items():
            yield from leaves(child, f"{path}.{name}")

    covered = {row[2].split("[")[0] for row in INVALID} | {
        row[2].split("[")[0] + ".name" for row in INVALID if row[2].startswith("spec.imagePullSecrets")
    } | {re.sub(r"\[\d+\]", "", row[2]) for row in WORKLOAD_INVALID} | {  # spec.workloads: workload_cases.py
        re.sub(r"\[\d*\]", "", row[2]) for row in INVALID}  # a field inside a list item: eniConfigs[0].subnet
    missing = [leaf for leaf in leaves(spec_schema(), "spec") if leaf not in covered]
    assert missing == []


def test_all_problems_at_once_in_field_order():
    problems = problems_of({
        "clusterType": "mks",
        "mtu": 10,
        "canal": {"vxlanPort": 0, "backend": "ipip"},
        "rollout": {"maxUnavailable": "0%"},
        "bogus": 1,
    })
    assert list(problems) == [
        "spec.mtu", "spec.canal.backend", "spec.canal.vxlanPort", "spec.rollout.maxUnavailable", "spec.bogus",
    ]


def test_catalog_and_region_are_checked_alongside_schema_problems():
    problems = problems_of({"clusterType": "eks", "cni": {"version": "v1.99.0"},
                            "awsVpcCni": {"region": "xx-nowhere-1", "warmENITarget": 101}})
    assert list(problems) == ["spec.awsVpcCni.warmENITarget", "spec.cni.version", "spec.awsVpcCni.region"]


def test_a_field_with_a_schema_problem_is_not_checked_against_the_catalog():
    problems = problems_of({"clusterType": "mks", "cni": {"version": "3.32"}})
    assert list(problems) == ["spec.cni.version"] and "v1.2.3" in problems["spec.cni.version"]


def test_cross_field_problems_are_all_reported():
    problems = problems_of({"clusterType": "imported", "cni": {"provider": "canal", "version": "v3.32.1"},
                            "canal": {}, "awsVpcCni": {}})
    assert set(problems) == {"spec.cni.provider", "spec.cni.version", "spec.canal", "spec.awsVpcCni"}


def test_region_is_not_checked_when_a_mirror_serves_the_images():
    assert validate({"clusterType": "eks", "awsVpcCni": {"region": "xx-nowhere-1"}, "registry": "mirror.local"}) == []


def test_default_region_is_checked():
    assert "us-west-2" in known_regions()
    assert validate({"clusterType": "eks"}) == []


def test_model_validator_raises_for_cross_field_rules():
    with pytest.raises(pydantic.ValidationError, match="does not fit clusterType"):
        api.parse_spec({"clusterType": "eks", "cni": {"provider": "canal"}})
    assert api.consistency_problems(api.parse_spec({"clusterType": "mks"})) == []


# ---------------------------------------------------------------- the whole object


def _object(**overrides):
    obj = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
           "spec": {"clusterType": "mks"}}
    obj.update(overrides)
    return obj


def test_valid_object():
    assert validate_object(_object()) == []


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"apiVersion": "cni-operator.io/v1"}, "apiVersion", ["cni-operator.io/v1alpha1"]),
        ({"kind": "Network"}, "kind", ["ClusterNetwork"]),
        ({"metadata": {"name": "prod"}}, "metadata.name", ["'default'"]),
        ({"metadata": None}, "metadata.name", ["'default'"]),
        ({"spec": {"clusterType": "gke"}}, "spec.clusterType", ["mks, eks, imported"]),
    ],
)
def test_invalid_object(overrides, field, words):
    problems = {p.field: p.message for p in validate_object(_object(**overrides))}
    assert field in problems
    assert all(word in problems[field] for word in words)


def test_object_without_spec():
    obj = _object()
    del obj["spec"]
    assert [p.field for p in validate_object(obj)] == ["spec"]


def test_non_object_document():
    assert validate_object(["a"])[0].message.startswith("must be a ClusterNetwork")


def test_problem_format():
    problem = Problem("spec.mtu", "must be 0 (automatic) or between 576 and 9001")
    assert str(problem) == "spec.mtu: must be 0 (automatic) or between 576 and 9001"
    assert summary([problem, Problem("spec.paused", "must be true or false")]) == (
        "spec.mtu: must be 0 (automatic) or between 576 and 9001; spec.paused: must be true or false"
    )


# ---------------------------------------------------------------- status


def test_status_round_trips_by_alias():
    status = api.ClusterNetworkStatus.model_validate({
        "observedGeneration": 3,
        "phase": "Ready",
        "readySummary": "3/3",
        "conditions": [{"type": "Ready", "status": "True", "reason": "AllPodsReady", "observedGeneration": 3,
                        "lastTransitionTime": "2025-01-01T00:00:00Z"}],
        "provider": "canal",
        "version": "v3.32.1",
        "applied": {"objects": 1, "hash": "abc", "inventory": [{"apiVersion": "v1", "kind": "ConfigMap",
                                                                "name": "canal-config", "namespace": "kube-system"}]},
        "health": {"desired": 3, "ready": 3, "updated": 3, "unavailable": 0,
                   "nodes": {"total": 3, "withReadyCNI": 3, "withoutReadyCNI": []}},
        "unhealthy": [{"reason": "CrashLoopBackOff", "count": 1, "pods": ["canal-x@n2"], "container": "calico-node"}],
        "detected": [{"provider": "calico", "version": "v3.30.0", "workload": "kube-system/calico-node"}],
        "ignored": ["ConfigMap kube-system/canal-config"],
    })
    assert status.health.nodes.with_ready_cni == 3
    assert status.model_dump(by_alias=True, exclude_none=True)["readySummary"] == "3/3"


def test_status_phase_is_a_fixed_list():
    with pytest.raises(pydantic.ValidationError):
        api.ClusterNetworkStatus.model_validate({"phase": "Running"})
