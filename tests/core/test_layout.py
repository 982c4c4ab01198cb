"""The package's folders are its architecture: imports point down the layers only, and no
module imports itself back through others.

    core <- options <- {sandbox, models, reports} <- experiments <- session <- plugin, cli

(``experiments`` builds its report sections on ``reports``; siblings otherwise do not import
each other.)  Imports under ``if TYPE_CHECKING:`` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_codex"
RANK = {
    "": 0,
    "core": 0,
    "options": 1,
    "sandbox": 2,
    "models": 2,
    "reports": 2,
    "experiments": 3,
    "session": 4,
    "plugin": 5,
    "cli": 5,
    "__main__": 6,
    "suite": 6,  # the test module pytest collects; it imports nothing of the package
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(root: Path) -> dict[str, list[tuple[str, int, bool]]]:
    """module -> [(imported pytest_codex module, line, at module level)]."""
    out: dict[str, list[tuple[str, int, bool]]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        found: list[tuple[str, int, bool]] = []

        def visit(node: ast.AST, top: bool, module: str = module, found: list = found) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    continue
                inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, ast.ImportFrom):
                    assert child.level == 0, f"{module}:{child.lineno}: relative import; use absolute imports"
                    base = child.module or ""
                    if base.split(".")[0] == root.name:
                        for alias in child.names:  # `from pkg import submodule` names a module
                            sub = f"{base}.{alias.name}"
                            is_module = (root.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                                root.parent / sub.replace(".", "/")
                            ).is_dir()
                            found.append((sub if is_module else base, child.lineno, top))
                elif isinstance(child, ast.Import):
                    found.extend((a.name, child.lineno, top) for a in child.names if a.name.split(".")[0] == root.name)
                visit(child, inner, module, found)

        visit(ast.parse(path.read_text()), True)
        out[module] = found
    return out


def violations(root: Path) -> list[str]:
    graph = imports(root)
    bad = []
    for module, targets in graph.items():
        for target, line, _ in targets:
            a, b = _layer(module), _layer(target)
            if a != b and RANK[b] >= RANK[a]:
                bad.append(f"{module}:{line} imports {target}: {b or 'the package root'} is not below {a}")
    # cycles among module-level imports
    edges = {m: {t for t, _, top in ts if top and t in graph and t != m} for m, ts in graph.items()}
    state: dict[str, int] = {}

    def walk(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                bad.append("import cycle: " + " -> ".join(path[path.index(t) :] + [t]) if t in path else t)
            elif t not in state:
                walk(t, path + [t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            walk(m, [m])
    return bad


def test_imports_point_down_the_layers_and_never_in_a_circle():
    assert violations(PACKAGE) == []


def test_every_module_sits_in_a_known_layer_and_the_top_level_is_small():
    assert {_layer(m) for m in imports(PACKAGE)} <= set(RANK)
    top = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py")
    assert top == ["__init__.py", "__main__.py", "cli.py", "plugin.py", "session.py"]


def test_imports_inside_functions_say_why():
    """An import inside a function keeps a heavy or optional dependency (torch, numpy,
    hypothesis, matplotlib...) or a rarely used module out of the plugin's start-up: each one
    carries a comment saying so."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for child in ast.walk(node):
                    if isinstance(child, (ast.Import, ast.ImportFrom)):
                        text = "\n".join(lines[child.lineno - 1 : child.end_lineno])
                        if "# lazy:" not in text:
                            unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{child.lineno}: {text.strip()}")
    assert unexplained == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    copy = tmp_path / PACKAGE.name
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_negative_control_an_upward_import_is_found(planted: Path):
    passk = planted / "core" / "passk.py"
    passk.write_text(passk.read_text() + "\nfrom pytest_codex.session import CodexState\n")
    found = violations(planted)
    assert any(f.startswith("pytest_codex.core.passk:") and "session is not below core" in f for f in found)


def test_negative_control_a_sibling_import_and_a_cycle_are_found(planted: Path):
    tables = planted / "reports" / "tables.py"
    tables.write_text(tables.read_text() + "\nfrom pytest_codex.models import store\n")
    stats = planted / "reports" / "stats.py"
    stats.write_text(stats.read_text() + "\nimport pytest_codex.reports.tables\n")
    found = violations(planted)
    assert any("models is not below reports" in f for f in found)
    assert any(f.startswith("import cycle:") and "pytest_codex.reports.stats" in f for f in found)
