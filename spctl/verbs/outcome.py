"""What happened on one node: the result deploy, remove and rollback return for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from spctl.facts import NodeFacts
from spctl.plan.model import Plan


@dataclass
class PodOutcome:
    name: str
    action: str
    phase: Optional[str] = None
    ok: bool = True
    error: Optional[str] = None
    reason: str = ""
    diff: str = ""
    # What its crashed containers wrote last, as the agent read it (messages.container_output):
    # text from the node, to be made safe before it reaches a terminal.
    output: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "name": self.name,
            "action": self.action,
            "phase": self.phase,
            "ok": self.ok,
            "error": self.error,
            "reason": self.reason,
        }
        if self.output:
            answer["output"] = self.output
        return answer


@dataclass
class Outcome:
    """What happened on one node."""

    node: str
    plan: Plan
    ok: bool = True
    changed: bool = False
    kubelet_restarted: bool = False
    error: Optional[str] = None
    pods: list[PodOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.node,
            "ok": self.ok,
            "changed": self.changed,
            "kubelet_restarted": self.kubelet_restarted,
            "error": self.error,
            "profile": self.plan.profile,
            "manifest_dir": self.plan.manifest_dir,
            "kubelet_change": self.plan.kubelet.reason if self.plan.kubelet else None,
            "warnings": list(self.plan.warnings),
            "pods": [p.as_dict() for p in self.pods],
        }


#: How a planned action reads once done.
DONE = {
    "create": "created",
    "update": "updated",
    "remove": "removed",
    "adopt": "unchanged",
    "unchanged": "unchanged",
    "rollback": "rolled-back",
    "move": "moved",
}


def ready(facts: NodeFacts, plan: Plan, name: str) -> bool:
    """Whether the pod runs with every container up as the facts show it (a pod Running
    while the kubelet restarts a crashed container is not)."""
    pod = facts.pod(f"{name}-{plan.node_name}")
    return bool(pod and pod.ready)


def phase_of(facts: NodeFacts, plan: Plan, name: str) -> str:
    """The pod's phase as the facts show it (Absent when the runtime has no such pod)."""
    pod = facts.pod(f"{name}-{plan.node_name}")
    return pod.phase if pod else "Absent"
