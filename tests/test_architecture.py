"""The shape of the house, checked: small modules, no import cycles, Bolt only at the root.

Imports are read with `ast`, all of them: lazy ones inside functions and `if TYPE_CHECKING:`
ones included, since a dependency loop hidden in a function or a type hint is still a loop.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_LINES = 500
COMPOSITION_ROOT = {"app.cli", "app.demo"}  # the only modules that may reach handlers/ or Bolt


def _name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in APP.rglob("*.py")}


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: {t for t in imports_of(m) if t in MODULES and t != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_is_over_500_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle_between_modules_of_app() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_bolt_and_handlers_only_at_the_composition_root() -> None:
    offenders = {
        module: sorted(t for t in imports_of(module) if t.startswith(("slack_bolt", "handlers")))
        for module in MODULES
        if module not in COMPOSITION_ROOT
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    packages = [p for p in APP.iterdir() if (p / "__init__.py").is_file()]

    def docstring(package: Path) -> str:
        return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""

    undocumented = [p.name for p in packages if "may import" not in docstring(p).lower()]
    assert packages and undocumented == []


def test_package_dependencies_follow_the_documented_layers() -> None:
    """Lower layers never import higher ones (see README, "Where things live")."""
    layer = defaultdict(lambda: 4, {"runtime": 0, "slack": 1, "model": 1, "governance": 2,
                                    "audit": 2, "summaries": 3, "drafts": 3, "ask": 3})  # fmt: skip
    wiring = {"app.runtime.process", "app.runtime.services", "app.runtime.inbox"}
    wrong = []
    for module, targets in _graph().items():
        parts = module.split(".")
        if len(parts) < 3 or parts[1] == "sandbox" or module in wiring:
            continue
        for target in targets:
            to = target.split(".")
            if len(to) < 3 or to[1] == "sandbox" or target in {"app.slack.reply"} | wiring:
                continue
            if layer[to[1]] > layer[parts[1]]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []
