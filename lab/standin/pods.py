"""A pod as the runtime holds it: its sandboxes and containers, the labels that tie them to
it, and its logs directory."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional

from .manifests import StaticPod

POD_LOGS_DIR = "/var/log/pods"  # the kubelet's podLogsRootDirectory


@dataclass
class RuntimeContainer:
    """One container of a pod, or its sandbox (container "POD"), as the runtime lists it."""

    id: str
    pod_uid: str
    pod_name: str
    namespace: str
    container: str  # "POD" for the sandbox
    attempt: int
    state: str  # in Docker's words: running, exited, created, ...
    created: int
    sandbox_id: str
    ip: str
    grace: int

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused", "restarting")

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.pod_name}"


@dataclass
class PodContainers:
    """One pod's containers as they are: sandboxes and each container's attempts, newest first."""

    sandboxes: List[RuntimeContainer] = field(default_factory=list)
    containers: Dict[str, List[RuntimeContainer]] = field(default_factory=dict)

    @property
    def sandbox(self) -> Optional[RuntimeContainer]:
        return self.sandboxes[0] if self.sandboxes else None

    def everything(self) -> List[RuntimeContainer]:
        return [c for history in self.containers.values() for c in history] + self.sandboxes

    @property
    def full_name(self) -> str:
        return self.everything()[0].full_name


def sort_attempts(pods: Dict[str, PodContainers]) -> Dict[str, PodContainers]:
    """Each pod's sandboxes and each container's attempts newest first (by attempt, then by
    creation), as every listing of a runtime is read."""
    for pod in pods.values():
        for history in [pod.sandboxes, *pod.containers.values()]:
            history.sort(key=lambda c: (c.attempt, c.created), reverse=True)
    return pods


@dataclass(frozen=True)
class ContainerDetail:
    """What only `GET /containers/{id}/json` tells: times and how it ended."""

    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    reason: str = ""

    def finished_epoch(self) -> Optional[float]:
        match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", self.finished_at)
        if not match:
            return None
        whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        return whole.timestamp() + float(match.group(2) or 0)


def pod_labels(pod: StaticPod, container: str) -> Dict[str, str]:
    return {
        "io.kubernetes.pod.name": pod.name,
        "io.kubernetes.pod.namespace": pod.namespace,
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": container,
    }


def logs_directory(namespace: str, name: str, uid: str) -> str:
    """BuildPodLogsDirectory (pkg/kubelet/kuberuntime/helpers.go): <ns>_<name>_<uid>."""
    return os.path.join(POD_LOGS_DIR, f"{namespace}_{name}_{uid}")
