"""What changed between two refreshes of the fleet's status (pure): the cells ``status
--watch`` marks and the lines it prints.

:func:`changes` takes two lists of :class:`~spctl.plan.status.NodeStatus` and gives a list of
:class:`Change`; :func:`describe` says them in one line per node or pod.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from spctl.plan.status import NodeStatus, PodStatus, ready_text


@dataclass(frozen=True)
class Change:
    """One difference: ``field`` is reachable (old and new are booleans, ``detail`` the
    error), pod (appeared: old None; gone: new None; the values are phases), manifest,
    phase, ready or restarts; ``pod`` is None for a node's own change."""

    node: str
    pod: Optional[str]
    field: str
    old: Any
    new: Any
    detail: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "pod": self.pod,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "detail": self.detail,
        }


_POD_FIELDS: tuple[tuple[str, Callable[[PodStatus], Any]], ...] = (
    ("manifest", lambda p: p.manifest),
    ("phase", lambda p: p.phase),
    ("ready", ready_text),
    ("restarts", lambda p: p.restarts),
)


def changes(before: Sequence[NodeStatus], after: Sequence[NodeStatus]) -> list[Change]:
    """What differs from ``before`` to ``after``; a node absent from ``before`` is new and
    has no changes. Ages are not changes: they move at every refresh."""
    old = {s.name: s for s in before}
    found: list[Change] = []
    for s in after:
        prev = old.get(s.name)
        if prev is None:
            continue
        was_up = prev.reachable and not prev.error
        is_up = s.reachable and not s.error
        if was_up != is_up:
            found.append(Change(s.name, None, "reachable", was_up, is_up, s.error))
            continue
        if not is_up:
            continue
        prev_pods = {p.name: p for p in prev.pods}
        pods = {p.name: p for p in s.pods}
        for name, pod in pods.items():
            p0 = prev_pods.get(name)
            if p0 is None:
                found.append(Change(s.name, name, "pod", None, pod.phase))
                continue
            for field, get in _POD_FIELDS:
                a, b = get(p0), get(pod)
                if a != b:
                    found.append(Change(s.name, name, field, a, b))
        for name in prev_pods:
            if name not in pods:
                found.append(Change(s.name, name, "pod", prev_pods[name].phase, None))
    return found


def describe(found: Sequence[Change]) -> list[str]:
    """One line per node or pod that changed, its changes joined:
    ``pod static-web on my-node2: Running -> Failed, restarts 0 -> 1``."""
    lines: list[str] = []
    by_pod: dict[tuple[str, str], list[str]] = {}
    for c in found:
        if c.pod is None:
            if c.new:
                lines.append(f"node {c.node} reachable again")
            else:
                lines.append(f"node {c.node} unreachable: {c.detail}")
            continue
        if c.field == "pod":
            text = f"appeared ({c.new})" if c.old is None else "gone"
        elif c.field == "phase":
            text = f"{c.old} -> {c.new}"
        else:
            text = f"{c.field} {c.old} -> {c.new}"
        key = (c.node, c.pod)
        if key not in by_pod:
            by_pod[key] = []
            lines.append("")  # placeholder, filled below in first-seen order
        by_pod[key].append(text)
    filled = iter(f"pod {pod} on {node}: {', '.join(t)}" for (node, pod), t in by_pod.items())
    return [line or next(filled) for line in lines]
