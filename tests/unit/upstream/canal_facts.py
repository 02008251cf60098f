"""Facts about the upstream Canal install manifest (projectcalico/calico, manifests/canal.yaml), as plain data.

Written by hand from reading the upstream file; the templates in manifests/canal/ are written from these facts and
tests/unit/test_render_canal.py compares the default render with them object by object.

Provenance:
- v3.32.1: manifests/canal.yaml at projectcalico/calico commit 8e223e254e297459757c580d2048052c54c14e08 (the commit on
  the release-v3.32 line that carries release-notes/v3.32.1-release-notes.md; every image in it is tagged v3.32.1).
  Read in full: every object header, every CRD's group/names/scope/versions/subresources, all RBAC, ConfigMap,
  DaemonSet, Deployment and PodDisruptionBudget.
- v3.31.4: manifests/canal.yaml at commit 080656738bd6a4b7e80a41924adeab18be1439aa (carries
  release-notes/v3.31.4-release-notes.md; images tagged v3.31.4). Newer v3.31 patches exist upstream (v3.31.7 is the
  newest release whose notes we could read) but their manifests are not in the stored corpus, so v3.31.4 is the newest
  v3.31 manifest we could confirm field by field. Read: object headers of every CRD except the stretch between
  felixconfigurations and globalnetworksets (the alphabetical generator leaves only globalnetworkpolicies there),
  all RBAC, the ConfigMap and both workloads.

Only facts live here (names, values, rules); no upstream text or comments are copied.
"""

NAMESPACE = "kube-system"

SOURCES = {
    "v3.32.1": {"repo": "projectcalico/calico", "path": "manifests/canal.yaml",
                "commit": "8e223e254e297459757c580d2048052c54c14e08"},
    "v3.31.4": {"repo": "projectcalico/calico", "path": "manifests/canal.yaml",
                "commit": "080656738bd6a4b7e80a41924adeab18be1439aa"},
}

# ---------------------------------------------------------------- images

IMAGES = {
    "v3.32.1": {
        "install-cni": "quay.io/calico/cni:v3.32.1",
        "ebpf-bootstrap": "quay.io/calico/node:v3.32.1",
        "calico-node": "quay.io/calico/node:v3.32.1",
        "kube-flannel": "docker.io/flannel/flannel:v0.24.4",
        "calico-kube-controllers": "quay.io/calico/kube-controllers:v3.32.1",
    },
    "v3.31.4": {
        "install-cni": "quay.io/calico/cni:v3.31.4",
        "ebpf-bootstrap": "quay.io/calico/node:v3.31.4",
        "calico-node": "quay.io/calico/node:v3.31.4",
        "kube-flannel": "docker.io/flannel/flannel:v0.24.4",
        "calico-kube-controllers": "quay.io/calico/kube-controllers:v3.31.4",
    },
}

# ---------------------------------------------------------------- CRDs
# (name, kind, scope, status subresource?). Every crd.projectcalico.org CRD: version v1, served and storage, listKind
# = kind + "List", singular = kind lowercased, spec.preserveUnknownFields false.
_CALICO_CRDS_COMMON = [
    ("bgpconfigurations", "BGPConfiguration", "Cluster"),
    ("bgpfilters", "BGPFilter", "Cluster"),
    ("bgppeers", "BGPPeer", "Cluster"),
    ("blockaffinities", "BlockAffinity", "Cluster"),
    ("caliconodestatuses", "CalicoNodeStatus", "Cluster"),
    ("clusterinformations", "ClusterInformation", "Cluster"),
    ("felixconfigurations", "FelixConfiguration", "Cluster"),
    ("globalnetworkpolicies", "GlobalNetworkPolicy", "Cluster"),
    ("globalnetworksets", "GlobalNetworkSet", "Cluster"),
    ("hostendpoints", "HostEndpoint", "Cluster"),
    ("ipamblocks", "IPAMBlock", "Cluster"),
    ("ipamconfigs", "IPAMConfig", "Cluster"),
    ("ipamhandles", "IPAMHandle", "Cluster"),
    ("ippools", "IPPool", "Cluster"),
    ("ipreservations", "IPReservation", "Cluster"),
    ("kubecontrollersconfigurations", "KubeControllersConfiguration", "Cluster"),
    ("networkpolicies", "NetworkPolicy", "Namespaced"),
    ("networksets", "NetworkSet", "Namespaced"),
    ("stagedglobalnetworkpolicies", "StagedGlobalNetworkPolicy", "Cluster"),
    ("stagedkubernetesnetworkpolicies", "StagedKubernetesNetworkPolicy", "Namespaced"),
    ("stagednetworkpolicies", "StagedNetworkPolicy", "Namespaced"),
    ("tiers", "Tier", "Cluster"),
]

