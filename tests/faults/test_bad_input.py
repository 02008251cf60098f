"""A matrix of bad ClusterNetworks, as a user applies them with kubectl.

Most are rejected at admission (the CRD's schema and CEL rules) with a message naming the field: the test asserts the
field path and the words a user reads, and that nothing was stored. These need no operator.

Some pass admission because only the operator can judge them (a version missing from the catalog, an AWS region
without a known registry). Those must end as Degraded=True/InvalidConfiguration with a
message naming the field, with nothing applied (no object carries the managed-by label, the operator writes nothing
but status and Events) and the operator healthy: its process alive, /metrics answering, and a following valid change
acted on. One operator start serves the whole group.

Unknown fields: `kubectl apply` validates strictly by default, so the API server rejects an unknown field and names
it; a client that does not ask for strict validation (`--validate=false`) gets it pruned by the CRD's structural
schema, so the stored object, and thus the operator, never sees it. Both are asserted.
"""

from __future__ import annotations

import pytest
import yaml
from cni_operator.api import GROUP, PLURAL, VERSION
from faultkit import SUMMARY, managed_objects, wait_converged

from tests.harness.audit import describe_writes
from tests.harness.clusternetwork import get_clusternetwork, wait_condition
from tests.harness.operator import OPERATOR_USER, install_crds, operator_writes

MKS = {"clusterType": "mks"}
EKS = {"clusterType": "eks"}

