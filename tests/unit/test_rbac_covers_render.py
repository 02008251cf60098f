"""The chart's RBAC lets the operator apply, revert and remove every object any catalog version renders, and no more.

Every provider/version in manifests/catalog.yaml is rendered through `cni_operator.render.render(parse_spec(...))`,
at default options and with each option that can change the object list (hack/cni_rbac.py's OPTION_VARIANTS), and
every object is checked against the rules the chart binds to the operator's ServiceAccount (parsed from
`helm template`), the way the API server's RBAC authorizer evaluates them, both for the chart without a cluster type
and for the chart installed for that provider's cluster type:

- server-side apply is a PATCH to the object's URL: `patch`, plus `create` with the object's name when it is new;
- prune and deletionPolicy Delete: `delete` by name;
- a role is accepted only when the operator holds every right it grants (it holds no `escalate`);
- a binding needs `bind` on the role its roleRef names.

When this fails after a catalog change, run `make crd`: the chart's files/cni-objects.yaml and cni-rules.yaml are
generated from the catalog.
"""

from __future__ import annotations

import functools

import pytest
import yaml
from chart_tools import CNI_NAMESPACE, RESOURCES, operator_grants, own_grants, rule_atoms
from cni_operator.api import ClusterType, parse_spec
from cni_operator.catalog import load_catalog
from cni_operator.render import render

from hack.cni_rbac import OPTION_VARIANTS

CLUSTER_TYPE_OF = {"canal": ClusterType.MKS.value, "aws-vpc-cni": ClusterType.EKS.value}
IMPORTED = f"clusterNetwork.spec.clusterType={ClusterType.IMPORTED.value}"


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
    if kind in ("ClusterRole", "Role"):
        # The API server's escalation check: a ClusterRole against the writer's cluster-wide rights, a Role against
        # its rights in the role's namespace.
        for rule in obj.get("rules") or []:
            for verb, rule_group, rule_resource, rule_name in rule_atoms(rule):
                if not grants.allows(verb, rule_group, rule_resource, rule_name, namespace):
                    missing.append(f"{where} grants {verb} {rule_group}/{rule_resource}"
                                   f"{'/' + rule_name if rule_name else ''}, which the operator does not hold")
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        ref = obj["roleRef"]
        ref_resource = "clusterroles" if ref["kind"] == "ClusterRole" else "roles"
        ref_namespace = namespace if ref["kind"] == "Role" else ""
        if not grants.allows("bind", "rbac.authorization.k8s.io", ref_resource, ref["name"], ref_namespace or namespace):
            missing.append(f"{where}: no `bind` on {ref['kind']} {ref['name']}")
    return missing


@pytest.mark.parametrize("chart", ["any type", "its type"])
@pytest.mark.parametrize(("provider", "version", "options"), list(_cases()))
def test_operator_may_apply_every_rendered_object(provider, version, options, chart):
    sets = () if chart == "any type" else (f"clusterNetwork.spec.clusterType={CLUSTER_TYPE_OF[provider]}",)
    grants = operator_grants(*sets)
    objects = rendered(provider, version, options)
    missing = [m for obj in objects for m in missing_permissions(obj, grants)]
    assert not missing, (
        f"{provider} {version} {options or ''}: the chart's RBAC ({chart}) does not cover what the operator must "
        "apply; run `make crd` to regenerate charts/cni-operator/files/cni-*.yaml:\n  " + "\n  ".join(missing)
    )


@pytest.mark.parametrize("chart", ["any type", "its type"])
@pytest.mark.parametrize(("provider", "version", "options"), list(_cases()))
def test_operator_may_count_the_objects_of_every_crd_it_renders(provider, version, options, chart):
    """Before a prune or a delete removes a CRD, the operator lists its objects (limit 1) and keeps a CRD that holds
    any (apply.Applier._retain_crd). Without `list` it cannot tell, and keeps every CRD: never a loss, but a
    Delete that removes no CRD at all."""
    sets = () if chart == "any type" else (f"clusterNetwork.spec.clusterType={CLUSTER_TYPE_OF[provider]}",)
    grants = operator_grants(*sets)
    crds = [o for o in rendered(provider, version, options) if o["kind"] == "CustomResourceDefinition"]
    missing = [o["metadata"]["name"] for o in crds
               if not grants.allows("list", o["spec"]["group"], o["spec"]["names"]["plural"])]
    assert not missing, f"{provider} {version} ({chart}): no `list` on the objects of {missing}"


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
    # Nothing namespaced of its own outside the CNI namespace (the CNI's rights read pods everywhere, as the CNI does;
    # an imported cluster's operator holds none).
    assert not own_grants().allows("list", "", "pods", namespace="default")
    assert not operator_grants(IMPORTED).allows("list", "", "pods", namespace="default")


@pytest.mark.parametrize("chart", ["", IMPORTED, "clusterNetwork.spec.clusterType=eks",
                                   "clusterNetwork.spec.clusterType=mks"])
def test_operator_sees_daemonsets_in_every_namespace_and_nothing_more_there(chart):
    """A CNI runs where its installer puts it (calico-system, kube-flannel, ...): the operator lists and watches
    DaemonSets cluster-wide by a rule of its own, whatever the cluster type, and nothing else there of its own
    (docs/rbac.md: why not Roles in those namespaces)."""
    grants, own = operator_grants(*filter(None, [chart])), own_grants(*filter(None, [chart]))
    for namespace in ("calico-system", "kube-flannel", "tigera-operator", "a-namespace-made-later"):
        for verb in ("list", "watch"):
            assert grants.allows(verb, "apps", "daemonsets", namespace=namespace), (verb, namespace)
            assert own.allows(verb, "apps", "daemonsets", namespace=namespace), (verb, namespace)
        assert not own.allows("get", "apps", "daemonsets", "calico-node", namespace)
        for group, resource in (("apps", "deployments"), ("", "pods"), ("", "secrets"), ("", "configmaps")):
            assert not own.allows("list", group, resource, namespace=namespace), (resource, namespace)
        for verb in ("create", "patch", "delete", "update"):
            assert not grants.allows(verb, "apps", "daemonsets", "calico-node", namespace)


def test_operator_cannot_write_objects_it_does_not_render():
    for grants in (operator_grants(), own_grants()):
        assert not grants.allows("patch", "apps", "daemonsets", "kube-proxy", CNI_NAMESPACE)
        assert not grants.allows("delete", "apps", "deployments", "coredns", CNI_NAMESPACE)
        assert not grants.allows("create", "rbac.authorization.k8s.io", "clusterrolebindings", "cluster-admin-2")
        assert not grants.allows("bind", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")
        for role in ("cluster-admin", "calico-node", "aws-node"):
            assert not grants.allows("escalate", "rbac.authorization.k8s.io", "clusterroles", role)
    # Its own CRD: not by a rule of its own; Canal v3.32's calico-kube-controllers deletes any CRD, so a chart that
    # may install Canal lets the operator too (docs/rbac.md), one for eks does not.
    for grants in (own_grants(), operator_grants("clusterNetwork.spec.clusterType=eks")):
        assert not grants.allows("delete", "apiextensions.k8s.io", "customresourcedefinitions",
                                 "clusternetworks.cni-operator.io")
