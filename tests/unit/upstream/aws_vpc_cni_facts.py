"""Facts about the upstream AWS VPC CNI install manifest (aws/amazon-vpc-cni-k8s, config/master/aws-k8s-cni.yaml,
rendered from charts/aws-vpc-cni with default values), as plain data. The templates in manifests/aws-vpc-cni/ are
written from these facts, and tests/unit/test_render_aws.py compares the render with them object by object.

Provenance: read from the upstream git repository itself (a snapshot of aws/amazon-vpc-cni-k8s):
- v1.22.3: tag v1.22.3, config/master/aws-k8s-cni.yaml,
  sha256 4cd129acf39b353962a4d7c8337ab12b0aea6db67cee620badabd29e84f332ab.
- v1.23.1: the snapshot holds no v1.23.1 tag (its tags end at v1.23.0); the file is the one of master's commit
  b52188387 "Prepare v1.23.1 release (#3838)", which renders the v1.23.1 images,
  sha256 d5f38ce2f1e00960a6f5e0dc2f07d8a1c61d88c21778bcdc5a041ced0345ba0c.
The two files differ only in the version strings, the images, imagePullPolicy and the probes' ipamd address
(DELTAS). Neither ships a PolicyEndpoint CRD: the manifest dropped it in v1.22.1 (release commit 882a769b6; up to
v1.22.0 it had one), the chart's crds/ folder in v1.23.0 ("Remove PE crds from helm charts", 0e9c2bd6a); on EKS the
control plane installs it (FOREIGN_CRDS).
"""

NAMESPACE = "kube-system"
VERSION = "v1.23.1"

# ---------------------------------------------------------------- images

# Repository:tag, registry excluded (the registry is per region, see cni_operator.aws_registry).
IMAGES = {
    "v1.23.1": {
        "aws-vpc-cni-init": "amazon-k8s-cni-init:v1.23.1",
        "aws-node": "amazon-k8s-cni:v1.23.1",
        "aws-eks-nodeagent": "amazon/aws-network-policy-agent:v1.4.2",
    },
    "v1.22.3": {
        "aws-vpc-cni-init": "amazon-k8s-cni-init:v1.22.3",
        "aws-node": "amazon-k8s-cni:v1.22.3",
        "aws-eks-nodeagent": "amazon/aws-network-policy-agent:v1.3.7",
    },
}
DEFAULT_REGISTRY = (
    "602401143452.dkr.ecr.us-west-2.amazonaws.com"  # the default manifest's region is us-west-2
)

# ---------------------------------------------------------------- objects (kind, name, namespace)

OBJECTS = [
    ("CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com", ""),
    ("ServiceAccount", "aws-node", NAMESPACE),
    ("ConfigMap", "amazon-vpc-cni", NAMESPACE),
    ("ClusterRole", "aws-node", ""),
    ("ClusterRoleBinding", "aws-node", ""),
    ("DaemonSet", "aws-node", NAMESPACE),
]

API_VERSIONS = {
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "DaemonSet": "apps/v1",
}

# Labels the chart puts on every templated object (not on the CRD, which comes from the chart's crds/ folder).
COMMON_LABELS = {
    "app.kubernetes.io/name": "aws-node",
    "app.kubernetes.io/instance": "aws-vpc-cni",
    "k8s-app": "aws-node",
}

# ---------------------------------------------------------------- CRDs

CRDS = {
    "eniconfigs.crd.k8s.amazonaws.com": {
        "group": "crd.k8s.amazonaws.com",
        "scope": "Cluster",
        "names": {"plural": "eniconfigs", "singular": "eniconfig", "kind": "ENIConfig"},
        "versions": [{"name": "v1alpha1", "served": True, "storage": True}],
        "preserveUnknownFields": False,
        "schema_top_preserves_unknown": True,
        "spec_properties": {"securityGroups": "array of string", "subnet": "string"},
        "spec_required": ["subnet"],
    },
}
# CRDs the aws-node ClusterRole names but upstream's manifest does not ship: on EKS the control plane's network policy
# controller installs them (upstream README, "Network Policy Related Components"). manifests/catalog.yaml lists them
# under neverOwn: the operator never writes them.
FOREIGN_CRDS = ["policyendpoints.networking.k8s.aws", "clusterpolicyendpoints.networking.k8s.aws"]

