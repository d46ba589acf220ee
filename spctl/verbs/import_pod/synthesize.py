"""Taking over a static pod that already runs on several nodes: one template for all of them.

``spctl import POD`` reads POD's manifest on each selected node (``spctl.verbs.import_pod.workflow``,
one agent facts call, a second only when the file is not called ``POD.yaml``) and
:func:`synthesize` writes one Jinja template from them:

- where the nodes' files agree, the template is the first node's text, kept literally (its
  comments and layout included); ``{{``, ``{%`` and ``{#`` in it are escaped, so Jinja
  gives them back unchanged. (When a differing value is written in a form that cannot be
  split in place, a plain scalar folded over lines, the text is spctl's canonical dump of
  that node's pod instead: the same data, without the comments.);
- where they differ in a value, the template takes a variable, and each node's value goes
  into the inventory under that node's ``vars``. Inside a string the variable covers only the
  part that differs when that part is clean: one token of ``--advertise-address=10.0.0.11``
  or of ``https://10.0.0.11:2379``, or the value of a flag that is the same flag on every
  node, or the differing part of a line inside a literal block (a script or a configuration
  file in an argument). One value that differs the same way in several places (kubeadm
  writes the node's address into a flag, the probes' ``host`` and an annotation) is one
  variable, named after the flag that carries it (``kube_apiserver_advertise_address``);
- a pod that differs in structure (other keys, other list lengths, other containers) cannot
  be one template with values, and is refused, as is a file that is not a valid static pod.

Why the next deploy changes no pod. spctl never writes a template's text to a node: it parses
the rendered text, validates it and writes the canonical dump (``spctl.desired.yamlio``). For a
file spctl did not write, the plan (``spctl.plan.directory.plan_deploy``) compares the pods as the
kubelet decodes and defaults them (``spctl.desired.pod_identity``): when the file on the node
is the same pod as the rendered one, the step is ``adopt``
(the file is rewritten in canonical form and owned from then on), not ``update``. kubeadm
writes its manifests through sigs.k8s.io/yaml (keys sorted, lists not indented), which for
its own pods often gives the very bytes of spctl's dump; a hand edit, another quoting style,
comments or a JSON file give other bytes. That does not matter, because the kubelet does
not hash bytes either: the UID of a static pod is a hash of the decoded pod, the node name and the
file path (``pkg/kubelet/config/common.go``, ``applyDefaults``), and the agent waits for the
*same* UID after an adopt. So the template must render each node's file as the same data (it
does, and :func:`synthesize` checks it for every node before returning), and the file must
keep its path: a pod whose file is not ``POD.yaml`` would get a new path, hence a new UID and
a restart, and is refused with the ``mv`` that makes it importable when a restart is fine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import jinja2
import jinja2.sandbox
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from spctl.desired.fleet import CONTEXT_NAMES
from spctl.desired.validation.static_pod import validate_pod
from spctl.desired.yamlio import (
    ManifestError,
    ManifestLoader,
    dump_manifest,
    parse_manifest,
    semantically_equal,
)
from spctl.errors import SpctlError


class ImportRefused(SpctlError):
    """The pod cannot be taken over as one template; the message says why and what to do."""


@dataclass(frozen=True)
class NodeManifest:
    """POD's manifest as found on one node."""

    node: str
    path: str
    text: str


@dataclass(frozen=True)
class Variable:
    name: str
    values: Mapping[str, Any]  # node name -> that node's value
    fields: tuple[str, ...]  # the fields (and flags) it stands for, for the operator


@dataclass(frozen=True)
class Imported:
    pod: str
    template: str
    variables: tuple[Variable, ...]
    byte_exact: tuple[str, ...]  # nodes whose file the template renders byte for byte
    base: str  # the node whose text the template keeps


# -- the template --------------------------------------------------------------------------------

Path_ = tuple[Any, ...]  # keys and list indices from the document's root

_TOKEN = re.compile(r"[A-Za-z0-9._-]+|[^A-Za-z0-9._-]+")
_WORD = re.compile(r"[A-Za-z0-9._-]+")
_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
_FLAG = re.compile(r"^(--?[A-Za-z][A-Za-z0-9._-]*)=")
# A value written as a plain scalar that reads back as the same string for spctl and the kubelet.
_PLAIN_SAFE = re.compile(r"^[A-Za-z/][A-Za-z0-9._/@%+-]*$")
_GENERIC_KEYS = {"host", "name", "value", "path", "port", "ip", "address", "image", "command"}


