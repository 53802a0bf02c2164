"""Check the package's structural rules and exit non-zero on any finding.

Rules (from the developers' brief and DESIGN.md):

1. no function over 120 lines of code, docstring not counted
   (``end_lineno - lineno + 1`` minus the docstring's lines; nested functions are
   measured on their own and also count inside their parent);
2. no module over 800 lines;
3. no private name (leading underscore) imported from another module of the package:
   ``from impacteval.x import _name`` is a finding whether ``_name`` is a function, a
   constant or a private submodule (``from impacteval.datasets import _fetch``); importing
   public names *from* a private module (``from impacteval._warn import WarningLog``) is
   the intended way to share internals and is allowed;
4. no import cycle between modules of the package, counting every import: module level,
   inside functions and under ``if TYPE_CHECKING:``. Two graphs are checked: the
   module-level graph (imports that run when a module is imported, excluding
   ``TYPE_CHECKING`` blocks) and the full graph (everything).

``from package import name`` is an edge to the submodule ``package.name`` when there is
one, and to ``package/__init__.py`` otherwise (the name is then read from the ``__init__``).

Usage::

    python scripts/check_structure.py [--root impacteval] [--max-function 120]
                                      [--max-module 800] [--only PATH ...]

``--only`` limits the report to findings in files under the given paths (the cycle check
always looks at the whole package).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``line``."""

    source: str
    target: str
    line: int
    module_level: bool


@dataclass
class Findings:
    """Everything the checks found, as printable lines."""

    long_functions: list[str] = field(default_factory=list)
    long_modules: list[str] = field(default_factory=list)
    private_imports: list[str] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)

    def total(self) -> int:
        return (
            len(self.long_functions)
            + len(self.long_modules)
            + len(self.private_imports)
            + len(self.cycles)
        )


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of ``path`` inside package directory ``root``."""
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def docstring_lines(node: ast.AST) -> int:
    """Number of source lines taken by the docstring of ``node`` (0 if none)."""
    body = getattr(node, "body", None)
    if not body:
        return 0
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        end = first.end_lineno if first.end_lineno is not None else first.lineno
        return end - first.lineno + 1
    return 0


def function_lengths(tree: ast.Module) -> Iterator[tuple[str, int, int]]:
    """Yield ``(qualified name, first line, lines of code without docstring)``."""

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                end = child.end_lineno if child.end_lineno is not None else child.lineno
                yield name, child.lineno, end - child.lineno + 1 - docstring_lines(child)
                yield from visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(tree, "")


def resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    """Absolute module named by ``from <dots><module> import ...`` inside ``current``."""
    if level == 0:
        return module or ""
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module else base


def is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def imports(
    tree: ast.Module, current: str, is_package: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Yield every import node with whether it runs at module import time."""

    Found = Iterator[tuple[ast.Import | ast.ImportFrom, bool]]

    def visit(node: ast.AST, module_level: bool) -> Found:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, module_level
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, False)
            elif isinstance(child, ast.If) and is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), False)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), module_level)
            else:
                yield from visit(child, module_level)

    yield from visit(tree, True)


def collect(root: Path) -> tuple[dict[str, Path], dict[str, ast.Module]]:
    """Parse every module of the package under ``root``."""
    paths: dict[str, Path] = {}
    trees: dict[str, ast.Module] = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        paths[name] = path
        trees[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return paths, trees


def edges_and_private(
    paths: dict[str, Path], trees: dict[str, ast.Module], package: str
) -> tuple[list[Edge], list[str]]:
    """The import edges inside the package and the private-name imports."""
    edges: list[Edge] = []
    private: list[str] = []
    for name, tree in trees.items():
        is_package = paths[name].name == "__init__.py"
        for node, module_level in imports(tree, name, is_package):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in trees:
                        targets.append(sub)
                    else:
                        targets.append(base)
                    if (
                        alias.name.startswith("_")
                        and not alias.name.startswith("__")
                        and (base == package or base.startswith(package + "."))
                        and (sub if sub in trees else base) != name
                    ):
                        private.append(
                            f"{paths[name]}:{node.lineno}: imports private name "
                            f"{alias.name!r} from {base}"
                        )
            for target in targets:
                if target in trees and target != name:
                    edges.append(Edge(name, target, node.lineno, module_level))
    return edges, private


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return components


def check(root: Path, max_function: int, max_module: int, only: list[Path]) -> Findings:
    """Run the four checks over the package at ``root``."""
    paths, trees = collect(root)
    package = root.name
    findings = Findings()

    def wanted(path: Path) -> bool:
        if not only:
            return True
        resolved = path.resolve()
        return any(resolved.is_relative_to(p.resolve()) for p in only)

    for name, tree in trees.items():
        path = paths[name]
        if not wanted(path):
            continue
        n_lines = len(path.read_text(encoding="utf-8").splitlines())
        if n_lines > max_module:
            findings.long_modules.append(f"{path}: {n_lines} lines (max {max_module})")
        for qualname, line, loc in function_lengths(tree):
            if loc > max_function:
                findings.long_functions.append(
                    f"{path}:{line}: {qualname} has {loc} lines of code (max {max_function})"
                )

    edges, private = edges_and_private(paths, trees, package)
    findings.private_imports = [p for p in private if wanted(Path(p.split(":", 1)[0]))]

    for label, selected in (
        ("module-level", [e for e in edges if e.module_level]),
        ("all imports (functions, TYPE_CHECKING)", edges),
    ):
        for component in find_cycles(selected):
            members = set(component)
            inside = sorted(
                {
                    f"{e.source} -> {e.target} (line {e.line})"
                    for e in selected
                    if e.source in members and e.target in members
                }
            )
            findings.cycles.append(
                f"cycle [{label}] among {', '.join(component)}:\n      " + "\n      ".join(inside)
            )
    return findings


def main(argv: list[str] | None = None) -> int:
    """Print the findings; return 1 if there are any, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = Path(__file__).resolve().parents[1] / "impacteval"
    parser.add_argument("--root", type=Path, default=default_root)
    parser.add_argument("--max-function", type=int, default=120)
    parser.add_argument("--max-module", type=int, default=800)
    parser.add_argument("--only", type=Path, nargs="*", default=[])
    args = parser.parse_args(argv)
    findings = check(args.root, args.max_function, args.max_module, args.only)
    sections = (
        ("functions over the limit", findings.long_functions),
        ("modules over the limit", findings.long_modules),
        ("private names imported across modules", findings.private_imports),
        ("import cycles", findings.cycles),
    )
    for title, items in sections:
        print(f"{title}: {len(items)}")
        for item in items:
            print(f"  {item}")
    return 1 if findings.total() else 0


if __name__ == "__main__":
    sys.exit(main())
