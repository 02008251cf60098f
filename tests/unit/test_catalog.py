"""The version catalog (manifests/catalog.yaml): minor lines, newest patches, deprecations, and the shipped catalog's
own promises (every version vendored, the default the newest patch of its line and never deprecated)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cni_operator.api import Provider, parse_spec
from cni_operator.catalog import CatalogError, load_catalog, parse_catalog
from cni_operator.render import render

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()


def _canal(versions: dict, default: str | None = None) -> dict:
    block: dict = {"versions": {v: {"images": {}, "templates": [], **extra} for v, extra in versions.items()}}
    if default:
        block["default"] = default
    return {"canal": block}


def test_newest_patch_of_each_minor_line_in_version_order_not_text_order():
    catalog = parse_catalog(_canal({"v3.9.10": {}, "v3.9.9": {}, "v3.10.0": {}, "v3.31.4": {}, "v3.31.12": {}}))
    assert catalog.newest_patches(Provider.CANAL) == {"v3.9": "v3.9.10", "v3.10": "v3.10.0", "v3.31": "v3.31.12"}
    assert catalog.entry(Provider.CANAL, "v3.31.4").minor_line == "v3.31"


def test_deprecated_reason_is_kept_in_words_and_other_versions_are_not_deprecated():
    catalog = parse_catalog(_canal({"v3.31.4": {"deprecated": "superseded by v3.31.7:\n  fixes  Felix"},
                                    "v3.31.7": {}}))
    assert catalog.entry(Provider.CANAL, "v3.31.4").deprecated == "superseded by v3.31.7: fixes Felix"
    assert catalog.entry(Provider.CANAL, "v3.31.7").deprecated is None


@pytest.mark.parametrize(("versions", "default", "message"), [
    ({"v3.31.4": {"deprecated": ""}, "v3.31.7": {}}, None, "must say why"),
    ({"v3.31.4": {"deprecated": True}, "v3.31.7": {}}, None, "must say why"),
    ({"v3.31.4": {"deprecated": "superseded by v3.31.9: x"}, "v3.31.7": {}}, None,
     "names 'v3.31.9', which is not a canal catalog version"),
    ({"v3.31.4": {"deprecated": "superseded by v3.31.7: x"}, "v3.31.7": {"deprecated": "end of life"}}, "v3.31.4",
     "names 'v3.31.7', which is deprecated too"),
    ({"v3.31.4": {"deprecated": "end of life"}, "v3.31.7": {}}, "v3.31.4",
     "catalog default 'v3.31.4' for canal is deprecated"),
    # No default given: the highest version is the default, so it cannot be the deprecated one either.
    ({"v3.31.4": {}, "v3.31.7": {"deprecated": "end of life"}}, None,
     "catalog default 'v3.31.7' for canal is deprecated"),
])
def test_a_catalog_with_a_bad_deprecation_does_not_load(versions, default, message):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_catalog(_canal(versions, default))


# ---------------------------------------------------------------- the shipped catalog


@pytest.mark.parametrize("provider", list(CATALOG.entries), ids=lambda p: p.value)
def test_shipped_default_is_the_newest_patch_of_its_line_and_not_deprecated(provider):
    default = CATALOG.defaults[provider]
    assert CATALOG.newest_patches(provider)[CATALOG.entry(provider, default).minor_line] == default
    assert CATALOG.entry(provider, default).deprecated is None


@pytest.mark.parametrize("provider", list(CATALOG.entries), ids=lambda p: p.value)
def test_shipped_catalog_deprecates_only_older_patches_and_names_the_newest_of_the_line(provider):
    """A superseded patch points users at the newest patch of its own line: an upgrade within the line."""
    newest = CATALOG.newest_patches(provider)
    for version in CATALOG.versions(provider):
        entry = CATALOG.entry(provider, version)
        if version in newest.values():
            assert entry.deprecated is None, f"{version} is the newest patch of {entry.minor_line}"
        elif entry.deprecated:
            assert entry.deprecated.startswith(f"superseded by {newest[entry.minor_line]}: ")


def test_shipped_catalog_has_the_issue_10_releases_and_keeps_the_installed_ones():
    canal, aws = CATALOG.versions(Provider.CANAL), CATALOG.versions(Provider.AWS_VPC_CNI)
    assert {"v3.31.4", "v3.31.7", "v3.32.1"} <= set(canal)  # v3.31.4 stays: clusters run it and upgrade from it
    assert {"v1.22.3", "v1.22.4", "v1.23.1"} <= set(aws)
    assert CATALOG.entry(Provider.AWS_VPC_CNI, "v1.22.4").images["networkPolicyAgent"].endswith(":v1.4.0")
    assert CATALOG.entry(Provider.CANAL, "v3.31.4").deprecated.startswith("superseded by v3.31.7: ")
    assert CATALOG.entry(Provider.AWS_VPC_CNI, "v1.22.3").deprecated.startswith("superseded by v1.22.4: ")


@pytest.mark.parametrize(("provider", "version"),
                         [(p, v) for p in CATALOG.entries for v in CATALOG.versions(p)], ids=str)
def test_every_catalog_version_is_vendored_and_its_images_are_upstreams(provider, version):
    """The images the catalog pulls are the ones the vendored release manifest names (the registry aside)."""
    directory = REPO / "manifests" / "upstream" / provider.value / version
    source = yaml.safe_load((directory / "SOURCE.yaml").read_text(encoding="utf-8"))
    assert source["tag"] == version
    manifest = (directory / Path(source["path"]).name).read_text(encoding="utf-8")
    upstream_images = {line.split("image:", 1)[1].strip().strip('"')
                       for line in manifest.splitlines() if line.strip().startswith("image:")}
    for image in CATALOG.entry(provider, version).images.values():
        assert any(up == image or up.endswith("/" + image) for up in upstream_images), (image, upstream_images)


@pytest.mark.parametrize(("provider", "version"),
                         [(p, v) for p in CATALOG.entries for v in CATALOG.versions(p)], ids=str)
def test_every_catalog_version_renders_objects_kubernetes_accepts(provider, version):
    """Each version at default options, validated strictly against the Kubernetes 1.36 schemas (the render tests
    validate the versions they pin; this covers every version the catalog gains)."""
    spec = {"clusterType": {Provider.CANAL: "mks", Provider.AWS_VPC_CNI: "eks"}[provider], "cni": {"version": version}}
    if provider is Provider.AWS_VPC_CNI:
        spec["awsVpcCni"] = {"region": "eu-west-1"}
    rendered = render(parse_spec(spec))
    assert rendered.apply
    for obj in rendered.apply:
        kubernetes_validate.validate(obj, "1.36", strict=True)