# Top-level schema properties besides apiVersion/kind/metadata (what a compact schema must still let through).
CALICO_CRD_TOP_LEVEL = {plural: ("spec",) for plural, _, _ in _CALICO_CRDS_COMMON}
CALICO_CRD_TOP_LEVEL["caliconodestatuses"] = ("spec", "status")
CALICO_CRD_TOP_LEVEL["kubecontrollersconfigurations"] = ("spec", "status")


def _calico_crd(plural: str, kind: str, scope: str, status_subresource: bool) -> dict:
    return {
        "name": f"{plural}.crd.projectcalico.org",
        "group": "crd.projectcalico.org",
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": None,
        "scope": scope,
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "subresources": {"status": {}} if status_subresource else None,
                      "additionalPrinterColumns": None}],
    }


# kubecontrollersconfigurations gained a status subresource in v3.32 (its RBAC gained kubecontrollersconfigurations/status).
_STATUS_SUBRESOURCE = {"v3.31.4": set(), "v3.32.1": {"kubecontrollersconfigurations"}}

CLUSTER_NETWORK_POLICY_CRD = {
    "name": "clusternetworkpolicies.policy.networking.k8s.io",
    "group": "policy.networking.k8s.io",
    "kind": "ClusterNetworkPolicy",
    "listKind": "ClusterNetworkPolicyList",
    "plural": "clusternetworkpolicies",
    "singular": "clusternetworkpolicy",
    "shortNames": ["cnp"],
    "scope": "Cluster",
    "annotations": {
        "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/network-policy-api/pull/347",
        "policy.networking.k8s.io/bundle-version": "v0.2.0",
        "policy.networking.k8s.io/channel": "standard",
    },
    "versions": [{"name": "v1alpha2", "served": True, "storage": True, "subresources": {"status": {}},
                  "additionalPrinterColumns": [
                      {"jsonPath": ".spec.tier", "name": "Tier", "type": "string"},
                      {"jsonPath": ".spec.priority", "name": "Priority", "type": "string"},
                      {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}]}],
    "top_level": ("spec", "status"),
}

_ANP_ANNOTATIONS = {
    "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/network-policy-api/pull/30",
    "policy.networking.k8s.io/bundle-version": "v0.1.1",
    "policy.networking.k8s.io/channel": "experimental",
}
ADMIN_NETWORK_POLICY_CRDS = [
    {
        "name": "adminnetworkpolicies.policy.networking.k8s.io",
        "group": "policy.networking.k8s.io",
        "kind": "AdminNetworkPolicy",
        "listKind": "AdminNetworkPolicyList",
        "plural": "adminnetworkpolicies",
        "singular": "adminnetworkpolicy",
        "shortNames": ["anp"],
        "scope": "Cluster",
        "annotations": _ANP_ANNOTATIONS,
        "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                      "additionalPrinterColumns": [
                          {"jsonPath": ".spec.priority", "name": "Priority", "type": "string"},
                          {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}]}],
        "top_level": ("spec", "status"),
    },
    {
        "name": "baselineadminnetworkpolicies.policy.networking.k8s.io",
        "group": "policy.networking.k8s.io",
        "kind": "BaselineAdminNetworkPolicy",
        "listKind": "BaselineAdminNetworkPolicyList",
        "plural": "baselineadminnetworkpolicies",
        "singular": "baselineadminnetworkpolicy",
        "shortNames": ["banp"],
        "scope": "Cluster",
        "annotations": _ANP_ANNOTATIONS,
        "versions": [{"name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
                      "additionalPrinterColumns": [
                          {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}]}],
        "top_level": ("spec", "status"),
    },
]


