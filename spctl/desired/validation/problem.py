"""A validation problem: the field it is about, and what is wrong, in the user's words."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ROOT = "(root)"  # the field of problems about the whole manifest


@dataclass(frozen=True)
class Problem:
    """One finding: ``field`` is a path such as ``spec.containers[0].image``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def key_path(prefix: str, key: str) -> str:
    """``prefix.key``, or ``prefix["key"]`` for keys that are not identifiers."""
    if _IDENTIFIER.fullmatch(key):
        return f"{prefix}.{key}"
    return f"{prefix}[{json.dumps(key)}]"


def field_path(path: list[Any]) -> str:
    """A field's path as the user writes it: ``spec.containers[0].image``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out = key_path(out, str(part))
        elif _IDENTIFIER.fullmatch(str(part)):
            out = str(part)
        else:
            out = f"[{json.dumps(str(part))}]"
    return out or ROOT


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def type_names(expected: Any) -> str:
    names = list(dict.fromkeys(t for t in as_list(expected) if t != "null")) or ["null"]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (quote it to make a string)"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def show(value: Any) -> str:
    return shorten(repr(value), 60)


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
