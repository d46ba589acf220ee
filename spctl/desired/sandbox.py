"""The Jinja environment templates render in: sandboxed, StrictUndefined, and bounded so that
no template can exhaust the control host (output size, strings, lists, range(), powers); the
fleet view (``groups``, ``nodes``: ``spctl.desired.fleet``) can be read, never changed.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes
import jinja2.sandbox

from spctl.desired.fleet import READ_ONLY, ReadOnlyDict
from spctl.desired.yamlio import MAX_MANIFEST_BYTES

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


class FleetLookupError(jinja2.UndefinedError):
    """A group, node or key the fleet view does not have (not a variable to define)."""


class _LimitedEnvironment(jinja2.sandbox.SandboxedEnvironment):
    """Jinja's sandbox, with bounds on the size of what a template may build, and the fleet
    view read-only.

    The plain sandbox lets a template call ``append`` or ``update`` (only Jinja's
    ImmutableSandboxedEnvironment refuses them, and for every list, also a template's own);
    the fleet view is shared by every rendering of every node, so its modifying methods are
    refused here, before the call, with the reason."""

    code_generator_class = _CheckedConcat

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, READ_ONLY) and jinja2.sandbox.modifies_known_mutable(obj, attr):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        if isinstance(obj, READ_ONLY):
            return self.undefined(
                f"{obj.path}.{attribute}() would change the fleet view, which is read-only "
                "(every template of every node reads the same `groups` and `nodes`); build a "
                "new value instead, e.g. `groups['lb'] + ['extra']` or `dict(a, key=value)`",
                name=attribute,
                obj=obj,
                exc=jinja2.sandbox.SecurityError,
            )
        return super().unsafe_undefined(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._fleet_missing(obj, argument, super().getitem(obj, argument))

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._fleet_missing(obj, attribute, super().getattr(obj, attribute))

    def _fleet_missing(self, obj: Any, key: Any, value: Any) -> Any:
        """A key or index the fleet view lacks, named as such (not as a variable to define)."""
        if not isinstance(obj, READ_ONLY) or not isinstance(value, jinja2.Undefined):
            return value
        if isinstance(key, str) and jinja2.sandbox.modifies_known_mutable(obj, key):
            return value  # the read-only refusal above
        if isinstance(obj, ReadOnlyDict):
            known = sorted(str(k) for k in obj)
            shown = ", ".join(known[:20]) + (
                f" and {len(known) - 20} more" if len(known) > 20 else ""
            )
            hint = f"{obj.path} has no {key!r} (it has {shown or 'nothing'})"
            if obj.path in ("groups", "nodes"):
                hint += f"; test for it with `{key!r} in {obj.path}`, or add it to the inventory"
        else:
            hint = f"{obj.path} has no element {key!r} (it has {len(obj)})"
        return self.undefined(hint, obj=obj, name=key, exc=FleetLookupError)

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
def environment(directory: str) -> jinja2.Environment:
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
    environment.cache_clear()


def render_bounded(template: jinja2.Template, ctx: dict[str, Any]) -> str:
    """Render, stopping as soon as the output passes the largest manifest the kubelet reads
    (the exact limit is checked after parsing; this only keeps memory bounded), with a new
    budget for ``range``."""
    _budget.range_left = MAX_RANGE_TOTAL
    parts: list[str] = []
    size = 0
    for part in template.generate(ctx):
        size += len(part)
        _check_size(size, "the rendered output")
        parts.append(part)
    return "".join(parts)
