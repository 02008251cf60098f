"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def write(tmp_path):
    """write(text, name="cr.yaml") -> the path of a file holding TEXT, for the CLI's -f."""
    def _write(text: str, name: str = "cr.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return _write
