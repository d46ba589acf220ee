"""Container resources (ValidateResourceRequirements, validateContainerResourceName,
ValidateResourceQuantityValue, validateResourceQuantityHugePageValue), with the helpers of
``pkg/apis/core/helper/helpers.go`` (IsNativeResource, IsExtendedResourceName,
IsOvercommitAllowed, IsHugePageResourceValueDivisible)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from spctl.desired.validation.kubelet.common import (
    QUALIFIED_HINT,
    containers,
    problem,
    qualified_name_error,
    string_keys,
)
from spctl.desired.validation.kubelet.quantity import (
    QUANTITY_HINT,
    QuantityError,
    format_quantity,
    parse_quantity,
    quantity_text,
)
from spctl.desired.validation.problem import Problem, key_path, show

STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
HUGEPAGES = "hugepages-"
_NAME_HINT = (
    "write cpu, memory, ephemeral-storage, hugepages-<size> (e.g. hugepages-2Mi) or an "
    "extended resource with a domain (e.g. example.com/gpu)"
)


def _native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _extended(name: str) -> bool:
    return (
        not _native(name)
        and not name.startswith("requests.")
        and qualified_name_error("requests." + name) is None
    )


def _overcommit_allowed(name: str) -> bool:
    return _native(name) and not name.startswith(HUGEPAGES)


def resource_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = overhead_problems(spec)
    for prefix, container in containers(spec):
        resources = container.get("resources")
        if isinstance(resources, dict):
            problems += _requirements(f"{prefix}.resources", resources)
    return problems


def overhead_problems(spec: dict[str, Any]) -> list[Problem]:
    """validateOverhead: the same names and quantities as a container's limits."""
    overhead = spec.get("overhead")
    if not isinstance(overhead, dict):
        return []
    found: list[Problem] = []
    for name, raw in string_keys(overhead):
        field = key_path("spec.overhead", name)
        problems = _name_problems(field, name)
        _quantity(field, name, raw, problems)
        found += problems
    return found


def _requirements(path: str, resources: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    values: dict[str, dict[str, Fraction]] = {}
    for kind in ("limits", "requests"):
        values[kind] = {}
        for name, raw in string_keys(resources.get(kind)):
            field = key_path(f"{path}.{kind}", name)
            found = _name_problems(field, name)
            parsed = _quantity(field, name, raw, found)
            problems += found
            if parsed is not None:
                values[kind][name] = parsed
    limits, requests = values["limits"], values["requests"]
    for name, request in requests.items():
        if name in limits:
            limit = limits[name]
            if not _overcommit_allowed(name) and request != limit:
                problems.append(
                    problem(
                        f"{path}.requests",
                        f"the {name} request {format_quantity(request)} "
                        f"differs from its limit {format_quantity(limit)}, and {name} cannot be overcommitted",
                        "make the request equal to the limit (or leave the request out: it "
                        "defaults to the limit)",
                        "ValidateResourceRequirements",
                    )
                )
            elif request > limit:
                problems.append(
                    problem(
                        f"{path}.requests",
                        f"the {name} request {format_quantity(request)} "
                        f"is above its limit {format_quantity(limit)}",
                        f"lower the request to at most {format_quantity(limit)} or raise the limit",
                        "ValidateResourceRequirements",
                    )
                )
        elif not _overcommit_allowed(name):
            problems.append(
                problem(
                    f"{path}.limits",
                    f"{name} is requested without a limit, and it cannot be overcommitted",
                    f"set limits.{name} equal to the request (or set only the limit)",
                    "ValidateResourceRequirements",
                )
            )
    names = set(limits) | set(requests)
    if any(n.startswith(HUGEPAGES) for n in names) and not names & {"cpu", "memory"}:
        problems.append(
            problem(
                path,
                "hugepages are requested without cpu or memory",
                "also request or limit cpu or memory",
                "ValidateResourceRequirements",
            )
        )
    return problems


def _name_problems(field: str, name: str) -> list[Problem]:
    error = qualified_name_error(name)
    if error:
        return [problem(field, f"resource name {error}", QUALIFIED_HINT, "validateResourceName")]
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith(HUGEPAGES):
            return [
                problem(
                    field,
                    f"{show(name)} is not a container resource",
                    _NAME_HINT,
                    "validateContainerResourceName",
                )
            ]
    elif not _native(name) and not _extended(name):
        return [
            problem(
                field,
                f"{show(name)} is not a valid extended resource name",
                _NAME_HINT,
                "validateContainerResourceName",
            )
        ]
    return []


def _quantity(field: str, name: str, raw: Any, found: list[Problem]) -> Fraction | None:
    text = quantity_text(raw)
    if text is None:
        return None  # the schema's
    try:
        value = parse_quantity(text)
    except QuantityError as exc:
        found.append(problem(field, str(exc), QUANTITY_HINT, "ParseQuantity"))
        return None
    if value < 0:
        found.append(
            problem(
                field, f"{show(raw)} is negative", "write 0 or more", "ValidateNonnegativeQuantity"
            )
        )
    elif _extended(name) and value.denominator != 1:
        found.append(
            problem(
                field,
                f"{show(raw)} is not a whole number, and extended resources "
                "are counted in whole units",
                "write a whole number (e.g. 1)",
                "ValidateResourceQuantityValue",
            )
        )
    elif name.startswith(HUGEPAGES):
        try:
            page = parse_quantity(name[len(HUGEPAGES) :])
        except QuantityError:
            page = Fraction(0)
        if page <= 0 or page.denominator != 1 or value.denominator != 1 or value % page != 0:
            found.append(
                problem(
                    field,
                    f"{show(raw)} is not a whole multiple of the page size of {name}",
                    f"write a multiple of {name[len(HUGEPAGES) :]} (e.g. 2 pages of 2Mi are 4Mi)",
                    "validateResourceQuantityHugePageValue",
                )
            )
    return value
