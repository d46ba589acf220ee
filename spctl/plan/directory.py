"""Deciding what to change on a node: pure functions of (desired pods, node facts).

``diff`` and ``deploy --dry-run`` stop here; ``deploy`` hands the plan to the agent. Every
decision carries its reason, so "nothing to do" says why.

Ownership: spctl records on the node (``/var/lib/spctl/state.json``) each manifest it wrote.
It changes or removes only those. A file at a pod's path that spctl does not own is adopted
when its content already equals the desired one, and otherwise refused. A file spctl owns
that changed on the node since spctl wrote it (``plan.changed_on_node``) is not overwritten,
removed, rolled back or restarted (``plan.restart``) unless ``force`` (a restart never);
a move of the manifest directory carries it as it is, still changed on node at its new
place. The restart annotation of a pod ``spctl restart`` restarted is kept
(``desired.restart_annotation``).

A pod's files (``plan.files``) ride in its step, under the same rules; a pod whose manifest
is up to date but one of whose files is not (absent, its mode changed) is rewritten as it is
(an adopt: no new pod) with the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Optional

from spctl_agent.protocol import MANIFEST_SUFFIX, MAX_MANIFEST_BYTES

from spctl.desired.inventory import Node
from spctl.desired.pod_identity import same_pod
from spctl.desired.render import DesiredPod
from spctl.desired.restart_annotation import kept_restart
from spctl.desired.validation.static_pod import kubelet_name_problem
from spctl.facts import DirEntry, FileState, NodeFacts
from spctl.plan.changed_on_node import (
    BYTES_ONLY,
    TAKEN_IN,
    changed_on_node,
    compared,
    file_changed_on_node,
    file_refusal,
    refusal,
)
from spctl.plan.files import file_steps, files_diff, refuse_in_manifest_dir, removal_steps
from spctl.plan.model import Plan, PlanError, PodStep, unified
from spctl.profiles import KubeletChange, Profile, detect
from spctl.profiles.base import same_dir


def choose_dir(node: Node, profile: Profile, facts: NodeFacts) -> str:
    """The one rule for where a node's pods live: the inventory's ``manifest_dir``, else
    the directory the kubelet is configured with now, else the profile's default."""
    return node.manifest_dir or profile.manifest_dir(facts) or profile.default_manifest_dir(facts)


def _step(
    pod: DesiredPod, action: str, reason: str, expected: Optional[str] = None, diff: str = ""
) -> PodStep:
    return PodStep(
        pod.name,
        pod.file,
        action,
        reason,
        content=pod.content,
        expected_sha256=expected,
        diff=diff,
    )


