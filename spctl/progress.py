"""What each node is doing now, told to whoever shows progress (the CLI).

The control host knows a node's steps up to the agent's apply call: connecting, reading
facts, planning, then one apply call in which the agent reconfigures the kubelet, writes
manifests and waits for the pods (and rolls back when they fail); that call is one step,
named from the plan:

    on_step("my-node2", "applying: reconfiguring kubelet, writing static-web, waiting for pods")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

from spctl.plan import Plan

#: on_step(node name, what the node does now); called from the node's worker thread.
StepCallback = Callable[[str, str], None]

CONNECTING = "connecting"
READING_FACTS = "reading facts"
PLANNING = "planning"


def silent(node: str, step: str) -> None:
    """The callback of a run nobody watches."""


def applying(plan: Plan, wait_running: Sequence[str] = ()) -> Optional[str]:
    """The apply call's step as the plan foresees it; None when nothing will be applied."""
    parts = []
    if plan.kubelet is not None:
        parts.append("reconfiguring kubelet")
    by_action: dict[str, list[str]] = {}
    for step in plan.pods:
        by_action.setdefault(step.action, []).append(step.name)
    for action, verb in (
        ("create", "writing"),
        ("update", "writing"),
        ("adopt", "rewriting"),
        ("remove", "removing"),
        ("rollback", "rolling back"),
    ):
        if by_action.get(action):
            parts.append(f"{verb} {', '.join(by_action[action])}")
    if not parts and not wait_running:
        return None
    if any(a in by_action for a in ("create", "update", "rollback")) or wait_running:
        parts.append("waiting for pods")
    elif "remove" in by_action:
        parts.append("waiting until gone")
    return "applying: " + ", ".join(parts)
