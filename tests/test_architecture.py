"""The package's layout rules: no file over about 500 lines, no private name imported across modules of the
package, and no import cycle among the package's modules (module-level imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "scalinglab"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_file_over_500_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long


def test_no_private_name_imported_across_modules():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scalinglab"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                assert not private, (path, node.module, private)


def _top_level_imports(path: Path) -> set[str]:
    """Modules of the package imported when ``path`` is imported (not those imported inside functions or only
    for type checking)."""
    out = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else ():
            if isinstance(sub, ast.ImportFrom) and sub.level == 0 and (sub.module or "").startswith("scalinglab."):
                out.add(sub.module)
            elif isinstance(sub, ast.Import):
                out |= {a.name for a in sub.names if a.name.startswith("scalinglab.")}
    return out


def test_no_import_cycle_between_modules():
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: {i for i in _top_level_imports(p) if i in modules and i != m} for m, p in modules.items()}
    # a package's __init__ importing its own submodules is not a cycle of the modules themselves
    graph = {m: {i for i in deps if not i.startswith(m + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, " -> ".join([*stack[stack.index(n):], n]) if n in stack else n
            if n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_store_and_fit_import_in_a_fresh_interpreter():
    code = "import scalinglab.sweep.store, scalinglab.fit, scalinglab.sweep.spec, scalinglab.fit.estimate"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