def crds(version: str) -> list[dict]:
    """Every CRD the version's canal.yaml ships, in upstream order."""
    out = [_calico_crd(p, k, s, p in _STATUS_SUBRESOURCE[version]) for p, k, s in _CALICO_CRDS_COMMON]
    if version == "v3.32.1":
        out.append(CLUSTER_NETWORK_POLICY_CRD)
    else:
        out.extend(ADMIN_NETWORK_POLICY_CRDS)
    return out


# ---------------------------------------------------------------- object inventory (kind, name, namespace)

def objects(version: str) -> list[tuple[str, str, str]]:
    """Every object of the upstream manifest, in upstream order."""
    head = [
        ("PodDisruptionBudget", "calico-kube-controllers", NAMESPACE),
        ("ServiceAccount", "calico-kube-controllers", NAMESPACE),
        ("ServiceAccount", "canal", NAMESPACE),
        ("ServiceAccount", "calico-cni-plugin", NAMESPACE),
        ("ConfigMap", "canal-config", NAMESPACE),
    ]
    crd_objs = [("CustomResourceDefinition", c["name"], "") for c in crds(version)]
    tail = [
        ("ClusterRole", "calico-kube-controllers", ""),
        ("ClusterRole", "calico-node", ""),
        ("ClusterRole", "calico-cni-plugin", ""),
        ("ClusterRole", "flannel", ""),
        ("ClusterRole", "calico-tier-getter", ""),
        ("ClusterRoleBinding", "calico-kube-controllers", ""),
        ("ClusterRoleBinding", "canal-flannel", ""),
        ("ClusterRoleBinding", "canal-calico", ""),
        ("ClusterRoleBinding", "calico-cni-plugin", ""),
        ("ClusterRoleBinding", "calico-tier-getter", ""),
        ("DaemonSet", "canal", NAMESPACE),
        ("Deployment", "calico-kube-controllers", NAMESPACE),
    ]
    return head + crd_objs + tail


# ---------------------------------------------------------------- ConfigMap canal-config

CONFIGMAP_KEYS = ["typha_service_name", "canal_iface", "masquerade", "veth_mtu", "cni_network_config", "net-conf.json"]
CONFIGMAP_SCALARS = {"typha_service_name": "none", "canal_iface": "", "masquerade": "true", "veth_mtu": "0"}
# net-conf.json as data (upstream text is this object, 2-space indented, with a trailing newline).
NET_CONF = {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}
# cni_network_config is a template the install-cni container fills: __CNI_MTU__ (unquoted), __KUBERNETES_NODE_NAME__,
# __KUBECONFIG_FILEPATH__. Same in v3.31.4 and v3.32.1 (both cniVersion 0.3.1, calico + portmap plugins).
CNI_NETWORK_CONFIG = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {"type": "calico", "log_level": "info", "log_file_path": "/var/log/calico/cni/cni.log",
         "datastore_type": "kubernetes", "nodename": "__KUBERNETES_NODE_NAME__", "mtu": "__CNI_MTU__",
         "ipam": {"type": "host-local", "subnet": "usePodCidr"}, "policy": {"type": "k8s"},
         "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}},
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
    ],
}

# ---------------------------------------------------------------- PodDisruptionBudget

PDB = {"labels": {"k8s-app": "calico-kube-controllers"}, "maxUnavailable": 1,
       "selector": {"matchLabels": {"k8s-app": "calico-kube-controllers"}}}

# ---------------------------------------------------------------- DaemonSet canal

_CM = "canal-config"


def _cm_ref(key: str) -> dict:
    return {"configMapKeyRef": {"name": _CM, "key": key}}


def _field(path: str) -> dict:
    return {"fieldRef": {"fieldPath": path}}


