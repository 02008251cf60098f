"""`helm upgrade` brings the ClusterNetwork CRD to the new chart's schema (issue 10, item 6).

Chart 0.1.0 shipped the CRD in crds/, which `helm upgrade` never touches: an upgraded chart kept the old schema and
the API server pruned every field the new one added. The chart now delivers the CRD as a template. These tests run
what a user runs, on the real local control plane:

- from chart 0.1.0 as it was released (tests/e2e/fixtures/, `helm package` of the chart on main before the change):
  `helm install`, then `helm upgrade` to the working tree's chart, which refuses with the commands that hand the CRD
  over, those commands as printed, the same upgrade again: the CRD is the new render, owned by the release and kept
  on uninstall; a field only a newer chart's CRD has is pruned before that chart's upgrade and kept after it;
- a fresh cluster: one `helm install` with clusterNetwork.create=true creates the CRD (owned by the release) and the
  ClusterNetwork (by a post-install hook), and the next upgrades take the ClusterNetwork into the release.

The CRD is shared by every test on this cluster: each test puts it back as the harness applies it (crds/, owned by
no release) when it ends, and runs only while no ClusterNetwork `default` exists (a singleton).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.harness.cleanup import unique_name
from tests.harness.clusternetwork import find_clusternetwork
from tests.harness.helm import helm
from tests.harness.repo import toolchain

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cni-operator"
OLD_CHART = Path(__file__).resolve().parent / "fixtures" / "cni-operator-0.1.0.tgz"
CRD = "clusternetworks.cni-operator.io"
CRD_FILE = REPO / "crds" / "clusternetworks.yaml"
PROBE = "e2eProbe"  # a spec field only the "newer chart" of the test has


def old_chart_crd() -> dict:
    with tarfile.open(OLD_CHART) as tgz:
        member = tgz.extractfile("cni-operator/crds/clusternetworks.yaml")
        assert member is not None
        return yaml.safe_load(io.TextIOWrapper(member, encoding="utf-8"))


def rendered_crd(chart: Path, release: str, namespace: str) -> dict:
    out = subprocess.run([str(toolchain.resolve("helm")), "template", release, str(chart), "--namespace", namespace,
                          "--show-only", "templates/crd-clusternetworks.yaml"],
                         check=True, capture_output=True, text=True, cwd=REPO).stdout  # fmt: skip
    (doc,) = [d for d in yaml.safe_load_all(out) if d]
    return doc


def spec_fields(crd: dict) -> set[str]:
    """Every property path under spec in the CRD's schema, e.g. spec.canal.backend."""
    paths: set[str] = set()

    def walk(node: dict, path: str) -> None:
        for name, child in (node.get("properties") or {}).items():
            paths.add(f"{path}.{name}")
            walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"], "spec")
    return paths


def live_crd(cluster) -> dict:
    return cluster.get_json("crd", CRD)


def cnet(cluster) -> dict | None:
    return find_clusternetwork(cluster)


def restore_crd(cluster) -> None:
    """The CRD as the harness applies it: the repository's schema, owned by no release (replace drops the Helm
    metadata and any field a test chart added)."""
    if cluster.kubectl("get", "crd", CRD, "--ignore-not-found", "-o", "name").stdout.strip():
        cluster.kubectl("replace", "-f", str(CRD_FILE))
    else:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD}")


def singleton_free(cluster) -> None:
    if cluster.kubectl("get", "crd", CRD, "--ignore-not-found", "-o", "name").stdout.strip() and cnet(cluster):
        pytest.skip("ClusterNetwork `default` exists already (held by another test); it is a singleton")


def with_probe_field(chart: Path, into: Path) -> Path:
    """A copy of the chart whose CRD has one more spec field: what the next chart version with a new field is."""
    copy = into / "cni-operator"
    shutil.copytree(chart, copy)
    template = copy / "templates" / "crd-clusternetworks.yaml"
    text = template.read_text()
    anchor = "            properties:\n              clusterType:\n"
    assert text.count(anchor) == 1, "the spec properties of the CRD template moved: update the probe anchor"
    template.write_text(text.replace(anchor, f"            properties:\n              {PROBE}:\n"
                                             "                type: string\n              clusterType:\n"))
    return copy


