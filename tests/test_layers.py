"""The import graph keeps the layers honest (docs/architecture.md draws them).

Every ``import`` of a julep_nb module, at module level or inside a function (a lazy
import is still a dependency), must point to a layer the importing layer may use,
and the imports must form no cycle (a lazy import does not break one).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "julep_nb"

# layer -> the layers it may import (itself included). A layer is the first one or two
# parts of the module path below julep_nb; the longest matching name wins.
ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "live": {"live"},
    "sources": {"sources", "live", "_version"},
    # The embedded server shares only the Julep wire models (and the statuses they use).
    "local": {
        "local",
        "sources.julep.models",
        "sources.julep.requests",
        "live.events",
        "_version",
    },
    "connect": {"connect", "sources", "live", "local"},
    # Julep batches (run_many): the default client, like connect.
    "batch": {"batch", "connect", "sources", "live"},
    "display": {"display", "live", "sources"},
    "magics": {"magics", "display", "batch", "connect", "live", "sources"},
    "top": {
        "top",
        "magics",
        "display",
        "batch",
        "connect",
        "live",
        "sources",
        "local",
        "_version",
    },  # fmt: skip
}
TOP = {"julep_nb", "julep_nb.demo", "julep_nb.notebook_demo"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The layer of a julep_nb module: ``live``, ``sources``, ``display``…"""
    if module in TOP:
        return "top"
    rest = module.removeprefix("julep_nb.")
    for name in ALLOWED:
        if rest == name or rest.startswith(name + "."):
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to ALLOWED in {__file__}")


def may_import(importer: str, target: str) -> bool:
    """Whether a module of layer ``importer`` may import the module ``target``."""
    if target in TOP:
        return importer == "top"
    rest = target.removeprefix("julep_nb.")
    return any(rest == name or rest.startswith(name + ".") for name in ALLOWED[importer])


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(julep_nb module imported, at module level?, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []
    top_level = {id(node) for node in tree.body}
    type_checking = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.walk(node)
    }
    package = module_name(path) if PACKAGE in path.parents else "julep_nb.x"
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                if not path.name == "__init__.py":
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            # ``from pkg import mod`` depends on pkg.mod; ``from mod import name`` on mod.
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "julep_nb" or name.startswith("julep_nb."):
                found.append((_existing(name), id(node) in top_level, node.lineno))
    return found


def _existing(name: str) -> str:
    """``name`` or its longest prefix that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    return name


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for module, path in sorted(modules().items()):
        mine = layer_of(module)
        for target, _, line in imports(path):
            if not may_import(mine, target):
                wrong.append(f"{module}:{line} ({mine}) imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in modules().items():
        # Lazy (function-level) imports count too: a cycle held apart by one is a cycle.
        graph[module] = {t for t, _, _ in imports(path) if t != module}
        if module.count(".") and path.name != "__init__.py":
            # Importing julep_nb.x.y runs julep_nb.x's __init__ first.
            graph[module].discard(module.rsplit(".", 1)[0])
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    """The rules are not vacuous: a live module importing display is caught."""
    found = {t for t, _, _ in imports(PACKAGE / "live" / "state.py")}
    assert "julep_nb.live.events" in found
    assert not may_import(layer_of("julep_nb.live.state"), "julep_nb.display.html")
    assert not may_import("display", "julep_nb.magics.magics")
    assert not may_import("local", "julep_nb.sources.julep.client")
    assert may_import("local", "julep_nb.sources.julep.models")
    assert not may_import("sources", "julep_nb")
    bad = tmp_path / "julep_nb" / "live"
    bad.mkdir(parents=True)
    (bad / "x.py").write_text("def f():\n    from julep_nb.display import html\n")
    lazy = [t for t, top, _ in imports(bad / "x.py") if not top]
    assert "julep_nb.display.html" in lazy and not may_import("live", lazy[-1])
