"""Carrying out a plan: one apply request to the node's agent, and its answer as an Outcome."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any, Optional

from spctl_agent.protocol import messages

from spctl.desired.probe_specs import probe_spec
from spctl.desired.restart_policies import restart_policy
from spctl.errors import NodeError
from spctl.facts import NodeFacts
from spctl.plan.model import FILE_WRITE, FileStep, Plan, PodStep, noted
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
    kubelet = None
    if plan.kubelet is not None:
        kubelet = messages.kubelet_change(
            unit=plan.kubelet.unit,
            daemon_reload=plan.kubelet.daemon_reload,
            healthz_url=plan.healthz_url,
            timeout=min(settings.timeout, 120.0),
            flag=plan.kubelet.flag,
            dir_before=facts.running_dir(plan.unit),
            expect_dir=plan.manifest_dir,
            files=[
                messages.kubelet_file(
                    path=f.path,
                    content=f.new,
                    expected_sha256=file_sha256(f.old) if f.old is not None else None,
                    mode=f.mode,
                )
                for f in plan.kubelet.files
            ],
        )
    request = messages.apply_request(
        node_name=plan.node_name,
        manifest_dir=plan.manifest_dir,
        holder=holder_name(),
        wait_lock=settings.wait_lock,
        timeout=settings.timeout,
        stable_for=settings.stable_for,
        changes=[_change(s) for s in steps],
        # A run waits only for content it planned from: each file must still hold it.
        wait_running=waits,
        kubelet=kubelet,
        # Facts read while another run held the node may show what it then undid.
        planned_while_busy=facts.busy,
        # A change of source (directory <-> URL): done with the kubelet stopped.
        switch=plan.switch,
        node_ip=plan.node_ip,
    )
    # The agent's worst case: the lock, a kubelet change that fails and is undone (two
    # restarts and two healthz waits), then pods that fail and are rolled back.
    kubelet_worst = 4 * 120 + 2 * min(settings.timeout, 120.0) if plan.kubelet else 0
    budget = settings.wait_lock + kubelet_worst + 2 * settings.timeout + 120
    try:
        answer = messages.read_apply_answer(agent.call(request, timeout=budget))
    except messages.MessageError as exc:
        raise NodeError(f"{plan.node}: the agent's answer is malformed: {exc}") from None
    if answer["recovered"]:  # another run was killed between our facts and this call
        outcome.plan = noted(plan, replace(facts, recovered=answer["recovered"]))
    outcome.kubelet_restarted = answer["kubelet_restarted"]
    by_name = {step.name: step for step in plan.pods}
    reported = set()
    for pod in answer["pods"]:
        known = by_name.get(pod["name"])
        action = DONE.get(pod["action"], pod["action"])
        if not pod["ok"]:
            action = "failed" if pod["action"] != "unchanged" else "unchanged"
        outcome.pods.append(
            PodOutcome(
                pod["name"],
                action,
                pod["phase"],
                pod["ok"],
                pod["error"],
                known.reason if known else "",
                known.diff if known else "",
                pod["output"],
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
    problems = [f"{p.name}: {p.error}" for p in outcome.pods if not p.ok] + answer["errors"]
    if problems:
        outcome.ok = False
        outcome.error = "; ".join(problems)
    return outcome


def _change(step: PodStep) -> dict[str, Any]:
    return messages.pod_change(
        pod=step.name,
        file=step.file,
        action=step.action,
        content=step.content,
        expected_sha256=step.expected_sha256,
        from_path=step.from_path,
        from_sha256=step.from_sha256,
        probes=_probes(step),
        restart_policy=_restart_policy(step),
        files=[_file_change(f) for f in step.files if f.changes],
        kept_backup=step.kept_backup,
    )


def _file_change(step: FileStep) -> dict[str, Any]:
    """One of a pod's files in its change: the bytes (base64) of a write, the sha256 the
    file must still have (null: absent)."""
    write = step.action == FILE_WRITE
    return messages.file_change(
        path=step.path,
        action=messages.FILE_WRITE if write else messages.FILE_REMOVE,
        content_b64=base64.b64encode(step.content).decode("ascii") if write else None,
        sha256=step.sha256 if write else None,
        expected_sha256=step.expected_sha256,
        mode=step.mode,
        owner=step.owner,
        group=step.group,
        secret=step.secret,
    )


def _restart_policy(step: PodStep) -> Optional[str]:
    """The new pod's restartPolicy, for the agent to read its phase as the kubelet does."""
    if step.action in ("remove", "rollback") or not step.content:
        return None
    return restart_policy(step.content, step.file)


def _probes(step: PodStep) -> Optional[dict[str, Any]]:
    """The new pod's probes, for the agent to evaluate while it waits."""
    if step.action in ("remove", "rollback") or not step.content:
        return None
    return probe_spec(step.content, step.file)


def file_sha256(text: str) -> str:
    # The agent carries undecodable bytes of a configuration file as lone surrogates: hash
    # the file's bytes, not a re-encoding of replacement characters.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
