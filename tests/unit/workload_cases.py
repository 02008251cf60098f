"""spec.workloads cases shared by test_workloads_api.py (pydantic, `cni-operator validate`), test_api.py (every field
has an invalid case) and tests/integration/test_crd_rules_workloads.py (the same specs at admission)."""

from __future__ import annotations

W = "spec.workloads"
_REQ = "controllers.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
_PREF = "controllers.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"


def mks(workloads: dict) -> dict:
    return {"clusterType": "mks", "workloads": workloads}


def eks(workloads: dict) -> dict:
    return {"clusterType": "eks", "workloads": workloads}


def toleration(**fields) -> dict:
    return mks({"daemonSet": {"tolerations": [fields]}})


def container(name: str = "calico-node", **fields) -> dict:
    return mks({"containers": [{"name": name, **fields}]})


def requirement(**fields) -> dict:
    return mks({"controllers": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [fields]}]}}}}})


def preferred(weight: int = 10, **fields) -> dict:
    return mks({"controllers": {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": weight, "preference": {"matchExpressions": [fields]}}]}}}})


# (id, spec, field as `cni-operator validate` names it, words its message must contain)
INVALID = [
    ("toleration-key", toleration(key="bad key", operator="Exists"), f"{W}.daemonSet.tolerations[0].key",
     ["label key"]),
    ("toleration-no-key-equal", toleration(value="x"), f"{W}.daemonSet.tolerations[0]",
     ["empty key", "operator Exists"]),
    ("toleration-operator", toleration(key="a", operator="Matches"), f"{W}.daemonSet.tolerations[0].operator",
     ["Exists, Equal"]),
    ("toleration-exists-value", toleration(key="a", operator="Exists", value="b"),
     f"{W}.daemonSet.tolerations[0]", ["leave value empty"]),
    ("toleration-value", toleration(key="a", operator="Equal", value="bad value!"),
     f"{W}.daemonSet.tolerations[0].value", ["label value"]),
    ("toleration-effect", toleration(key="a", operator="Exists", effect="NoRun"),
     f"{W}.daemonSet.tolerations[0].effect", ["NoSchedule, PreferNoSchedule, NoExecute"]),
    ("toleration-seconds-effect", toleration(key="a", operator="Exists", tolerationSeconds=30),
     f"{W}.daemonSet.tolerations[0]", ["NoExecute"]),
    ("toleration-seconds-negative",
     toleration(key="a", operator="Exists", effect="NoExecute", tolerationSeconds=-1),
     f"{W}.daemonSet.tolerations[0].tolerationSeconds", ["between 0"]),
    ("daemonset-priority-class", mks({"daemonSet": {"priorityClassName": "Critical"}}),
     f"{W}.daemonSet.priorityClassName", ["PriorityClass name"]),
    ("controllers-priority-class", mks({"controllers": {"priorityClassName": "a_b"}}),
     f"{W}.controllers.priorityClassName", ["PriorityClass name"]),
    ("node-selector-key", mks({"controllers": {"nodeSelector": {"bad key": "x"}}}),
     f"{W}.controllers.nodeSelector", ["label key"]),
    ("node-selector-value", mks({"controllers": {"nodeSelector": {"zone": "a b"}}}),
     f"{W}.controllers.nodeSelector", ["label value"]),
    ("required-key", requirement(key="-bad", operator="Exists"), f"{W}.{_REQ}.nodeSelectorTerms[0].matchExpressions[0].key",
     ["label key"]),
    ("required-operator", requirement(key="a", operator="Like"),
     f"{W}.{_REQ}.nodeSelectorTerms[0].matchExpressions[0].operator", ["In, NotIn, Exists"]),
    ("required-values", requirement(key="a", operator="In", values=["bad value!"]),
     f"{W}.{_REQ}.nodeSelectorTerms[0].matchExpressions[0].values[0]", ["label value"]),
    ("required-in-without-values", requirement(key="a", operator="In"),
     f"{W}.{_REQ}.nodeSelectorTerms[0].matchExpressions[0]", ["In and NotIn need values"]),
    ("required-gt-not-integer", requirement(key="a", operator="Gt", values=["x"]),
     f"{W}.{_REQ}.nodeSelectorTerms[0].matchExpressions[0]", ["exactly one integer"]),
    ("preferred-weight", preferred(weight=0, key="a", operator="Exists"), f"{W}.{_PREF}[0].weight",
     ["between 1 and 100"]),
    ("preferred-key", preferred(key="a/b/c", operator="Exists"),
     f"{W}.{_PREF}[0].preference.matchExpressions[0].key", ["label key"]),
    ("preferred-operator", preferred(key="a", operator="Gte"),
     f"{W}.{_PREF}[0].preference.matchExpressions[0].operator", ["Gt, Lt"]),
    ("preferred-values", preferred(key="a", operator="NotIn", values=["x" * 64]),
     f"{W}.{_PREF}[0].preference.matchExpressions[0].values[0]", ["at most 63"]),
    ("preferred-exists-with-values", preferred(key="a", operator="Exists", values=["x"]),
     f"{W}.{_PREF}[0].preference.matchExpressions[0]", ["Exists and DoesNotExist take none"]),
    ("container-name", container(name="calico"), f"{W}.containers[0].name", ["calico-node", "aws-node"]),
    ("container-of-other-provider", container(name="aws-node"), f"{W}.containers[0].name",
     ["container of canal", "calico-node, kube-flannel"]),
    ("container-on-eks", eks({"containers": [{"name": "kube-flannel"}]}), f"{W}.containers[0].name",
     ["container of aws-vpc-cni", "aws-node, aws-eks-nodeagent, aws-vpc-cni-init"]),
    ("controllers-on-eks", eks({"controllers": {"priorityClassName": "high"}}), f"{W}.controllers",
     ["only for clusterType mks", "no controller Deployment"]),
    ("workloads-on-imported", {"clusterType": "imported", "workloads": {}}, f"{W}", ["unset for clusterType imported"]),
    ("requests-cpu", container(resources={"requests": {"cpu": "-1"}}), f"{W}.containers[0].resources.requests.cpu",
     ["quantity such as 250m"]),
    ("requests-memory", container(resources={"requests": {"memory": "12XB"}}),
     f"{W}.containers[0].resources.requests.memory", ["quantity such as 250m"]),
    ("requests-ephemeral-storage", container(resources={"requests": {"ephemeral-storage": "1 Gi"}}),
     f"{W}.containers[0].resources.requests.ephemeral-storage", ["quantity such as 250m"]),
    ("limits-cpu", container(resources={"limits": {"cpu": "one"}}), f"{W}.containers[0].resources.limits.cpu",
     ["quantity such as 250m"]),
    ("limits-memory", container(resources={"limits": {"memory": -5}}), f"{W}.containers[0].resources.limits.memory",
     ["quantity such as 250m"]),
    ("limits-ephemeral-storage", container(resources={"limits": {"ephemeral-storage": "1Gb"}}),
     f"{W}.containers[0].resources.limits.ephemeral-storage", ["quantity such as 250m"]),
    ("request-over-limit", container(resources={"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}),
     f"{W}.containers[0].resources", ["the memory request 1Gi is more than its limit 512Mi"]),
    ("env-name", container(env=[{"name": "1ABC", "value": "x"}]), f"{W}.containers[0].env[0].name",
     ["environment variable name"]),
    ("env-value", container(env=[{"name": "ABC", "value": "a\x00b"}]), f"{W}.containers[0].env[0].value",
     ["without control characters"]),
    ("env-denied-mtu", container(env=[{"name": "FELIX_IPINIPMTU", "value": "1400"}]),
     f"{W}.containers[0].env[0].name", ["FELIX_IPINIPMTU is set from spec.mtu"]),
    ("env-denied-cidr", container(env=[{"name": "CALICO_IPV4POOL_CIDR", "value": "10.0.0.0/8"}]),
     f"{W}.containers[0].env[0].name", ["spec.podCIDR"]),
    ("env-denied-externalsnat",
     eks({"containers": [{"name": "aws-node", "env": [{"name": "AWS_VPC_K8S_CNI_EXTERNALSNAT", "value": "true"}]}]}),
     f"{W}.containers[0].env[0].name", ["spec.awsVpcCni.externalSNAT"]),
    ("env-denied-identity", container(env=[{"name": "NODENAME", "value": "x"}]),
     f"{W}.containers[0].env[0].name", ["pod's own identity", "cannot be overridden"]),
]

# Accepted by pydantic and by the API server alike.
VALID = [
    mks({
        "daemonSet": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "net", "effect": "NoSchedule"},
                                      {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
                      "priorityClassName": "cni-critical"},
        "controllers": {"nodeSelector": {"node-role.kubernetes.io/infra": ""},
                        "affinity": {"nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                                      {"key": "gen", "operator": "Gt", "values": ["3"]}]}]},
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {"weight": 50, "preference": {"matchExpressions": [
                                    {"key": "spot", "operator": "DoesNotExist"}]}}]}},
                        "priorityClassName": "system-cluster-critical"},
        "containers": [
            {"name": "calico-node", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"cpu": 1, "memory": "1Gi", "ephemeral-storage": "1Gi"}},
             "env": [{"name": "FELIX_USAGEREPORTINGENABLED", "value": "false"}, {"name": "EMPTY"}]},
            {"name": "install-cni", "resources": {"requests": {"cpu": "0.5"}, "limits": {"cpu": "500m"}}},
        ],
    }),
    eks({
        "daemonSet": {"tolerations": [{"key": "example.com/gpu", "operator": "Exists"}]},
        "containers": [{"name": "aws-node", "env": [{"name": "AWS_VPC_K8S_CNI_LOGLEVEL", "value": "INFO"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "80Mi"}}},
                       {"name": "aws-eks-nodeagent", "resources": {"limits": {"memory": "256Mi"}}}],
    }),
]
