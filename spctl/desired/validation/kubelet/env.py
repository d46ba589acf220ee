"""Environment variables and the downward API (ValidateEnv, validateEnvVarValueFrom,
validateObjectFieldSelector, validateContainerResourceFieldSelector,
validateContainerResourceDivisor).

Variable names follow the relaxed rule (IsRelaxedEnvVarName: printable ASCII but '='), which
the kubelet applies since RelaxedEnvironmentVariableValidation became the default (1.32) and
GA (1.34), matching the static-pod rules spctl models.
"""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    containers,
    items,
    problem,
    qualified_name_error,
    text,
)
from spctl.desired.validation.kubelet.quantity import (
    QuantityError,
    format_quantity,
    parse_quantity,
    quantity_text,
)
from spctl.desired.validation.problem import Problem, show

# validEnvDownwardAPIFieldPathExpressions
ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
# validContainerResourceFieldPathExpressions, plus the hugepages prefixes
RESOURCE_FIELDS = (
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
)
_HUGEPAGES_PREFIXES = ("requests.hugepages-", "limits.hugepages-")
_CPU_DIVISORS: tuple[str, ...] = ("1m", "1")
_BYTE_DIVISORS: tuple[str, ...] = (
    "1",
    "1k",
    "1M",
    "1G",
    "1T",
    "1P",
    "1E",
    "1Ki",
    "1Mi",
    "1Gi",
    "1Ti",
    "1Pi",
    "1Ei",
)


def env_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    for prefix, container in containers(spec):
        for k, env in items(container.get("env")):
            problems += _env_var(f"{prefix}.env[{k}]", env)
        for k, source in items(container.get("envFrom")):
            name = text(source.get("prefix"))
            if name and _env_name_error(name):
                problems.append(
                    problem(
                        f"{prefix}.envFrom[{k}].prefix",
                        _env_name_error(name) or "",
                        "use printable ASCII characters other than '='",
                        "ValidateEnvFrom",
                    )
                )
    return problems


def _env_name_error(name: str) -> str | None:
    if all(" " <= c <= "~" and c != "=" for c in name):
        return None
    return f"{show(name)} is not a valid environment variable name"


def _env_var(path: str, env: dict[str, Any]) -> list[Problem]:
    problems = []
    name = env.get("name")
    if isinstance(name, str):
        if not name:
            problems.append(
                problem(
                    f"{path}.name",
                    "required: the variable name is empty",
                    "write the variable's name (e.g. LOG_LEVEL)",
                    "ValidateEnv",
                )
            )
        elif _env_name_error(name):
            problems.append(
                problem(
                    f"{path}.name",
                    _env_name_error(name) or "",
                    "use printable ASCII characters other than '=' (e.g. LOG_LEVEL)",
                    "ValidateEnv",
                )
            )
    value_from = env.get("valueFrom")
    if not isinstance(value_from, dict):
        return problems
    sources = [
        key
        # fileKeyRef (EnvFiles, 1.34 and later) counts as a source like the others
        for key in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
        if value_from.get(key) is not None
    ]
    if not sources:
        problems.append(
            problem(
                f"{path}.valueFrom",
                "valueFrom names no source",
                "set fieldRef or resourceFieldRef, or write the value in value instead",
                "validateEnvVarValueFrom",
            )
        )
    elif text(env.get("value")):
        problems.append(
            problem(
                f"{path}.valueFrom",
                "value and valueFrom are both set",
                "keep one: a literal value, or valueFrom",
                "validateEnvVarValueFrom",
            )
        )
    elif len(sources) > 1:
        problems.append(
            problem(
                f"{path}.valueFrom",
                f"valueFrom has {len(sources)} sources ({', '.join(sources)})",
                "keep exactly one",
                "validateEnvVarValueFrom",
            )
        )
    field_ref = value_from.get("fieldRef")
    if isinstance(field_ref, dict):
        problems += field_ref_problems(f"{path}.valueFrom.fieldRef", field_ref, ENV_FIELD_PATHS)
    resource_ref = value_from.get("resourceFieldRef")
    if isinstance(resource_ref, dict):
        problems += resource_field_ref_problems(f"{path}.valueFrom.resourceFieldRef", resource_ref)
    return problems


