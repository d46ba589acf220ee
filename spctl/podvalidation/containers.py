"""Containers: at least one, their image and their policies (validateContainers,
validateInitContainers, validateContainerCommon, validateContainerOnlyForPod)."""

from __future__ import annotations

from typing import Any

from spctl.podvalidation.common import items, problem, show, text
from spctl.validate import Problem

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def container_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    if isinstance(spec.get("containers"), list) and not spec["containers"]:
        problems.append(
            problem(
                "spec.containers",
                "required: a pod needs at least one container",
                "add a container with a name and an image (e.g. - {name: web, image: nginx})",
                "validateContainers",
            )
        )
    for key in ("initContainers", "containers"):
        for i, container in items(spec.get(key)):
            prefix = f"spec.{key}[{i}]"
            problems += _common(prefix, container)
            if key == "containers":
                problems += _regular(prefix, container)
            else:
                problems += _init(prefix, container)
    return problems


def _common(prefix: str, container: dict[str, Any]) -> list[Problem]:
    problems = []
    image = text(container.get("image"))
    if image and image.strip() and image != image.strip():
        problems.append(
            problem(
                f"{prefix}.image",
                f"{show(image)} has leading or trailing whitespace",
                f"write it without the spaces: {image.strip()!r}",
                "validateContainerOnlyForPod",
            )
        )
    policy = container.get("imagePullPolicy")
    if isinstance(policy, str) and policy not in PULL_POLICIES:
        problems.append(
            problem(
                f"{prefix}.imagePullPolicy",
                f"{show(policy)} is not a pull policy",
                "write Always, IfNotPresent or Never (or leave it out: latest and untagged "
                "images default to Always, others to IfNotPresent)",
                "validatePullPolicy",
            )
        )
    policy = container.get("terminationMessagePolicy")
    if isinstance(policy, str) and policy not in TERMINATION_MESSAGE_POLICIES:
        problems.append(
            problem(
                f"{prefix}.terminationMessagePolicy",
                f"{show(policy)} is not a termination message policy",
                "write File or FallbackToLogsOnError (or leave it out for File)",
                "validateContainerCommon",
            )
        )
    return problems


def _regular(prefix: str, container: dict[str, Any]) -> list[Problem]:
    if container.get("restartPolicy") is None:
        return []
    return [
        problem(
            f"{prefix}.restartPolicy",
            "a container-level restartPolicy may be set only on init containers",
            "remove it (spec.restartPolicy applies to the containers; for a sidecar, make it "
            "an init container with restartPolicy: Always)",
            "validateContainers",
        )
    ]


def _init(prefix: str, container: dict[str, Any]) -> list[Problem]:
    problems = []
    restart = container.get("restartPolicy")
    if isinstance(restart, str) and restart and restart != "Always":
        problems.append(
            problem(
                f"{prefix}.restartPolicy",
                f"{show(restart)} is not allowed for an init container",
                "write Always (a sidecar) or remove it",
                "validateInitContainerRestartPolicy",
            )
        )
    if restart != "Always":
        for key in ("lifecycle", *_PROBES):
            if container.get(key) is not None:
                problems.append(
                    problem(
                        f"{prefix}.{key}",
                        f"an init container may not have {key} unless it is a sidecar",
                        "remove it, or set restartPolicy: Always on this init container",
                        "validateInitContainers",
                    )
                )
    if container.get("resizePolicy") and restart != "Always":
        problems.append(
            problem(
                f"{prefix}.resizePolicy",
                "an init container may not have a resizePolicy unless it is a sidecar",
                "remove it",
                "validateInitContainers",
            )
        )
    return problems