def patch_probe(cluster, value: str) -> dict:
    """Set spec.e2eProbe as a user would (kubectl patch) and read back what the API server stored."""
    cluster.kubectl("patch", "cnet", "default", "--type=merge", "-p", f'{{"spec": {{"{PROBE}": "{value}"}}}}')
    stored = cnet(cluster)
    assert stored is not None
    return stored["spec"]


def test_upgrade_from_chart_0_1_0_updates_the_crd_and_new_fields_are_kept(cluster, cleanup, namespace, tmp_path,
                                                                          wait_for):
    singleton_free(cluster)
    cleanup.add(restore_crd, cluster)
    cleanup.add(cluster.kubectl, "delete", "cnet", "default", "--ignore-not-found", "--wait=false", check=False)
    # The cluster as a chart 0.1.0 install leaves it: that chart's CRD, owned by no release (crds/ is not templated).
    old_crd = old_chart_crd()
    if cluster.kubectl("get", "crd", CRD, "--ignore-not-found", "-o", "name").stdout.strip():
        cluster.kubectl("replace", "-f", "-", input=yaml.safe_dump(old_crd))
    release = unique_name("crdup")
    cleanup.add(helm, cluster, "uninstall", release, "--namespace", namespace, "--ignore-not-found", check=False)
    helm(cluster, "install", release, str(OLD_CHART), "--namespace", namespace, "--set", f"peering.name={release}",
         "--set", "clusterNetwork.create=true", "--set", "clusterNetwork.spec.clusterType=imported")
    before = live_crd(cluster)
    assert "meta.helm.sh/release-name" not in (before["metadata"].get("annotations") or {})
    assert spec_fields(before) == spec_fields(old_crd)

    # The upgrade refuses, naming the commands that hand the CRD to the release; they work as printed.
    refused = helm(cluster, "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values", check=False)
    assert refused.returncode != 0, refused.stdout
    commands = [line.strip() for line in refused.stderr.splitlines() if line.strip().startswith("kubectl ")]
    assert commands == [
        f"kubectl label crd {CRD} app.kubernetes.io/managed-by=Helm --overwrite",
        (f"kubectl annotate crd {CRD} meta.helm.sh/release-name={release} "
         f"meta.helm.sh/release-namespace={namespace} --overwrite"),
    ], refused.stderr
    for command in commands:
        cluster.kubectl(*command.split()[1:])
    helm(cluster, "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values")

    # The CRD on the cluster is now the working tree's render: every field it has, owned by and kept with the release.
    after = live_crd(cluster)
    new = rendered_crd(CHART, release, namespace)
    assert after["spec"]["versions"] == new["spec"]["versions"]
    assert spec_fields(after) == spec_fields(new) >= spec_fields(old_crd)
    annotations = after["metadata"]["annotations"]
    assert annotations["meta.helm.sh/release-name"] == release
    assert annotations["helm.sh/resource-policy"] == "keep"  # not in chart 0.1.0's CRD: this upgrade wrote it
    assert after["metadata"]["uid"] == before["metadata"]["uid"], "the CRD was replaced: its objects went with it"
    assert cnet(cluster)["spec"]["clusterType"] == "imported"

    # A field the next chart adds: pruned while the cluster has this chart's CRD, kept once that chart is upgraded to.
    assert PROBE not in patch_probe(cluster, "before")
    helm(cluster, "upgrade", release, str(with_probe_field(CHART, tmp_path)), "--namespace", namespace,
         "--reuse-values")
    assert f"spec.{PROBE}" in spec_fields(live_crd(cluster))

    def kept() -> dict:
        spec = patch_probe(cluster, "after")  # the API server serves the new schema a moment after the update
        assert spec.get(PROBE) == "after", spec
        return spec

    wait_for(kept, timeout=30, what=f"spec.{PROBE} stored once the upgraded CRD is served")

    # One release owns the CRD: a second one is told to leave it alone, and installs when it does.
    other = unique_name("crdup2")
    refused = helm(cluster, "install", other, str(CHART), "--namespace", namespace, "--set", f"peering.name={other}",
                   "--dry-run=server", check=False)
    assert refused.returncode != 0
    assert f"belongs to the Helm release {release} in namespace {namespace}" in refused.stderr, refused.stderr
    assert "--set crds.enabled=false" in refused.stderr
    helm(cluster, "install", other, str(CHART), "--namespace", namespace, "--set", f"peering.name={other}",
         "--set", "crds.enabled=false", "--dry-run=server")

    # helm uninstall keeps the CRD and its ClusterNetwork.
    helm(cluster, "uninstall", release, "--namespace", namespace)
    assert live_crd(cluster)["metadata"]["uid"] == before["metadata"]["uid"]
    assert cnet(cluster)["spec"][PROBE] == "after"


