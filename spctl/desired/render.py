"""Rendering pod templates per node, and checking the result before any node is touched.

A template is Jinja2 with StrictUndefined (an undefined variable is an error, never an empty
string), rendered in a sandbox. Its context is the node's variables at the top level, plus
``node`` (name, address, labels, groups, profile, vars) and ``pod`` (the pod's name). The
output is parsed with the safe loader, validated, and dumped canonically: the node receives
exactly the text that was checked.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes
import jinja2.sandbox
from spctl_agent.protocol import MANIFEST_SUFFIX as FILE_SUFFIX

from spctl.desired.inventory import Node, PodRef
from spctl.desired.validation.static_pod import check_unique_names, dangerous_settings, validate_pod
from spctl.desired.yamlio import MAX_MANIFEST_BYTES, ManifestError, dump_manifest, parse_manifest
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
        return self.name + FILE_SUFFIX

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


# What one render may build: its output, any one string or list, and all the numbers that
# range() yields, nested loops included. Jinja's sandbox alone stops none of
# `'x' * 10**12`, `range(10**5)` inside `range(10**5)`, or `10 ** 10 ** 9`.
MAX_RENDER_BYTES = MAX_MANIFEST_BYTES
MAX_RANGE_TOTAL = 100_000
MAX_EXPONENT_BITS = 4096


class _Budget(threading.local):
    range_left = MAX_RANGE_TOTAL


_budget = _Budget()


class _CheckedConcat(jinja2.compiler.CodeGenerator):
    """`~` joins strings outside the sandbox's operator hooks: check what it built."""

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: jinja2.compiler.Frame) -> None:
        self.write("environment.checked_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


class _LimitedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """Jinja's sandbox, with bounds on the size of what a template may build."""

    code_generator_class = _CheckedConcat

    @staticmethod
    def checked_concat(value: Any) -> Any:
        _check_result(value, "`~`")
        return value

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * max(times, 0), "`*` repetition")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_EXPONENT_BITS
        ):
            raise jinja2.sandbox.SecurityError(
                f"{left} ** {right} is too large a number for a manifest"
            )
        if operator == "%" and isinstance(left, str):
            _check_widths(left)
        result = super().call_binop(context, operator, left, right)
        _check_result(result, f"`{operator}`")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_RENDER_BYTES:
                name = getattr(__obj, "__name__", "a function")
                raise jinja2.sandbox.SecurityError(
                    f"{name}() with {value}: larger than a manifest may be"
                )
        if getattr(__obj, "__name__", "") == "format" and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            _check_widths(__obj.__self__)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_result(result, f"{getattr(__obj, '__name__', 'a call')}()")
        return result


def _check_size(size: int, what: str) -> None:
    if size > MAX_RENDER_BYTES:
        raise jinja2.sandbox.SecurityError(
            f"{what} would build {size} characters; a manifest is at most {MAX_RENDER_BYTES} "
            f"bytes ({MAX_RENDER_BYTES / 2**20:g} MiB)"
        )


def _check_result(result: Any, what: str) -> None:
    if isinstance(result, (str, bytes, list, tuple)):
        _check_size(len(result), what)


def _check_widths(fmt: str) -> None:
    """printf and str.format widths and precisions ("%99999999d", "{:>99999999}")."""
    for digits in re.findall(r"[%:][^a-zA-Z%{}]*?(\d{7,})", fmt):
        _check_size(int(digits), "a format width")


def _limited_range(*args: int) -> range:
    numbers = range(*args)
    _budget.range_left -= len(numbers)
    if _budget.range_left < 0:
        raise jinja2.sandbox.SecurityError(
            f"range() would yield more than {MAX_RANGE_TOTAL} numbers in one template "
            "(nested loops count together)"
        )
    return numbers


