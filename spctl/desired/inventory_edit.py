"""Changing the inventory file the way its author would: comments, order and layout kept.

The inventory is read here with ruamel.yaml's round-trip mode, which keeps comments, key
order, flow or block style and quoting, changed in memory, and written back. Only what
``spctl import`` needs: a pod added to nodes or to a group, variables added to nodes.

ruamel.yaml speaks YAML 1.2 while spctl (and the kubelet) read YAML 1.1, where ``yes``,
``on`` or ``0o17`` are not strings: every string that spctl's reader would take for
something else is written quoted, and the result is read back with spctl's own reader and
compared before anything is written. Writes are atomic: a temporary file in the same
directory, fsync, rename(2).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from spctl.desired.yamlio import ManifestError, dump_manifest, parse_manifest
from spctl.errors import InventoryError


def _yaml(text: str) -> YAML:
    y = YAML()  # round trip
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line the author wrote on one
    mapping, sequence, offset = _indents(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def _indents(text: str) -> tuple[int, int, int]:
    """The author's indentation: of nested keys, and of ``-`` under a key (``pods:\\n  - a``
    or ``pods:\\n- a``)."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping = 2
    for parent, child in zip(lines, lines[1:]):
        if parent.rstrip().endswith(":") and not child.lstrip().startswith("- "):
            depth = len(child) - len(child.lstrip()) - (len(parent) - len(parent.lstrip()))
            if depth > 0:
                mapping = depth
                break
    for parent, child in zip(lines, lines[1:]):
        if re.match(r"^\s*[^\s-][^:]*:\s*(#.*)?$", parent) and child.lstrip().startswith("- "):
            offset = (len(child) - len(child.lstrip())) - (len(parent) - len(parent.lstrip()))
            offset = max(offset, 0)
            return mapping, offset + 2, offset
    return mapping, mapping, 0


def _scalar(value: Any) -> Any:
    """A value as ruamel should write it so that spctl reads it back the same."""
    if isinstance(value, str) and dump_manifest({"v": value}).startswith(("v: '", 'v: "')):
        return SingleQuotedScalarString(value)
    return value


def add_pod(
    text: str,
    pod: str,
    *,
    nodes: Sequence[str] = (),
    group: Optional[str] = None,
    template: Optional[str] = None,
    node_vars: Mapping[str, Mapping[str, Any]] = {},  # noqa: B006 - read only
    source: str = "inventory",
) -> str:
    """The inventory ``text`` with pod ``pod`` added to ``group``'s pods (or to each of
    ``nodes``' pods) and ``node_vars[node]`` added to each node's ``vars``.

    Refuses a variable a node already sets to another value. A pod already in the list is
    not added twice. ``template``: the pod's template when it is not ``POD.yaml.j2`` in the
    inventory's templates directory.
    """
    y = _yaml(text)
    try:
        data = y.load(text)
    except Exception as exc:  # ruamel has many error classes; spctl's reader read it already
        raise InventoryError(f"{source}: cannot edit it in place: {exc}") from None
    if not isinstance(data, CommentedMap):
        raise InventoryError(f"{source}: not a mapping")
    all_nodes = data.get("nodes")
    if not isinstance(all_nodes, CommentedMap):
        raise InventoryError(f"{source}: no `nodes:` mapping")

    def entry() -> Any:  # a new one for each list: a shared object would become an anchor
        return pod if template is None else CommentedMap([("name", pod), ("template", template)])

    if group is not None:
        groups = data.get("groups")
        if not isinstance(groups, CommentedMap) or group not in groups:
            raise InventoryError(f"{source}: unknown group {group!r}")
        _add_to_pods(_level(groups, group, source, "groups"), entry(), pod, f"groups.{group}")
    for name in nodes:
        if name not in all_nodes:
            raise InventoryError(f"{source}: unknown node {name!r}")
        if group is None:
            _add_to_pods(_level(all_nodes, name, source, "nodes"), entry(), pod, f"nodes.{name}")
    for name, values in node_vars.items():
        if not values:
            continue
        level = _level(all_nodes, name, source, "nodes")
        current = level.get("vars")
        if current is None:
            current = CommentedMap()
            level["vars"] = current
        elif not isinstance(current, dict):
            raise InventoryError(f"{source}: nodes.{name}.vars is not a mapping")
        for key, value in values.items():
            if key in current and not _same(current[key], value):
                raise InventoryError(
                    f"{source}: nodes.{name}.vars.{key} is already {current[key]!r}, and "
                    f"{name}'s pod has {value!r} there; use --var-prefix to choose other names"
                )
            current[key] = _scalar(value)
    out = io.StringIO()
    y.dump(data, out)
    result = out.getvalue()
    _check_reads_back(result, node_vars, source)
    return result


def _level(parent: CommentedMap, name: str, source: str, kind: str) -> CommentedMap:
    level = parent.get(name)
    if level is None:  # `cp1:` with nothing under it
        level = CommentedMap()
        parent[name] = level
    if not isinstance(level, CommentedMap):
        raise InventoryError(f"{source}: {kind}.{name} is not a mapping")
    return level


def _add_to_pods(level: CommentedMap, entry: Any, pod: str, where: str) -> None:
    pods = level.get("pods")
    if pods is None:
        pods = CommentedSeq()
        level["pods"] = pods
    if not isinstance(pods, list):
        raise InventoryError(f"{where}.pods is not a list")
    for existing in pods:
        name = existing.get("name") if isinstance(existing, dict) else existing
        if name == pod:
            return
    pods.append(entry)


def _kind(value: Any) -> type:
    for kind in (bool, int, float, str):  # bool first: True is an int to Python
        if isinstance(value, kind):
            return kind
    return type(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as spctl reads them: ruamel's own str and int subclasses are str and int."""
    return _kind(a) is _kind(b) and bool(a == b)


def _check_reads_back(text: str, node_vars: Mapping[str, Mapping[str, Any]], source: str) -> None:
    try:
        data = parse_manifest(text, source=source)
    except ManifestError as exc:  # pragma: no cover - ruamel wrote something spctl cannot read
        raise InventoryError(f"the updated inventory would not read back: {exc}") from None
    for name, values in node_vars.items():
        got = ((data.get("nodes") or {}).get(name) or {}).get("vars") or {}
        for key, value in values.items():
            if not _same(got.get(key), value):
                raise InventoryError(
                    f"{source}: nodes.{name}.vars.{key} would read back as {got.get(key)!r}, "
                    f"not {value!r}; nothing was written"
                )


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a temporary file beside it, fsync, rename(2); the
    file's permissions are kept."""
    path = Path(path)
    directory = path.parent
    try:
        mode: Optional[int] = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
