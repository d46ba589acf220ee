"""Containers: at least one, their image and their policies (validateContainers,
validateInitContainers, validateContainerCommon, validateContainerOnlyForPod)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    items,
    problem,
    text,
)
from spctl.desired.validation.problem import Problem, show

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
            problems += _resize_policy(prefix, container, spec.get("restartPolicy"))
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
            "a container-level restartPolicy may be set only on init containers (unless the "
            "kubelet enables the alpha ContainerRestartRules gate)",
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


RESIZE_RESOURCES = ("cpu", "memory")
RESIZE_RESTART_POLICIES = ("NotRequired", "RestartContainer")


def _resize_policy(prefix: str, container: dict[str, Any], pod_restart: Any) -> list[Problem]:
    """validateResizePolicy: cpu or memory, each once, NotRequired or RestartContainer (only
    NotRequired when the pod never restarts)."""
    problems = []
    seen: set[str] = set()
    for j, policy in items(container.get("resizePolicy")):
        path = f"{prefix}.resizePolicy[{j}]"
        resource, restart = policy.get("resourceName"), policy.get("restartPolicy")
        if isinstance(resource, str):
            if resource not in RESIZE_RESOURCES:
                problems.append(
                    problem(
                        f"{path}.resourceName",
                        f"{show(resource)} cannot be resized",
                        "write cpu or memory",
                        "validateResizePolicy",
                    )
                )
            elif resource in seen:
                problems.append(
                    problem(
                        f"{path}.resourceName",
                        f"{resource} has a policy already",
                        "give each resource one policy",
                        "validateResizePolicy",
                    )
                )
            seen.add(resource)
        if isinstance(restart, str):
            if restart not in RESIZE_RESTART_POLICIES:
                problems.append(
                    problem(
                        f"{path}.restartPolicy",
                        f"{show(restart)} is not a resize policy",
                        "write NotRequired or RestartContainer",
                        "validateResizePolicy",
                    )
                )
            elif pod_restart == "Never" and restart != "NotRequired":
                problems.append(
                    problem(
                        f"{path}.restartPolicy",
                        "the pod never restarts containers (restartPolicy: Never)",
                        "write NotRequired",
                        "validateResizePolicy",
                    )
                )
    return problems
