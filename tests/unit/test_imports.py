"""The import graph of spctl's four packages: no cycle, and every import runs downward.

Every ``import`` counts, also those inside functions (a lazy import that closes a loop is
still a loop, only hidden). Rules: the core (``spctl``) imports neither the CLI nor the lab;
the agent imports only the standard library and itself (it runs alone on a node); the lab's
kubelet stand-in imports nothing of spctl (it stands in for a program spctl does not ship).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"spctl": "spctl", "spctl_cli": "cli", "spctl_agent": "agent", "spctl_lab": "lab"}
#: Standard modules of other CPython versions than this one (_sha256 became _sha2 in 3.12).
OTHER_STDLIB = {"_sha2", "_sha256"}


def _module_files() -> dict[str, Path]:
    """{dotted module name: file} of every module of the four packages."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _module_files()


def _resolve(name: str) -> str | None:
    """The project module ``name`` names, or its package; None outside the project."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported name, line) of every import in the file, resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod when there is one.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in MODULES else base, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for name, _ in imports_of(module, path):
            target = _resolve(name)
            if target and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(_graph()) == []


def _offending(rule) -> list[str]:
    bad = []
    for module, path in MODULES.items():
        for name, line in imports_of(module, path):
            why = rule(module, name)
            if why:
                bad.append(f"{path.relative_to(REPO)}:{line}: {module} imports {name}: {why}")
    return bad


def _core_rule(module: str, name: str) -> str | None:
    if module.startswith("spctl.") or module == "spctl":
        top = name.split(".")[0]
        if top in ("spctl_cli", "spctl_lab", "click"):
            return "the core is a library: it never imports the CLI, the lab or Click"
    return None


def _agent_rule(module: str, name: str) -> str | None:
    if not module.startswith("spctl_agent"):
        return None
    top = name.split(".")[0]
    if top == "spctl_agent" or top in sys.stdlib_module_names or top in OTHER_STDLIB:
        return None
    return "the agent runs on the node with the standard library only"


def _standin_rule(module: str, name: str) -> str | None:
    if not module.startswith("spctl_lab.standin") and "standin" not in module:
        return None
    top = name.split(".")[0]
    if top in ("spctl", "spctl_cli", "spctl_agent"):
        return "the kubelet stand-in is independent of spctl's code"
    return None


@pytest.mark.parametrize("rule", [_core_rule, _agent_rule, _standin_rule])
def test_imports_run_downward(rule) -> None:
    assert _offending(rule) == []


def test_the_rules_catch_an_upward_import() -> None:
    assert _core_rule("spctl.verbs.deploy", "spctl_cli.app")
    assert _agent_rule("spctl_agent.facts", "yaml")
    assert not _agent_rule("spctl_agent.facts", "os")
    assert _standin_rule("spctl_lab.standin.pods", "spctl.facts")
