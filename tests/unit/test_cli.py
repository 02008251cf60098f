"""The `cni-operator` console script, run as a user runs it: a subprocess of the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cni_operator.catalog import load_catalog
from cni_operator.schema import crd

REPO = Path(__file__).resolve().parents[2]
# .venv/bin/cni-operator: next to the interpreter running the tests, else the repository's venv.
SCRIPT = next((p for p in (Path(sys.executable).parent / "cni-operator", REPO / ".venv" / "bin" / "cni-operator")
               if p.exists()), REPO / ".venv" / "bin" / "cni-operator")

MKS = """\
apiVersion: cni-operator.io/v1alpha1
kind: ClusterNetwork
metadata:
  name: default
spec:
  clusterType: mks
"""
EKS = """\
apiVersion: cni-operator.io/v1alpha1
kind: ClusterNetwork
metadata: {name: default}
spec:
  clusterType: eks
  awsVpcCni: {region: eu-west-1, enablePrefixDelegation: true}
"""
IMPORTED = """\
apiVersion: cni-operator.io/v1alpha1
kind: ClusterNetwork
metadata: {name: default}
spec: {clusterType: imported}
"""
INVALID = """\
apiVersion: cni-operator.io/v1alpha1
kind: ClusterNetwork
metadata: {name: prod}
spec:
  clusterType: mks
  mtu: 9100
  canal: {backend: ipip, vxlanPort: 0}
  rollout: {maxUnavailable: "0%"}
