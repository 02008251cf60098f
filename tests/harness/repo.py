"""The repository root and the two hack/ tools the harness drives: the local control plane and the toolchain.

hack/ is not a package; from the repository root (on sys.path, see __init__.py) its files import as the namespace
package `hack`. hack/localcluster.py then imports hack/toolchain.py by its plain name `toolchain` (it puts hack/ on
sys.path itself, so it also runs as a script). The harness takes that very module object, instead of importing
hack.toolchain a second time under another name, so there is one toolchain module in the process.
"""

from __future__ import annotations

from pathlib import Path

from hack import localcluster

REPO = Path(__file__).resolve().parents[2]
toolchain = localcluster.toolchain

__all__ = ["REPO", "localcluster", "toolchain"]
