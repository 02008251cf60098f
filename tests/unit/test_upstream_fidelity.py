"""Every rendered object of every catalog version, compared with the upstream release manifest vendored for it.

The whole object is compared (kind/namespace/name set, labels, RBAC rules, env, mounts, volumes, probes, ports,
images, CRD schemas...), at default options. Every difference must be allowed by an entry of
tests/unit/upstream/differences.yaml, which says why; an entry that allows nothing fails too (a fixed bug, a
difference that went away). The CRDs are checked a second time on their own: they must be upstream's exactly.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from cni_operator.api import parse_spec
from cni_operator.catalog import CatalogError, VersionEntry, load_catalog
from cni_operator.objects import MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL
from cni_operator.render import render, vendored

from tests.unit.upstream import fidelity

REPO = Path(__file__).resolve().parents[2]
CLUSTER_TYPE = {"canal": "mks", "aws-vpc-cni": "eks"}
UPSTREAM_REPO = {"canal": ("projectcalico/calico", "manifests/canal.yaml"),
                 "aws-vpc-cni": ("aws/amazon-vpc-cni-k8s", "config/master/aws-k8s-cni.yaml")}
CATALOG = load_catalog()
VERSIONS = [(p.value, v) for p in CATALOG.entries for v in CATALOG.versions(p)]
ALLOWED = fidelity.load_allowed()
OUR_LABELS = (MANAGED_BY_LABEL, PROVIDER_LABEL, VERSION_LABEL)


def _render(provider: str, version: str) -> list[dict]:
    return render(parse_spec({"clusterType": CLUSTER_TYPE[provider], "cni": {"version": version}})).apply


def _differences(provider: str, version: str) -> list[fidelity.Difference]:
    return fidelity.compare(provider, version, vendored.upstream_objects(provider, version), _render(provider, version))


def _unexplained(differences: list[fidelity.Difference]) -> list[fidelity.Difference]:
    return [d for d in differences if not any(a.matches(d) for a in ALLOWED)]


# ---------------------------------------------------------------- the vendored files


def test_every_catalog_version_is_vendored_with_its_source():
    for provider, version in VERSIONS:
        directory = vendored.upstream_dir(provider, version)
        source = yaml.safe_load((directory / "SOURCE.yaml").read_text(encoding="utf-8"))
        repo, path = UPSTREAM_REPO[provider]
        assert (source["repo"], source["tag"], source["path"]) == (repo, version, path), directory
        assert source["retrieved"] and source["obtained"]
        data = (directory / Path(path).name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == source["sha256"], f"{directory}: edited? re-vendor it"


def test_an_edited_vendored_manifest_is_refused(tmp_path, monkeypatch):
    provider, version = VERSIONS[0]
    source_dir = vendored.upstream_dir(provider, version)
    target = tmp_path / "upstream" / provider / version
    target.mkdir(parents=True)
    for item in source_dir.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    manifest = vendored.manifest_path(provider, version).name
    (target / manifest).write_bytes((target / manifest).read_bytes().replace(b"type: string", b"type: integer", 1))
    monkeypatch.setattr(vendored, "manifests_dir", lambda: tmp_path)
    with pytest.raises(CatalogError, match="sha256 differs.*hack/vendor-upstream.py"):
        vendored.upstream_objects(provider, version)


def test_a_version_without_vendored_manifest_names_the_script(tmp_path, monkeypatch):
    monkeypatch.setattr(vendored, "manifests_dir", lambda: tmp_path)
    entry = VersionEntry(provider=CATALOG.entries[next(iter(CATALOG.entries))][VERSIONS[0][1]].provider,
                         version="v9.9.9", images={}, templates=("vendored:CustomResourceDefinition",), features={})
    with pytest.raises(CatalogError, match="run hack/vendor-upstream.py"):
        vendored.render(entry, "vendored:CustomResourceDefinition")


# ---------------------------------------------------------------- the comparison


@pytest.mark.parametrize(("provider", "version"), VERSIONS, ids=[f"{p}-{v}" for p, v in VERSIONS])
def test_every_difference_from_upstream_is_documented(provider, version):
    unexplained = _unexplained(_differences(provider, version))
    assert not unexplained, (
        f"{len(unexplained)} difference(s) from upstream {provider} {version} that "
        f"tests/unit/upstream/differences.yaml does not allow (fix the template, or add an entry with its reason "
        f"and name it in docs/providers/{provider}.md):\n" + "\n".join(map(str, unexplained)))


def test_every_allowed_difference_still_exists():
    used: dict[str, int] = defaultdict(int)
    for provider, version in VERSIONS:
        for d in _differences(provider, version):
            for a in ALLOWED:
                if a.matches(d):
                    used[a.id] += 1
    stale = [a for a in ALLOWED if not used[a.id]]
    assert not stale, "entries of tests/unit/upstream/differences.yaml that allow nothing any more; remove them " \
        "(and their lines in docs/providers/):\n" + "\n".join(
            f"{a.id}" + (f" (known bug, fixed by {a.fixed_by})" if a.fixed_by else "") for a in stale)


def test_known_bugs_are_aws_vpc_cni_only_and_named():
    # Canal matches upstream apart from deliberate choices; the VPC CNI's known bugs are fixed on branch vpcfix.
    for a in ALLOWED:
        if a.status == "known-bug":
            assert a.providers == ("aws-vpc-cni",) and a.fixed_by, a.id


def test_the_comparison_catches_a_changed_field():
    """The test above could pass by comparing nothing: a render changed in one env value, one RBAC verb and one CRD
    schema type must each be reported, and not be allowed."""
    provider, version = "canal", CATALOG.defaults[next(p for p in CATALOG.entries if p.value == "canal")]
    upstream = vendored.upstream_objects(provider, version)
    ours = copy.deepcopy(_render(provider, version))
    by_id = {fidelity.object_id(o): o for o in ours}
    node = next(c for c in by_id["DaemonSet/kube-system/canal"]["spec"]["template"]["spec"]["containers"]
                if c["name"] == "calico-node")
    next(e for e in node["env"] if e["name"] == "FELIX_HEALTHENABLED")["value"] = "false"
    by_id["ClusterRole/calico-node"]["rules"][0]["verbs"].append("delete")
    crd = by_id["CustomResourceDefinition/ippools.crd.projectcalico.org"]
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cidr"]["type"] = "x"
    unexplained = {(d.object, d.path) for d in _unexplained(fidelity.compare(provider, version, upstream, ours))}
    assert unexplained == {
        ("DaemonSet/kube-system/canal", ".spec.template.spec.containers[calico-node].env[FELIX_HEALTHENABLED].value"),
        ("ClusterRole/calico-node", f".rules[0].verbs[{len(by_id['ClusterRole/calico-node']['rules'][0]['verbs']) - 1}]"),
        ("CustomResourceDefinition/ippools.crd.projectcalico.org",
         ".spec.versions[v1].schema.openAPIV3Schema.properties.spec.properties.cidr.type"),
    }


def test_json_layout_entry_allows_only_equal_json():
    (entry,) = [a for a in ALLOWED if a.equal_as == "json"]
    base = {"provider": "canal", "version": "v3.32.1", "object": "ConfigMap/kube-system/canal-config",
                "path": ".data.cni_network_config", "change": "changed"}
    assert entry.matches(fidelity.Difference(**base, upstream='{"a": 1}', rendered='{\n "a": 1}'))
    assert not entry.matches(fidelity.Difference(**base, upstream='{"a": 1}', rendered='{"a": 2}'))


# ---------------------------------------------------------------- the CRDs are upstream's


@pytest.mark.parametrize(("provider", "version"), VERSIONS, ids=[f"{p}-{v}" for p, v in VERSIONS])
def test_crds_are_upstreams_unchanged(provider, version):
    """Apart from our labels (and the server-owned placeholders), every CRD is upstream's, schema and all, and the
    render has no CRD upstream's manifest lacks (policyendpoints for the VPC CNI: EKS's control plane owns it)."""
    upstream = {o["metadata"]["name"]: o for o in vendored.upstream_objects(provider, version)
                if o["kind"] == "CustomResourceDefinition"}
    ours = {o["metadata"]["name"]: o for o in _render(provider, version) if o["kind"] == "CustomResourceDefinition"}
    assert sorted(ours) == sorted(upstream)
    for name, crd in ours.items():
        crd = copy.deepcopy(crd)
        labels = crd["metadata"].pop("labels")
        assert sorted(labels) == sorted(OUR_LABELS), name
        want = {k: v for k, v in upstream[name].items() if k != "status"}
        want["metadata"] = {k: v for k, v in want["metadata"].items() if k != "creationTimestamp"}
        assert json.dumps(crd, sort_keys=True) == json.dumps(want, sort_keys=True), name


def test_full_calico_schemas_are_rendered():
    """The point of vendoring: validation and defaults the cut-down schemas lacked (issue 10)."""
    ours = {o["metadata"]["name"]: o for o in _render("canal", "v3.32.1") if o["kind"] == "CustomResourceDefinition"}
    tier = ours["tiers.crd.projectcalico.org"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "defaultAction" in tier["properties"]["spec"]["properties"]
    felix = ours["felixconfigurations.crd.projectcalico.org"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "nftablesMode" in felix["properties"]["spec"]["properties"]
    assert len([n for n in ours if n.endswith(".crd.projectcalico.org")]) == 22


# ---------------------------------------------------------------- the list is documented


def test_every_allowed_difference_is_named_in_the_provider_docs():
    for provider in CLUSTER_TYPE:
        doc = (REPO / "docs" / "providers" / f"{provider}.md").read_text(encoding="utf-8")
        assert "tests/unit/upstream/differences.yaml" in doc
        missing = [a.id for a in ALLOWED if provider in a.providers and f"`{a.id}`" not in doc]
        assert not missing, f"docs/providers/{provider}.md does not name {missing}"
