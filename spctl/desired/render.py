"""Rendering pod templates per node, and checking the result before any node is touched.

A template is Jinja2 with StrictUndefined (an undefined variable is an error, never an empty
string), rendered in a bounded sandbox (``sandbox``). Its context is the node's variables at the top level, plus
``node`` (name, address, labels, groups, profile, vars), ``pod`` (the pod's name), and the
read-only fleet view of the whole inventory, ``groups`` and ``nodes`` (``fleet``): every node
renders from the same inventory, so a change to a group re-renders every node whose templates
read it. The output is parsed with the safe loader, validated, and dumped canonically: the node
receives exactly the text that was checked.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes
import jinja2.sandbox
from spctl_agent.protocol import MANIFEST_SUFFIX

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import Node, PodRef
from spctl.desired.sandbox import FleetLookupError, environment, render_bounded
from spctl.desired.validation.static_pod import check_unique_names, dangerous_settings, validate_pod
from spctl.desired.yamlio import ManifestError, dump_manifest, parse_manifest
from spctl.errors import TemplateError, ValidationError


@dataclass(frozen=True)
class DesiredPod:
    """One pod as it should be on one node: its file name and exact content."""

    name: str
    template: str
    content: str
    # Settings that hand the node to the pod (validate.dangerous_settings), each naming
    # node, pod, template and field: warnings, or errors under --strict.
    warnings: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return self.name + MANIFEST_SUFFIX

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def context(node: Node, pod: str, fleet: Fleet) -> dict[str, Any]:
    """What a template of ``node`` sees. The node's vars are copied for each rendering, so a
    template that changes one of its own lists does not change the next pod's; no variable
    is named like one of the other keys (the inventory refuses it: CONTEXT_NAMES)."""
    own = copy.deepcopy(dict(node.vars))
    info = {
        "name": node.name,
        "address": node.address,
        "labels": dict(node.labels),
        "groups": list(node.groups),
        "profile": node.profile,
        "vars": dict(own),
    }
    return {**own, "node": info, "pod": {"name": pod}, **fleet.context()}


def render_text(node: Node, ref: PodRef, fleet: Fleet) -> str:
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    if not ref.template.is_file():
        raise TemplateError(
            f"{where}: template file not found; create it or fix the pod's `template:`"
        )
    env = environment(str(ref.template.parent))
    try:
        template = env.get_template(ref.template.name)
        return render_bounded(template, context(node, ref.name, fleet))
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise TemplateError(
            f"{where}: line {line}: byte {exc.object[exc.start]:#04x} is not UTF-8; save the "
            "template as UTF-8 text"
        ) from None
    except OSError as exc:
        raise TemplateError(f"{where}: cannot read the template: {exc.strerror or exc}") from None
    except jinja2.sandbox.SecurityError as exc:
        raise TemplateError(f"{where}: refused: {exc}") from None
    except (MemoryError, RecursionError) as exc:
        raise TemplateError(
            f"{where}: the template needs too much {'memory' if isinstance(exc, MemoryError) else 'recursion'}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: line {exc.lineno}: {exc.message}") from None
    except FleetLookupError as exc:
        raise TemplateError(f"{where}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{where}: {exc.message}; define it under `vars:` for the node, one of its groups or defaults"
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # Python errors of expressions in the template ('a' + 1, 1/0, int('x'), x[5]).
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None


def render_pod(node: Node, ref: PodRef, fleet: Fleet) -> DesiredPod:
    """Render, parse, validate and canonicalise one pod for one node, ``fleet`` being the
    view of the whole inventory (``Inventory.fleet``, not only the selected nodes)."""
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    text = render_text(node, ref, fleet)
    try:
        doc = parse_manifest(text, source=where)
    except ManifestError as exc:
        raise ValidationError([str(exc)]) from None
    problems = [
        f"{where}: {p.field}: {p.message}" for p in validate_pod(doc, node_name=node.name.lower())
    ]
    raw_metadata = doc.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    name = metadata.get("name")
    if name is not None and name != ref.name:
        problems.append(
            f"{where}: metadata.name: is {name!r} but the inventory calls this pod {ref.name!r}; "
            "make them the same (the file on the node is named after the pod)"
        )
    if problems:
        raise ValidationError(problems)
    warnings = tuple(f"{where}: {p}" for p in dangerous_settings(doc))
    return DesiredPod(
        name=ref.name, template=str(ref.template), content=dump_manifest(doc), warnings=warnings
    )


def render_node(node: Node, fleet: Fleet, only: tuple[str, ...] = ()) -> list[DesiredPod]:
    """Every pod of ``node`` (or only those named), all problems reported together."""
    refs = [r for r in node.pods if not only or r.name in only]
    problems: list[str] = []
    pods: list[DesiredPod] = []
    for ref in refs:
        try:
            pods.append(render_pod(node, ref, fleet))
        except ValidationError as exc:
            problems.extend(exc.problems)
        except TemplateError as exc:
            problems.append(str(exc))
    names = [(p.name, p.template) for p in pods]
    problems += [f"node {node.name}: {d}" for d in check_unique_names(names)]
    if problems:
        raise ValidationError(problems)
    return pods


def dangerous_pods(rendered: dict[str, list[DesiredPod]], strict: bool = False) -> list[str]:
    """The warnings of every rendered pod; with ``strict``, a ValidationError instead."""
    warnings = [w for pods in rendered.values() for p in pods for w in p.warnings]
    if strict and warnings:
        raise ValidationError(
            [
                *warnings,
                "--strict: refusing pods that hand the node to the pod; nothing was touched",
            ]
        )
    return warnings


def render_all(
    nodes: list[Node], fleet: Fleet, only: tuple[str, ...] = ()
) -> dict[str, list[DesiredPod]]:
    """Render every selected node, each seeing ``fleet`` (the whole inventory's, whatever the
    selection); raise one ValidationError listing every problem."""
    problems: list[str] = []
    result: dict[str, list[DesiredPod]] = {}
    if only:
        known = {r.name for n in nodes for r in n.pods}
        for name in only:
            if name not in known:
                problems.append(
                    f"pod {name!r} is not assigned to any selected node; known pods: "
                    f"{', '.join(sorted(known)) or 'none'}"
                )
    for node in nodes:
        try:
            result[node.name] = render_node(node, fleet, only)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return result
