"""One node's deploy, top to bottom, and beside it diff, remove and rollback.

Each function handles exactly one node over one SSH connection and returns a value (or
raises SpctlError, which the fleet turns into that node's failed result). A deploy costs
two agent calls on one connection: facts, then apply (skipped when the plan changes
nothing). Where a node's pods come from (a directory, a URL) is its
:class:`~spctl.verbs.source.PodSource`, asked at the same points for every node.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from spctl_agent.protocol import STALE_PLAN

from spctl.desired.inventory import Node
from spctl.desired.render import DesiredPod
from spctl.errors import NodeError
from spctl.facts import NodeFacts
from spctl.plan.model import Plan, noted
from spctl.transport.agent import Agent
from spctl.verbs import steps
from spctl.verbs.apply import execute
from spctl.verbs.outcome import Outcome
from spctl.verbs.read import read_facts
from spctl.verbs.session import agent_for, read_node
from spctl.verbs.settings import Settings
from spctl.verbs.source import DirectorySource, PodSource


def replanned(run: Callable[[], Outcome]) -> Outcome:
    """Run once more, from fresh facts, when the agent refused a plan made while another
    run was changing the node (with --wait-lock: that run has ended by now, so the second
    plan starts from what it left)."""
    try:
        return run()
    except NodeError as exc:
        if STALE_PLAN not in str(exc):
            raise
    return run()


#: A plan of remove or rollback: (node, the pods named, facts, force) -> Plan.
Planner = Callable[[Node, list[str], NodeFacts, bool], Plan]


def deploy_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    source: PodSource,
    on_step: steps.StepCallback = steps.silent,
) -> Outcome:
    """Bring the node to ``desired``: check, read facts, plan, apply, wait, settle."""
    if not settings.wait_lock:  # without --wait-lock a busy node fails the run
        return _deploy_node(node, desired, settings, source, on_step)
    return replanned(lambda: _deploy_node(node, desired, settings, source, on_step))


def _deploy_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    source: PodSource,
    on_step: steps.StepCallback,
) -> Outcome:
    source.check(node, desired, settings)
    started = time.time()
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, [p.name for p in desired])
        on_step(node.name, steps.PLANNING)
        plan = noted(source.plan(node, desired, facts, settings.force), facts)
        if isinstance(source, DirectorySource):
            plan = relist_noted(plan, facts, settings)
        if settings.dry_run:
            return execute(agent, facts, plan, settings, [])
        source.before_apply(node, desired, plan, settings)
        waits = source.waits(desired, plan, facts)
        _applying(node, plan, on_step, [w["pod"] for w in waits])
        outcome = execute(agent, facts, plan, settings, waits)
    source.after_apply(node, desired, plan, outcome, started)
    return outcome


def relist_noted(plan: Plan, facts: NodeFacts, settings: Settings) -> Plan:
    """The plan with a warning when it writes pod files and ``--timeout`` is shorter than
    the kubelet's re-list period: the kubelet sees a new file through inotify at once, but
    when that misses (a directory the watch has not caught up with), a rejection is logged
    only at the next re-list (pkg/kubelet/config/file.go), maybe after the wait ended."""
    period = facts.relist_period()
    writes = any(s.action in ("create", "update", "rollback", "move") for s in plan.pods)
    if not writes or settings.timeout >= period:
        return plan
    warning = (
        f"--timeout {settings.timeout:g}s is shorter than the kubelet's re-list period: it "
        f"re-lists every {period:g}s, and a file it rejects may be seen only then"
    )
    return replace(plan, warnings=(*plan.warnings, warning))


def diff_node(
    node: Node,
    desired: list[DesiredPod],
    settings: Settings,
    source: PodSource,
    on_step: steps.StepCallback = steps.silent,
) -> Plan:
    """What deploy would change on the node (read only: a dropped session is retried)."""

    def read(agent: Agent) -> Plan:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, [p.name for p in desired])
        return noted(source.plan(node, desired, facts), facts)

    on_step(node.name, steps.CONNECTING)
    return read_node(node, settings, read)


def change_pods(
    node: Node,
    names: list[str],
    settings: Settings,
    planner: Planner,
    on_step: steps.StepCallback = steps.silent,
) -> Outcome:
    """remove and rollback: the named pods' files, planned by ``planner``
    (``plan.directory.plan_remove`` or ``plan_rollback``), applied and waited for."""
    on_step(node.name, steps.CONNECTING)
    with agent_for(node, settings) as agent:
        on_step(node.name, steps.READING_FACTS)
        facts = read_facts(agent, node, names)
        plan = noted(planner(node, names, facts, settings.force), facts)
        if not settings.dry_run:
            _applying(node, plan, on_step, [])
        return execute(agent, facts, plan, settings, [])


def _applying(node: Node, plan: Plan, on_step: steps.StepCallback, waits: list[str]) -> None:
    """Tell the progress what the apply call will do (nothing when it applies nothing)."""
    step = steps.applying(plan, waits)
    if step is not None:
        on_step(node.name, step)