def _limited_filter(name: str, original: Any) -> Any:
    # pass_context and the like put Jinja's own object before the value.
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    def limited(*all_args: Any, **kwargs: Any) -> Any:
        args = all_args[skip:]
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                _check_size(value, f"the {name} filter's argument")
        if name in ("format",) and args and isinstance(args[0], str):
            _check_widths(args[0])
        if name == "replace" and len(args) >= 3 and all(isinstance(a, str) for a in args[:3]):
            s, old, new = args[:3]
            _check_size(len(s) + s.count(old) * max(len(new) - len(old), 0), "replace")
        result = original(*all_args, **kwargs)
        _check_result(result, f"the {name} filter")
        return result

    for attr in ("jinja_pass_arg",):
        if hasattr(original, attr):
            setattr(limited, attr, getattr(original, attr))
    return limited


@lru_cache(maxsize=64)
def _environment(directory: str) -> jinja2.Environment:
    env = _LimitedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    env.globals["range"] = _limited_range
    for name in ("center", "indent", "format", "wordwrap", "replace", "join", "batch", "slice"):
        env.filters[name] = _limited_filter(name, env.filters[name])
    return env


def reset_template_cache() -> None:
    """Forget every loaded template, so the next render reads the files again (Jinja's own
    check compares modification times, which can miss a change made within their resolution)."""
    _environment.cache_clear()


def context(node: Node, pod: str) -> dict[str, Any]:
    info = {
        "name": node.name,
        "address": node.address,
        "labels": dict(node.labels),
        "groups": list(node.groups),
        "profile": node.profile,
        "vars": dict(node.vars),
    }
    return {**node.vars, "node": info, "pod": {"name": pod}}


def render_text(node: Node, ref: PodRef) -> str:
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    if not ref.template.is_file():
        raise TemplateError(
            f"{where}: template file not found; create it or fix the pod's `template:`"
        )
    env = _environment(str(ref.template.parent))
    _budget.range_left = MAX_RANGE_TOTAL
    try:
        template = env.get_template(ref.template.name)
        return _render_bounded(template, context(node, ref.name))
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
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"{where}: {exc.message}; define it under `vars:` for the node, one of its groups or defaults"
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # Python errors of expressions in the template ('a' + 1, 1/0, int('x'), x[5]).
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None


def _render_bounded(template: jinja2.Template, ctx: dict[str, Any]) -> str:
    """Render, stopping as soon as the output passes the largest manifest the kubelet reads
    (the exact limit is checked after parsing; this only keeps memory bounded)."""
    parts: list[str] = []
    size = 0
    for part in template.generate(ctx):
        size += len(part)
        _check_size(size, "the rendered output")
        parts.append(part)
    return "".join(parts)


def render_pod(node: Node, ref: PodRef) -> DesiredPod:
    """Render, parse, validate and canonicalise one pod for one node."""
    where = f"node {node.name}, pod {ref.name}, template {ref.template}"
    text = render_text(node, ref)
    try:
        doc = parse_manifest(text, source=where)
    except ManifestError as exc:
        raise ValidationError([str(exc)]) from None
    problems = [
        f"{where}: {p.field}: {p.message}" for p in validate_pod(doc, node_name=node.name.lower())
    ]
    raw_metadata = doc.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    if "uid" in metadata:
        problems.append(
            f"{where}: metadata.uid: the kubelet keeps a UID given in a static pod's manifest, so a "
            "changed pod would keep it and its restart could not be told apart; remove the field"
        )
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


def render_node(node: Node, only: tuple[str, ...] = ()) -> list[DesiredPod]:
    """Every pod of ``node`` (or only those named), all problems reported together."""
    refs = [r for r in node.pods if not only or r.name in only]
    problems: list[str] = []
    pods: list[DesiredPod] = []
    for ref in refs:
        try:
            pods.append(render_pod(node, ref))
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


def render_all(nodes: list[Node], only: tuple[str, ...] = ()) -> dict[str, list[DesiredPod]]:
    """Render every selected node; raise one ValidationError listing every problem."""
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
            result[node.name] = render_node(node, only)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return result