# env: (name, literal value) or (name, valueFrom dict)
DAEMONSET = {
    "labels": {"k8s-app": "canal"},
    "selector": {"matchLabels": {"k8s-app": "canal"}},
    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
    "podLabels": {"k8s-app": "canal"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "hostNetwork": True,
    "tolerations": [
        {"effect": "NoSchedule", "operator": "Exists"},
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"effect": "NoExecute", "operator": "Exists"},
    ],
    "serviceAccountName": "canal",
    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    "terminationGracePeriodSeconds": 0,
    "priorityClassName": "system-node-critical",
    "initContainers": {
        "install-cni": {
            "command": ["/opt/cni/bin/install"],
            "imagePullPolicy": "IfNotPresent",
            "envFrom": [{"configMapRef": {"name": "kubernetes-services-endpoint", "optional": True}}],
            "env": [
                ("CALICO_CNI_SERVICE_ACCOUNT", _field("spec.serviceAccountName")),
                ("CNI_CONF_NAME", "10-canal.conflist"),
                ("CNI_NETWORK_CONFIG", _cm_ref("cni_network_config")),
                ("KUBERNETES_NODE_NAME", _field("spec.nodeName")),
                ("CNI_MTU", _cm_ref("veth_mtu")),
                ("SLEEP", "false"),
            ],
            "volumeMounts": [
                {"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
                {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"},
            ],
            "securityContext": {"privileged": True},
        },
        "ebpf-bootstrap": {
            "command": ["calico-node", "-init", "-best-effort"],
            "imagePullPolicy": "IfNotPresent",
            "env": [],
            "volumeMounts": [
                {"mountPath": "/sys/fs", "name": "sys-fs", "mountPropagation": "Bidirectional"},
                {"mountPath": "/var/run/calico", "name": "var-run-calico", "mountPropagation": "Bidirectional"},
                {"mountPath": "/nodeproc", "name": "nodeproc", "readOnly": True},
            ],
            "securityContext": {"privileged": True},
        },
    },
    "containers": {
        "calico-node": {
            "imagePullPolicy": "IfNotPresent",
            "envFrom": [{"configMapRef": {"name": "kubernetes-services-endpoint", "optional": True}}],
            "env": [
                ("DATASTORE_TYPE", "kubernetes"),
                ("USE_POD_CIDR", "true"),
                ("WAIT_FOR_DATASTORE", "true"),
                ("NODENAME", _field("spec.nodeName")),
                ("CALICO_CNI_SERVICE_ACCOUNT", _field("spec.serviceAccountName")),
                ("CALICO_NETWORKING_BACKEND", "none"),
                ("CLUSTER_TYPE", "k8s,canal"),
                ("FELIX_IPTABLESREFRESHINTERVAL", "60"),
                ("IP", ""),
                # CALICO_IPV4POOL_CIDR is present only as a comment upstream: not set.
                ("CALICO_DISABLE_FILE_LOGGING", "true"),
                ("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"),
                ("FELIX_IPV6SUPPORT", "false"),
                ("FELIX_HEALTHENABLED", "true"),
            ],
            "securityContext": {"privileged": True},
            "resources": {"requests": {"cpu": "250m"}},
            "lifecycle": {"preStop": {"exec": {"command": ["/bin/calico-node", "-shutdown"]}}},
            "livenessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-live"]}, "periodSeconds": 10,
                              "initialDelaySeconds": 10, "failureThreshold": 6, "timeoutSeconds": 10},
            "readinessProbe": {"httpGet": {"path": "/readiness", "port": 9099, "host": "localhost"},
                               "periodSeconds": 10, "timeoutSeconds": 10},
            "volumeMounts": [
                {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir", "readOnly": False},
                {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": True},
                {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": False},
                {"mountPath": "/var/run/calico", "name": "var-run-calico", "readOnly": False},
                {"mountPath": "/var/lib/calico", "name": "var-lib-calico", "readOnly": False},
                {"mountPath": "/var/run/nodeagent", "name": "policysync"},
                {"mountPath": "/sys/fs/bpf", "name": "bpffs"},
                {"mountPath": "/var/log/calico/cni", "name": "cni-log-dir", "readOnly": True},
            ],
        },
        "kube-flannel": {
            "command": ["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"],
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {"privileged": True},
            "env": [
                ("POD_NAME", _field("metadata.name")),
                ("POD_NAMESPACE", _field("metadata.namespace")),
                ("FLANNELD_IFACE", _cm_ref("canal_iface")),
                ("FLANNELD_IP_MASQ", _cm_ref("masquerade")),
            ],
            "volumeMounts": [
                {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": False},
                {"mountPath": "/etc/kube-flannel/", "name": "flannel-cfg"},
            ],
        },
    },
    "volumes": [
        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
        {"name": "var-run-calico", "hostPath": {"path": "/var/run/calico", "type": "DirectoryOrCreate"}},
        {"name": "var-lib-calico", "hostPath": {"path": "/var/lib/calico", "type": "DirectoryOrCreate"}},
        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
        {"name": "sys-fs", "hostPath": {"path": "/sys/fs/", "type": "DirectoryOrCreate"}},
        {"name": "bpffs", "hostPath": {"path": "/sys/fs/bpf", "type": "Directory"}},
        {"name": "nodeproc", "hostPath": {"path": "/proc"}},
        {"name": "flannel-cfg", "configMap": {"name": "canal-config"}},
        {"name": "cni-bin-dir", "hostPath": {"path": "/opt/cni/bin", "type": "DirectoryOrCreate"}},
        {"name": "cni-net-dir", "hostPath": {"path": "/etc/cni/net.d"}},
        {"name": "cni-log-dir", "hostPath": {"path": "/var/log/calico/cni"}},
        {"name": "policysync", "hostPath": {"path": "/var/run/nodeagent", "type": "DirectoryOrCreate"}},
    ],
}

# ---------------------------------------------------------------- Deployment calico-kube-controllers

DEPLOYMENT = {
    "labels": {"k8s-app": "calico-kube-controllers"},
    "replicas": 1,
    "selector": {"matchLabels": {"k8s-app": "calico-kube-controllers"}},
    "strategy": {"type": "Recreate"},
    "podMetadata": {"name": "calico-kube-controllers", "namespace": NAMESPACE,
                    "labels": {"k8s-app": "calico-kube-controllers"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
    ],
    "serviceAccountName": "calico-kube-controllers",
    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    "priorityClassName": "system-cluster-critical",
    "containers": {
        "calico-kube-controllers": {
            "imagePullPolicy": "IfNotPresent",
            "env": [("ENABLED_CONTROLLERS", "node,loadbalancer"), ("DATASTORE_TYPE", "kubernetes")],
            "livenessProbe": {"exec": {"command": ["/usr/bin/check-status", "-l"]}, "periodSeconds": 10,
                              "initialDelaySeconds": 10, "failureThreshold": 6, "timeoutSeconds": 10},
            "readinessProbe": {"exec": {"command": ["/usr/bin/check-status", "-r"]}, "periodSeconds": 10},
            "securityContext": {"runAsNonRoot": True},
        },
    },
}

# ---------------------------------------------------------------- RBAC
# A rule is (apiGroups, resources, verbs) or (apiGroups, resources, verbs, resourceNames). Compared as sets: rule order
# and the order inside a list carry no meaning for the API server.

_V1 = ["crd.projectcalico.org"]
_V3 = ["projectcalico.org", "crd.projectcalico.org"]
_CRUDW = ["get", "list", "create", "update", "delete", "watch"]

_NODE_WATCHED = ["globalfelixconfigs", "globalbgpconfigs", "felixconfigurations", "bgppeers", "bgpfilters",
                 "bgpconfigurations", "ippools", "ipreservations", "ipamblocks", "globalnetworkpolicies",
                 "stagedglobalnetworkpolicies", "networkpolicies", "stagednetworkpolicies",
                 "stagedkubernetesnetworkpolicies", "globalnetworksets", "networksets", "clusterinformations",
                 "hostendpoints", "blockaffinities", "caliconodestatuses", "tiers"]


def cluster_roles(version: str) -> dict[str, list[tuple]]:
    v32 = version == "v3.32.1"
    g = _V3 if v32 else _V1
    node = [
        ([""], ["serviceaccounts/token"], ["create"], ["canal", "calico-cni-plugin"]),
        ([""], ["pods", "nodes", "namespaces"], ["get"]),
        (["discovery.k8s.io"], ["endpointslices"], ["watch", "list"]),
        ([""], ["endpoints", "services"], ["watch", "list", "get"]),
        ([""], ["configmaps"], ["get"]),
        ([""], ["nodes/status"], ["patch", "update"]),
        (["networking.k8s.io"], ["networkpolicies"], ["watch", "list"]),
        (["policy.networking.k8s.io"],
         ["clusternetworkpolicies"] if v32 else ["adminnetworkpolicies", "baselineadminnetworkpolicies"],
         ["watch", "list"]),
        ([""], ["pods", "namespaces", "serviceaccounts"], ["list", "watch"]),
        ([""], ["pods/status"], ["patch"]),
        (g, _NODE_WATCHED, ["get", "list", "watch"]),
        (g, ["tiers"], ["create"]),
        (g, ["ippools", "felixconfigurations"] + (["bgpconfigurations"] if v32 else []) + ["clusterinformations"],
         ["create", "update"]),
        (g, ["caliconodestatuses"], ["update"]),
        ([""], ["nodes"], ["get", "list", "watch"]),
        (g, ["bgpconfigurations", "bgppeers"], ["create", "update"]),
    ]
    if v32:
        node.append((["kubevirt.io"], ["virtualmachineinstancemigrations"], ["get", "list", "watch"]))
    kc = [
        ([""], ["nodes"], ["watch", "list", "get"]),
        ([""], ["pods"], ["get", "list", "watch"]),
        ([""], ["namespaces"], ["get", "list", "watch"]),
        ([""], ["services", "services/status"], ["get", "list", "update", "watch"]),
        (g, ["ipreservations"], ["list"]),
        (g, ["blockaffinities", "ipamblocks", "ipamhandles"] + (["ipamconfigurations"] if v32 else [])
         + ["ipamconfigs", "tiers"], _CRUDW),
        (g, ["ippools"], ["list", "watch"]),
        (g, ["hostendpoints"], _CRUDW),
        (g, ["clusterinformations"], ["get", "list", "create", "update", "watch"]),
        (g, ["kubecontrollersconfigurations"], ["get", "list", "create", "update", "watch"]),
    ]
    if v32:
        kc += [
            (g, ["kubecontrollersconfigurations/status"], ["get", "update"]),
            (g, ["networkpolicies", "stagednetworkpolicies", "globalnetworkpolicies", "stagedglobalnetworkpolicies"],
             ["watch", "list", "get", "create", "update", "delete"]),
            (["apps"], ["daemonsets", "deployments"], ["get", "list", "watch"]),
            (["migration.projectcalico.org"], ["datastoremigrations", "datastoremigrations/status"],
             ["get", "list", "watch", "create", "update", "patch"]),
            (["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "list", "watch", "delete"]),
            (["apiregistration.k8s.io"], ["apiservices"], ["get", "list", "watch", "create", "delete"]),
            (["projectcalico.org"], ["*"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
            (["crd.projectcalico.org"], ["*"], ["get", "list", "watch"]),
            (["kubevirt.io"], ["virtualmachines", "virtualmachineinstances"], ["get", "list", "watch"]),
        ]
    return {
        "calico-kube-controllers": kc,
        "calico-node": node,
        "calico-cni-plugin": [
            ([""], ["pods", "nodes", "namespaces"], ["get"]),
            ([""], ["pods/status"], ["patch"]),
        ],
        "flannel": [
            ([""], ["pods"], ["get"]),
            ([""], ["nodes"], ["list", "watch"]),
            ([""], ["nodes/status"], ["patch"]),
        ],
        "calico-tier-getter": [(["projectcalico.org"], ["tiers"], ["get"])],
    }


# binding name -> (ClusterRole, subjects as (kind, name, namespace-or-apiGroup))
CLUSTER_ROLE_BINDINGS = {
    "calico-kube-controllers": ("calico-kube-controllers",
                                [("ServiceAccount", "calico-kube-controllers", NAMESPACE)]),
    "canal-flannel": ("flannel", [("ServiceAccount", "canal", NAMESPACE)]),
    "canal-calico": ("calico-node", [("ServiceAccount", "canal", NAMESPACE)]),
    "calico-cni-plugin": ("calico-cni-plugin", [("ServiceAccount", "calico-cni-plugin", NAMESPACE)]),
    "calico-tier-getter": ("calico-tier-getter",
                           [("User", "system:kube-controller-manager", "rbac.authorization.k8s.io")]),
}
