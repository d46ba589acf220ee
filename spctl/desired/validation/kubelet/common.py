"""What every family of pod rules shares: the problem shape, walking the manifest, and the
name, port and address syntaxes of apimachinery's ``pkg/util/validation/validation.go``.

Every rule reads a manifest the kubelet has already defaulted (see :mod:`.defaults`) and skips
values of the wrong type: the Pod schema reports those.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from spctl.desired.validation.problem import Problem, show

# pkg/util/validation/validation.go
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
PORT_NAME_MAX = 15

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_PORT_NAME = re.compile(r"[-a-z0-9]+")
_HTTP_HEADER_NAME = re.compile(r"[-A-Za-z0-9]+")


def problem(field: str, what: str, instead: str, source: str) -> Problem:
    """A finding in the kubelet's words: what is wrong, what to write instead, and the
    function of ``pkg/apis/core/validation/validation.go`` (or its helpers) that refuses it."""
    return Problem(field, f"{what}; {instead} (the kubelet's {source} rejects the pod)")


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mappings of a list field with their indexes; anything else is the schema's."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def entries(value: Any) -> list[tuple[int, Any]]:
    """The entries of a list field with their indexes; nothing when it is not a list."""
    return list(enumerate(value)) if isinstance(value, list) else []


def string_keys(value: Any) -> list[tuple[str, Any]]:
    """The string-keyed entries of a mapping field."""
    return (
        [(k, v) for k, v in value.items() if isinstance(k, str)] if isinstance(value, dict) else []
    )


def text(value: Any) -> str:
    """A string field as Go sees it: null and absent are the empty string."""
    return value if isinstance(value, str) else ""


def integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Init containers, then containers, with their field paths."""
    for key in ("initContainers", "containers"):
        for i, container in items(spec.get(key)):
            yield f"spec.{key}[{i}]", container


# --- the syntaxes ---------------------------------------------------------------------------


def dns1123_label_error(value: str) -> str | None:
    if len(value) > DNS1123_LABEL_MAX:
        return f"{show(value[:20])}... is {len(value)} characters, at most {DNS1123_LABEL_MAX}"
    if not _DNS1123_LABEL.fullmatch(value):
        return f"{show(value)} is not a DNS-1123 label"
    return None


LABEL_HINT = (
    "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or "
    "digit (e.g. my-name)"
)
SUBDOMAIN_HINT = (
    "use lower-case letters, digits, '-' and '.', at most 253, starting and ending with a "
    "letter or digit (e.g. example.com)"
)


def dns1123_subdomain_error(value: str) -> str | None:
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"{show(value[:20])}... is {len(value)} characters, at most {DNS1123_SUBDOMAIN_MAX}"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return f"{show(value)} is not a DNS-1123 subdomain"
    return None


QUALIFIED_HINT = (
    "write an optional DNS subdomain prefix and '/', then a name of at most 63 letters, digits, "
    "'-', '_' and '.' that starts and ends with a letter or digit (e.g. example.com/my-key)"
)


def qualified_name_error(value: str) -> str | None:
    """IsQualifiedName: ``[prefix/]name``."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return f"{show(value)} has an empty prefix before '/'"
        if dns1123_subdomain_error(prefix):
            return f"the prefix {show(prefix)} of {show(value)} is not a DNS-1123 subdomain"
    else:
        return f"{show(value)} has more than one '/'"
    if not name:
        return f"{show(value)} has an empty name part"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"the name part of {show(value)} is {len(name)} characters, at most 63"
    if not _QUALIFIED_NAME.fullmatch(name):
        return f"{show(value)} is not a qualified name"
    return None


def label_value_error(value: str) -> str | None:
    if len(value) > LABEL_VALUE_MAX:
        return f"{show(value[:20])}... is {len(value)} characters, at most {LABEL_VALUE_MAX}"
    if not _LABEL_VALUE.fullmatch(value):
        return f"{show(value)} is not a valid label value"
    return None


LABEL_VALUE_HINT = (
    "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or "
    "digit, or leave it empty"
)


def port_number_error(value: int) -> str | None:
    if not 1 <= value <= 65535:
        return f"{value} is not a valid port number"
    return None


def port_name_error(value: str) -> str | None:
    """IsValidPortName: an IANA service name."""
    if len(value) > PORT_NAME_MAX:
        return f"{show(value)} is {len(value)} characters, at most {PORT_NAME_MAX}"
    if not _PORT_NAME.fullmatch(value):
        return f"{show(value)} may contain only lower-case letters, digits and '-'"
    if value.startswith("-") or value.endswith("-") or "--" in value:
        return f"{show(value)} may not start or end with '-' or contain '--'"
    if not re.search(r"[a-z]", value):
        return f"{show(value)} must contain at least one letter"
    return None


PORT_NAME_HINT = (
    "use at most 15 lower-case letters, digits and single '-', with at least one letter "
    "(e.g. http, metrics)"
)


def port_error(value: Any) -> str | None:
    """A port given as a number or as the name of a container port (ValidatePortNumOrName)."""
    if isinstance(value, bool):
        return None  # the schema's
    if isinstance(value, int):
        return port_number_error(value)
    if isinstance(value, str):
        return port_name_error(value)
    return None


def http_header_name_error(value: str) -> str | None:
    if not _HTTP_HEADER_NAME.fullmatch(value):
        return f"{show(value)} is not a valid HTTP header name"
    return None


def ip_error(value: str) -> str | None:
    """IsValidIP, which parses as Go's net.ParseIP does (IPv4 octets may have leading
    zeros; no IPv6 zone)."""
    if "%" not in value:
        candidate = value
        if "." in value and ":" not in value:
            octets = value.split(".")
            if all(o.isdigit() and o.isascii() for o in octets):
                candidate = ".".join(str(int(o)) for o in octets)
        try:
            ipaddress.ip_address(candidate)
            return None
        except ValueError:
            pass
    return f"{show(value)} is not a valid IP address"


IP_HINT = "write an IPv4 or IPv6 address (e.g. 10.9.8.7 or 2001:db8::ffff)"


def has_backsteps(path: str) -> bool:
    """validatePathNoBacksteps: a '..' element anywhere."""
    return ".." in path.split("/")  # filepath.ToSlash changes nothing on Linux