def synthesize(
    pod: str, manifests: Sequence[NodeManifest], var_prefix: Optional[str] = None
) -> Imported:
    """One template that renders every node's manifest as the same pod; refuse otherwise."""
    if not manifests:
        raise ImportRefused(f"pod {pod!r}: no node selected")
    docs = [_parse_valid(pod, m) for m in manifests]
    nodes = [m.node for m in manifests]
    problems: list[str] = []
    leaves: list[tuple[Path_, tuple[Any, ...]]] = []
    _compare(docs, nodes, (), problems, leaves)
    if problems:
        shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise ImportRefused(
            f"pod {pod!r} differs in structure between nodes, not only in values, so one template "
            "cannot render it for every node:\n  " + "\n  ".join(shown)
        )
    prefix = _identifier(var_prefix if var_prefix is not None else pod)
    failure = ""
    # The first node's text with only the differing parts as variables, else spctl's
    # canonical form of it; else the same with whole values as variables.
    for split in (True, False):
        spots = _spots(leaves, docs[0], split)
        variables = _name_variables(spots, prefix)
        for base in (manifests[0].text, dump_manifest(docs[0])):
            try:
                template = _template(base, spots)
            except _Unsupported as exc:
                failure = str(exc)
                continue
            failure = _check(template, pod, manifests, variables)
            if failure:
                continue
            values = _per_node(variables, nodes)
            exact = tuple(
                m.node
                for m in manifests
                if render_template(template, pod, values[m.node]) == m.text
            )
            return Imported(
                pod=pod,
                template=template,
                variables=tuple(v.as_variable(nodes) for v in variables),
                byte_exact=exact,
                base=manifests[0].node,
            )
    raise ImportRefused(
        f"pod {pod!r}: cannot write a template that reproduces every node: {failure}"
    )


def render_template(template: str, pod: str, variables: Mapping[str, Any]) -> str:
    """Render as ``spctl.desired.render`` does (sandbox, StrictUndefined, trailing newline kept)."""
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    return env.from_string(template).render({**variables, "pod": {"name": pod}})


def _parse_valid(pod: str, manifest: NodeManifest) -> dict[str, Any]:
    where = f"{manifest.node}:{manifest.path}"
    try:
        doc = parse_manifest(manifest.text, source=where)
    except ManifestError as exc:
        raise ImportRefused(f"{exc}; spctl imports only files it can read as one pod") from None
    problems = [
        f"{p.field}: {p.message}" for p in validate_pod(doc, node_name=manifest.node.lower())
    ]
    metadata = doc.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if "uid" in metadata:
        problems.append(
            "metadata.uid: a static pod's manifest must not set its UID (spctl could not tell "
            "a changed pod from the old one)"
        )
    if metadata.get("name") != pod:
        problems.append(f"metadata.name: is {metadata.get('name')!r}, not {pod!r}")
    if problems:
        raise ImportRefused(
            f"{where} is not a static pod spctl can manage:\n  " + "\n  ".join(problems)
        )
    return doc