def plan_deploy(
    node: Node,
    desired: list[DesiredPod],
    facts: NodeFacts,
    force: bool = False,
    *,
    redact: tuple[str, ...] = (),
) -> Plan:
    """The plan that brings the node's manifest directory to ``desired``: the kubelet pointed
    at the directory (and spctl's pods moved with it), then a step per pod, each with its
    reason; refused, with what to do, where that is not safe. ``force``: a file spctl owns
    that changed on the node is overwritten (updated from its sha256 on the node now).
    ``redact``: secrets a refusal never shows (the token of a kubelet leaving URL mode)."""
    profile = detect(facts, node.profile)
    profile.check_pods(facts, [pod.name for pod in desired])
    node_name = profile.node_name(facts)
    check_kubelet_names(node, node_name, desired)
    directory = choose_dir(node, profile, facts)
    _refuse_unsafe(node, facts, directory)
    kubelet = profile.configure(facts, directory)
    unit = profile.unit(facts)
    # The running kubelet, not its files, tells which directory holds pods now: a file
    # edited without a restart (an agent killed between the two) is a pending change.
    running = facts.running_dir(unit)
    current = running or profile.manifest_dir(facts)
    if kubelet is None and running is not None and not same_dir(running, directory):
        kubelet = KubeletChange(
            unit=unit,
            files=(),
            daemon_reload=True,
            reason=(
                f"the running kubelet watches {running} but its configuration already names "
                f"{directory}: a pending change, completed by a restart"
            ),
        )
    running_info = facts.kubelets.get(unit) or {}
    config_warning = (
        f"the kubelet's --config file {running_info.get('config')} changed after the kubelet "
        "started: the directory it watches is known only from its files until it restarts"
        if running_info.get("config_changed") and running is None
        else None
    )
    if kubelet is not None:
        _refuse_orphaning(node, facts, current)
    moves = (
        _moves(node, facts, current, directory, {p.name for p in desired})
        if kubelet is not None and current and not same_dir(current, directory)
        else {}
    )
    entries = _entries(facts, directory)
    steps = []
    watched = [directory, *([current] if current else [])]
    for pod in desired:
        refuse_in_manifest_dir(node.name, pod.name, pod.files, watched)
    for pod in desired:
        path = f"{directory}/{pod.file}"
        entry = entries.get(pod.file)
        on_node = facts.file(path)
        # A pod `spctl restart` restarted carries its annotation: compared and written with
        # it, so it is not a change (spctl.desired.restart_annotation).
        pod = kept_restart(pod, on_node)
        others = [
            e.name
            for e in entries.values()
            if e.kubelet_reads and e.pod_name == pod.name and e.name != pod.file
        ]
        if others:
            raise PlanError(
                f"node {node.name}: {', '.join(f'{directory}/{o}' for o in others)} also define(s) pod "
                f"{pod.name!r}; the kubelet would run only one of them, and which is undefined. "
                "Move the other file(s) out of the manifest directory, then deploy again"
            )
        if entry is None:
            steps.append(
                _step(pod, "create", f"{path} does not exist", None, unified("", pod.content, path))
            )
        elif entry.type != "file":
            raise PlanError(f"node {node.name}: {path} is a {entry.type}, not a file; move it away")
        elif changed_on_node(facts, path, entry.sha256):
            steps.append(
                _changed_step(
                    node,
                    pod,
                    path=path,
                    entry=entry,
                    on_node=on_node,
                    facts=facts,
                    force=force,
                    redact=redact,
                )
            )
        elif entry.sha256 == pod.sha256 and path in facts.owned:
            steps.append(_step(pod, "unchanged", f"{path} is up to date", entry.sha256))
        elif on_node is not None and same_pod(on_node, pod.content):
            # Same pod, other bytes (another spctl version, a hand-written copy, defaults
            # spelled out or left out): rewrite it in canonical form; the kubelet hashes the
            # decoded, defaulted pod (spctl.desired.pod_identity), so nothing restarts.
            reason = (
                f"{path} already has this pod; spctl now owns it"
                if path not in facts.owned
                else f"{path} has this pod in another form (the kubelet decodes both to the "
                "same pod, so it keeps running); rewritten as rendered"
            )
            steps.append(
                _step(pod, "adopt", reason, entry.sha256, unified(on_node, pod.content, path))
            )
        elif path not in facts.owned:
            raise PlanError(
                f"node {node.name}: {path} exists and spctl did not write it; spctl never "
                "changes files it does not own. Compare it with `spctl render`, then move it "
                "out of the manifest directory (or delete it) and deploy again"
            )
        else:
            steps.append(
                _step(
                    pod,
                    "update",
                    f"{path} differs",
                    entry.sha256,
                    unified(on_node or "", pod.content, path),
                )
            )
    by_name = {pod.name: pod for pod in desired}
    paths = {f.path for pod in desired for f in pod.files}
    steps = [_with_files(node, step, by_name[step.name], facts, force, paths) for step in steps]
    for i, step in enumerate(steps):
        moved = moves.pop(step.name, None)
        if moved is None:
            continue
        if step.action in ("unchanged", "adopt"):
            raise PlanError(
                f"node {node.name}: pod {step.name!r} is in both {moved[0]} and "
                f"{directory}/{step.file}; remove one of them, then deploy again"
            )
        if not force and changed_on_node(facts, moved[0], moved[1]):
            # Retiring it for the rendering in the new directory would discard that change.
            raise refusal(
                node=node.name,
                pod=step.name,
                path=moved[0],
                facts=facts,
                verb="deploy",
                rendered=step.content,
                redact=redact,
            )
        steps[i] = replace(
            step,
            reason=f"{step.reason}; {moved[0]} is retired (the kubelet moves to {directory})",
            from_path=moved[0],
            from_sha256=moved[1],
        )
    for name, (old_path, sha) in sorted(moves.items()):
        file = old_path.rsplit("/", 1)[1]
        # A move writes the old file's bytes, so a change made on the node is not lost and
        # not refused; the agent keeps the sha spctl recorded (PodChange.owned_sha256), so
        # the file is not taken for spctl's own at its new place.
        kept = (
            f"; {old_path} changed on node since spctl wrote it: it moves as it is and stays "
            "changed on node"
            if changed_on_node(facts, old_path, sha)
            else ""
        )
        steps.append(
            PodStep(
                name,
                file,
                "move",
                f"moves with the manifest directory: {old_path} -> {directory}/{file}{kept}",
                diff=f"# {old_path} moves to {directory}/{file}\n",
                from_path=old_path,
                from_sha256=sha,
            )
        )
    warnings = tuple(stray_files(facts, directory)) + ((config_warning,) if config_warning else ())
    return Plan.for_node(node.name, profile, facts, directory, kubelet, tuple(steps), warnings)