# ---------------------------------------------------------------- ConfigMap amazon-vpc-cni

CONFIGMAP_DATA = {
    "enable-windows-ipam": "false",
    "enable-network-policy-controller": "false",  # chart value enableNetworkPolicy
    "enable-windows-prefix-delegation": "false",
    "warm-prefix-target": "0",
    "warm-ip-target": "1",
    "minimum-ip-target": "3",
    "branch-eni-cooldown": "60",
}

# ---------------------------------------------------------------- RBAC

# Rule for rule and in upstream's order (identical at v1.22.3 and v1.23.1; unchanged since v1.21.1's release, #3550).
CLUSTERROLE_RULES = [
    {"apiGroups": ["crd.k8s.amazonaws.com"], "resources": ["eniconfigs"], "verbs": ["list", "watch", "get"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch", "get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "get"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch", "get"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "list"]},
    {
        "apiGroups": ["networking.k8s.aws"],
        "resources": ["policyendpoints", "clusterpolicyendpoints"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["networking.k8s.aws"],
        "resources": ["policyendpoints/status", "clusterpolicyendpoints/status"],
        "verbs": ["get"],
    },
    {
        "apiGroups": ["vpcresources.k8s.aws"],
        "resources": ["cninodes"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"nonResourceURLs": ["/apis/networking.k8s.aws", "/apis/networking.k8s.aws/*"], "verbs": ["get"]},
]
CLUSTERROLEBINDING = {
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aws-node"},
    "subjects": [{"kind": "ServiceAccount", "name": "aws-node", "namespace": NAMESPACE}],
}

# ---------------------------------------------------------------- DaemonSet aws-node

DAEMONSET = {
    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
    "selector": {"matchLabels": {"k8s-app": "aws-node"}},
    "podLabels": dict(COMMON_LABELS),
    "priorityClassName": "system-node-critical",
    "serviceAccountName": "aws-node",
    "hostNetwork": True,
    "terminationGracePeriodSeconds": 10,
    "tolerations": [{"operator": "Exists"}],
    "podSecurityContext": {},
    "nodeAffinityTerms": [
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
        {
            "key": "eks.amazonaws.com/compute-type",
            "operator": "NotIn",
            "values": ["fargate", "hybrid", "auto"],
        },
    ],
    "volumes": {
        "bpf-pin-path": {"path": "/sys/fs/bpf"},
        "cni-bin-dir": {"path": "/opt/cni/bin"},
        "cni-net-dir": {"path": "/etc/cni/net.d"},
        "log-dir": {"path": "/var/log/aws-routed-eni", "type": "DirectoryOrCreate"},
        "run-dir": {"path": "/var/run/aws-node", "type": "DirectoryOrCreate"},
        "xtables-lock": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
    },
    "initContainers": ["aws-vpc-cni-init"],
    "containers": ["aws-node", "aws-eks-nodeagent"],
}

INIT_CONTAINER = {
    "name": "aws-vpc-cni-init",
    "env": {"DISABLE_TCP_EARLY_DEMUX": "false", "ENABLE_IPv6": "false"},
    "securityContext": {"privileged": True},
    "resources": {"requests": {"cpu": "25m"}},
    "volumeMounts": {"cni-bin-dir": "/host/opt/cni/bin"},
}

# aws-node env at default values, in the chart's order (helm ranges over the env map in sorted key order, then the
# two fieldRef vars). VPC_CNI_VERSION follows the version.
AWS_NODE_ENV = {
    "ADDITIONAL_ENI_TAGS": "{}",
    "AWS_VPC_CNI_NODE_PORT_SUPPORT": "true",
    "AWS_VPC_ENI_MTU": "9001",
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
    "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false",
    "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
    "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log",
    "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "prng",
    "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
    "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log",
    "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG",
    "DISABLE_INTROSPECTION": "false",
    "DISABLE_METRICS": "false",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING": "false",
    "ENABLE_IMDS_ONLY_MODE": "false",
    "ENABLE_IPv4": "true",
    "ENABLE_IPv6": "false",
    "ENABLE_MULTI_NIC": "false",
    "ENABLE_POD_ENI": "false",
    "ENABLE_PREFIX_DELEGATION": "false",
    "ENABLE_SUBNET_DISCOVERY": "true",
    "NETWORK_POLICY_ENFORCING_MODE": "standard",
    "VPC_CNI_VERSION": VERSION,
    "WARM_ENI_TARGET": "1",
    "WARM_PREFIX_TARGET": "1",
}
AWS_NODE_FIELD_ENV = {"MY_NODE_NAME": "spec.nodeName", "MY_POD_NAME": "metadata.name"}

AWS_NODE = {
    "name": "aws-node",
    "ports": [{"containerPort": 61678, "name": "metrics"}],
    "probe_command": ["/app/grpc-health-probe", "-addr={addr}", "-connect-timeout=5s", "-rpc-timeout=5s"],
    "livenessProbe": {"initialDelaySeconds": 60, "timeoutSeconds": 10},
    "readinessProbe": {"initialDelaySeconds": 1, "timeoutSeconds": 10},
    "resources": {"requests": {"cpu": "25m"}},
    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
    "volumeMounts": {
        "cni-bin-dir": "/host/opt/cni/bin",
        "cni-net-dir": "/host/etc/cni/net.d",
        "log-dir": "/host/var/log/aws-routed-eni",
        "run-dir": "/var/run/aws-node",
        "xtables-lock": "/run/xtables.lock",
    },
}

NODE_AGENT = {
    "name": "aws-eks-nodeagent",
    "ports": [{"containerPort": 8162, "name": "agentmetrics"}],  # --metrics-bind-addr; the chart's PodMonitor scrapes it
    "env_field": {"MY_NODE_NAME": "spec.nodeName"},
    "args": [
        "--enable-ipv6=false",
        "--enable-network-policy=false",  # chart value enableNetworkPolicy, like the ConfigMap key
        "--enable-cloudwatch-logs=false",
        "--enable-policy-event-logs=false",
        "--log-file=/var/log/aws-routed-eni/network-policy-agent.log",
        "--metrics-bind-addr=:8162",
        "--health-probe-bind-addr=:8163",
        "--conntrack-cache-cleanup-period=300",
        "--conntrack-cache-table-size=524288",  # chart value nodeAgent.conntrackCacheTableSize, in both versions
        "--log-level=debug",
    ],
    "resources": {"requests": {"cpu": "25m"}},
    "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}, "privileged": True},
    "volumeMounts": {
        "cni-bin-dir": "/host/opt/cni/bin",
        "bpf-pin-path": "/sys/fs/bpf",
        "log-dir": "/var/log/aws-routed-eni",
        "run-dir": "/var/run/aws-node",
    },
}

# ---------------------------------------------------------------- what changed between the versions we ship

DELTAS = {
    "v1.22.3": {
        # Before v1.23.0 the probes dial ipamd's TCP port.
        "probe_addr": ":50051",
        # imagePullPolicy per container; absent: upstream sets none.
        "imagePullPolicy": {"aws-vpc-cni-init": "Always", "aws-eks-nodeagent": "Always"},
    },
    "v1.23.1": {
        # v1.23.0 moved ipamd's gRPC server to a unix socket (#3739).
        "probe_addr": "unix:///var/run/aws-node/ipamd.sock",
        "imagePullPolicy": {"aws-vpc-cni-init": "IfNotPresent", "aws-node": "IfNotPresent",
                            "aws-eks-nodeagent": "IfNotPresent"},
    },
}
# Object sets: the same objects in both versions, so an upgrade between them changes workloads and prunes nothing.