"""


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (make venv)")
    return subprocess.run([str(SCRIPT), *args], input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr


# ---------------------------------------------------------------- validate


@pytest.mark.parametrize("text", [MKS, EKS, IMPORTED])
def test_validate_valid(write, text):
    result = cli("validate", "-f", write(text))
    assert (result.returncode, result.stdout, result.stderr) == (0, "valid\n", "")


def test_validate_invalid_prints_one_line_per_problem(write):
    result = cli("validate", "-f", write(INVALID))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "metadata.name: must be 'default': there is one ClusterNetwork per cluster",
        "spec.mtu: must be 0 (automatic) or between 576 and 9001",
        "spec.canal.backend: must be one of: vxlan, host-gw, wireguard",
        "spec.canal.vxlanPort: must be an integer between 1 and 65535",
        (
            "spec.rollout.maxUnavailable: must be a count between 1 and 1000 or a percentage between 1% and 100%, "
            "such as 10%"
        ),
    ]


def test_validate_checks_api_version_and_kind(write):
    text = MKS.replace("cni-operator.io/v1alpha1", "cni-operator.io/v1").replace("ClusterNetwork", "Network")
    result = cli("validate", "-f", write(text))
    assert result.returncode == 1
    assert "apiVersion: must be cni-operator.io/v1alpha1" in result.stderr
    assert "kind: must be ClusterNetwork" in result.stderr


def test_validate_catalog_version_and_region(write):
    text = EKS.replace("eu-west-1", "xx-nowhere-1") + "  cni: {version: v9.9.9}\n"
    result = cli("validate", "-f", write(text))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("spec.cni.version: v9.9.9 is not in the catalog for aws-vpc-cni; allowed: ")
               for line in lines)
    assert any(line.startswith("spec.awsVpcCni.region: xx-nowhere-1 has no known EKS image registry") for line in lines)


def test_validate_rejects_the_name_like_strings_of_the_security_issue(write):
    """A newline and NUL in canal.iface (it becomes FLANNELD_IFACE), a 64-byte interface name, and a path as a pull
    secret name: `cni-operator validate` said valid to each. Now each is one line, in words."""
    for spec, field, words in [
        ({"canal": {"iface": "eth0\nFLANNELD_IP_MASQ=false"}}, "spec.canal.iface", "a Linux interface name"),
        ({"canal": {"iface": "eth0\u0000"}}, "spec.canal.iface", "a Linux interface name"),
        ({"canal": {"iface": "e" * 64}}, "spec.canal.iface", "1 to 15 printable ASCII characters"),
        ({"imagePullSecrets": [{"name": "../../etc/passwd"}]}, "spec.imagePullSecrets[0].name",
         "a Secret name: a DNS subdomain"),
    ]:
        doc = {"apiVersion": "cni-operator.io/v1alpha1", "kind": "ClusterNetwork", "metadata": {"name": "default"},
               "spec": {"clusterType": "mks", **spec}}
        result = cli("validate", "-f", write(json.dumps(doc)))  # JSON is YAML, and carries the NUL as \u0000
        assert result.returncode == 1, (spec, result.stdout)
        assert result.stderr.startswith(f"{field}: must be ") and words in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr


def test_validate_reads_stdin():
    result = cli("validate", "-f", "-", stdin=MKS)
    assert (result.returncode, result.stdout) == (0, "valid\n")


def test_validate_multi_document_file(write):
    result = cli("validate", "-f", write(MKS + "---\n" + EKS))
    assert (result.returncode, result.stdout) == (0, "valid (2 documents)\n")
    result = cli("validate", "-f", write(MKS + "---\n" + INVALID))
    assert result.returncode == 1
    assert "document 2: spec.mtu: must be 0 (automatic) or between 576 and 9001" in result.stderr.splitlines()
    assert not any(line.startswith("document 1") for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    "content, words",
    [
        ("spec: [", "is not valid YAML at line"),
        ("", "holds no YAML document"),
    ],
)
def test_validate_unreadable_input_is_one_line_not_a_traceback(write, content, words):
    result = cli("validate", "-f", write(content))
    assert result.returncode == 1
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert_no_traceback(result)


def test_missing_file():
    result = cli("validate", "-f", "/nonexistent/cr.yaml")
    assert result.returncode == 1
    assert "cannot read /nonexistent/cr.yaml" in result.stderr
    assert_no_traceback(result)


def test_usage_error_exits_2():
    assert cli("validate").returncode == 2
    assert cli("frobnicate").returncode == 2


# ---------------------------------------------------------------- render


def rendered_objects(stdout: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(stdout) if doc]


@pytest.mark.parametrize("text, provider", [(MKS, "canal"), (EKS, "aws-vpc-cni")])
def test_render_prints_multi_document_yaml(write, text, provider):
    result = cli("render", "-f", write(text))
    assert result.returncode == 0, result.stderr
    objects = rendered_objects(result.stdout)
    assert objects, "rendered nothing"
    default = load_catalog().defaults[next(p for p in load_catalog().entries if p.value == provider)]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "cni-operator"
        assert labels["cni-operator.io/provider"] == provider
        assert labels["cni-operator.io/version"] == default
    assert result.stdout.startswith(f"# cni-operator render: {provider} {default}, {len(objects)} objects\n---\n")
    assert result.stdout.count("\n---\n") == len(objects)


def test_render_is_stable(write):
    path = write(EKS)
    assert cli("render", "-f", path).stdout == cli("render", "-f", path).stdout


def test_render_version_override(write):
    old = load_catalog().versions(next(p for p in load_catalog().entries if p.value == "aws-vpc-cni"))[0]
    result = cli("render", "-f", write(EKS), "--version", old)
    assert result.returncode == 0, result.stderr
    assert {o["metadata"]["labels"]["cni-operator.io/version"] for o in rendered_objects(result.stdout)} == {old}


def test_render_unknown_version_names_the_allowed_ones(write):
    result = cli("render", "-f", write(MKS), "--version", "v0.0.1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "spec.cni.version: v0.0.1 is not in the catalog for canal; allowed: " in result.stderr
    assert_no_traceback(result)


def test_render_imported_prints_nothing_and_says_why(write):
    result = cli("render", "-f", write(IMPORTED))
    assert (result.returncode, result.stdout) == (0, "")
    assert "imported" in result.stderr and "nothing to render" in result.stderr


def test_render_invalid_spec(write):
    result = cli("render", "-f", write(INVALID))
    assert result.returncode == 1 and result.stdout == ""
    assert "spec.mtu: must be 0 (automatic) or between 576 and 9001" in result.stderr.splitlines()


def test_render_stdin_and_multi_document_input():
    unrelated = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
    result = cli("render", "-f", "-", stdin=unrelated + "---\n" + EKS)
    assert result.returncode == 0, result.stderr
    assert rendered_objects(result.stdout)
    result = cli("render", "-f", "-", stdin=MKS + "---\n" + EKS)
    assert result.returncode == 1 and "exactly one ClusterNetwork" in result.stderr
    result = cli("render", "-f", "-", stdin=unrelated)
    assert result.returncode == 1 and "no ClusterNetwork document" in result.stderr


# ---------------------------------------------------------------- versions, crd, run


def _table_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """(provider, version) -> the cells of its first line (PROVIDER VERSION [*] [STATUS words] IMAGE)."""
    rows = {}
    for line in stdout.split("\n\n")[0].splitlines()[1:]:
        cells = line.split()
        if not line.startswith(" "):
            rows[(cells[0], cells[1])] = cells
    return rows


def test_versions_table_marks_default_newest_patches_and_deprecated():
    result = cli("versions")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split() == ["PROVIDER", "VERSION", "DEFAULT", "STATUS", "IMAGES"]
    catalog = load_catalog()
    rows = _table_rows(result.stdout)
    assert set(rows) == {(p.value, v) for p, versions in catalog.entries.items() for v in versions}
    for provider, versions in catalog.entries.items():
        newest = catalog.newest_patches(provider)
        for version, entry in versions.items():
            cells = rows[(provider.value, version)]
            assert ("*" in cells) == (version == catalog.defaults[provider])
            is_newest = newest[entry.minor_line] == version
            assert (f"newest {entry.minor_line}" in " ".join(cells)) == is_newest, cells
            assert ("deprecated" in cells) == bool(entry.deprecated), cells
            for image in entry.images.values():
                assert image in result.stdout


def test_versions_table_says_why_each_deprecated_version_is_deprecated():
    result = cli("versions")
    section = result.stdout.split("Deprecated (")[1].split("\n\n")[0]
    words = " ".join(section.split())  # the reasons are wrapped
    catalog = load_catalog()
    deprecated = [(p, v, e) for p, versions in catalog.entries.items() for v, e in versions.items() if e.deprecated]
    assert deprecated, "the shipped catalog deprecates the superseded v3.31.4 and v1.22.3"
    for provider, version, entry in deprecated:
        assert f"{provider.value} {version}: {entry.deprecated}" in words
    # The shipped catalog, as issue 10 asks: the v3.31 and v1.22 lines point at their newest patch.
    assert "canal v3.31.4: superseded by v3.31.7:" in words
    assert "aws-vpc-cni v1.22.3: superseded by v1.22.4:" in words
    rows = _table_rows(result.stdout)
    assert "newest" in rows[("canal", "v3.31.7")] and "newest" in rows[("aws-vpc-cni", "v1.22.4")]


@pytest.mark.parametrize("fmt, load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_versions_machine_readable(fmt, load):
    result = cli("versions", "-o", fmt)
    assert result.returncode == 0
    rows = load(result.stdout)
    catalog = load_catalog()
    assert {(r["provider"], r["version"]) for r in rows} == {
        (p.value, v) for p, versions in catalog.entries.items() for v in versions
    }
    assert sum(r["default"] for r in rows) == len(catalog.entries)
    assert all(isinstance(r["images"], dict) and r["images"] for r in rows)
    by_id = {(r["provider"], r["version"]): r for r in rows}
    assert by_id[("canal", "v3.31.4")]["line"] == "v3.31"
    assert by_id[("canal", "v3.31.4")]["deprecated"].startswith("superseded by v3.31.7: ")
    assert by_id[("canal", "v3.31.7")] | {"images": None} == {
        "provider": "canal", "version": "v3.31.7", "default": False, "line": "v3.31", "newestPatch": True,
        "deprecated": None, "images": None}
    newest = {(r["provider"], r["line"]): r["version"] for r in rows if r["newestPatch"]}
    assert newest == {(p.value, line): v for p in catalog.entries for line, v in catalog.newest_patches(p).items()}


def test_crd_prints_the_committed_crd():
    result = cli("crd")
    assert result.returncode == 0
    assert result.stdout == crd.to_yaml() == (REPO / "crds" / "clusternetworks.yaml").read_text()


def test_help_lists_the_commands():
    result = cli("--help")
    assert result.returncode == 0
    for command in ("run", "render", "validate", "versions", "crd"):
        assert command in result.stdout
    assert "docs" not in result.stdout.split("positional arguments")[1].split("options")[0]


# ---------------------------------------------------------------- diff (with a cluster: integration/test_cli_diff.py)


def test_diff_errors_exit_2_with_one_line(write, tmp_path, monkeypatch):
    missing = cli("diff", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith("cni-operator diff: cannot read"), missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    unreachable = cli("diff", "-f", write(MKS))
    assert unreachable.returncode == 2, (unreachable.returncode, unreachable.stderr)
    assert "cannot reach the cluster of the current kubeconfig" in unreachable.stderr
    assert_no_traceback(unreachable)

    bad_policy = cli("diff", "-f", write(MKS), "--allowed-registries", "Not A Registry")
    assert bad_policy.returncode == 2 and "--allowed-registries: " in bad_policy.stderr, bad_policy.stderr


# ---------------------------------------------------------------- run: what it needs before it starts


def run_without_a_cluster(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`cni-operator run` where there are no credentials: no KUBECONFIG, an empty home, not in a pod."""
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not installed (make venv)")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("KUBERNETES_SERVICE")}
    return subprocess.run([str(SCRIPT), "run", *args], env={**base, "HOME": str(home), **env}, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, check=False)


