"""The README and docs/ point at things that exist: every relative link (file and #anchor) resolves, and every
`make TARGET` they tell a reader to run is a Makefile target. The commands themselves run in
tests/e2e/test_docs_commands.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (but - and _), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def rel(page: Path) -> str:
    return str(page.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {rel(dest)}")
    assert not broken, f"{rel(page)}:\n  " + "\n  ".join(broken)


def test_make_targets_named_in_the_docs_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))
    named: dict[str, set[str]] = {}
    for page in PAGES:
        text = page.read_text()
        code = FENCE.findall(text) + re.findall(r"`[^`\n]+`", FENCE.sub("", text))
        for snippet in code:
            for target in re.findall(r"(?:^|[\s`(;&])make ([a-z][\w-]*)", snippet, re.MULTILINE):
                named.setdefault(target, set()).add(rel(page))
    assert {"demo", "test"} <= named.keys(), "the README's two commands"
    unknown = {t: sorted(p) for t, p in named.items() if t not in targets}
    assert not unknown, f"make targets the Makefile does not have: {unknown}"


def test_readme_first_screen_says_what_it_is_and_how_to_install():
    """The first screen: what it is, the `kubectl get cnet` sample, then Install; the two contract commands stay."""
    text = (REPO / "README.md").read_text()
    first = text.split("\n## ")[0]
    assert "ClusterNetwork" in first and "$ kubectl get cnet" in first
    headings = re.findall(r"^## (.+)$", FENCE.sub("", text), re.MULTILINE)
    assert headings[0] == "Install", headings
    assert "make demo" in text and "make test" in text
