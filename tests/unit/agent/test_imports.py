"""The agent's imports: every one resolves (the lazy ones inside functions included, which
only a call would otherwise find broken), none goes up a layer, none makes a cycle, and
all of them are the standard library's or the agent's own."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[3] / "agent"

#: CPython's C modules behind standard ones, imported directly for the facts call's start-up
#: cost (see system/jsonfast.py, system/files.py sha256_bytes, system/http.py, main.py).
C_MODULES = {"_json", "_sha2", "_sha256", "_signal", "_socket"}

#: The layers, lowest first: a module imports its own layer or a lower one.
LAYERS = ("protocol", "system", "runtime", "probes", "node", "transaction", "facts", "main")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(AGENT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (AGENT.joinpath(*name.split(".")) / "__init__.py").exists() if name else True


def exists(name: str) -> bool:
    return is_package(name) or AGENT.joinpath(*name.split(".")).with_suffix(".py").exists()


def source(name: str) -> Path:
    base = AGENT.joinpath(*name.split(".")) if name else AGENT
    return base / "__init__.py" if is_package(name) else base.with_suffix(".py")


def top_level_names(name: str) -> set[str]:
    tree = ast.parse(source(name).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(element, ast.Name):
                        names.add(element.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Try):  # `try: import _socket as socket` and the like
            for inner in node.body + [s for h in node.handlers for s in h.body]:
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in inner.names)
    return names


def imports() -> dict[str, list[tuple[str, int]]]:
    """{module: [(imported agent module, line)]} for every agent import, at any depth."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(AGENT.rglob("*.py")):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = found.setdefault(name, [])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
                assert exists(target), f"{path}:{node.lineno}: no module spctl_agent.{target}"
                for alias in node.names:
                    sub = f"{target}.{alias.name}" if target else alias.name
                    if exists(sub):
                        edges.append((sub, node.lineno))
                    else:
                        assert alias.name in top_level_names(target), (
                            f"{path}:{node.lineno}: spctl_agent.{target} has no {alias.name}"
                        )
                        edges.append((target, node.lineno))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                for module in modules:
                    top = (module or "").split(".")[0]
                    if top == "spctl_agent":  # __main__.py run as a zipapp
                        continue
                    assert top in sys.stdlib_module_names or top in C_MODULES, (
                        f"{path}:{node.lineno}: {module} is not the standard library's"
                    )
    return found


def layer(name: str) -> int:
    head = name.split(".")[0]
    return LAYERS.index(head) if head in LAYERS else len(LAYERS)  # __main__, the package


def test_every_import_resolves_and_goes_down():
    for module, edges in imports().items():
        for target, line in edges:
            if target == "" or module == "":
                continue  # the package's own docstring module imports nothing
            assert layer(target) <= layer(module), (
                f"spctl_agent.{module} (line {line}) imports spctl_agent.{target}, a higher layer"
            )


def test_no_import_cycle():
    graph = {m: sorted({t for t, _ in e if t != m}) for m, e in imports().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
