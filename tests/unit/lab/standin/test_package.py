"""The stand-in as a package (lab/standin/): one concept per module, named in the first line of
its docstring; imports run downward only, in the order the package's docstring lists; and
nothing but the node's python3 is needed: the standard library, PyYAML, and grpcio imported
only where the CRI client talks. It never imports spctl: the lab checks spctl against it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import spctl_lab.standin

PACKAGE = Path(spctl_lab.standin.__file__).resolve().parent
# Bottom up: a module may import only modules before it.
ORDER = [
    "log",
    "release",
    "restarts",
    "flags",
    "config",
    "validation",
    "pod_fields",
    "quantity",
    "defaults",
    "manifests",
    "sources",
    "pods",
    "runtime",
    "network",
    "image_pulls",
    "garbage",
    "status",
    "volumes",
    "docker_api",
    "docker",
    "cri.protobuf",
    "cri.api",
    "cri.client",
    "cri.snapshot",
    "kuberuntime",
    "terminator",
    "kubelet",
    "server",
    "main",
]
THIRD_PARTY = {"yaml"}  # python3-yaml on the nodes; python3-grpcio only inside a function
LAZY = {"grpc"}


def _modules() -> dict[str, Path]:
    """{dotted name below standin: path}; packages as "" and "cri"."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> tuple[set[str], set[str], set[str]]:
    """(modules of the package it imports, other top-level imports at module level, the same
    inside functions)."""
    tree = ast.parse(path.read_text())
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    package = [p for p in package if p]
    inner, top, lazy = set(), set(), set()
    module_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        into = top if id(node) in module_level else lazy
        if isinstance(node, ast.Import):
            into.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            into.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module or "").split(".")] if node.module else base
            for alias in node.names:
                candidate = ".".join([*target, alias.name])
                inner.add(candidate if candidate in _modules() else ".".join(target))
    top.discard("__future__")
    return inner, top, lazy


def test_every_module_has_its_place_in_the_order() -> None:
    modules = {m for m in _modules() if m not in ("", "cri")}
    assert modules == set(ORDER)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_a_module_names_its_concept_first(name: str) -> None:
    doc = ast.get_docstring(ast.parse(_modules()[name].read_text()))
    assert doc and doc.splitlines()[0].strip(), f"{name or 'standin'}: no docstring"


def test_the_package_says_it_is_a_stand_in() -> None:
    doc = spctl_lab.standin.__doc__ or ""
    assert doc.startswith("Kubelet stand-in for the spctl lab: for tests and demos only.")
    assert "This is NOT a kubelet." in doc.splitlines()[0]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_imports_run_downward_and_need_only_the_nodes_python(name: str) -> None:
    inner, top, lazy = _imports(name, _modules()[name])
    if name in ("", "cri"):
        assert not inner and not top, f"{name or 'standin'}/__init__.py imports nothing"
        return
    below = set(ORDER[: ORDER.index(name)]) | {"cri"}
    assert inner <= below, f"{name} imports {sorted(inner - below)}, not below it"
    allowed = set(sys.stdlib_module_names) | THIRD_PARTY
    assert top <= allowed, f"{name} imports {sorted(top - allowed)}"
    assert lazy <= allowed | LAZY, f"{name} imports {sorted(lazy - allowed - LAZY)}"
    assert not (top | lazy) & {"spctl", "spctl_agent", "spctl_cli", "spctl_lab", "docker"}
