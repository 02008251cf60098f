"""The code base stays lint-clean (ruff, configured in pyproject.toml): a finding fails the suite like a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "operator", "tests", "hack", "bench"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_contract_holds_and_names_every_room():
    """lint-imports passes, and its layers contract covers every top-level module and subpackage of the operator."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "0 broken" in result.stdout, result.stdout + result.stderr
    contract = (REPO / "pyproject.toml").read_text()
    package = REPO / "operator" / "cni_operator"
    rooms = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    rooms |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    missing = sorted(r for r in rooms if f"cni_operator.{r}" not in contract)
    assert not missing, f"modules outside the layers contract: {missing}"


def test_no_import_cycles_in_the_operator():
    import grimp

    graph = grimp.build_graph("cni_operator")
    modules = sorted(graph.modules)
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_is_over_400_lines():
    """Small modules with one job: a module past ~400 lines is two modules."""
    long = {str(p.relative_to(REPO)): n for p in (REPO / "operator" / "cni_operator").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
