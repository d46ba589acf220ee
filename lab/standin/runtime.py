"""What the kubelet asks of a container runtime, and how a call fails.

A runtime (docker.DockerRuntime, kuberuntime.CRIRuntime) has a ``name`` (the containerID
scheme in /pods) and: ``pods(node)`` (PodContainers by pod UID), ``detail(container)``,
``run_sandbox(pod, attempt, annotations)``, ``start_container(pod, spec, sandbox_id,
attempt, mounts)``, ``stop_container(container, grace)``, ``stop_sandbox(sandbox)`` and
``remove(container)``."""

from __future__ import annotations

from typing import Any


class RuntimeCallError(Exception):
    """A call to the container runtime failed (Docker's API or the CRI)."""

    def __init__(self, status: Any, message: str, text: str = "") -> None:
        super().__init__(text or f"runtime {status}: {message}")
        self.status, self.message = status, message


class StartFailure(Exception):
    """A container could not be created or started: the kubelet's waiting reason and why;
    ``created`` when a container was made (it shows as a failed attempt)."""

    def __init__(self, reason: str, message: str, created: bool) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.created = reason, message, created


class ImageNotPresent(StartFailure):
    """The runtime has no such image: the kubelet's image manager decides what that means."""

    def __init__(self, image: str) -> None:
        super().__init__("ErrImageNeverPull", f'image "{image}" is not present', False)
        self.image = image
