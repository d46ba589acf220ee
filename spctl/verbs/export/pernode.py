"""Where nodes render a pod differently, is the difference one of groups, or of single nodes?

A DaemonSet's template is the same on every node it selects, so a pod that renders differently
on some nodes needs one DaemonSet per rendering. That is worth having only when the difference
follows the inventory's groups; a difference that comes from one node's own settings would need
a DaemonSet per node, which is a static pod with extra steps.

The rule (:func:`per_node_differences`): where renderings differ, every input the template reads
that a node sets itself (its own ``vars:`` or ``labels:``, its ``profile``, its own ``pods:`` entry
choosing another template, or ``node.name`` / ``node.address``, which are always the node's own)
must have the same value on nodes of different renderings. Values from ``defaults:`` and groups
may differ freely. What a template reads is found in its syntax tree (and those of the templates
it includes); anything read indirectly (the whole ``node``, a computed key or include) counts as
reading everything. The resolved inventory keeps only merged values, so which values are a node's
own is read from the inventory file itself.

The fleet view (``groups``, ``nodes``: ``spctl.desired.fleet``) is the whole inventory's and the
same on every node, so reading it never makes nodes differ by itself: only the key a template
looks it up with can, and that key is an input of its own (``nodes[peer]`` reads the variable
``peer``). A node's own entry, ``nodes[node.name]``, is read as ``node`` is: its ``.vars.X`` is
the variable X, its ``.address`` is ``node.address``, its ``.groups`` what DaemonSets split on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jinja2
import jinja2.sandbox
from jinja2 import meta
from jinja2 import nodes as ast

from spctl.desired.fleet import CONTEXT_NAMES
from spctl.desired.inventory import Inventory, Node
from spctl.desired.yamlio import ManifestError, parse_manifest


@dataclass(frozen=True)
class _Input:
    kind: str  # "var", "label", "node" (name, address, profile) or "template"
    name: str

    def __str__(self) -> str:
        if self.kind == "var":
            return f"variable {self.name!r}"
        if self.kind == "label":
            return f"label {self.name!r} (node.labels)"
        if self.kind == "template":
            return "the pod's template"
        return f"node.{self.name}"


_ALL = "*"
_DICT_METHODS = {"items", "keys", "values", "get"}


def per_node_differences(
    inventory: Inventory, nodes: list[Node], pod: str, classes: list[list[Node]]
) -> list[str]:
    """One refusal per input that nodes set themselves and that makes ``classes`` (the nodes
    grouped by identical rendering) differ, naming the nodes and what to do; empty when the
    renderings differ only along groups."""
    own = _node_level_settings(inventory.path)
    refs = {n.name: next(r for r in n.pods if r.name == pod) for n in nodes}
    inputs: set[_Input] = {_Input("template", pod)}
    for template in dict.fromkeys(r.template for r in refs.values()):
        inputs |= _template_inputs(template)
    inputs = _expand(inputs, nodes)
    rendering = {n.name: i for i, members in enumerate(classes) for n in members}
    problems = []
    for inp in sorted(inputs, key=lambda i: (i.kind, i.name)):

        def value(node: Node, inp: _Input = inp) -> Any:
            if inp.kind == "var":
                return node.vars.get(inp.name, "<undefined>")
            if inp.kind == "label":
                return node.labels.get(inp.name, "<undefined>")
            if inp.kind == "template":
                return str(refs[node.name].template)
            return getattr(node, inp.name)

        def set_on_node(node: Node, inp: _Input = inp) -> bool:
            mine = own.get(node.name, {})
            if inp.kind in ("var", "label"):
                return inp.name in mine.get(inp.kind + "s", ())
            if inp.kind == "template":
                return pod in mine.get("pods", ())
            if inp.name == "profile":
                return bool(mine.get("profile"))
            return True  # name and address belong to the node itself

        offenders = _offenders(nodes, rendering, value, set_on_node)
        if offenders:
            problems.append(_refusal(inp, pod, offenders, value))
    return problems or _same_groups_differ(nodes, pod, rendering)


def _same_groups_differ(nodes: list[Node], pod: str, rendering: dict[str, int]) -> list[str]:
    """The safety net under the analysis above: nodes in the same groups get the same values
    from defaults and groups, so if they still render differently, something set on a node
    itself did it, whether or not the template analysis could name it."""
    seen: dict[tuple[str, ...], Node] = {}
    for node in nodes:
        first = seen.setdefault(node.groups, node)
        if rendering[first.name] != rendering[node.name]:
            return [
                f"{first.name} and {node.name} belong to the same groups but render {pod} "
                "differently, through something set on the nodes themselves; a DaemonSet's "
                f"template is the same on every node it selects; compare `spctl render {pod} "
                f"--node {first.name} --node {node.name}`, then move what differs into a "
                "group's vars, or keep the pod static on one of them"
            ]
    return []


def _offenders(
    nodes: list[Node],
    rendering: dict[str, int],
    value: Callable[[Node], Any],
    set_on_node: Callable[[Node], bool],
) -> list[Node]:
    """Nodes that set the input themselves and have a value that some node of another
    rendering does not share."""
    keys = {n.name: json.dumps(value(n), sort_keys=True, default=str) for n in nodes}
    everywhere = Counter(keys.values())
    inside: dict[int, Counter[str]] = {}
    for n in nodes:
        inside.setdefault(rendering[n.name], Counter())[keys[n.name]] += 1
    offenders = []
    for n in nodes:
        if not set_on_node(n):
            continue
        mine = rendering[n.name]
        outside = len(nodes) - sum(inside[mine].values())
        same_outside = everywhere[keys[n.name]] - inside[mine][keys[n.name]]
        if outside - same_outside > 0:
            offenders.append(n)
    return offenders


def _refusal(inp: _Input, pod: str, offenders: list[Node], value: Any) -> str:
    shown = ", ".join(f"{n.name} ({_show(value(n))})" for n in offenders)
    names = ", ".join(n.name for n in offenders)
    keep = f"or keep {pod} a static pod on {names} (select only the other nodes)"
    if inp.kind == "node" and inp.name in ("name", "address"):
        field = "spec.nodeName" if inp.name == "name" else "status.hostIP"
        how = (
            f"read it at run time instead (env valueFrom.fieldRef.fieldPath: {field} works "
            "in a static pod and a DaemonSet alike), " + keep
        )
        return (
            f"the template uses {inp}, which differs on every node: {shown}; a DaemonSet's "
            f"template is the same on every node it selects; {how}"
        )
    if inp.kind == "template":
        how = f"assign {pod}'s template through a group instead, {keep}"
        what = "is chosen per node (a node's own `pods:` entry)"
    else:
        where = {"var": "vars", "label": "labels", "node": "profile"}[inp.kind]
        how = f"move it into the `{where}:` of a group (each group gets its own DaemonSet), {keep}"
        what = f"is set per node (in the node's own `{where}:`)"
    return (
        f"{inp} {what} and makes {pod} render differently: {shown}; a DaemonSet's template is "
        f"the same on every node it selects; {how}"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _expand(inputs: set[_Input], nodes: list[Node]) -> set[_Input]:
    out = set()
    for inp in inputs:
        if inp.kind == "var" and inp.name == _ALL:
            out |= {_Input("var", k) for n in nodes for k in n.vars}
        elif inp.kind == "label" and inp.name == _ALL:
            out |= {_Input("label", k) for n in nodes for k in n.labels}
        else:
            out.add(inp)
    return out


def _everything() -> set[_Input]:
    return {
        _Input("var", _ALL),
        _Input("label", _ALL),
        _Input("node", "name"),
        _Input("node", "address"),
        _Input("node", "profile"),
    }


def _template_inputs(path: Path, seen: Optional[set[str]] = None) -> set[_Input]:
    """The node inputs a template (and the templates it includes) reads: top-level variables,
    ``node.vars.X``, ``node.labels.X``, ``node.name``... Anything it reads indirectly (the
    whole ``node``, a computed key, a computed include) counts as reading everything."""
    seen = seen if seen is not None else set()
    if str(path) in seen:
        return set()
    seen.add(str(path))
    env = jinja2.sandbox.SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(path.parent)))
    try:
        tree = env.parse(path.read_text(encoding="utf-8"))
    except (OSError, jinja2.TemplateError):
        return _everything()  # rendering succeeded, so this cannot happen; stay conservative
    found = {_Input("var", v) for v in meta.find_undeclared_variables(tree) - set(CONTEXT_NAMES)}
    accesses: list[ast.Getattr | ast.Getitem] = [
        a
        for a in tree.find_all((ast.Getattr, ast.Getitem))
        if isinstance(a, (ast.Getattr, ast.Getitem))
    ]
    bases = {id(a.node) for a in accesses}
    # nodes[node.name]: the node's own entry of the fleet view, read as `node` is; the
    # node.name inside it is only its key.
    own_entries = {id(a) for a in accesses if _is_own_entry(a)}
    keys_of_own = {
        id(a.arg) for a in accesses if isinstance(a, ast.Getitem) and id(a) in own_entries
    }

    def is_node(expr: ast.Expr) -> bool:
        return (isinstance(expr, ast.Name) and expr.name == "node") or id(expr) in own_entries

    for access in accesses:
        base: ast.Expr = access.node
        key = _key(access)
        if id(access) in keys_of_own:
            continue
        if is_node(base):
            if key in ("vars", "labels"):
                if id(access) not in bases:
                    found.add(_Input(key[:-1], _ALL))
            elif key in ("name", "address", "profile"):
                found.add(_Input("node", key))
            elif key != "groups":  # group membership is what DaemonSets split on
                found |= _everything()
        elif (
            isinstance(base, (ast.Getattr, ast.Getitem))
            and is_node(base.node)
            and _key(base) in ("vars", "labels")
        ):
            kind = str(_key(base))[:-1]
            # A dict method (node.vars.items()) reads every entry.
            whole = key is None or key in _DICT_METHODS
            found.add(_Input(kind, _ALL if whole else str(key)))
    for name in tree.find_all(ast.Name):
        if name.name == "node" and name.ctx == "load" and id(name) not in bases:
            found |= _everything()
    if own_entries - bases:  # the node's own entry read whole ({% set me = nodes[node.name] %})
        found |= _everything()
    for included in meta.find_referenced_templates(tree):
        if included is None:
            found |= _everything()
        else:
            found |= _template_inputs(path.parent / included, seen)
    return found


def _is_own_entry(access: ast.Getattr | ast.Getitem) -> bool:
    """``nodes[node.name]`` (or ``nodes[node['name']]``)."""
    if not (
        isinstance(access, ast.Getitem)
        and isinstance(access.node, ast.Name)
        and access.node.name == "nodes"
    ):
        return False
    arg = access.arg
    return (
        isinstance(arg, (ast.Getattr, ast.Getitem))
        and isinstance(arg.node, ast.Name)
        and arg.node.name == "node"
        and _key(arg) == "name"
    )


def _key(access: ast.Getattr | ast.Getitem) -> Optional[str]:
    if isinstance(access, ast.Getattr):
        return access.attr
    arg = access.arg
    return arg.value if isinstance(arg, ast.Const) and isinstance(arg.value, str) else None


def _node_level_settings(path: Path) -> dict[str, dict[str, Any]]:
    """What each node sets itself in the inventory file: the resolved Node keeps only the
    merged result, and the rule needs to know which values are the node's own."""
    try:
        data = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, ManifestError):
        return {}
    settings = {}
    for name, raw in (data.get("nodes") or {}).items():
        raw = raw if isinstance(raw, dict) else {}
        pods = {e if isinstance(e, str) else (e or {}).get("name") for e in raw.get("pods") or []}
        settings[str(name)] = {
            "vars": set(raw.get("vars") or {}),
            "labels": set(raw.get("labels") or {}),
            "profile": raw.get("profile") is not None,
            "pods": pods,
        }
    return settings
