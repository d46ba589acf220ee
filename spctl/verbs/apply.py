"""Carrying out a plan: one apply request to the node's agent, and its answer as an Outcome."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Callable, Optional

from spctl_agent.protocol import STALE_PLAN

from spctl.desired.probes import probe_spec
from spctl.errors import NodeError
from spctl.facts import NodeFacts
from spctl.plan.model import Plan, PodStep, noted
from spctl.transport.agent import Agent, holder_name
from spctl.verbs.outcome import DONE, Outcome, PodOutcome, phase_of
from spctl.verbs.settings import Settings


def execute(
    agent: Agent,
    facts: NodeFacts,
    plan: Plan,
    settings: Settings,
    waits: list[dict[str, Any]],
) -> Outcome:
    """Apply ``plan`` through the agent (or describe it, with dry_run). ``waits``: the pods
    whose files do not change but which must be waited for (see ``PodSource.wait_spec``)."""
    outcome = Outcome(plan.node, plan, changed=plan.changed)
    steps = [s for s in plan.pods if s.action != "unchanged"]
    if settings.dry_run or not (steps or waits or plan.kubelet):
        for step in plan.pods:
            action = step.action if settings.dry_run else DONE[step.action]
            outcome.pods.append(
                PodOutcome(
                    step.name,
                    action,
                    phase_of(facts, plan, step.name),
                    reason=step.reason,
                    diff=step.diff,
                )
            )
        return outcome
    request = {
        "op": "apply",
        "holder": holder_name(),
        "wait_lock": settings.wait_lock,
        "node_name": plan.node_name,
        "manifest_dir": plan.manifest_dir,
        "timeout": settings.timeout,
        "stable_for": settings.stable_for,
        "changes": [_change(s) for s in steps],
        # A run waits only for content it planned from: each file must still hold it.
        "wait_running": waits,
        # Facts read while another run held the node may show what it then undid.
        "planned_while_busy": facts.busy,
        # A change of source (directory <-> URL): done with the kubelet stopped.
        "switch": plan.switch,
    }
    if plan.kubelet is not None:
        request["kubelet"] = {
            "unit": plan.kubelet.unit,
            "daemon_reload": plan.kubelet.daemon_reload,
            "healthz_url": plan.healthz_url,
            "timeout": min(settings.timeout, 120.0),
            "flag": list(plan.kubelet.flag) if plan.kubelet.flag else None,
            "dir_before": facts.running_dir(plan.unit),
            "expect_dir": plan.manifest_dir,
            "files": [
                {
                    "path": f.path,
                    "content": f.new,
                    "expected_sha256": file_sha256(f.old) if f.old is not None else None,
                    "mode": f.mode,
                }
                for f in plan.kubelet.files
            ],
        }
    # The agent's worst case: the lock, a kubelet change that fails and is undone (two
    # restarts and two healthz waits), then pods that fail and are rolled back.
    kubelet_worst = 4 * 120 + 2 * min(settings.timeout, 120.0) if plan.kubelet else 0
    budget = settings.wait_lock + kubelet_worst + 2 * settings.timeout + 120
    answer = agent.call(request, timeout=budget)
    if answer.get("recovered"):  # another run was killed between our facts and this call
        outcome.plan = noted(plan, replace(facts, recovered=answer["recovered"]))
    outcome.kubelet_restarted = bool(answer.get("kubelet_restarted"))
    by_name = {step.name: step for step in plan.pods}
    reported = set()
    for pod in answer.get("pods", []):
        known = by_name.get(pod["name"])
        action = DONE.get(pod["action"], pod["action"])
        if not pod.get("ok"):
            action = "failed" if pod["action"] != "unchanged" else "unchanged"
        outcome.pods.append(
            PodOutcome(
                pod["name"],
                action,
                pod.get("phase"),
                bool(pod.get("ok")),
                pod.get("error"),
                known.reason if known else "",
                known.diff if known else "",
            )
        )
        reported.add(pod["name"])
    for step in plan.pods:
        if step.name not in reported:
            outcome.pods.append(
                PodOutcome(
                    step.name,
                    DONE[step.action],
                    phase_of(facts, plan, step.name),
                    reason=step.reason,
                )
            )
    # Problems the agent met while undoing a failed change (a file it could not restore).
    problems = [f"{p.name}: {p.error}" for p in outcome.pods if not p.ok] + answer.get("errors", [])
    if problems:
        outcome.ok = False
        outcome.error = "; ".join(problems)
    return outcome


def _change(step: PodStep) -> dict[str, Any]:
    change: dict[str, Any] = {
        "pod": step.name,
        "file": step.file,
        "action": step.action,
        "content": step.content,
        "expected_sha256": step.expected_sha256,
    }
    if step.from_path:
        change.update({"from_path": step.from_path, "from_sha256": step.from_sha256})
    probes = _probes(step)
    if probes:
        change["probes"] = probes
    return change


def _probes(step: PodStep) -> Optional[dict[str, Any]]:
    """The new pod's probes, for the agent to evaluate while it waits."""
    if step.action in ("remove", "rollback") or not step.content:
        return None
    return probe_spec(step.content, step.file)


def file_sha256(text: str) -> str:
    # The agent carries undecodable bytes of a configuration file as lone surrogates: hash
    # the file's bytes, not a re-encoding of replacement characters.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


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
