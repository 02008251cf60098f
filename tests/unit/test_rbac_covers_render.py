"""The chart's RBAC lets the operator apply, revert and remove every object any catalog version renders, and no more.

Every provider/version in manifests/catalog.yaml is rendered through `cni_operator.render.render(parse_spec(...))`,
at default options and with each option that can change the object list, and every object is checked against the
rules the chart binds to the operator's ServiceAccount (parsed from `helm template`), the way the API server's RBAC
authorizer evaluates them:

- server-side apply is a PATCH to the object's URL: `patch`, plus `create` with the object's name when it is new;
- prune and deletionPolicy Delete: `delete` by name;
- a ClusterRole may grant more than the operator holds: `escalate` on that role's name;
- a binding needs `bind` on the role its roleRef names.

When this fails for a new object, add its name to charts/cni-operator/files/cni-objects.yaml.
"""

from __future__ import annotations

import functools

import pytest
import yaml
from chart_tools import CHART, CNI_NAMESPACE, RESOURCES, operator_grants
from cni_operator.api import ClusterType, parse_spec
from cni_operator.catalog import load_catalog
from cni_operator.render import render

CLUSTER_TYPE_OF = {"canal": ClusterType.MKS.value, "aws-vpc-cni": ClusterType.EKS.value}

# Options that may add or drop objects, rendered on top of the defaults (one at a time).
OPTION_VARIANTS = {
    "canal": [{}, {"canal": {"backend": "host-gw"}}, {"canal": {"backend": "wireguard"}}],
    "aws-vpc-cni": [
        {},
        {"awsVpcCni": {"enableNetworkPolicy": True}},
        {"awsVpcCni": {"customNetworking": True, "eniConfigLabelDef": "topology.kubernetes.io/zone"}},
        {"awsVpcCni": {"enablePrefixDelegation": True}},
        {"awsVpcCni": {"enablePodENI": True}},
        {"awsVpcCni": {"externalSNAT": True}},
    ],
}


def _cases():
    catalog = load_catalog()
    for provider in catalog.entries:
        for version in catalog.versions(provider):
            for options in OPTION_VARIANTS.get(provider.value, [{}]):
                label = ",".join(f"{k}" for block in options.values() for k in block) or "defaults"
                yield pytest.param(provider.value, version, options, id=f"{provider.value}-{version}-{label}")


@functools.cache
def _rendered(provider: str, version: str, options_yaml: str) -> list[dict]:
    spec = {"clusterType": CLUSTER_TYPE_OF[provider], "cni": {"provider": provider, "version": version},
            **yaml.safe_load(options_yaml)}
    return render(parse_spec(spec)).apply


def rendered(provider: str, version: str, options: dict) -> list[dict]:
    return _rendered(provider, version, yaml.safe_dump(options, sort_keys=True))


def missing_permissions(obj: dict, grants) -> list[str]:
    kind, meta = obj["kind"], obj["metadata"]
    name, namespace = meta["name"], meta.get("namespace", "")
    assert kind in RESOURCES, (
        f"{kind} {name}: a kind the chart's RBAC does not know; add it to tests/unit/chart_tools.py RESOURCES "
        "and grant it in charts/cni-operator/templates/rbac.yaml"
    )
    group, resource = RESOURCES[kind]
    where = f"{kind} {namespace + '/' if namespace else ''}{name}"
    missing = []
    if namespace and namespace != CNI_NAMESPACE:
        missing.append(f"{where}: rendered outside {CNI_NAMESPACE}, where the operator has no Role")
    for verb in ("create", "patch", "delete"):
        if not grants.allows(verb, group, resource, name, namespace):
            missing.append(f"{where}: no `{verb}`")
    if kind in ("ClusterRole", "Role") and not grants.allows("escalate", group, resource, name, namespace):
        missing.append(f"{where}: no `escalate` (the role may grant more than the operator holds)")
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        ref = obj["roleRef"]
        ref_resource = "clusterroles" if ref["kind"] == "ClusterRole" else "roles"
        ref_namespace = namespace if ref["kind"] == "Role" else ""
        if not grants.allows("bind", "rbac.authorization.k8s.io", ref_resource, ref["name"], ref_namespace or namespace):
            missing.append(f"{where}: no `bind` on {ref['kind']} {ref['name']}")
    return missing