def test_run_without_credentials_says_what_it_needs_in_one_line(tmp_path):
    result = run_without_a_cluster(tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("cni-operator run: no Kubernetes credentials: set KUBECONFIG or run inside a cluster\n")
    assert result.stdout == ""


def test_run_with_a_kubeconfig_that_is_not_there_names_it(tmp_path):
    result = run_without_a_cluster(tmp_path, KUBECONFIG=str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [(f"cni-operator run: no Kubernetes credentials: KUBECONFIG={tmp_path}/nope "
                                          "names no readable kubeconfig; point it at one, or run inside a cluster")]


def test_run_with_a_broken_kubeconfig_is_one_line_not_a_traceback(tmp_path):
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: gone\ncontexts: []\nclusters: []\nusers: []\n")
    result = run_without_a_cluster(tmp_path, KUBECONFIG=str(broken))
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "cannot use the Kubernetes credentials" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(("args", "words"), [
    (("--health-bind-address", "localhost"), ("--health-bind-address (or CNI_OPERATOR_HEALTH_BIND_ADDRESS) must be "
                                             "an IP address")),
    (("--metrics-bind-address", "every"), "--metrics-bind-address (or CNI_OPERATOR_METRICS_BIND_ADDRESS) must be"),
    (("--metrics-port", "70000"), "the metrics port must be between 0 (off) and 65535, not 70000"),
])
def test_run_refuses_bad_endpoints_in_one_line(tmp_path, args, words):
    result = run_without_a_cluster(tmp_path, *args)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
    assert words in result.stderr
    assert_no_traceback(result)


def test_run_refuses_a_bad_lease_duration_in_one_line(tmp_path):
    result = run_without_a_cluster(tmp_path, CNI_OPERATOR_LEASE_DURATION="1m")
    assert result.stderr == ("cni-operator run: CNI_OPERATOR_LEASE_DURATION: the lease duration must be a whole number "
                             "of seconds, not '1m'\n")