# (id, spec, the field the message must name, words the message must contain). Every value is what a user might type.
REJECTED = [
    # wrong types
    ("clusterType-integer", {"clusterType": 5}, "spec.clusterType", "must be of type string"),
    ("mtu-string", {**MKS, "mtu": "1500"}, "spec.mtu", "must be of type integer"),
    ("masquerade-string", {**MKS, "canal": {"masquerade": "yes"}}, "spec.canal.masquerade", "must be of type boolean"),
    ("canal-not-an-object", {**MKS, "canal": "vxlan"}, "spec.canal", "must be of type object"),
    ("imagePullSecrets-string", {**MKS, "imagePullSecrets": "regcred"}, "spec.imagePullSecrets",
     "must be of type array"),
    ("paused-string", {**MKS, "paused": "true"}, "spec.paused", "must be of type boolean"),
    # values outside the allowed set
    ("clusterType-unknown", {"clusterType": "gke"}, "spec.clusterType", 'supported values: "mks", "eks", "imported"'),
    ("clusterType-missing", {}, "spec.clusterType", "Required value"),
    ("provider-unknown", {**MKS, "cni": {"provider": "cilium"}}, "spec.cni.provider",
     'supported values: "canal", "aws-vpc-cni"'),
    ("iptablesBackend-lowercase", {**MKS, "canal": {"iptablesBackend": "nft"}}, "spec.canal.iptablesBackend",
     'supported values: "Auto", "Legacy", "NFT"'),
    ("deletionPolicy-unknown", {**MKS, "deletionPolicy": "Destroy"}, "spec.deletionPolicy",
     'supported values: "Orphan", "Delete"'),
    ("adoption-unknown", {**MKS, "adoption": "Always"}, "spec.adoption",
     'supported values: "IfEquivalent", "Takeover", "Never"'),
    # bad CIDRs
    ("podCIDR-octet-300", {**MKS, "podCIDR": "300.1.0.0/16"}, "spec.podCIDR", "such as 10.244.0.0/16, not 300.1.0.0/16"),
    ("podCIDR-prefix-33", {**MKS, "podCIDR": "10.244.0.0/33"}, "spec.podCIDR", "prefix between /8 and /28"),
    ("podCIDR-prefix-7", {**MKS, "podCIDR": "10.0.0.0/7"}, "spec.podCIDR", "must be an IPv4 network"),
    ("podCIDR-ipv6", {**MKS, "podCIDR": "fd00::/64"}, "spec.podCIDR", "must be an IPv4 network"),
    ("podCIDR-host-bits", {**MKS, "podCIDR": "10.244.0.1/16"}, "spec.podCIDR",
     "podCIDR 10.244.0.1/16 has host bits set: write the network address"),
    # out-of-range numbers
    ("mtu-100", {**MKS, "mtu": 100}, "spec.mtu", "mtu must be 0 (automatic) or between 576 and 9001"),
    ("mtu-9002", {**MKS, "mtu": 9002}, "spec.mtu", "mtu must be 0 (automatic) or between 576 and 9001"),
    ("vxlanPort-0", {**MKS, "canal": {"vxlanPort": 0}}, "spec.canal.vxlanPort", "greater than or equal to 1"),
    ("vxlanPort-70000", {**MKS, "canal": {"vxlanPort": 70000}}, "spec.canal.vxlanPort",
     "less than or equal to 65535"),
    ("vni-0", {**MKS, "canal": {"vni": 0}}, "spec.canal.vni", "greater than or equal to 1"),
    ("vni-2^24", {**MKS, "canal": {"vni": 16777216}}, "spec.canal.vni", "less than or equal to 16777215"),
    ("warmENITarget-101", {**EKS, "awsVpcCni": {"warmENITarget": 101}}, "spec.awsVpcCni.warmENITarget",
     "less than or equal to 100"),
    ("maxUnavailable-0", {**MKS, "rollout": {"maxUnavailable": 0}}, "spec.rollout.maxUnavailable",
     "greater than or equal to 1"),
    ("maxUnavailable-150%", {**MKS, "rollout": {"maxUnavailable": "150%"}}, "spec.rollout.maxUnavailable",
     "a percentage between 1% and 100%"),
    ("imagePullSecrets-17", {**MKS, "imagePullSecrets": [{"name": f"s{i}"} for i in range(17)]},
     "spec.imagePullSecrets", "must have at most 16 items"),
    ("imagePullSecret-empty-name", {**MKS, "imagePullSecrets": [{"name": ""}]}, "spec.imagePullSecrets[0].name",
     "at least 1 chars long"),
    # malformed version and region (well-formed but unknown ones pass admission: see ACCEPTED_BUT_INVALID)
    ("version-malformed", {**MKS, "cni": {"version": "3.32"}}, "spec.cni.version", "must be a version such as v3.32.1 (`cni-operator versions` lists them), not 3.32"),
    ("region-uppercase", {**EKS, "awsVpcCni": {"region": "US-WEST-2"}}, "spec.awsVpcCni.region", "must be an AWS region such as us-west-2, not US-WEST-2"),
    ("registry-uppercase", {**MKS, "registry": "Mirror.Local:5000"}, "spec.registry", "in lower case, such as mirror.local:5000"),
    # wrong provider for the cluster type
    ("mks-with-aws-vpc-cni", {**MKS, "cni": {"provider": "aws-vpc-cni"}}, "spec.cni.provider",
     "cni.provider must fit clusterType: mks -> canal, eks -> aws-vpc-cni"),
    ("eks-with-canal", {**EKS, "cni": {"provider": "canal"}}, "spec.cni.provider",
     "cni.provider must fit clusterType"),
    ("imported-with-canal", {"clusterType": "imported", "cni": {"provider": "canal"}}, "spec.cni.provider",
     "imported -> leave cni.provider unset"),
    ("imported-with-version", {"clusterType": "imported", "cni": {"version": "v3.32.1"}}, "spec.cni.version",
     "cni.version must be unset for clusterType imported"),
    # option blocks for the other provider
    ("mks-with-awsVpcCni-block", {**MKS, "awsVpcCni": {"region": "us-east-1"}}, "spec.awsVpcCni",
     "awsVpcCni options are only allowed with clusterType eks"),
    ("eks-with-canal-block", {**EKS, "canal": {"backend": "vxlan"}}, "spec.canal",
     "canal options are only allowed with clusterType mks"),
    ("imported-with-canal-block", {"clusterType": "imported", "canal": {}}, "spec.canal",
     "canal options are only allowed with clusterType mks"),
    # name-like strings: each gets the rule for its kind of name (a newline or NUL would reach an environment
    # variable, a path a Secret lookup), in words
    ("iface-newline", {**MKS, "canal": {"iface": "eth0\nX=1"}}, "spec.canal.iface",
     "must be a Linux interface name such as eth1"),
    ("iface-nul", {**MKS, "canal": {"iface": "eth0\x00"}}, "spec.canal.iface",
     "must be a Linux interface name such as eth1"),
    ("iface-space", {**MKS, "canal": {"iface": "eth 0"}}, "spec.canal.iface", "no /, :, spaces or control characters"),
    ("iface-path", {**MKS, "canal": {"iface": "../eth0"}}, "spec.canal.iface", "must be a Linux interface name"),
    ("iface-dotdot", {**MKS, "canal": {"iface": ".."}}, "spec.canal.iface", "not only dots"),
    ("iface-16", {**MKS, "canal": {"iface": "e" * 16}}, "spec.canal.iface", "may not be more than 15 bytes"),
    ("iface-64", {**MKS, "canal": {"iface": "e" * 64}}, "spec.canal.iface", "may not be more than 15 bytes"),
    ("imagePullSecret-path", {**MKS, "imagePullSecrets": [{"name": "../../etc/passwd"}]},
     "spec.imagePullSecrets[0].name", "must be a Secret name: a DNS subdomain"),
    ("imagePullSecret-newline", {**MKS, "imagePullSecrets": [{"name": "ok"}, {"name": "regcred\n"}]},
     "spec.imagePullSecrets[1].name", "must be a Secret name: a DNS subdomain"),
    ("imagePullSecret-uppercase", {**MKS, "imagePullSecrets": [{"name": "RegCred"}]},
     "spec.imagePullSecrets[0].name", "lower-case letters, digits, - and ., starting and ending with a letter"),
    ("eniConfigLabelDef-newline", {**EKS, "awsVpcCni": {"eniConfigLabelDef": "zone\nFOO=1"}},
     "spec.awsVpcCni.eniConfigLabelDef", "must be a node label key such as k8s.amazonaws.com/eniConfig"),
    ("eniConfigLabelDef-two-slashes", {**EKS, "awsVpcCni": {"eniConfigLabelDef": "a/b/c"}},
     "spec.awsVpcCni.eniConfigLabelDef", "must be a node label key"),
    # huge strings
    ("iface-10k", {**MKS, "canal": {"iface": "x" * 10_000}}, "spec.canal.iface", "may not be more than 15 bytes"),
    ("registry-300", {**MKS, "registry": "a" * 300}, "spec.registry", "may not be more than 253 bytes"),
    ("clusterType-100k", {"clusterType": "m" * 100_000}, "spec.clusterType", "may not be more than 8 bytes"),
    ("eniConfigLabelDef-1k", {**EKS, "awsVpcCni": {"eniConfigLabelDef": "k" * 1000}},
     "spec.awsVpcCni.eniConfigLabelDef", "may not be more than 317 bytes"),
    # unknown fields, with kubectl's default (strict) field validation
    ("unknown-field-podCidr", {**MKS, "podCidr": "10.0.0.0/16"}, "spec.podCidr", 'unknown field "spec.podCidr"'),
    ("unknown-nested-field", {**MKS, "canal": {"vxlanPrt": 4789}}, "spec.canal.vxlanPrt",
     'unknown field "spec.canal.vxlanPrt"'),
]