def test_fresh_install_creates_crd_and_clusternetwork_and_upgrades_take_them_over(cluster, cleanup, namespace):
    """On a cluster without the CRD, one `helm install` with clusterNetwork.create=true gives both (zero-touch with
    Helm). Deleting the CRD deletes every ClusterNetwork: this runs only while there is none."""
    crd_exists = cluster.kubectl("get", "crd", CRD, "--ignore-not-found", "-o", "name").stdout.strip()
    if crd_exists and cluster.get_json("clusternetworks.cni-operator.io")["items"]:
        pytest.skip("ClusterNetworks exist (held by another test): the CRD cannot be removed for a fresh install")
    cleanup.add(restore_crd, cluster)
    cleanup.add(cluster.kubectl, "delete", "cnet", "default", "--ignore-not-found", "--wait=false", check=False)
    cluster.kubectl("delete", "crd", CRD, "--ignore-not-found", "--timeout=120s")
    release = unique_name("fresh")
    cleanup.add(helm, cluster, "uninstall", release, "--namespace", namespace, "--ignore-not-found", check=False)
    # --wait: Helm then runs the post-install hook only once the CRD is Established; without it the hook's object
    # can meet an API server that does not serve the kind yet ("no matches for kind", seen in CI). docs/install.md.
    out = helm(cluster, "install", release, str(CHART), "--namespace", namespace, "--set", f"peering.name={release}",
               "--set", "clusterNetwork.create=true", "--set", "clusterNetwork.spec.clusterType=imported",
               "--wait", "--timeout", "180s")
    assert "STATUS: deployed" in out.stdout

    crd = live_crd(cluster)
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    created = cnet(cluster)  # right after `helm install` returns
    assert created is not None and created["spec"]["clusterType"] == "imported"
    assert created["spec"]["paused"] is False  # defaulted by the CRD's schema: the object went through it
    assert created["metadata"]["annotations"]["meta.helm.sh/release-name"] == release

    # The first upgrade takes the object into the release unchanged (and says so); the next one applies the spec.
    first = helm(cluster, "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values",
                 "--set", "clusterNetwork.spec.paused=true")
    assert "run the same helm upgrade once more" in first.stdout, first.stdout
    manifest = helm(cluster, "get", "manifest", release, "--namespace", namespace).stdout
    assert "kind: ClusterNetwork" in manifest
    assert cnet(cluster)["spec"].get("paused") is False, "the upgrade that takes the object over changed it"
    helm(cluster, "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values")
    assert cnet(cluster)["spec"]["paused"] is True
    assert cnet(cluster)["metadata"]["uid"] == created["metadata"]["uid"]

    helm(cluster, "uninstall", release, "--namespace", namespace)
    assert live_crd(cluster)["metadata"]["uid"] == crd["metadata"]["uid"], "helm uninstall removed the CRD"
    assert cnet(cluster) is not None, "helm uninstall deleted the ClusterNetwork"

