"""The generated ClusterNetwork CRD on the real apiserver: it is accepted, and its schema and CEL rules say what
docs/api.md says they say, with the messages we wrote.

The CRD is installed under a throw-away group (`cel<random>.cni-operator.io`) so that no operator and no other test
ever sees these objects: same schema, same rules, different name. Updates are server-side dry runs against one
stored object, so transition rules (`oldSelf`) are exercised without churning anything.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml
from cni_operator.validation import validate_object

from tests.harness.crd_rules import crd_under_group

pytestmark = pytest.mark.k8s

GROUP = f"cel{uuid.uuid4().hex[:6]}.cni-operator.io"


@pytest.fixture(scope="module")
def installed(cluster):
    yield from crd_under_group(cluster, GROUP)


def manifest(spec: dict, name: str = "default") -> str:
    return yaml.safe_dump({"apiVersion": f"{GROUP}/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": name},
                           "spec": spec})


def dry_run(cluster, spec: dict, name: str = "default"):
    return cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest(spec, name),
                           check=False)


def test_crd_is_accepted_as_structural(installed):
    got = json.loads(installed.kubectl("get", "crd", f"clusternetworks.{GROUP}", "-o", "json").stdout)
    types = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert types.get("Established") == "True"
    assert "NonStructuralSchema" not in types


@pytest.mark.parametrize(
    "spec, name, field, words",
    [
        ({"clusterType": "mks"}, "prod", "metadata.name", "metadata.name must be 'default'"),
        ({"clusterType": "eks", "cni": {"provider": "canal"}}, "default", "spec.cni.provider",
         "cni.provider must fit clusterType: mks -> canal, eks -> aws-vpc-cni"),
        ({"clusterType": "imported", "cni": {"provider": "aws-vpc-cni"}}, "default", "spec.cni.provider",
         "imported -> leave cni.provider unset"),
        ({"clusterType": "imported", "cni": {"version": "v1.2.3"}}, "default", "spec.cni.version",
         "cni.version must be unset for clusterType imported"),
        ({"clusterType": "eks", "canal": {}}, "default", "spec.canal", "only allowed with clusterType mks"),
        ({"clusterType": "mks", "awsVpcCni": {}}, "default", "spec.awsVpcCni", "only allowed with clusterType eks"),
        ({"clusterType": "mks", "mtu": 100}, "default", "spec.mtu", "mtu must be 0 (automatic) or between 576"),
        ({"clusterType": "mks", "mtu": 9002}, "default", "spec.mtu", "mtu must be 0 (automatic) or between 576"),
        ({"clusterType": "mks", "podCIDR": "10.0.0.0/30"}, "default", "spec.podCIDR", "prefix between /8 and /28, such as 10.244.0.0/16, not 10.0.0.0/30"),
        ({"clusterType": "mks", "podCIDR": "fd00::/64"}, "default", "spec.podCIDR", "must be an IPv4 network"),
        ({"clusterType": "mks", "podCIDR": "10.244.1.0/16"}, "default", "spec.podCIDR",
         "podCIDR 10.244.1.0/16 has host bits set: write the network address"),
        ({"clusterType": "mks", "rollout": {"maxUnavailable": "0%"}}, "default", "spec.rollout.maxUnavailable",
         "a percentage between 1% and 100%"),
        ({"clusterType": "mks", "rollout": {"canary": "half"}}, "default", "spec.rollout.canary",
         "a count of nodes between 1 and 1000 or a percentage"),
        ({"clusterType": "mks", "rollout": {"soakSeconds": -5}}, "default", "spec.rollout.soakSeconds",
         "greater than or equal to 0"),
        ({"clusterType": "mks", "rollout": {"soakSeconds": 120, "progressDeadlineSeconds": 60}}, "default",
         "spec.rollout.progressDeadlineSeconds", "progressDeadlineSeconds must be at least rollout.soakSeconds"),
        ({"clusterType": "mks", "rollout": {"maxUnavailable": 0}}, "default", "spec.rollout.maxUnavailable",
         "greater than or equal to 1"),
        ({"clusterType": "mks", "canal": {"backend": "ipip"}}, "default", "spec.canal.backend",
         'supported values: "vxlan", "host-gw", "wireguard"'),
        ({"clusterType": "aks"}, "default", "spec.clusterType", 'supported values: "mks", "eks", "imported"'),
        ({"clusterType": "mks", "registry": "Mirror.Local"}, "default", "spec.registry", "in lower case, such as mirror.local:5000"),
        ({"clusterType": "mks", "imagePullSecrets": [{"name": "a"}] * 17}, "default", "spec.imagePullSecrets",
         "must have at most 16 items"),
        ({"clusterType": "mks", "imagePullSecrets": [{"name": "../../etc/passwd"}]}, "default",
         "spec.imagePullSecrets[0].name", "must be a Secret name: a DNS subdomain"),
        ({"clusterType": "mks", "canal": {"iface": "eth0\nX=1"}}, "default", "spec.canal.iface",
         "must be a Linux interface name such as eth1"),
        ({"clusterType": "mks", "canal": {"iface": "e" * 16}}, "default", "spec.canal.iface",
         "may not be more than 15 bytes"),
        ({"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "a/b/c"}}, "default",
         "spec.awsVpcCni.eniConfigLabelDef", "must be a node label key such as k8s.amazonaws.com/eniConfig"),
        ({"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "a" * 254 + "/b"}}, "default",
         "spec.awsVpcCni.eniConfigLabelDef", "the prefix before / must be at most 253 characters"),
    ],
)
def test_invalid_creates_are_rejected_with_our_messages(installed, spec, name, field, words):
    result = dry_run(installed, spec, name)
    assert result.returncode != 0, f"accepted: {spec}"
    assert f"{field}:" in result.stderr and words in result.stderr, result.stderr
    # `cni-operator validate` rejects it too, on the same field: users find out before kubectl apply does.
    obj = yaml.safe_load(manifest(spec, name))
    obj["apiVersion"] = "cni-operator.io/v1alpha1"
    assert field in {p.field for p in validate_object(obj)}


@pytest.mark.parametrize(
    "spec",
    [
        {"clusterType": "mks", "rollout": {"maxUnavailable": "25%"}, "mtu": 9001},
        {"clusterType": "eks", "cni": {"provider": "aws-vpc-cni", "version": "v1.23.1"},
         "awsVpcCni": {"region": "eu-west-1", "warmIPTarget": 5}},
        {"clusterType": "imported"},
        {"clusterType": "mks", "canal": {"iface": "enp0s31f6.100"}, "imagePullSecrets": [{"name": "team.regcred-1"}]},
        {"clusterType": "mks", "canal": {"iface": "10.0.0.1"}},
        {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "k8s.amazonaws.com/eniConfig"}},
        {"clusterType": "eks", "awsVpcCni": {"eniConfigLabelDef": "a" * 253 + "/" + "b" * 63}},
    ],
)
def test_valid_creates_are_accepted(installed, spec):
    result = dry_run(installed, spec)
    assert result.returncode == 0, result.stderr


def test_defaults_are_stored_but_never_create_an_option_block(installed):
    result = installed.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                               input=manifest({"clusterType": "mks"}))
    spec = json.loads(result.stdout)["spec"]
    assert spec == {"clusterType": "mks", "podCIDR": "10.244.0.0/16", "mtu": 0, "paused": False,
                    "deletionPolicy": "Orphan", "adoption": "IfEquivalent"}
    result = installed.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                               input=manifest({"clusterType": "mks", "canal": {}, "rollout": {}}))
    spec = json.loads(result.stdout)["spec"]
    assert spec["canal"] == {"backend": "vxlan", "vxlanPort": 8472, "vni": 1, "masquerade": True,
                             "iptablesBackend": "Auto", "logSeverity": "Info",
                             "felixPrometheusMetricsEnabled": False, "felixPrometheusMetricsPort": 9091}
    # maxUnavailable is not stored: unset, it is the provider's upstream value (1 Canal, 10% VPC CNI: catalog.yaml).
    assert spec["rollout"] == {"canary": 1, "soakSeconds": 30, "progressDeadlineSeconds": 600, "autoRollback": True}


def test_unknown_fields_are_reported_not_stored(installed):
    result = dry_run(installed, {"clusterType": "mks", "backend": "vxlan"})
    assert result.returncode != 0 and ".spec.backend: field not declared in schema" in result.stderr


@pytest.fixture(scope="module")
def stored(installed):
    """One stored ClusterNetwork that the transition rules compare against."""
    installed.kubectl("apply", "--server-side", "-f", "-", input=manifest(
        {"clusterType": "mks", "cni": {"provider": "canal"}, "podCIDR": "10.42.0.0/16"}))
    return installed


@pytest.mark.parametrize(
    "spec, field, words",
    [
        ({"clusterType": "eks"}, "spec.clusterType", "clusterType is immutable: it is mks"),
        ({"clusterType": "mks", "podCIDR": "10.43.0.0/16"}, "spec.podCIDR", "podCIDR is immutable: it is 10.42.0.0/16"),
        # Leaving podCIDR out means the default, which is a change too.
        ({"clusterType": "mks"}, "spec.podCIDR", "(leaving it out means 10.244.0.0/16)"),
        ({"clusterType": "mks", "podCIDR": "10.42.0.0/16", "canal": {"backend": "host-gw"}}, "spec.canal.backend",
         "canal.backend is immutable: it is vxlan"),
    ],
)
def test_transition_rules_reject_changes(stored, spec, field, words):
    result = dry_run(stored, spec)
    assert result.returncode != 0, f"accepted: {spec}"
    assert f"{field}:" in result.stderr and words in result.stderr, result.stderr


@pytest.mark.parametrize(
    "spec",
    [
        {"clusterType": "mks", "podCIDR": "10.42.0.0/16"},  # cni.provider removed: derived from clusterType again
        {"clusterType": "mks", "podCIDR": "10.42.0.0/16", "canal": {"vxlanPort": 4789}},  # backend stays vxlan
        {"clusterType": "mks", "podCIDR": "10.42.0.0/16", "mtu": 1450, "paused": True, "deletionPolicy": "Delete"},
    ],
)
def test_transition_rules_allow_other_changes(stored, spec):
    result = dry_run(stored, spec)
    assert result.returncode == 0, result.stderr


def test_a_clusternetwork_no_operator_has_seen_is_not_current_for_kstatus(stored):
    # kstatus (Flux, Argo CD, kpt) calls an object without status.observedGeneration Current: the CRD defaults it to 0,
    # so a ClusterNetwork nobody has reconciled yet reads as not observed (InProgress) until the operator reports.
    body = json.loads(stored.kubectl("get", f"clusternetworks.{GROUP}", "default", "-o", "json").stdout)
    assert body["status"] == {"observedGeneration": 0}
    assert body["metadata"]["generation"] >= 1


def test_status_keeps_declared_fields_and_prunes_the_rest(stored):
    status = {
        "observedGeneration": 1, "phase": "Ready", "readySummary": "3/3", "provider": "canal", "version": "v3.32.1",
        "conditions": [{"type": "Ready", "status": "True", "reason": "AllPodsReady", "message": "3/3 canal pods ready",
                        "observedGeneration": 1, "lastTransitionTime": "2025-01-01T00:00:00Z"}],
        "health": {"desired": 3, "ready": 3, "updated": 3, "unavailable": 0,
                   "nodes": {"total": 3, "withReadyCNI": 3, "withoutReadyCNI": []}},
        "applied": {"objects": 1, "hash": "h", "lastAppliedTime": "2025-01-01T00:00:00Z",
                    "inventory": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "canal-config",
                                   "namespace": "kube-system"}]},
        "unhealthy": [{"reason": "CrashLoopBackOff", "count": 1, "pods": ["canal-x@n2"], "container": "calico-node",
                       "message": "back-off"}],
        "detected": [{"provider": "calico", "version": "v3.30.0", "workload": "kube-system/calico-node", "ready": 1,
                      "desired": 1}],
        "ignored": ["ConfigMap kube-system/canal-config"],
        "drift": {"unreverted": 1,
                  "objects": ["ConfigMap kube-system/canal-config: ignored, cni-operator.io/ignore=true (.data)"]},
    }
    result = stored.kubectl("patch", f"clusternetworks.{GROUP}", "default", "--subresource=status", "--type=merge",
                            "-p", json.dumps({"status": {**status, "kopf": {"progress": {}}}}), "-o", "json")
    assert json.loads(result.stdout)["status"] == status

    table = stored.kubectl("get", f"clusternetworks.{GROUP}", "default", "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == ["NAME", "TYPE", "CNI", "VERSION", "READY", "PHASE", "AGE",
                                                     "UNREVERTED", "ROLLOUT", "MESSAGE"]
    row = re.split(r"\s{2,}", table[1].strip())
    assert row[:6] == ["default", "mks", "canal", "v3.32.1", "3/3", "Ready"]
    assert row[-2:] == ["1", "3/3 canal pods ready"]
