"""The house rules of univar/: stage packages, imports pointing one way, a light `import univar`.

Imports are read with `ast`, so function-local imports count: a cycle hidden inside a function
still ties two modules together.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "univar"
HEAVY = ("torch", "sentence_transformers", "streamlit", "litellm", "umap", "plotly")
STAGES = (
    "store",
    "catalog",
    "quality",
    "llm",
    "elicit",
    "ingest",
    "encoders",
    "training",
    "analysis",
    "figures",
    "output",
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The univar modules that `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from univar.x import y` imports univar.x.y where y is a module, else univar.x
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_in_a_circle():
    graph = _graph()
    assert len(graph) > 50  # the parser saw the package
    assert _cycles(graph) == []


def test_stage_packages_import_each_other_one_way():
    packages: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        for dep in deps:
            if _package_of(dep) != _package_of(module):
                packages.setdefault(_package_of(module), set()).add(_package_of(dep))
    assert _cycles(packages) == []
    # the ground floor imports no stage above it
    assert packages.get("univar.store", set()) <= {
        "univar",
        "univar.paths",
        "univar.config",
        "univar.errors",
    }
    # nothing but the CLI's entry points imports the CLI
    entry = {"univar.__main__", "univar.cli", "univar.commands"}
    users = {pkg for pkg, deps in packages.items() if deps & entry and pkg not in entry}
    assert users == set()


def test_the_tree_shows_the_stages():
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), stage
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc, f"{stage}/__init__.py must say what the stage may import"
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_no_univar_module_imports_streamlit():
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for n in names
                if n.split(".")[0] == "streamlit"
            ]
    assert found == []


@pytest.mark.parametrize(
    "statement",
    [
        "import univar",
        "import univar.cli",
        # every stage package too: heavy libraries load inside the functions that use them
        "import " + ", ".join(f"univar.{stage}" for stage in STAGES),
    ],
)
def test_importing_univar_loads_no_heavy_library(statement):
    code = f"{statement}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