def _with_files(
    node: Node, step: PodStep, pod: DesiredPod, facts: NodeFacts, force: bool, paths: set[str]
) -> PodStep:
    """``step`` with the pod's file steps, and their diffs after the manifest's; ``paths``:
    the files of every desired pod (one spctl wrote for this pod that another pod has now
    is that pod's to write, not this one's to remove)."""
    files = file_steps(node.name, pod.name, pod.files, facts, force, paths)
    if not files:
        return step
    changing = [f for f in files if f.changes]
    if step.action == "unchanged" and changing:
        # The manifest is what the inventory renders (the files' digest included), so the
        # pod is the one that should run: rewrite it as it is with its files, no new pod.
        return replace(
            step,
            action="adopt",
            reason=f"{step.reason}; its files are put back as the inventory gives them ("
            + "; ".join(f.reason for f in changing)
            + ")",
            files=files,
            diff=step.diff + files_diff(files),
        )
    return replace(step, files=files, diff=step.diff + files_diff(files))


def _changed_step(
    node: Node,
    pod: DesiredPod,
    *,
    path: str,
    entry: DirEntry,
    on_node: Optional[str],
    facts: NodeFacts,
    force: bool,
    redact: tuple[str, ...],
) -> PodStep:
    """The step for a file spctl owns that changed on the node since spctl wrote it.

    Nothing of the node's version may be lost without ``force``. When the inventory renders
    its very bytes, nothing is (``spctl import`` took it in). When the inventory renders
    the node's pod in other bytes (kubeadm's spelling, imported), the pod is kept and the
    bytes go to the agent's backups (an adopt backs up every byte spctl did not write). A
    file that is still the pod spctl wrote, respelled or commented (the inventory renders
    what spctl wrote), is a hand edit of its bytes: refused like any other change; ``spctl
    import`` cannot take it in, since spctl writes canonical YAML."""
    how = compared(facts, path, entry.sha256, pod.content)
    diff = unified(on_node or "", pod.content, path)
    if how == TAKEN_IN and entry.sha256 == pod.sha256:
        return _step(
            pod,
            "adopt",
            f"{path} changed on node and the inventory renders that version (`spctl import` "
            "took it in); spctl owns it now",
            entry.sha256,
        )
    if how == TAKEN_IN:
        return _step(
            pod,
            "adopt",
            f"{path} changed on node; the inventory now renders the node's pod in other bytes "
            "(as `spctl import` takes it in): rewritten as rendered, nothing restarts; the "
            "node's version is kept in spctl's backups",
            entry.sha256,
            diff,
        )
    if not force:
        raise refusal(
            node=node.name,
            pod=pod.name,
            path=path,
            facts=facts,
            verb="deploy",
            rendered=pod.content,
            redact=redact,
            bytes_only=how == BYTES_ONLY,
        )
    # The agent still checks that the file holds what was read here (its sha256 now), so
    # a change made between this plan and the apply is refused even with --force.
    if how == BYTES_ONLY:
        # Same pod: an adopt (no new pod to wait for), which backs the edit up.
        return _step(
            pod,
            "adopt",
            f"{path} changed on node since spctl wrote it, in its bytes only; --force rewrites "
            "it as rendered, nothing restarts; the node's version is kept in spctl's backups",
            entry.sha256,
            diff,
        )
    return _step(
        pod,
        "update",
        f"{path} changed on node since spctl wrote it; --force puts spctl's version back",
        entry.sha256,
        diff,
    )


def check_kubelet_names(node: Node, node_name: str, desired: list[DesiredPod]) -> None:
    """Templates are validated with the inventory's node name; the kubelet names a static pod
    after its own node name (the host name, --hostname-override, k3s's K3S_NODE_NAME), known
    only from the node's facts. A name it would refuse stops the plan here."""
    problems = [
        f"pod {pod.name}: metadata.name: {problem}"
        for pod in desired
        if (problem := kubelet_name_problem(pod.name, node_name))
    ]
    if problems:
        raise PlanError(f"node {node.name}: " + "; ".join(problems))


