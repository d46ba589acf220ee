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

from spctl.plan.model import Plan

#: on_step(node name, what the node does now); called from the node's worker thread.
StepCallback = Callable[[str, str], None]

CONNECTING = "connecting"
READING_FACTS = "reading facts"
PLANNING = "planning"


# What the agent does with each planned action (spctl.plan.model.PodStep.action).
_VERBS = {
    "create": "writing",
    "update": "writing",
    "adopt": "rewriting",
    "remove": "removing",
    "rollback": "rolling back",
}


def silent(node: str, step: str) -> None:
    """The callback of a run nobody watches."""


def applying(plan: Plan, wait_running: Sequence[str] = ()) -> Optional[str]:
    """The apply call's step as the plan foresees it; None when nothing will be applied."""
    parts = []
    if plan.kubelet is not None:
        parts.append("reconfiguring kubelet")
    by_verb: dict[str, list[str]] = {}  # in this order: writing, rewriting, removing, ...
    for verb in _VERBS.values():
        by_verb[verb] = []
    for step in plan.pods:
        if step.action in _VERBS:
            files = sum(1 for f in step.files if f.changes)
            label = f"{step.name} ({files} file{'s' if files != 1 else ''})" if files else step.name
            by_verb[_VERBS[step.action]].append(label)
    parts += [f"{verb} {', '.join(names)}" for verb, names in by_verb.items() if names]
    if not parts and not wait_running:
        return None
    if by_verb["writing"] or by_verb["rolling back"] or wait_running:
        parts.append("waiting for pods")
    elif by_verb["removing"]:
        parts.append("waiting until gone")
    return "applying: " + ", ".join(parts)