def field_ref_problems(path: str, ref: dict[str, Any], allowed: tuple[str, ...]) -> list[Problem]:
    """validateObjectFieldSelector after defaulting (apiVersion defaults to v1)."""
    api_version = text(ref.get("apiVersion")) or "v1"
    field_path = text(ref.get("fieldPath"))
    if api_version != "v1":
        return [
            problem(
                f"{path}.apiVersion",
                f"{show(api_version)} is not a version of Pod",
                "write v1 or leave it out",
                "ConvertDownwardAPIFieldLabel",
            )
        ]
    if not field_path:
        return [
            problem(
                f"{path}.fieldPath",
                "required: the field path is empty",
                f"write one of {', '.join(allowed)}",
                "validateObjectFieldSelector",
            )
        ]
    base, _, subscript = field_path.partition("[")
    # fieldpath.SplitMaybeSubscriptedPath: only path['key'] is a subscript
    if subscript and not (len(subscript) >= 3 and subscript[0] == "'" and subscript.endswith("']")):
        base, subscript = field_path, ""
    if subscript:
        key = subscript[1:-2]
        if base not in ("metadata.labels", "metadata.annotations"):
            return [
                problem(
                    f"{path}.fieldPath",
                    f"{show(field_path)}: {base} does not support a subscript",
                    "write metadata.labels['key'] or metadata.annotations['key'], or a "
                    f"plain field: {', '.join(allowed)}",
                    "validateObjectFieldSelector",
                )
            ]
        error = qualified_name_error(key.lower() if base == "metadata.annotations" else key)
        if not key or error:
            return [
                problem(
                    f"{path}.fieldPath",
                    f"{show(field_path)}: the key is not a qualified name",
                    f"write {base}['example.com/key']",
                    "validateObjectFieldSelector",
                )
            ]
        return []
    if field_path not in allowed:
        return [
            problem(
                f"{path}.fieldPath",
                f"{show(field_path)} cannot be exposed here",
                f"write one of {', '.join(allowed)}",
                "validateObjectFieldSelector",
            )
        ]
    return []


def resource_field_ref_problems(path: str, ref: dict[str, Any]) -> list[Problem]:
    problems = []
    resource = text(ref.get("resource"))
    if not resource:
        problems.append(
            problem(
                f"{path}.resource",
                "required: the resource is empty",
                f"write one of {', '.join(RESOURCE_FIELDS)}",
                "validateContainerResourceFieldSelector",
            )
        )
    elif resource not in RESOURCE_FIELDS and not resource.startswith(_HUGEPAGES_PREFIXES):
        problems.append(
            problem(
                f"{path}.resource",
                f"{show(resource)} cannot be exposed",
                f"write one of {', '.join(RESOURCE_FIELDS)} (or requests./limits.hugepages-<size>)",
                "validateContainerResourceFieldSelector",
            )
        )
    divisor = quantity_text(ref.get("divisor"))
    if divisor is not None and ref.get("divisor") is not None and resource:
        problems += _divisor(f"{path}.divisor", resource, divisor)
    return problems


def _divisor(path: str, resource: str, divisor: str) -> list[Problem]:
    try:
        value = parse_quantity(divisor)
    except QuantityError as exc:
        return [
            problem(
                path,
                str(exc),
                "write a divisor such as 1, 1m or 1Mi",
                "validateContainerResourceDivisor",
            )
        ]
    if value == 0:
        return []  # unset
    if resource.endswith(".cpu"):
        allowed, kind = _CPU_DIVISORS, "cpu"
    elif resource.endswith((".memory", ".ephemeral-storage")) or resource.startswith(
        _HUGEPAGES_PREFIXES
    ):
        allowed, kind = _BYTE_DIVISORS, "byte"
    else:
        return []
    if value in {parse_quantity(d) for d in allowed}:
        return []
    return [
        problem(
            path,
            f"{format_quantity(value)} is not a {kind} divisor",
            f"write {', '.join(allowed)}",
            "validateContainerResourceDivisor",
        )
    ]
