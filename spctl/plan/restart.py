"""The plan of ``spctl restart``: a new pod of each named pod, with nothing of it changed.

Pure: from the node's facts alone (the inventory is not rendered). Each pod's step is an
``update`` of spctl's file whose content is the node's own manifest with spctl's restart
annotation set (``spctl.desired.restart_annotation``): the kubelet sees a new pod, the agent
waits for it to run and be ready as for any update, and puts the previous file back and
waits for the previous pod when it fails. The agent records the new file's sha256 as
spctl's, so it is not "changed on node" afterwards; and deploy keeps the annotation, so a
later deploy does not restart the pod again.

Refused for the node, saying what to do: a pod spctl did not deploy there (no file, or a
file spctl did not write), a file spctl wrote that is gone, one that changed on the node
since (``plan.changed_on_node``, as deploy refuses it: the restart would take that edit
for spctl's), and a file in a directory the kubelet does not watch (no pod to restart).
"""

from __future__ import annotations

from datetime import datetime

from spctl.desired.inventory import Node
from spctl.desired.restart_annotation import RESTARTED_AT, restarted, restarted_at, rfc3339
from spctl.desired.yamlio import ManifestError
from spctl.facts import NodeFacts
from spctl.plan.changed_on_node import changed_on_node, refusal
from spctl.plan.directory import choose_dir, owned_path
from spctl.plan.model import Plan, PlanError, PodStep, unified
from spctl.profiles import detect
from spctl.profiles.base import same_dir


def plan_restart(node: Node, names: list[str], facts: NodeFacts, at: datetime) -> Plan:
    """Restart the named pods, each with ``RESTARTED_AT`` set to ``at`` to the second (to
    the microsecond for a pod restarted within that second already: its file must change)."""
    profile = detect(facts, node.profile)
    unit = profile.unit(facts)
    watched = facts.running_dir(unit) or profile.manifest_dir(facts)
    steps: list[PodStep] = []
    directories: set[str] = set()
    for name in names:
        path = owned_path(node, name, facts, profile)
        directory, file = path.rsplit("/", 1)
        directories.add(directory)
        entry = next((e for e in facts.dirs.get(directory) or () if e.name == file), None)
        on_node = facts.file(path)
        deploy = f"`spctl deploy {name} --node {node.name}`"
        if path not in facts.owned:
            if entry is None:
                raise PlanError(
                    f"node {node.name}: pod {name!r} is not deployed on this node ({path} does "
                    f"not exist): nothing to restart; {deploy} deploys it"
                )
            raise PlanError(
                f"node {node.name}: {path} was not written by spctl; spctl restarts only pods "
                f"it deployed. {deploy} takes it over when the inventory renders the same pod "
                "(`spctl diff` shows whether it does)"
            )
        if entry is None:
            raise PlanError(
                f"node {node.name}: {path} is gone (spctl wrote it; someone removed it): no pod "
                f"to restart; {deploy} writes it again"
            )
        if entry.type != "file":
            raise PlanError(f"node {node.name}: {path} is a {entry.type}, not a file; move it away")
        if changed_on_node(facts, path, entry.sha256):
            raise refusal(
                node=node.name, pod=name, path=path, facts=facts, verb="restart", rendered=None
            )
        if on_node is None:
            raise PlanError(
                f"node {node.name}: spctl could not read {path}; check that it is a readable "
                "text file"
            )
        if watched is not None and not same_dir(watched, directory):
            raise PlanError(
                f"node {node.name}: the kubelet watches {watched}, not {directory} where spctl "
                f"wrote {file}: no pod of it runs to restart; {deploy} points the kubelet at "
                "the inventory's directory"
            )
        value = rfc3339(at)
        if restarted_at(on_node) == value:
            value = rfc3339(at, precise=True)
        try:
            content = restarted(on_node, value, f"node {node.name}: {path}")
        except ManifestError as exc:
            raise PlanError(f"{exc}; {deploy} writes it as the inventory renders it") from None
        steps.append(
            PodStep(
                name,
                file,
                "update",
                f"{path} is written with {RESTARTED_AT}: {value}, nothing else changed: the "
                "kubelet starts a new pod",
                content=content,
                expected_sha256=entry.sha256,
                diff=unified(on_node, content, path),
                # Its backup is this very version: a rollback must skip it and bring back
                # the one before, as it would have before the restart.
                kept_backup=True,
            )
        )
    if len(directories) > 1:
        raise PlanError(
            f"node {node.name}: these pods live in several directories "
            f"({', '.join(sorted(directories))}); restart them one directory at a time"
        )
    directory = directories.pop() if directories else choose_dir(node, profile, facts)
    return Plan.for_node(node.name, profile, facts, directory, None, tuple(steps))