@pytest.mark.parametrize(("provider", "version", "options"), list(_cases()))
def test_operator_may_apply_every_rendered_object(provider, version, options):
    grants = operator_grants()
    objects = rendered(provider, version, options)
    missing = [m for obj in objects for m in missing_permissions(obj, grants)]
    assert not missing, (
        f"{provider} {version} {options or ''}: the chart's RBAC does not cover what the operator must apply; "
        "add the names to charts/cni-operator/files/cni-objects.yaml:\n  " + "\n  ".join(missing)
    )


def test_operator_may_write_the_clusternetwork_status_and_finalizer():
    grants = operator_grants()
    assert grants.allows("patch", "cni-operator.io", "clusternetworks/status", "default")
    assert grants.allows("patch", "cni-operator.io", "clusternetworks", "default")
    for verb in ("get", "list", "watch"):
        assert grants.allows(verb, "cni-operator.io", "clusternetworks")
    assert not grants.allows("delete", "cni-operator.io", "clusternetworks", "default")


def test_operator_may_join_and_create_its_peering():
    from cni_operator import runner

    grants = operator_grants()
    for verb in ("list", "watch", "create", "patch"):
        assert grants.allows(verb, "kopf.dev", "kopfpeerings", runner.PEERING_NAME, CNI_NAMESPACE), verb
    assert not grants.allows("patch", "kopf.dev", "kopfpeerings", "someone-elses", CNI_NAMESPACE)


def test_operator_may_read_what_health_reads():
    grants = operator_grants()
    for verb in ("get", "list", "watch"):
        assert grants.allows(verb, "", "nodes")
        assert grants.allows(verb, "", "pods", namespace=CNI_NAMESPACE)
        assert grants.allows(verb, "apps", "daemonsets", namespace=CNI_NAMESPACE)
        assert grants.allows(verb, "apps", "deployments", namespace=CNI_NAMESPACE)
    # Nothing namespaced outside the CNI namespace.
    assert not grants.allows("list", "", "pods", namespace="default")


def test_operator_cannot_write_objects_it_does_not_render():
    grants = operator_grants()
    assert not grants.allows("patch", "apps", "daemonsets", "kube-proxy", CNI_NAMESPACE)
    assert not grants.allows("delete", "apps", "deployments", "coredns", CNI_NAMESPACE)
    assert not grants.allows("create", "rbac.authorization.k8s.io", "clusterrolebindings", "cluster-admin-2")
    assert not grants.allows("bind", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")
    assert not grants.allows("escalate", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")
    assert not grants.allows("delete", "apiextensions.k8s.io", "customresourcedefinitions",
                             "clusternetworks.cni-operator.io")


def test_rbac_names_are_all_still_rendered():
    """A name no catalog version renders any more is a permission nobody needs: remove it."""
    listed = yaml.safe_load((CHART / "files" / "cni-objects.yaml").read_text())
    catalog = load_catalog()
    empty = [f"{p.value} {v}" for p in catalog.entries for v in catalog.versions(p)
             if not rendered(p.value, v, {})]
    if empty:
        pytest.skip(f"not every catalog version renders yet ({', '.join(empty)}): cannot tell stale names apart")
    rendered_names = {
        obj["metadata"]["name"]
        for case in _cases()
        for obj in rendered(*case.values)
    }
    stale = sorted({name for names in listed.values() for name in names or []} - rendered_names)
    assert not stale, f"names in files/cni-objects.yaml that no catalog version renders: {stale}"
