"""Probes and lifecycle handlers (validateLivenessProbe, validateReadinessProbe,
validateStartupProbe, validateProbe, validateHandler, validateExecAction,
validateHTTPGetAction, ValidatePortNumOrName, validateSleepAction, validateLifecycle).

The numbers are checked after defaulting: 0 becomes the default (timeoutSeconds 1,
periodSeconds 10, successThreshold 1, failureThreshold 3), so only negatives and a liveness or
startup successThreshold other than 1 remain to refuse.
"""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    PORT_NAME_HINT,
    http_header_name_error,
    integer,
    items,
    mapping,
    port_error,
    problem,
    text,
)
from spctl.desired.validation.problem import Problem, show

PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
SCHEMES = ("HTTP", "HTTPS")
_NUMBERS = (
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
)


def probe_problems(spec: dict[str, Any]) -> list[Problem]:
    grace = integer(spec.get("terminationGracePeriodSeconds"))
    problems = []
    for key in ("initContainers", "containers"):
        for i, container in items(spec.get(key)):
            prefix = f"spec.{key}[{i}]"
            if key == "initContainers" and container.get("restartPolicy") != "Always":
                continue  # refused whole by validateInitContainers
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(kind)
                if isinstance(probe, dict):
                    problems += _probe(f"{prefix}.{kind}", kind, probe)
            lifecycle = mapping(container.get("lifecycle"))
            for hook in ("postStart", "preStop"):
                handler = lifecycle.get(hook)
                if isinstance(handler, dict):
                    problems += _handler(
                        f"{prefix}.lifecycle.{hook}", handler, LIFECYCLE_HANDLERS, grace
                    )
    return problems


def _probe(path: str, kind: str, probe: dict[str, Any]) -> list[Problem]:
    problems = _handler(path, probe, PROBE_HANDLERS, None)
    for key in _NUMBERS:
        value = integer(probe.get(key))
        if value is not None and value < 0:
            problems.append(
                problem(
                    f"{path}.{key}",
                    f"{value} is negative",
                    "write 0 or more (0 means the default)",
                    "validateProbe",
                )
            )
    success = integer(probe.get("successThreshold"))
    if kind != "readinessProbe" and success is not None and success > 1:
        problems.append(
            problem(
                f"{path}.successThreshold",
                f"{success}: a {kind} succeeds after one success",
                "write 1 or leave it out",
                f"validate{kind[0].upper()}{kind[1:]}",
            )
        )
    grace = probe.get("terminationGracePeriodSeconds")
    if grace is not None and kind == "readinessProbe":
        problems.append(
            problem(
                f"{path}.terminationGracePeriodSeconds",
                "a readiness probe does not kill the container",
                "remove it",
                "validateReadinessProbe",
            )
        )
    elif integer(grace) is not None and (integer(grace) or 0) <= 0:
        problems.append(
            problem(
                f"{path}.terminationGracePeriodSeconds",
                f"{grace} is not positive",
                "write 1 or more, or remove it",
                "validateProbe",
            )
        )
    return problems


def _handler(
    path: str, handler: dict[str, Any], kinds: tuple[str, ...], grace: int | None
) -> list[Problem]:
    present = [key for key in kinds if handler.get(key) is not None]
    if not present:
        return [
            problem(path, "no handler", f"set exactly one of {', '.join(kinds)}", "validateHandler")
        ]
    problems = [
        problem(
            f"{path}.{extra}",
            f"the handler already has {present[0]}; a handler has exactly one",
            f"remove {extra}",
            "validateHandler",
        )
        for extra in present[1:]
    ]
    kind, action = present[0], mapping(handler.get(present[0]))
    where = f"{path}.{kind}"
    if kind == "exec":
        command = action.get("command")
        if not command:
            problems.append(
                problem(
                    f"{where}.command",
                    "required: the command is empty",
                    "write the command to run (e.g. [cat, /tmp/healthy])",
                    "validateExecAction",
                )
            )
    if kind in ("httpGet", "tcpSocket", "grpc"):
        error = port_error(action.get("port"))
        if error:
            problems.append(
                problem(
                    f"{where}.port",
                    error,
                    "use 1 to 65535 or the name of a container port (" + PORT_NAME_HINT + ")",
                    "ValidatePortNumOrName",
                )
            )
    if kind == "httpGet":
        scheme = action.get("scheme")
        if isinstance(scheme, str) and scheme not in SCHEMES:
            problems.append(
                problem(
                    f"{where}.scheme",
                    f"{show(scheme)} is not a scheme",
                    "write HTTP or HTTPS, upper case (or leave it out for HTTP)",
                    "validateHTTPGetAction",
                )
            )
        for j, header in items(action.get("httpHeaders")):
            error = http_header_name_error(text(header.get("name")))
            if error:
                problems.append(
                    problem(
                        f"{where}.httpHeaders[{j}].name",
                        error,
                        "use letters, digits and '-' (e.g. X-Probe)",
                        "validateHTTPGetAction",
                    )
                )
    if kind == "sleep":
        seconds = integer(action.get("seconds"))
        limit = grace if grace is not None else 30
        if seconds is not None and not 0 <= seconds <= limit:
            problems.append(
                problem(
                    f"{where}.seconds",
                    f"{seconds} is outside 0 to terminationGracePeriodSeconds ({limit})",
                    f"write 0 to {limit}, or raise spec.terminationGracePeriodSeconds",
                    "validateSleepAction",
                )
            )
    return problems