# Admission cannot judge these; the operator must (id, spec, field, words in the condition message, a valid fix or
# None when the field is immutable and the fix is a new ClusterNetwork).
ACCEPTED_BUT_INVALID = [
    ("unknown-aws-region", {**EKS, "awsVpcCni": {"region": "xx-east-9"}}, "spec.awsVpcCni.region",
     "xx-east-9 has no known EKS image registry"),
    ("unknown-catalog-version", {**MKS, "cni": {"version": "v3.30.0"}}, "spec.cni.version",
     "v3.30.0 is not in the catalog for canal"),
]
VALID_FIX = {**MKS, "cni": {"version": "v3.32.1"}}  # for the last one: the version field can be corrected in place


def _doc(spec: dict, name: str = "default") -> str:
    return yaml.safe_dump({"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork",
                           "metadata": {"name": name}, "spec": spec})


def _stored(cluster, name: str = "default") -> dict | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return cluster.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _delete_all(cluster) -> None:
    for item in cluster.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]:
        cluster.kubectl("delete", "cnet", item["metadata"]["name"], "--wait=true", "--timeout=30s", check=False)


@pytest.fixture(scope="module")
def crds(cluster):
    install_crds(cluster)
    _delete_all(cluster)
    yield
    _delete_all(cluster)


@pytest.fixture
def empty(cluster, crds):
    """No ClusterNetwork before or after the test."""
    assert _stored(cluster) is None, "a ClusterNetwork 'default' is left over from an earlier test"
    yield
    _delete_all(cluster)


def _expect_rejected(result, field: str, words: str) -> str:
    text = (result.stderr or "") + (result.stdout or "")
    assert result.returncode != 0, f"admission accepted it: {text.strip()[:300]}"
    assert field in text and words in text, f"the message must name {field} and say {words!r}; got: {text[:600]}"
    return text


