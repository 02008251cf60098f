"""The registry policy (cni_operator.registry_policy): which registries the CNI's images may come from.

What an administrator relies on: the default allows exactly what the catalog pulls, for every version and every AWS
region, and nothing else; entries match by exact host (and whole path components), never by suffix or wildcard; a bad
entry stops `cni-operator run` with a message naming it; the chart's value reaches the operator's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from chart_tools import CHART, one, run_helm, template
from cni_operator import aws_registry
from cni_operator.api import Provider
from cni_operator.catalog import load_catalog
from cni_operator.images import locate
from cni_operator.registry_policy import (
    ENV,
    PolicyError,
    RegistryPolicy,
    catalog_registries,
    images_of,
    refusal,
    refused_images,
)
from cni_operator.render import render
from cni_operator.validation import check

DEFAULT = RegistryPolicy()
CLUSTER_TYPE = {Provider.CANAL: "mks", Provider.AWS_VPC_CNI: "eks"}


def rendered_images(spec: dict) -> list[str]:
    return images_of(render(check(spec).spec).apply)


# ---------------------------------------------------------------- where an image comes from


@pytest.mark.parametrize("image, where", [
    ("quay.io/calico/node:v3.32.1", ("quay.io", "calico/node")),
    ("docker.io/flannel/flannel:v0.24.4", ("docker.io", "flannel/flannel")),
    ("flannel/flannel:v0.24.4", ("docker.io", "flannel/flannel")),
    ("busybox", ("docker.io", "library/busybox")),
    ("docker.io/busybox:1.36", ("docker.io", "library/busybox")),
    ("mirror.local:5000/cni/calico/node@sha256:" + "a" * 64, ("mirror.local:5000", "cni/calico/node")),
    ("localhost/node:1", ("localhost", "node")),
    ("Quay.IO/calico/node:v1", ("quay.io", "calico/node")),
])
def test_locate_reads_registry_and_repository_as_runtimes_do(image, where):
    assert locate(image) == where


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize("entry, image, allowed", [
    ("quay.io", "quay.io/calico/node:v3.32.1", True),
    ("quay.io", "QUAY.IO/calico/node:v3.32.1", True),
    ("quay.io", "evil.quay.io/calico/node:v3.32.1", False),  # no suffix match
    ("quay.io", "quay.io.evil.example/calico/node:v3.32.1", False),
    ("quay.io", "quay.io:443/calico/node:v3.32.1", False),  # the port is part of the host
    ("mirror.local:5000", "mirror.local/calico/node:v1", False),
    ("mirror.local:5000", "mirror.local:5000/calico/node:v1", True),
    ("mirror.local/cni", "mirror.local/cni/calico/node:v1", True),
    ("mirror.local/cni", "mirror.local/cni:v1", True),  # the path itself is a repository
    ("mirror.local/cni", "mirror.local/cni-x/calico/node:v1", False),  # whole components only
    ("mirror.local/cni", "mirror.local/calico/node:v1", False),
    ("docker.io", "flannel/flannel:v0.24.4", True),  # no registry: Docker Hub
    ("docker.io/library", "busybox", True),
    ("index.docker.io", "flannel/flannel:v0.24.4", False),  # no aliases
    ("602401143452.dkr.ecr.us-west-2.amazonaws.com", "111111111111.dkr.ecr.us-west-2.amazonaws.com/x:1", False),
])
def test_an_entry_matches_by_exact_host_and_whole_path_components(entry, image, allowed):
    assert RegistryPolicy.parse(entry).allows(image) is allowed


def test_the_default_is_the_catalog_and_allows_no_other_registry():
    assert RegistryPolicy.parse("") == RegistryPolicy.parse(" , ") == DEFAULT == RegistryPolicy.from_env({})
    assert DEFAULT.allows("quay.io/calico/node:v3.32.1")
    assert DEFAULT.allows("602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.23.1")
    for image in ("attacker.example/calico/node:v3.32.1", "ghcr.io/x/y:1", "mirror.local:5000/calico/node:v1",
                  "123456789012.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.23.1"):
        assert not DEFAULT.allows(image), image


def test_catalog_plus_a_mirror():
    policy = RegistryPolicy.from_env({ENV: " mirror.local:5000 ,catalog"})
    assert policy.entries == ("mirror.local:5000", "catalog")
    assert policy.allows("mirror.local:5000/calico/node:v1") and policy.allows("quay.io/calico/node:v3.32.1")
    assert not RegistryPolicy.parse("mirror.local:5000").allows("quay.io/calico/node:v3.32.1")


@pytest.mark.parametrize("value, named", [
    ("https://quay.io", "'https://quay.io' is not a valid allowed registry"),
    ("quay.io,*", "'*' is not a valid allowed registry"),
    ("*.dkr.ecr.us-west-2.amazonaws.com", "is not a valid allowed registry"),
    ("Quay.io, quay.io/", "'Quay.io', 'quay.io/' are not valid allowed registries"),
])
def test_a_bad_entry_is_refused_with_every_bad_entry_named(value, named):
    with pytest.raises(PolicyError) as caught:
        RegistryPolicy.parse(value)
    assert named in str(caught.value) and "such as quay.io, mirror.local:5000" in str(caught.value)


# ---------------------------------------------------------------- the default follows the catalog


def _every_catalog_render():
    catalog = load_catalog()
    for provider in catalog.entries:
        for version in catalog.versions(provider):
            regions = aws_registry.known_regions() if provider is Provider.AWS_VPC_CNI else [None]
            for region in regions:
                spec = {"clusterType": CLUSTER_TYPE[provider], "cni": {"version": version}}
                if region:
                    spec["awsVpcCni"] = {"region": region}
                yield spec


def test_the_default_allows_every_image_of_every_catalog_version_in_every_region():
    specs = list(_every_catalog_render())
    assert len(specs) > len(aws_registry.known_regions())  # both providers, every region
    refused = {f"{s}": refused_images(render(check(s).spec).apply, DEFAULT) for s in specs}
    assert not {k: v for k, v in refused.items() if v}


def test_every_registry_of_the_default_is_one_the_catalog_pulls_from():
    """No dead entry: each default registry serves an image of some version in some region."""
    used = {locate(image)[0] for spec in _every_catalog_render() for image in rendered_images(spec)}
    assert set(catalog_registries()) == used
    assert "docker.io" in used and "quay.io" in used
    assert aws_registry.registry_for("cn-north-1") in used


def test_images_of_reads_every_container_list_of_every_pod_template():
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "init", "image": "a.example/init:1"}],
        "containers": [{"name": "main", "image": "b.example/main:1"}, {"name": "again", "image": "b.example/main:1"}],
        "ephemeralContainers": [{"name": "debug", "image": "c.example/debug:1"}]}}}}
    crd_like = {"kind": "CustomResourceDefinition", "spec": {"properties": {"containers": {"type": "array"}}}}
    assert images_of([deployment, crd_like]) == ["a.example/init:1", "b.example/main:1", "c.example/debug:1"]
    eks_images = rendered_images({"clusterType": "eks"})
    assert any("amazon-k8s-cni-init" in image for image in eks_images)  # an init container


# ---------------------------------------------------------------- the refusal in words


@pytest.mark.parametrize("spec, policy, source, allow", [
    ({"clusterType": "mks", "registry": "attacker.example"}, DEFAULT,
     "spec.registry attacker.example is not an allowed image registry", "allow attacker.example"),
    ({"clusterType": "eks", "awsVpcCni": {"region": "eu-west-1"}}, RegistryPolicy.parse("mirror.local"),
     ("the ECR registry of spec.awsVpcCni.region eu-west-1 (602401143452.dkr.ecr.eu-west-1.amazonaws.com) is not "
      "an allowed image registry"),
     "allow 602401143452.dkr.ecr.eu-west-1.amazonaws.com"),
    ({"clusterType": "mks"}, RegistryPolicy.parse("mirror.local"),
     "the catalog's images come from registries that are not allowed: quay.io, docker.io", "allow quay.io"),
], ids=["spec.registry", "aws-region", "catalog"])
def test_the_refusal_names_the_registry_its_field_what_is_allowed_and_how_to_allow_it(spec, policy, source, allow):
    parsed = check(spec).spec
    refused = refused_images(render(parsed).apply, policy)
    message = refusal(parsed, refused, policy)
    assert source in message, message
    assert f"allowed registry: {policy.describe()}" in message
    assert allow in message and "allowedRegistries" in message and ENV in message
    assert "Nothing is applied" in message


def test_the_default_policy_in_words():
    words = DEFAULT.describe()
    assert words.startswith("the catalog's registries (docker.io, quay.io and the Amazon ECR registries of")
    assert f"{len(set(aws_registry.ACCOUNTS))} AWS regions" in words
    assert RegistryPolicy.parse("mirror.local,catalog").describe().startswith("mirror.local, the catalog's")


# ---------------------------------------------------------------- the operator setting: chart and command


def test_the_chart_leaves_the_default_to_the_operator():
    env = {e["name"] for e in one(template(), "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert ENV not in env


def test_the_chart_value_reaches_the_operator_environment():
    deployment = one(template("allowedRegistries={catalog,mirror.local:5000/cni}"), "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[ENV] == "catalog,mirror.local:5000/cni"
    assert RegistryPolicy.from_env(env).entries == ("catalog", "mirror.local:5000/cni")


@pytest.mark.parametrize("value", ["https://quay.io", "*", "Quay.io"])
def test_the_chart_refuses_what_the_operator_would(value):
    res = run_helm("template", "x", str(CHART), "--set", f"allowedRegistries={{{value}}}", check=False)
    assert res.returncode != 0 and "/allowedRegistries/0" in res.stderr, res.stderr
    with pytest.raises(PolicyError):
        RegistryPolicy.parse(value)


@pytest.mark.parametrize("args, env, source", [
    (["--allowed-registries", "https://quay.io"], {}, "--allowed-registries: 'https://quay.io'"),
    ([], {ENV: "quay.io,Foo"}, f"{ENV}: 'Foo'"),
])
def test_run_with_a_bad_setting_exits_before_it_starts(args, env, source):
    script = os.path.join(os.path.dirname(sys.executable), "cni-operator")
    res = subprocess.run([script, "run", "--standalone", *args], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": "/nonexistent", **env}, check=False)
    assert res.returncode == 1, res.stderr
    assert source in res.stderr and "is not a valid allowed registry" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