def _refuse_unsafe(node: Node, facts: NodeFacts, directory: str) -> None:
    problem = facts.unsafe_dirs.get(directory)
    if problem:
        raise PlanError(f"node {node.name}: refusing manifest directory {directory}: {problem}")


def _moves(
    node: Node, facts: NodeFacts, old: str, new: str, desired: set[str]
) -> dict[str, tuple[str, Optional[str]]]:
    """The pods spctl owns in ``old`` that must follow the kubelet to ``new``: {pod:
    (old path, its sha256)}. Refused, with the list, when one cannot move (its file name is
    taken in the new directory by a file that is not the same pod's)."""
    entries = _entries(facts, old)
    new_entries = _entries(facts, new)
    moves: dict[str, tuple[str, Optional[str]]] = {}
    blocked = []
    for path, meta in sorted(facts.owned.items()):
        directory, _, file = path.rpartition("/")
        entry = entries.get(file)
        if not same_dir(directory, old) or entry is None:
            continue
        pod = str(meta.get("pod") or file)
        if pod not in desired and file in new_entries:
            blocked.append(f"{path} ({new}/{file} exists)")
            continue
        moves[pod] = (path, entry.sha256)
    if blocked:
        raise PlanError(
            f"node {node.name}: moving the manifest directory from {old} to {new} must carry "
            f"every pod spctl owns there, and these cannot move: {', '.join(blocked)}"
        )
    return moves


def _refuse_orphaning(node: Node, facts: NodeFacts, current: Optional[str]) -> None:
    """Pointing the kubelet elsewhere stops every pod of its current directory: refuse when
    that directory holds manifests spctl did not write (etcd, the API server ...)."""
    if current is None:
        return
    entries = facts.dirs.get(current)
    if not entries:
        return
    foreign = [
        e.name for e in entries if e.kubelet_reads and f"{current}/{e.name}" not in facts.owned
    ]
    if foreign:
        raise PlanError(
            f"node {node.name}: the kubelet watches {current}, which holds manifests spctl did not "
            f"write ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); pointing it at "
            "another directory would stop those pods. Use that directory (set manifest_dir: "
            f"{current} for this node) or move them first"
        )


def owned_path(node: Node, name: str, facts: NodeFacts, profile: Profile) -> str:
    """Where spctl wrote pod ``name`` on this node; remove and rollback act on that file."""
    for path, meta in sorted(facts.owned.items()):
        if meta.get("pod") == name:
            return path
    return f"{choose_dir(node, profile, facts)}/{name}{MANIFEST_SUFFIX}"


def _owned_files(
    node: Node, names: list[str], facts: NodeFacts, profile: Profile, directories: set[str]
) -> Iterator[tuple[str, str, str, str]]:
    """(pod, path, directory, file name) of each named pod's file; ``directories`` collects
    the directories they are in."""
    for name in names:
        path = owned_path(node, name, facts, profile)
        directory, file = path.rsplit("/", 1)
        directories.add(directory)
        yield name, path, directory, file


def plan_remove(node: Node, names: list[str], facts: NodeFacts, force: bool = False) -> Plan:
    """Remove the named pods' files; one that changed on the node only with ``force``."""
    profile = detect(facts, node.profile)
    steps: list[PodStep] = []
    directories: set[str] = set()
    for name, path, directory, file in _owned_files(node, names, facts, profile, directories):
        entry = _entries(facts, directory).get(file)
        if entry is None and facts.file(path) is None:
            leftover = sorted(
                p
                for p, meta in facts.owned_files.items()
                if meta.get("pod") == name and (facts.pod_files.get(p) or FileState(False)).exists
            )
            steps.append(
                PodStep(
                    name,
                    file,
                    "unchanged",
                    f"{path} is already absent"
                    + (
                        "; its files spctl wrote are left on the node ("
                        + ", ".join(leftover)
                        + "): remove them by hand"
                        if leftover
                        else ""
                    ),
                )
            )
        elif path not in facts.owned:
            raise PlanError(
                f"node {node.name}: {path} was not written by spctl; spctl never removes files "
                "it does not own. Remove it by hand if it should go"
            )
        else:
            sha = entry.sha256 if entry else None
            if not force and changed_on_node(facts, path, sha):
                raise refusal(
                    node=node.name, pod=name, path=path, facts=facts, verb="remove", rendered=None
                )
            files = tuple(removal_steps(node.name, name, facts, force))
            steps.append(
                PodStep(
                    name,
                    file,
                    "remove",
                    f"{path} is removed"
                    + (f", then its files ({', '.join(f.path for f in files)})" if files else ""),
                    expected_sha256=sha,
                    diff=unified(facts.file(path) or "", "", path) + files_diff(files),
                    files=files,
                )
            )
    return _single_dir_plan(node, profile, facts, directories, steps)


