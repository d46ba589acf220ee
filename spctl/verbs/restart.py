"""One node's ``spctl restart``: a new pod of each named pod, content unchanged, gated on
readiness and rolled back like a deploy.

The plan (``plan.restart``) is an update of each pod's file to the node's own manifest with
spctl's restart annotation; the agent's apply writes it, waits for the new pod (another UID)
to run, be ready and stay up for ``--stable-for``, and on a failure puts the previous file
back and waits for the previous pod, as for any update. Facts, then apply, on one
connection, as deploy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from spctl.desired.inventory import Node
from spctl.errors import InventoryError
from spctl.plan.model import noted
from spctl.plan.restart import plan_restart
from spctl.verbs import steps
from spctl.verbs.apply import execute
from spctl.verbs.deploy import relist_noted, replanned
from spctl.verbs.outcome import Outcome
from spctl.verbs.read import read_facts
from spctl.verbs.session import agent_for
from spctl.verbs.settings import Settings
from spctl.verbs.source import PodSource

#: How a restart's steps read: planned (a dry run), then done.
_SHOWN = {"update": "restart", "updated": "restarted"}


def restart_targets(nodes: Sequence[Node], pods: Sequence[str]) -> dict[str, list[str]]:
    """{node name: the pods of ``pods`` the inventory assigns it}, for the nodes of ``nodes``
    that run one of them (a node the inventory gives none of them is left out, as deploy
    leaves it out); an error when no node runs one, or a pod runs on no selected node."""
    targets: dict[str, list[str]] = {}
    for node in nodes:
        assigned = {ref.name for ref in node.pods}
        mine = [pod for pod in pods if pod in assigned]
        if mine:
            targets[node.name] = mine
    known = {ref.name for node in nodes for ref in node.pods}
    missing = [pod for pod in pods if pod not in known]
    if missing:
        raise InventoryError(
            f"pod(s) {', '.join(repr(p) for p in missing)} not assigned to any selected node "
            f"in the inventory; known pods: {', '.join(sorted(known)) or 'none'}"
        )
    return targets


def restart_node(
    node: Node,
    names: list[str],
    settings: Settings,
    source: PodSource,
    at: datetime,
    on_step: steps.StepCallback = steps.silent,
) -> Outcome:
    """Restart ``names`` on the node (``at``: the run's time, the annotation's value)."""
    source.check_restart(node)
    if not settings.wait_lock:  # without --wait-lock a busy node fails the run
        return _restart_node(node, names, settings, at, on_step)
    return replanned(lambda: _restart_node(node, names, settings, at, on_step))


def _restart_node(
    node: Node, names: list[str], settings: Settings, at: datetime, on_step: steps.StepCallback
) -> Outcome:
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, names)
        on_step(node.name, steps.PLANNING)
        plan = relist_noted(noted(plan_restart(node, names, facts, at), facts), facts, settings)
        if not settings.dry_run:
            step = steps.applying(plan)
            if step is not None:
                on_step(node.name, step)
        outcome = execute(agent, facts, plan, settings, [])
    outcome.pods = [replace(p, action=_SHOWN.get(p.action, p.action)) for p in outcome.pods]
    return outcome
