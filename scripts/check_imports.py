"""Fail on any import circle between the modules of a package (run by `make lint`).

Every `import pkg.x` and `from pkg... import y` counts wherever it sits: at the top, inside a
function, or under `if TYPE_CHECKING:`; a lazy import hides a circle from Python, not from a
reader. Usage: `python scripts/check_imports.py [PACKAGE_DIR ...]` (default: `sequencer/`);
exit status 1 on a circle, each printed as a path of imports.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (`pkg`, `pkg.x`, `pkg.sub.y`)."""
    root = package_dir.name
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [root, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The innermost known module that `name` (a module or an attribute of one) lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `module` imports, at any level of its body."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                hit = _resolve(alias.name, modules)
                if hit:
                    targets.add(hit)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                # `from . import x` in pkg/a.py means pkg; in pkg/__init__.py it means pkg too.
                drop = node.level - 1 if is_package else node.level
                if drop >= len(base):
                    continue  # above the package: not ours
                stem = ".".join(base[: len(base) - drop])
                source = f"{stem}.{node.module}" if node.module else stem
            else:
                source = node.module or ""
            for alias in node.names:
                hit = _resolve(f"{source}.{alias.name}", modules) or _resolve(source, modules)
                if hit:
                    targets.add(hit)
    targets.discard(module)
    return targets


def import_graph(package_dirs: Iterable[Path]) -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for package_dir in package_dirs:
        modules.update(module_names(package_dir))
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (as a path `a -> b -> ... -> a`) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative Tarjan: no recursion limit on deep graphs
        nonlocal counter
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle_in(group, graph) for group in sorted(groups, key=min)]


def circle_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The modules tied together by circles, one set per circle-connected group."""
    return [set(cycle) | _reachable_within(cycle[0], graph) for cycle in find_cycles(graph)]


def _reachable_within(start: str, graph: dict[str, set[str]]) -> set[str]:
    """Modules reachable from `start` that also reach back to it (its strongly connected group)."""

    def reach(origin: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {origin}, [origin]
        while todo:
            for child in edges.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    reverse: dict[str, set[str]] = {}
    for node, children in graph.items():
        for child in children:
            reverse.setdefault(child, set()).add(node)
    return reach(start, graph) & reach(start, reverse)


def _circle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest circle through the group's first module (breadth-first inside the group)."""
    start = min(group)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a strongly connected group has one


def main(argv: list[str]) -> int:
    dirs = [Path(arg) for arg in argv] or [Path(__file__).resolve().parent.parent / "sequencer"]
    graph = import_graph(dirs)
    cycles = find_cycles(graph)
    for cycle, group in zip(cycles, circle_groups(graph), strict=True):
        others = sorted(group - set(cycle))
        also = f" (also tied in: {', '.join(others)})" if others else ""
        print("import circle: " + " -> ".join(cycle) + also, file=sys.stderr)
    if cycles:
        print(
            f"{len(cycles)} import circle(s); move the shared part to the module that owns it "
            "or to sequencer/ports.py (lazy imports count too)",
            file=sys.stderr,
        )
        return 1
    print(f"no import circles in {', '.join(str(d) for d in dirs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