def plan_rollback(node: Node, names: list[str], facts: NodeFacts, force: bool = False) -> Plan:
    """Put back the named pods' previous files; one that changed on the node only with
    ``force`` (its version is backed up like any other)."""
    profile = detect(facts, node.profile)
    steps: list[PodStep] = []
    directories: set[str] = set()
    for name, path, directory, file in _owned_files(node, names, facts, profile, directories):
        if path not in facts.owned:
            raise PlanError(
                f"node {node.name}: {path} is not managed by spctl; nothing to roll back"
            )
        if not facts.backups.get(name):
            raise PlanError(
                f"node {node.name}: no earlier version of {name} is backed up on the node"
            )
        entry = _entries(facts, directory).get(file)
        if not force and entry is not None and changed_on_node(facts, path, entry.sha256):
            raise refusal(
                node=node.name, pod=name, path=path, facts=facts, verb="rollback", rendered=None
            )
        for file_path, meta in sorted(facts.owned_files.items()):
            state = facts.pod_files.get(file_path)
            if (
                not force
                and meta.get("pod") == name
                and state is not None
                and file_changed_on_node(facts, file_path, state.sha256)
            ):
                # The agent puts the pod's previous files back with its manifest.
                raise file_refusal(
                    node=node.name, pod=name, path=file_path, facts=facts, verb="rollback"
                )
        steps.append(
            PodStep(
                name,
                file,
                "rollback",
                f"{path} goes back to its previous version",
                expected_sha256=entry.sha256 if entry else None,
            )
        )
    return _single_dir_plan(node, profile, facts, directories, steps)


def _single_dir_plan(
    node: Node, profile: Profile, facts: NodeFacts, directories: set[str], steps: list[PodStep]
) -> Plan:
    if len(directories) > 1:
        raise PlanError(
            f"node {node.name}: these pods live in several directories ({', '.join(sorted(directories))}); "
            "act on one directory at a time"
        )
    directory = directories.pop() if directories else choose_dir(node, profile, facts)
    return Plan.for_node(node.name, profile, facts, directory, None, tuple(steps))


def _entries(facts: NodeFacts, directory: str) -> dict[str, DirEntry]:
    return {e.name: e for e in facts.dirs.get(directory) or ()}


# Names that editors, package managers and hand backups leave behind. The kubelet has no
# extension filter, so each of these is parsed as a pod.
_STRAY = re.compile(
    r"(~|\.bak|\.back|\.backup|\.orig|\.old|\.save|\.swp|\.rej|\.tmp|\.dpkg-\w+|\.rpm\w+|\.ucf-\w+)$"
    r"|^#.*#$|^\d+$|\.bak\.|\.orig\.|\.old\."
)


def stray_files(facts: NodeFacts, directory: str) -> list[str]:
    """Warnings for files the kubelet parses that nobody meant as pods."""
    entries = facts.dirs.get(directory)
    if entries is None:
        return []
    warnings = []
    by_pod: dict[str, list[str]] = {}
    for entry in entries:
        if entry.type not in ("file", "dir") and not entry.name.startswith("."):
            # The kubelet stats through links and parses regular files only
            # (pkg/kubelet/config/file.go, extractFromDir); spctl never opens these.
            warnings.append(
                f"{directory}/{entry.name} is a {entry.type}: "
                + (
                    "spctl never follows links in a manifest directory (the kubelet parses "
                    "its target when that is a regular file); put the file itself here"
                    if entry.type == "symlink"
                    else "not a manifest; the kubelet skips it and spctl never opens it"
                )
            )
        if not entry.kubelet_reads:
            continue
        if entry.pod_name:
            by_pod.setdefault(entry.pod_name, []).append(entry.name)
        if _STRAY.search(entry.name):
            warnings.append(
                f"{directory}/{entry.name} looks like a backup or editor file, but the kubelet "
                "parses every file here whose name does not start with a dot; move it out of "
                "the directory"
            )
        elif entry.size > MAX_MANIFEST_BYTES:
            warnings.append(f"{directory}/{entry.name} is over 10 MiB; the kubelet refuses it")
    for pod, files in sorted(by_pod.items()):
        if len(files) > 1:
            warnings.append(
                f"pod {pod!r} is defined by {len(files)} files in {directory} ({', '.join(files)}); "
                "which one the kubelet runs is undefined: keep one"
            )
    return warnings