@pytest.mark.parametrize("spec, field, words", [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected_at_admission_with_a_message_naming_the_field(cluster, empty, spec, field, words):
    _expect_rejected(cluster.kubectl("apply", "-f", "-", input=_doc(spec), check=False), field, words)
    assert _stored(cluster) is None, "a rejected ClusterNetwork must not be stored"


def test_a_second_clusternetwork_is_rejected(cluster, empty):
    result = cluster.kubectl("apply", "-f", "-", input=_doc(MKS, name="other"), check=False)
    _expect_rejected(result, "metadata.name", "metadata.name must be 'default': there is one ClusterNetwork")
    assert _stored(cluster, "other") is None


def test_request_too_large_is_rejected(cluster, empty):
    result = cluster.kubectl("apply", "-f", "-", input=_doc({**MKS, "registry": "a" * (3 * 1024 * 1024)}),
                             check=False)
    assert result.returncode != 0 and "Request entity too large" in result.stderr[-2000:] + result.stderr[:2000], (
        result.stderr[:300])
    assert _stored(cluster) is None


def test_unknown_field_without_strict_validation_is_pruned(cluster, empty):
    """The non-strict path: accepted, and the stored spec does not carry the unknown field (so the operator acts on
    the spec without it: here a plain mks ClusterNetwork, valid)."""
    result = cluster.kubectl("apply", "--validate=false", "-f", "-", input=_doc({**MKS, "podCidr": "10.0.0.0/16"}),
                             check=False)
    assert result.returncode == 0, result.stderr
    spec = _stored(cluster)["spec"]
    assert "podCidr" not in spec and spec["podCIDR"] == "10.244.0.0/16", spec


IMMUTABLE = [
    ("clusterType", {"clusterType": "eks"}, "spec.clusterType", "clusterType is immutable: it is mks"),
    ("podCIDR", {"podCIDR": "10.245.0.0/16"}, "spec.podCIDR", "podCIDR is immutable: it is 10.244.0.0/16"),
    ("canal.backend", {"canal": {"backend": "host-gw"}}, "spec.canal.backend",
     "canal.backend is immutable: it is vxlan"),
    ("cni.provider", {"cni": {"provider": "aws-vpc-cni"}}, "spec.cni.provider", "cni.provider cannot change once set"),
]


@pytest.mark.parametrize("change, field, words", [c[1:] for c in IMMUTABLE], ids=[c[0] for c in IMMUTABLE])
def test_immutable_field_changes_are_rejected(cluster, empty, change, field, words):
    original = {"clusterType": "mks", "cni": {"provider": "canal"}, "podCIDR": "10.244.0.0/16",
                "canal": {"backend": "vxlan"}}
    assert cluster.kubectl("apply", "-f", "-", input=_doc(original), check=False).returncode == 0
    before = _stored(cluster)
    changed = {k: v for k, v in original.items() if k != "canal" or "clusterType" not in change}  # eks: no canal block
    changed.update(change)
    _expect_rejected(cluster.kubectl("apply", "-f", "-", input=_doc(changed), check=False), field, words)
    after = _stored(cluster)
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == before["metadata"]["generation"]


def test_accepted_but_invalid_specs_degrade_apply_nothing_and_the_operator_stays_healthy(
        cluster, crds, start_operator, audit_log, wait_for):
    operator = start_operator()
    mark = audit_log.mark()
    seen = []
    for name, spec, field, words in ACCEPTED_BUT_INVALID:
        result = cluster.kubectl("apply", "-f", "-", input=_doc(spec), check=False)
        assert result.returncode == 0, f"{name}: admission should accept it: {result.stderr}"
        cnet = wait_condition(cluster, "Degraded", "True", reason="InvalidConfiguration", timeout=30)
        degraded = next(c for c in cnet["status"]["conditions"] if c["type"] == "Degraded")
        assert field in degraded["message"] and words in degraded["message"], f"{name}: {degraded['message']}"
        ready = next(c for c in cnet["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False", f"{name}: Ready is {ready}"
        # docs/health.md: a refusal only the user can clear has phase Failed.
        assert cnet["status"].get("phase") == "Failed", f"{name}: phase {cnet['status'].get('phase')}"
        assert managed_objects(cluster) == set(), f"{name}: objects were applied for an invalid spec"
        assert operator.alive() and operator.metrics(), f"{name}: the operator is not healthy"
        seen.append(f"{name} ({degraded['message'][:80]}...)")
        if name != ACCEPTED_BUT_INVALID[-1][0]:
            cluster.kubectl("delete", "cnet", "default", "--wait=true", "--timeout=30s")

    ours = operator_writes(audit_log, mark, OPERATOR_USER)
    others = [e for e in ours if not ((e["objectRef"].get("resource") == "clusternetworks"
                                       and e["objectRef"].get("subresource") == "status")
                                      or e["objectRef"].get("resource") == "events")]
    assert not others, f"the operator wrote more than status and Events for invalid specs: {describe_writes(others)}"

    # A following valid change is acted on: the same ClusterNetwork, its version corrected.
    result = cluster.kubectl("apply", "-f", "-", input=_doc(VALID_FIX), check=False)
    assert result.returncode == 0, result.stderr
    wait_converged(cluster, VALID_FIX, timeout=90)
    degraded = next(c for c in get_clusternetwork(cluster)["status"]["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "False", degraded
    assert operator.alive()
    SUMMARY.add(f"bad input: {len(REJECTED) + len(IMMUTABLE) + 2} ClusterNetworks rejected at admission "
                f"(field named in each message), 1 unknown field pruned without strict validation, "
                f"{len(ACCEPTED_BUT_INVALID)} accepted and reported "
                f"Degraded/InvalidConfiguration with nothing applied, then a valid fix installed; "
                f"{len(others)} operator writes beyond status/Events")
