"""Where the data files live: inside the wheel (cni_operator/_data) or in the repository checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    bundled = _PACKAGE_DIR / "_data" / name
    if bundled.is_dir():
        return bundled
    # Editable install / source checkout: operator/cni_operator -> repo root.
    checkout = _PACKAGE_DIR.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"cni-operator data directory {name!r} not found (looked in {bundled} and {checkout})")


def manifests_dir() -> Path:
    """Templates (manifests/<provider>/) and the version catalog (manifests/catalog.yaml)."""
    return _data_dir("manifests")


def crds_dir() -> Path:
    """The generated ClusterNetwork CRD."""
    return _data_dir("crds")
