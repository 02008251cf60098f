"""spec.workloads on a real control plane: the CNI's pods carry the tolerations, priorityClassName, resources and env
a ClusterNetwork asks for, status is Ready, and an env variable the API owns is refused by `kubectl apply`."""

from __future__ import annotations

import json

import pytest

from tests.harness.clusternetwork import apply_clusternetwork, install
from tests.harness.managed import CNI_NAMESPACE

pytestmark = pytest.mark.k8s

PRIORITY_CLASS = "cni-test-critical"
TOLERATION = {"key": "example.com/dedicated", "operator": "Equal", "value": "network", "effect": "NoSchedule"}
SPEC = {
    "clusterType": "mks",
    "workloads": {
        "daemonSet": {"tolerations": [TOLERATION], "priorityClassName": PRIORITY_CLASS},
        "controllers": {
            "nodeSelector": {"type": "kwok"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node-role.kubernetes.io/agent", "operator": "Exists"}]}]}}},
        },
        "containers": [
            {"name": "calico-node", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"memory": "512Mi"}},
             "env": [{"name": "FELIX_USAGEREPORTINGENABLED", "value": "false"},
                     {"name": "FELIX_IPTABLESREFRESHINTERVAL", "value": "90"}]},
            {"name": "kube-flannel", "resources": {"requests": {"cpu": "50m"}}},
        ],
    },
}


def pods(cluster, app: str) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-n", CNI_NAMESPACE, "-l", f"k8s-app={app}", "-o", "json").stdout
    return json.loads(out)["items"]


def test_daemonset_pods_carry_the_workload_options_and_status_is_ready(cluster, cleanup, start_operator):
    cluster.kubectl("create", "priorityclass", PRIORITY_CLASS, "--value=1000000", check=False)
    cleanup.add(cluster.kubectl, "delete", "priorityclass", PRIORITY_CLASS, "--ignore-not-found", check=False)
    start_operator()
    cnet = install(cluster, SPEC, timeout=120)
    assert cnet["status"]["phase"] == "Ready"

    canal = pods(cluster, "canal")
    assert len(canal) == len(cluster.fake_nodes())
    for pod in canal:
        spec = pod["spec"]
        assert spec["priorityClassName"] == PRIORITY_CLASS
        assert spec["priority"] == 1000000  # the admission plugin resolved the class: the pod really runs at it
        assert TOLERATION in spec["tolerations"]
        assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in spec["tolerations"]  # upstream's stay
        containers = {c["name"]: c for c in spec["containers"]}
        assert containers["calico-node"]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                          "limits": {"memory": "512Mi"}}
        assert containers["kube-flannel"]["resources"] == {"requests": {"cpu": "50m"}}
        env = [(e["name"], e.get("value")) for e in containers["calico-node"]["env"]]
        assert ("FELIX_USAGEREPORTINGENABLED", "false") in env
        assert ("FELIX_IPTABLESREFRESHINTERVAL", "90") in env and ("FELIX_IPTABLESREFRESHINTERVAL", "60") not in env
        assert all(c["status"] == "True" for c in pod["status"]["conditions"] if c["type"] == "Ready")

    (controller,) = pods(cluster, "calico-kube-controllers")
    assert controller["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "type": "kwok"}
    assert controller["spec"]["affinity"] == SPEC["workloads"]["controllers"]["affinity"]
    assert controller["spec"]["priorityClassName"] == "system-cluster-critical"  # upstream's: not overridden


def test_an_env_variable_the_api_owns_is_refused_by_kubectl_apply(cluster):
    spec = {"clusterType": "mks", "workloads": {"containers": [
        {"name": "calico-node", "env": [{"name": "FELIX_IPINIPMTU", "value": "1400"}]}]}}
    result = apply_clusternetwork(cluster, spec)
    assert result.returncode != 0
    assert ('spec.workloads.containers[0].env[0].name: Invalid value: "FELIX_IPINIPMTU": FELIX_IPINIPMTU is set '
            "from spec.mtu: set spec.mtu instead") in result.stderr
    assert cluster.kubectl("get", "cnet", "default", check=False).returncode != 0  # nothing was created
