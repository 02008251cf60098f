#!/usr/bin/env python3
"""Vendor one upstream release manifest: store its bytes unchanged, with where they came from beside them.

    hack/vendor-upstream.py canal v3.31.7 --git-dir ~/src/calico/.git          the tag v3.31.7 of a local clone
    hack/vendor-upstream.py aws-vpc-cni v1.23.1 --git-dir DIR --ref <commit>   a commit, when upstream did not tag it
    hack/vendor-upstream.py canal v3.31.7 --from canal.yaml --commit <sha>    a file you downloaded yourself
    hack/vendor-upstream.py --check                                            every vendored file still matches its sha256

It writes manifests/upstream/<provider>/<version>/<file> (the manifest, byte for byte) and SOURCE.yaml (repo, tag,
commit, path, sha256, retrieved date, how it was obtained). The renderer reads the CRDs of that file unchanged (only
the operator's own labels are added; the catalog names it with a `vendored:` entry), and
tests/unit/test_upstream_fidelity.py compares every rendered object with it. Where upstream keeps the manifest:

    canal        projectcalico/calico       manifests/canal.yaml             at the release tag vX.Y.Z
    aws-vpc-cni  aws/amazon-vpc-cni-k8s     config/master/aws-k8s-cni.yaml   at the release tag (the "Prepare vX.Y.Z
                                                                             release" commit updates it and the chart)

To get the bytes: `git clone --filter=blob:none https://github.com/<repo>` (then --git-dir <clone>/.git), or download
https://raw.githubusercontent.com/<repo>/<tag>/<path> and pass it with --from (and --commit, the tag's commit, if
you know it). The script never touches the network. Bringing in a release (docs/providers/<provider>.md): run this,
add the catalog entry, then run the fidelity test and write down any new deliberate difference.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_DIR = REPO / "manifests" / "upstream"

# provider -> (GitHub repository, path of the release manifest in it, the name it is stored under)
SOURCES: dict[str, tuple[str, str, str]] = {
    "canal": ("projectcalico/calico", "manifests/canal.yaml", "canal.yaml"),
    "aws-vpc-cni": ("aws/amazon-vpc-cni-k8s", "config/master/aws-k8s-cni.yaml", "aws-k8s-cni.yaml"),
}

SOURCE_FILE = "SOURCE.yaml"


class VendorError(Exception):
    """Something the user must fix: the message says what."""


def _git(git_dir: Path, *args: str) -> bytes:
    result = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise VendorError(f"git {' '.join(args)} in {git_dir}: {result.stderr.decode().strip()}")
    return result.stdout


def from_git(git_dir: Path, ref: str, path: str) -> tuple[bytes, str]:
    """The file at ref (a tag or commit) and the commit it resolves to."""
    try:
        commit = _git(git_dir, "rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    except VendorError:
        raise VendorError(f"{ref!r} is not a tag or commit in {git_dir}: fetch the tags (git fetch --tags), or pass "
                          "--ref with the release commit when upstream did not tag the release") from None
    return _git(git_dir, "show", f"{commit}:{path}"), commit


def check_manifest(provider: str, version: str, data: bytes) -> None:
    """Refuse a file that is not this provider's release manifest at this version (a wrong tag, an HTML error page)."""
    try:
        docs = [doc for doc in yaml.safe_load_all(data) if doc]
    except yaml.YAMLError as exc:
        raise VendorError(f"not YAML: {exc}") from None
    kinds = {doc.get("kind") for doc in docs if isinstance(doc, dict)}
    if "DaemonSet" not in kinds or "CustomResourceDefinition" not in kinds:
        raise VendorError(f"not a {provider} release manifest: it has no DaemonSet or no CustomResourceDefinition")
    if f":{version}" not in data.decode("utf-8", "replace"):
        raise VendorError(f"no image tagged {version} in it: is it the manifest of another release?")


def source_record(provider: str, version: str, data: bytes, *, commit: str | None, obtained: str,
                  retrieved: str) -> dict:
    repo, path, _ = SOURCES[provider]
    record = {"repo": repo, "tag": version, "path": path, "sha256": hashlib.sha256(data).hexdigest()}
    if commit:
        record["commit"] = commit
    record["retrieved"] = retrieved
    record["obtained"] = obtained
    return record


def store(provider: str, version: str, data: bytes, record: dict) -> Path:
    target = UPSTREAM_DIR / provider / version
    target.mkdir(parents=True, exist_ok=True)
    (target / SOURCES[provider][2]).write_bytes(data)
    header = (f"# Where {SOURCES[provider][2]} came from: written by hack/vendor-upstream.py; the file is upstream's, "
              "byte for byte.\n")
    (target / SOURCE_FILE).write_text(header + yaml.safe_dump(record, sort_keys=False, width=1 << 16), encoding="utf-8")
    return target


def check_all() -> list[str]:
    """Every vendored manifest whose bytes no longer match the sha256 its SOURCE.yaml records."""
    problems = []
    for source in sorted(UPSTREAM_DIR.glob(f"*/*/{SOURCE_FILE}")):
        record = yaml.safe_load(source.read_text(encoding="utf-8"))
        manifest = source.parent / Path(record["path"]).name
        if not manifest.is_file():
            problems.append(f"{manifest}: missing")
        elif hashlib.sha256(manifest.read_bytes()).hexdigest() != record["sha256"]:
            problems.append(f"{manifest}: sha256 differs from {source}; re-vendor it, never edit it")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("provider", nargs="?", choices=sorted(SOURCES))
    parser.add_argument("version", nargs="?", help="the catalog version, e.g. v3.31.4 (also the upstream tag)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--from", dest="from_file", type=Path, help="a local copy of the release manifest")
    source.add_argument("--git-dir", type=Path, help="the .git directory of a local clone of the upstream repo")
    parser.add_argument("--ref", help="with --git-dir: tag or commit to read (default: the version, as a tag)")
    parser.add_argument("--commit", help="with --from: the upstream commit the file is from, if known")
    parser.add_argument("--retrieved", default=datetime.date.today().isoformat(), help="date (default: today)")
    parser.add_argument("--check", action="store_true", help="verify every vendored file against its SOURCE.yaml")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check_all()
            print("\n".join(problems) or "every vendored manifest matches its SOURCE.yaml")
            return 1 if problems else 0
        if not (args.provider and args.version and (args.from_file or args.git_dir)):
            parser.error("give PROVIDER VERSION and --from FILE or --git-dir DIR (or --check)")
        _, path, _ = SOURCES[args.provider]
        if args.git_dir:
            ref = args.ref or args.version
            data, commit = from_git(args.git_dir, ref, path)
            how = f"git show {ref}:{path}"
            if ref != args.version:
                subject = _git(args.git_dir, "log", "-1", "--format=%s", commit).decode().strip()
                how += f" (tag {args.version} not in the clone; the commit is {subject!r})"
        else:
            data, commit = args.from_file.read_bytes(), args.commit
            how = f"local file {args.from_file.name}, downloaded from {SOURCES[args.provider][0]} {path}"
        check_manifest(args.provider, args.version, data)
        record = source_record(args.provider, args.version, data, commit=commit, obtained=how,
                               retrieved=args.retrieved)
        target = store(args.provider, args.version, data, record)
    except (VendorError, OSError) as exc:
        print(f"vendor-upstream: {exc}", file=sys.stderr)
        return 1
    shown = target.relative_to(REPO) if target.is_relative_to(REPO) else target
    print(f"stored {shown}/{SOURCES[args.provider][2]} (sha256 {record['sha256'][:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
