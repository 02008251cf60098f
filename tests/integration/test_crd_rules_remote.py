"""The generated RemoteClusterNetwork CRD on the real API server: accepted as structural, namespaced, its target
rules and the ClusterNetwork's spec rules say what docs/api.md says, and `kubectl get` shows the fleet columns.

Installed under a throw-away group (`rcn<random>.cni-operator.io`), as test_crd_rules.py does with the
ClusterNetwork's, so no operator and no other test sees these objects.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from cni_operator.api import remote as remote_api
from cni_operator.schema import remote

pytestmark = pytest.mark.k8s

GROUP = f"rcn{uuid.uuid4().hex[:6]}.cni-operator.io"
PLURAL = f"remoteclusternetworks.{GROUP}"
SECRET = {"kubeconfigSecretRef": {"name": "c1-kubeconfig"}}


@pytest.fixture(scope="module")
def installed(cluster):
    body = remote.crd_object()
    body["metadata"]["name"] = PLURAL
    body["spec"]["group"] = GROUP
    body["spec"]["names"]["shortNames"] = []
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(body))
    try:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}", "--timeout=60s")
        yield cluster
    finally:
        cluster.kubectl("delete", "crd", PLURAL, "--wait=false", check=False)


def manifest(spec: dict, name: str = "c1", namespace: str = "default") -> str:
    return yaml.safe_dump({"apiVersion": f"{GROUP}/v1alpha1", "kind": "RemoteClusterNetwork",
                           "metadata": {"name": name, "namespace": namespace}, "spec": spec})


def dry_run(cluster, spec: dict, name: str = "c1"):
    return cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest(spec, name),
                           check=False)


def test_crd_is_accepted_as_structural_and_namespaced(installed):
    got = installed.get_json("crd", PLURAL)
    types = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert types.get("Established") == "True" and "NonStructuralSchema" not in types
    assert got["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize("spec, field, words", [
    ({"clusterType": "mks"}, "spec.target", "Required value"),
    ({"clusterType": "mks", "target": {}}, "spec.target", remote_api.NO_TARGET_WORDS),
    ({"clusterType": "mks", "target": {**SECRET, "clusterRef": {"name": "c1"}}}, "spec.target",
     remote_api.TWO_TARGETS_WORDS),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "C1_Kubeconfig"}}},
     "spec.target.kubeconfigSecretRef.name", ("must be a Secret name: a DNS subdomain of at most 253 lower-case "
     "letters, digits, - and ., starting and ending with a letter or digit, such as c1-kubeconfig, not C1_Kubeconfig")),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "../etc"}}},
     "spec.target.kubeconfigSecretRef.name", "must be a Secret name"),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "c1", "key": "a/b"}}},
     "spec.target.kubeconfigSecretRef.key", ("must be a Secret data key of at most 253 letters, digits, -, _ and ., "
     "such as value or kubeconfig, not a/b")),
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "c1", "key": ""}}},
     "spec.target.kubeconfigSecretRef.key", "should be at least 1 chars long"),
    ({"clusterType": "mks", "target": {"clusterRef": {"name": "Cluster 1"}}}, "spec.target.clusterRef.name",
     "must be a Cluster API Cluster name: a DNS subdomain"),
    ({"clusterType": "mks", "target": {"clusterRef": {"name": "c" * 243}}}, "spec.target.clusterRef.name",
     "may not be more than 242 bytes"),
    ({"clusterType": "mks", "target": {"clusterRef": {}}}, "spec.target.clusterRef.name", "Required value"),
    # A reference into another namespace: there is no such field, and kubectl's strict field validation says so.
    ({"clusterType": "mks", "target": {"kubeconfigSecretRef": {"name": "c1", "namespace": "kube-system"}}},
     ".spec.target.kubeconfigSecretRef.namespace", "field not declared in schema"),
    # The ClusterNetwork's rules hold on the same spec.
    ({"clusterType": "eks", "canal": {}, "target": SECRET}, "spec.canal", "only allowed with clusterType mks"),
    ({"clusterType": "mks", "podCIDR": "10.244.1.0/16", "target": SECRET}, "spec.podCIDR", "has host bits set"),
])
def test_invalid_creates_are_rejected_with_our_messages(installed, spec, field, words):
    result = dry_run(installed, spec)
    assert result.returncode != 0, f"accepted: {spec}"
    assert field in result.stderr and words in result.stderr, result.stderr


@pytest.mark.parametrize("spec, name", [
    ({"clusterType": "mks", "target": SECRET}, "c1"),
    ({"clusterType": "eks", "target": {"kubeconfigSecretRef": {"name": "c1.kubeconfig", "key": "admin.conf"}}}, "eks-1"),
    ({"clusterType": "imported", "target": {"clusterRef": {"name": "c" * 242}}}, "imported"),
])
def test_valid_creates_are_accepted_under_any_name(installed, spec, name):
    result = dry_run(installed, spec, name)
    assert result.returncode == 0, result.stderr


def test_defaults_fill_the_key_and_the_spec(installed):
    result = installed.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                               input=manifest({"clusterType": "mks", "target": SECRET}))
    spec = json.loads(result.stdout)["spec"]
    assert spec["target"] == {"kubeconfigSecretRef": {"name": "c1-kubeconfig", "key": "value"}}
    assert spec["podCIDR"] == "10.244.0.0/16" and spec["deletionPolicy"] == "Orphan"


def test_clustertype_stays_immutable(installed, namespace):
    installed.kubectl("apply", "--server-side", "-f", "-",
                      input=manifest({"clusterType": "mks", "target": SECRET}, namespace=namespace))
    result = installed.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", check=False,
                               input=manifest({"clusterType": "eks", "target": SECRET}, namespace=namespace))
    assert result.returncode != 0 and "clusterType is immutable: it is mks" in result.stderr, result.stderr


def test_kubectl_get_shows_the_fleet_columns(installed, namespace):
    installed.kubectl("apply", "--server-side", "-f", "-", input=manifest(
        {"clusterType": "mks", "target": SECRET}, name="by-secret", namespace=namespace))
    installed.kubectl("apply", "--server-side", "-f", "-", input=manifest(
        {"clusterType": "imported", "target": {"clusterRef": {"name": "capi-7"}}}, name="by-cluster",
        namespace=namespace))
    status = {"phase": "Ready", "readySummary": "3/3", "provider": "canal", "version": "v3.32.1",
              "lastSeenTime": "2026-12-02T09:00:00Z",
              "conditions": [{"type": "Reachable", "status": "True", "reason": "Connected", "message": ""},
                             {"type": "CredentialsValid", "status": "True", "reason": "Valid", "message": ""}]}
    installed.kubectl("patch", PLURAL, "by-secret", "-n", namespace, "--subresource=status", "--type=merge",
                      "-p", json.dumps({"status": status}))
    out = installed.kubectl("get", PLURAL, "-n", namespace, "--sort-by=.metadata.name").stdout.splitlines()
    assert out[0].split() == ["NAME", "TARGET", "TYPE", "CNI", "VERSION", "READY", "PHASE", "REACHABLE", "AGE"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["by-secret"][1:8] == ["c1-kubeconfig", "mks", "canal", "v3.32.1", "3/3", "Ready", "True"]
    assert rows["by-cluster"][1:3] == ["capi-7", "imported"]
    # The status the operator will write is kept, lastSeenTime and the two new conditions included.
    stored = installed.get_json(PLURAL, "by-secret", "-n", namespace)["status"]
    assert stored["lastSeenTime"] == "2026-12-02T09:00:00Z"
    assert {c["type"] for c in stored["conditions"]} == {"Reachable", "CredentialsValid"}
