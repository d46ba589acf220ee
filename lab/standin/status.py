"""A pod's status as /pods on the read-only port shows it: container statuses and the phase."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from .pods import ContainerDetail, RuntimeContainer


def _terminated(detail: ContainerDetail) -> Dict[str, Any]:
    state: Dict[str, Any] = {"exitCode": detail.exit_code, "reason": detail.reason}
    if detail.started_at:
        state.update(startedAt=detail.started_at, finishedAt=detail.finished_at)
    return {"terminated": state}


def container_status(
    spec: Dict[str, Any],
    history: List[RuntimeContainer],
    detail: Callable[[RuntimeContainer], ContainerDetail],
    waiting: Optional[Tuple[str, str]],
    runtime: str = "docker",
) -> Dict[str, Any]:
    """A v1 ContainerStatus from the container's attempts (newest first)."""
    latest = history[0] if history else None
    status: Dict[str, Any] = {"name": spec["name"], "image": spec["image"], "ready": False}
    status.update(started=False, restartCount=latest.attempt if latest else 0)
    previous = history[1] if len(history) > 1 and not history[1].alive else None
    status["lastState"] = _terminated(detail(previous)) if previous else {}
    if latest is not None:
        status["containerID"] = f"{runtime}://{latest.id}"
    if latest is not None and latest.alive:
        running = {"startedAt": detail(latest).started_at}
        status.update(ready=True, started=True, state={"running": running})
    elif waiting is not None or latest is None:
        reason, message = waiting or ("ContainerCreating", "")
        status["state"] = {"waiting": {"reason": reason, "message": message}}
        if latest is not None:
            status["lastState"] = _terminated(detail(latest))
    else:
        status["state"] = _terminated(detail(latest))
    return status


def pod_phase(restart_policy: str, statuses: List[Dict[str, Any]]) -> str:
    """The kubelet's getPhase (pkg/kubelet/kubelet_pods.go), for a pod without init
    containers (the stand-in runs none): a container Waiting with a last termination (in
    CrashLoopBackOff, or about to restart) counts as stopped, so a restartPolicy Always pod
    whose container crashed stays Running; Failed only under Never."""
    waiting = running = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif "terminated" in status.get("lastState", {}):
            stopped += 1  # waiting to be restarted
        else:
            waiting += 1
    if waiting or not (running or stopped):
        return "Pending"
    if running or restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if restart_policy == "Never" else "Running"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
