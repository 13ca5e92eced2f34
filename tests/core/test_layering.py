"""The package keeps its layers (STYLE.md): no module imports from a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import sqlmodelx

PACKAGE = Path(sqlmodelx.__file__).parent

LAYERS = {
    "_typing": 0, "exc": 0, "_context": 0,
    "types": 1, "fields": 1, "_validate": 1,
    "registry": 2, "model": 2,
    "expressions": 3, "lookups": 3, "query": 3, "aggregates": 3, "relations": 3, "eager": 3, "deletion": 3, "_compile": 3, "bulk": 3, "_shape": 3,
    "identity": 4, "hydrate": 4, "prefetch": 4,
    "session": 5, "database": 5, "_sqlite_driver": 5, "_insert": 5, "_direct": 5,
    "migrate": 6, "testing": 6, "cli": 6, "demo": 6,
}


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) for each import of a sibling module, skipping `if TYPE_CHECKING:` blocks."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.append((node.lineno, node.module.split(".")[0]))
            else:
                found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlmodelx."):
            found.append((node.lineno, node.module.split(".")[1]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert modules <= set(LAYERS), f"add new modules to LAYERS: {sorted(modules - set(LAYERS))}"


def test_no_upward_imports() -> None:
    problems = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem == "__init__":
            continue
        layer = LAYERS[path.stem]
        for line, module in _runtime_imports(ast.parse(path.read_text())):
            if module in LAYERS and LAYERS[module] > layer:
                problems.append(f"{path.name}:{line} (L{layer}) imports {module} (L{LAYERS[module]})")
    assert not problems, "\n".join(problems)


def test_public_names_are_exported() -> None:
    assert sorted(sqlmodelx.__all__) == sorted(set(sqlmodelx.__all__))
    for name in sqlmodelx.__all__:
        assert hasattr(sqlmodelx, name), name
    public = {n for n in vars(sqlmodelx) if not n.startswith("_")}
    modules = {n for n, v in vars(sqlmodelx).items() if type(v).__name__ == "module"}
    assert public - modules - {"annotations"} <= set(sqlmodelx.__all__), sorted(
        public - modules - set(sqlmodelx.__all__) - {"annotations"}
    )
