"""providers.py describes each CNI by the names of its workloads; for the CNIs the operator installs, those names are
the ones its templates render. Every catalog version of every installed provider is rendered and checked against its
descriptor: the watches (is_cni_pod), health (which DaemonSet, Deployment and pods to judge) and detection (which CNI,
which version) read the descriptor, so a template renaming a workload or a label must fail here."""

from __future__ import annotations

import pytest
from cni_operator.api import PROVIDER_FOR_CLUSTER_TYPE, Provider, parse_spec
from cni_operator.catalog import load_catalog
from cni_operator.images import image_tag
from cni_operator.providers import KNOWN, describe_daemonset, for_provider, is_cni_pod
from cni_operator.render import render

CLUSTER_TYPE = {provider: cluster_type for cluster_type, provider in PROVIDER_FOR_CLUSTER_TYPE.items() if provider}
VERSIONS = [(provider, version) for provider in (Provider.CANAL, Provider.AWS_VPC_CNI)
            for version in load_catalog().versions(provider)]


def rendered_workloads(provider: Provider, version: str) -> tuple[list[dict], list[dict]]:
    spec = parse_spec({"clusterType": CLUSTER_TYPE[provider].value,
                       "cni": {"provider": provider.value, "version": version}})
    objects = render(spec).apply
    return ([o for o in objects if o["kind"] == "DaemonSet"], [o for o in objects if o["kind"] == "Deployment"])


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"]["labels"]


def test_every_catalog_provider_has_a_descriptor_and_every_version_is_checked():
    catalog_providers = set(load_catalog().entries)
    assert catalog_providers == {d.installs for d in KNOWN if d.installs is not None}
    assert {p for p, _ in VERSIONS} == catalog_providers
    assert all(len(load_catalog().versions(p)) == sum(1 for q, _ in VERSIONS if q is p) for p in catalog_providers)


@pytest.mark.parametrize("provider, version", VERSIONS, ids=[f"{p.value}-{v}" for p, v in VERSIONS])
def test_the_render_agrees_with_the_descriptor(provider, version):
    cni = for_provider(provider)
    daemonsets, deployments = rendered_workloads(provider, version)

    assert [ds["metadata"]["name"] for ds in daemonsets] == [cni.daemonset]
    ds = daemonsets[0]
    assert ds["spec"]["selector"]["matchLabels"]["k8s-app"] == cni.pod_app
    assert pod_labels(ds)["k8s-app"] == cni.pod_app
    assert is_cni_pod(pod_labels(ds))
    assert cni.main_container in [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert describe_daemonset(cni.daemonset) is cni  # detection names our own DaemonSet as this CNI

    assert [d["metadata"]["name"] for d in deployments] == ([cni.controllers] if cni.controllers else [])
    for deployment in deployments:
        assert deployment["spec"]["selector"]["matchLabels"]["k8s-app"] == cni.controllers
        assert pod_labels(deployment)["k8s-app"] == cni.controllers
        assert is_cni_pod(pod_labels(deployment))


@pytest.mark.parametrize("provider, version", VERSIONS, ids=[f"{p.value}-{v}" for p, v in VERSIONS])
def test_the_main_container_image_carries_the_catalog_version(provider, version):
    """Detection (health/detect.py) reads a CNI's version from the image tag of its main container."""
    cni = for_provider(provider)
    (ds,), _ = rendered_workloads(provider, version)
    main = next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == cni.main_container)
    assert image_tag(main["image"]) == version