def _show_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _compare(
    values: list[Any],
    nodes: list[str],
    path: Path_,
    problems: list[str],
    leaves: list[tuple[Path_, tuple[Any, ...]]],
) -> None:
    where = _show_path(path)
    kinds = {type(v).__name__ if isinstance(v, (dict, list)) else "scalar" for v in values}
    if len(kinds) > 1:
        shown = ", ".join(
            f"{n}: {'a mapping' if isinstance(v, dict) else 'a list' if isinstance(v, list) else 'a value'}"
            for n, v in zip(nodes, values)
        )
        problems.append(f"{where} is {shown}")
        return
    first = values[0]
    if isinstance(first, dict):
        keys, differ = set(first), False
        for n, v in zip(nodes[1:], values[1:]):
            if set(v) != keys:
                only_first = sorted(keys - set(v))
                only_other = sorted(set(v) - keys)
                parts = []
                if only_first:
                    parts.append(f"{', '.join(only_first)} only on {nodes[0]}")
                if only_other:
                    parts.append(f"{', '.join(only_other)} only on {n}")
                problems.append(f"{where}: keys differ: {'; '.join(parts)}")
                differ = True
        if differ:
            return
        for key in first:
            _compare([v[key] for v in values], nodes, (*path, key), problems, leaves)
    elif isinstance(first, list):
        lengths = [len(v) for v in values]
        if len(set(lengths)) > 1:
            shown = ", ".join(f"{n}: {k}" for n, k in zip(nodes, lengths))
            problems.append(f"{where}: a different number of items ({shown})")
            return
        if path and path[-1] in ("containers", "initContainers"):
            names = [[c.get("name") if isinstance(c, dict) else None for c in v] for v in values]
            if any(n != names[0] for n in names[1:]):
                shown = "; ".join(f"{n}: {', '.join(map(str, c))}" for n, c in zip(nodes, names))
                problems.append(f"{where}: different containers ({shown})")
                return
        for i in range(len(first)):
            _compare([v[i] for v in values], nodes, (*path, i), problems, leaves)
    elif not all(_same_value(first, v) for v in values[1:]):
        leaves.append((path, tuple(values)))


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@dataclass
class _Var:
    """One variable: its values per node (in node order) and the candidate names seen."""

    values: tuple[Any, ...]
    # (rank, order, name), the lowest rank names the variable: a flag's whole value (0), an
    # address inside a flag's value (1), a part of a string (2), a whole value (3).
    names: list[tuple[int, int, str]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    name: str = ""

    def as_variable(self, nodes: list[str]) -> Variable:
        return Variable(self.name, dict(zip(nodes, self.values)), tuple(self.fields))


@dataclass
class _Spot:
    """A differing scalar: its path, and how its value is written as pieces of literal text
    and variables (``whole`` when one variable is the whole value)."""

    path: Path_
    pieces: list[Any]  # str (literal) or _Var
    whole: bool


def _spots(
    leaves: list[tuple[Path_, tuple[Any, ...]]], doc: dict[str, Any], split: bool = True
) -> list[_Spot]:
    """Each differing scalar, as literal pieces and variables (``split``: only the parts
    that differ, where that is clean; else each whole value)."""
    by_values: dict[tuple[Any, ...], _Var] = {}
    spots: list[_Spot] = []
    order = 0

    def var(values: tuple[Any, ...], rank: int, name: str, where: str) -> _Var:
        nonlocal order
        key = tuple((type(v).__name__, v) for v in values)
        found = by_values.setdefault(key, _Var(values))
        found.names.append((rank, order, name))
        if where not in found.fields:
            found.fields.append(where)
        order += 1
        return found

    def line(values: tuple[str, ...], where: str, base: str) -> Optional[list[Any]]:
        """One line's pieces, its variables named: None when it has no clean part."""
        pieces = _split(values)
        if pieces is None:
            return None
        flag = _FLAG.match(values[0])
        parts = [p for p in pieces if not isinstance(p, str)]
        resolved: list[Any] = []
        for piece in pieces:
            if isinstance(piece, str):
                resolved.append(piece)
                continue
            if flag:
                name = _identifier(flag.group(1).lstrip("-"))
                label = f"{where} ({flag.group(1)})"
                if pieces == [flag.group(0), piece]:
                    rank = 0  # the flag's whole value: --advertise-address=IP
                elif all(_IPV4.fullmatch(x) for x in piece):
                    name, rank = "address", 1  # an address inside URLs: etcd's flags
                else:
                    name, rank = f"{name}_{parts.index(piece) + 1}", 2
            elif base in ("args", "command") and all(_IPV4.fullmatch(x) for x in piece):
                name, rank, label = "address", 1, where  # in a script or a config file
            else:
                name, rank, label = base, 2, where
            resolved.append(var(piece, rank, name, label))
        return resolved

    for path, values in leaves:
        where = _show_path(path)
        base = _leaf_name(path, doc)
        pieces: Optional[list[Any]] = None
        if split and all(isinstance(v, str) for v in values):
            lines = [v.split("\n") for v in values]
            if len({len(x) for x in lines}) == 1:
                # Line by line (a configuration file in an argument): the lines that differ
                # are split like one-line strings; every line must have a clean part.
                pieces = []
                for i, column in enumerate(zip(*lines)):
                    if i:
                        pieces.append("\n")
                    if all(c == column[0] for c in column):
                        pieces.append(column[0])
                        continue
                    part = line(column, where, base)
                    if part is None:
                        pieces = None
                        break
                    pieces.extend(part)
        if pieces is not None:
            spots.append(_Spot(path, _merge_literals(pieces), whole=False))
        else:
            spots.append(_Spot(path, [var(values, 3, base, where)], whole=True))
    return spots


def _split(values: tuple[str, ...]) -> Optional[list[Any]]:
    """A string that differs between nodes, as literal pieces and per-node tuples: token by
    token when every node's string has the same shape, else the value of one same flag.
    None: no clean part, the whole string is the variable."""
    tokens = [_TOKEN.findall(v) for v in values]
    shapes = {len(t) for t in tokens}
    if len(shapes) == 1:
        pieces: list[Any] = []
        clean = True
        for column in zip(*tokens):
            if all(t == column[0] for t in column):
                pieces.append(column[0])
            elif all(_WORD.fullmatch(t) for t in column):
                pieces.append(tuple(column))
            else:
                clean = False
                break
        if clean:
            return _merge_literals(pieces)
    flags = [_FLAG.match(v) for v in values]
    if all(flags) and len({f.group(1) for f in flags if f}) == 1 and flags[0] is not None:
        head = flags[0].group(0)
        rest = tuple(v[len(head) :] for v in values)
        if all(rest):
            return [head, rest]
    return None


def _merge_literals(pieces: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _leaf_name(path: Path_, doc: dict[str, Any]) -> str:
    """A variable name from a field path: an env variable's name for its value, else the
    last key, with its parent's when it says little alone (``http_get_host``)."""
    keys: list[str] = []
    value: Any = doc
    env_name: Optional[str] = None
    for part in path:
        if isinstance(part, int):
            item = value[part]
            if keys and keys[-1] == "env" and isinstance(item, dict):
                name = item.get("name")
                env_name = name if isinstance(name, str) else None
        else:
            keys.append(str(part))
        value = value[part]
    if env_name is not None and keys and keys[-1] == "value":
        return _identifier(env_name)
    last = keys[-1] if keys else "value"
    if last in _GENERIC_KEYS and len(keys) > 1 and keys[-2] not in ("annotations", "labels"):
        return _identifier(f"{keys[-2]}_{last}")
    return _identifier(last.rsplit("/", 1)[-1])


def _identifier(text: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()
    name = re.sub(r"[^a-z0-9]+", "_", snake).strip("_") or "value"
    return name if not name[0].isdigit() else f"v_{name}"


def _name_variables(spots: list[_Spot], prefix: str) -> list[_Var]:
    variables = _unique([p for s in spots for p in s.pieces if isinstance(p, _Var)])
    taken: set[str] = set(CONTEXT_NAMES)  # the inventory refuses variables of these names
    for v in sorted(variables, key=lambda v: min(v.names)):
        _, _, base = min(v.names)
        name = base if base == prefix or base.startswith(prefix + "_") else f"{prefix}_{base}"
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}_{n}", n + 1
        v.name = candidate
        taken.add(candidate)
    return variables


def _unique(variables: list[_Var]) -> list[_Var]:
    seen: list[_Var] = []
    for v in variables:
        if not any(v is s for s in seen):
            seen.append(v)
    return seen


def _per_node(variables: list[_Var], nodes: list[str]) -> dict[str, dict[str, Any]]:
    return {n: {v.name: v.values[i] for v in variables} for i, n in enumerate(nodes)}


class _Unsupported(Exception):
    """The base text writes a differing value in a way this module cannot substitute."""


def _template(base: str, spots: list[_Spot]) -> str:
    loader = ManifestLoader(base)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    edits: list[tuple[int, int, str]] = []
    for spot in spots:
        node = _find(root, spot.path)
        if not isinstance(node, ScalarNode):
            raise _Unsupported(f"{_show_path(spot.path)} is not a scalar in the text")
        start, end = node.start_mark.index, node.end_mark.index
        span = base[start:end]
        edits.append((start, end, _replacement(spot, node, span)))
    out, at = [], 0
    for start, end, text in sorted(edits):
        out.append(escape_jinja(base[at:start], before_expression=True))
        out.append(text)
        at = end
    out.append(escape_jinja(base[at:]))
    return "".join(out)


def _find(root: Optional[YamlNode], path: Path_) -> Optional[YamlNode]:
    node = root
    for part in path:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            node = node.value[part]
        else:
            return None
    return node


def _replacement(spot: _Spot, node: ScalarNode, span: str) -> str:
    style = node.style or ""
    value = node.value
    if spot.whole:
        v = spot.pieces[0]
        plain = (
            style == ""
            and all(isinstance(x, str) and _PLAIN_SAFE.match(x) for x in v.values)
            and all(_reads_as(x) for x in v.values)
        )
        text = f"{{{{ {v.name} }}}}" if plain else f"{{{{ {v.name} | tojson }}}}"
        return text + ("\n" if style in ("|", ">") and span.endswith("\n") else "")
    if style == "|":
        return _block_replacement(spot, value, span)
    quote = {"": "", '"': '"', "'": "'"}.get(style)
    if quote is None or span != f"{quote}{value}{quote}":
        raise _Unsupported(f"{_show_path(spot.path)} is written in a form spctl cannot split")
    body = []
    for i, piece in enumerate(spot.pieces):
        if isinstance(piece, str):
            body.append(escape_jinja(piece, before_expression=i + 1 < len(spot.pieces)))
            continue
        for x in piece.values:
            bad = (
                "\n" in x
                or (quote == "" and (": " in x or " #" in x or x != x.strip()))
                or (quote == '"' and ('"' in x or "\\" in x))
                or (quote == "'" and "'" in x)
            )
            if bad:
                raise _Unsupported(f"{_show_path(spot.path)}: {x!r} cannot be written in its place")
        body.append(f"{{{{ {piece.name} }}}}")
    return quote + "".join(body) + quote


def _block_replacement(spot: _Spot, value: str, span: str) -> str:
    """A literal block scalar (``|``) with variables inside its lines: each line of the value
    is a line of the text behind the block's indentation."""
    header, *content = span.split("\n")
    value_lines = value.split("\n")
    indent: Optional[int] = None
    for i, text in enumerate(value_lines):
        if i >= len(content):
            raise _Unsupported(f"{_show_path(spot.path)}: its block has fewer lines than its value")
        if text == "":
            if content[i].strip():
                raise _Unsupported(f"{_show_path(spot.path)}: its block does not match its value")
            continue
        if indent is None:
            indent = len(content[i]) - len(content[i].lstrip(" "))
        if content[i] != " " * indent + text:
            raise _Unsupported(f"{_show_path(spot.path)}: its block does not match its value")
    rows: list[list[Any]] = [[]]
    for piece in spot.pieces:
        if isinstance(piece, str):
            for j, part in enumerate(piece.split("\n")):
                if j:
                    rows.append([])
                if part:
                    rows[-1].append(part)
        else:
            if any("\n" in x or x != x.strip() for x in piece.values):
                raise _Unsupported(
                    f"{_show_path(spot.path)}: a value cannot be written in its place"
                )
            rows[-1].append(piece)
    out = [escape_jinja(header)]
    for i, row in enumerate(rows):
        if not value_lines[i]:
            out.append(content[i])
            continue
        line = [" " * (indent or 0)]
        for k, piece in enumerate(row):
            if isinstance(piece, str):
                line.append(escape_jinja(piece, before_expression=k + 1 < len(row)))
            else:
                line.append(f"{{{{ {piece.name} }}}}")
        out.append("".join(line))
    out.extend(escape_jinja(rest) for rest in content[len(rows) :])
    return "\n".join(out)


def _reads_as(text: str) -> bool:
    try:
        return parse_manifest(f"v: {text}\n", source="value").get("v") == text
    except ManifestError:
        return False


def escape_jinja(text: str, before_expression: bool = False) -> str:
    """``text`` as a template that renders to exactly ``text``: each ``{`` that would open a
    Jinja tag (``{{``, ``{%``, ``{#``), or that ends the text right before an expression, is
    written as ``{{ '{' }}``."""
    out = []
    for i, char in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ("{" if before_expression else "")
        out.append("{{ '{' }}" if char == "{" and nxt in ("{", "%", "#") else char)
    return "".join(out)


def _check(
    template: str, pod: str, manifests: Sequence[NodeManifest], variables: list[_Var]
) -> str:
    """Empty when the template renders every node's file as the same pod; else why not."""
    values = _per_node(variables, [m.node for m in manifests])
    for m in manifests:
        try:
            rendered = render_template(template, pod, values[m.node])
        except jinja2.TemplateError as exc:
            return f"{m.node}: the template does not render: {exc}"
        if not semantically_equal(rendered, m.text):
            return f"{m.node}: the rendered pod differs from {m.path}"
    return ""


def variables_json(imported: Imported) -> str:
    """The variables per node, for messages and tests."""
    return json.dumps({v.name: dict(v.values) for v in imported.variables}, sort_keys=True)
