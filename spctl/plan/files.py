"""Deciding what to do with a pod's files on a node: pure functions of (the pod's desired
files, the node's facts), with the same ownership rules as manifests (``plan.directory``).

spctl records on the node each file it wrote and its sha256 (``facts.owned_files``). A file
is written when it is absent or differs from the inventory's (its bytes, mode, owner or
group); a file spctl did not write is written only when it already holds the desired bytes
(spctl then owns it), and refused otherwise; a file spctl owns whose sha256 is not the one
recorded changed on the node since (``plan.changed_on_node``): refused unless ``force``.
A file spctl wrote for a pod that the inventory no longer gives it, or for a pod being
removed, is removed (after the pod is gone: the agent's order).

A secret's bytes appear in no diff, reason or error: only its sha256.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

from spctl.desired.render import DesiredFile
from spctl.facts import FileState, NodeFacts
from spctl.plan.changed_on_node import file_changed_on_node, file_refusal
from spctl.plan.model import (
    CHANGED_ON_NODE,
    DRIFTED,
    FILE_REMOVE,
    FILE_UNCHANGED,
    FILE_WRITE,
    IN_SYNC,
    MISSING,
    FileStep,
    PlanError,
    shown,
    unified,
)

#: How a pod's file is named in messages (its path and whose it is).
_ROOT = {"root", "0"}


def under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return directory == "/" or path == directory or path.startswith(directory + "/")


def refuse_in_manifest_dir(
    node: str, pod: str, files: Iterable[DesiredFile], directories: Iterable[str]
) -> None:
    """A pod's file in the directory the kubelet watches would be parsed as a pod: refused
    (the inventory's checks know only the profiles' default directories and the node's
    ``manifest_dir``; the one the node's kubelet is configured with is known here)."""
    for directory in directories:
        for f in files:
            if under(f.path, directory):
                raise PlanError(
                    f"node {node}: pod {pod}: file {f.path} is in {directory}, the kubelet's "
                    "manifest directory on this node: the kubelet would parse it as a pod. "
                    "Give the file another path in the inventory (e.g. under /etc/<pod>/)"
                )


def same_id(wanted: Optional[str], found: Optional[str], found_id: Optional[int] = None) -> bool:
    """Whether the owner (or group) the inventory wants is the one the node reports: a
    number against the node's number, a name against its name (root is 0 everywhere)."""
    want = wanted if wanted is not None else "root"
    if want in _ROOT:
        return found_id == 0 if found_id is not None else (found is None or found in _ROOT)
    if want.isdigit():
        if found_id is not None:
            return int(want) == found_id
        return found is None or not found.isdigit() or found == want
    if found is None:
        return True
    return want == found


def _metadata_differs(f: DesiredFile, state: FileState) -> list[str]:
    differs = []
    if state.mode is not None and state.mode != f.mode:
        differs.append(f"mode {state.mode:04o} -> {f.mode:04o}")
    if not same_id(f.owner, state.owner, state.uid):
        differs.append(f"owner {state.owner} -> {f.owner or 'root'}")
    if not same_id(f.group, state.group, state.gid):
        differs.append(f"group {state.group} -> {f.group or 'root'}")
    return differs


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def file_diff(
    path: str,
    old: Optional[str],
    new: Optional[bytes],
    *,
    secret: bool,
    old_sha: Optional[str],
    new_sha: Optional[str],
    metadata: Iterable[str] = (),
) -> str:
    """What changes in one file, as ``diff`` shows it: a unified diff; a secret's or a
    binary file's sha256 only; the mode, owner or group that change."""
    lines = "".join(f"# {path}: {m}\n" for m in metadata)
    if old_sha == new_sha:
        return lines
    if secret:
        return lines + f"# {path}: secret changed (sha256 {_short(old_sha)} -> {_short(new_sha)})\n"
    if old is None and old_sha is not None:
        return lines + f"# {path}: changed (sha256 {_short(old_sha)} -> {_short(new_sha)})\n"
    if new is None:
        return lines + unified(shown(old or ""), "", path).replace(f"b{path}", "/dev/null", 1)
    if "\x00" in (old or "") or b"\x00" in new:
        return (
            lines
            + f"# {path}: binary file changed (sha256 {_short(old_sha)} -> {_short(new_sha)})\n"
        )
    return lines + unified(shown(old or ""), shown(_text(new)), path)


def _short(sha: Optional[str]) -> str:
    return f"{sha[:12]}…" if sha else "(absent)"


def file_state(f: DesiredFile, facts: NodeFacts) -> str:
    """How the node's file compares with the inventory's ``f`` (status shows it): missing,
    in-sync (its bytes, mode, owner and group), changed-on-node (spctl wrote it and it
    changed since: deploy refuses it), else drifted (deploy writes it)."""
    state = facts.pod_files.get(f.path)
    if state is None or not state.exists:
        return MISSING
    if state.sha256 != f.sha256 and file_changed_on_node(facts, f.path, state.sha256):
        return CHANGED_ON_NODE
    if state.type == "file" and state.sha256 == f.sha256 and not _metadata_differs(f, state):
        return IN_SYNC
    return DRIFTED


def file_steps(
    node: str,
    pod: str,
    files: Iterable[DesiredFile],
    facts: NodeFacts,
    force: bool = False,
    others: Iterable[str] = (),
) -> tuple[FileStep, ...]:
    """A step for each of ``pod``'s desired files, then a removal for each file spctl wrote
    for it that the inventory no longer gives it, nor to another pod of the node
    (``others``: their paths; such a file passes to that pod's change)."""
    files = list(files)
    steps = [_write_step(node, pod, f, facts, force) for f in files]
    wanted = {f.path for f in files} | set(others)
    steps += removal_steps(node, pod, facts, force, keep=wanted)
    return tuple(steps)


def _write_step(node: str, pod: str, f: DesiredFile, facts: NodeFacts, force: bool) -> FileStep:
    state = facts.pod_files.get(f.path) or FileState(exists=False)
    # A file spctl last wrote as a secret stays one in the diff, whatever it is now.
    secret = f.secret or bool((facts.owned_files.get(f.path) or {}).get("secret"))

    def step(action: str, reason: str, kind: str, metadata: Iterable[str] = ()) -> FileStep:
        diff = (
            file_diff(
                f.path,
                None if secret else facts.file(f.path),
                f.content,
                secret=secret,
                old_sha=state.sha256,
                new_sha=f.sha256,
                metadata=metadata,
            )
            if action == FILE_WRITE
            else ""
        )
        return FileStep(
            path=f.path,
            action=action,
            reason=reason,
            state=kind,
            content=f.content if action == FILE_WRITE else b"",
            sha256=f.sha256,
            expected_sha256=state.sha256 if state.exists else None,
            mode=f.mode,
            owner=f.owner,
            group=f.group,
            secret=f.secret,
            diff=diff,
        )

    if not state.exists:
        return step(FILE_WRITE, f"{f.path} does not exist", MISSING)
    if state.type != "file":
        raise PlanError(
            f"node {node}: pod {pod}: {f.path} is a {state.type}, not a file; move it away, "
            "then deploy again"
        )
    owned = f.path in facts.owned_files
    metadata = _metadata_differs(f, state)
    if file_changed_on_node(facts, f.path, state.sha256):
        if state.sha256 == f.sha256:
            return step(
                FILE_WRITE,
                f"{f.path} changed on node to what the inventory gives it; spctl owns it again",
                CHANGED_ON_NODE,
                metadata,
            )
        if not force:
            raise file_refusal(
                node=node, pod=pod, path=f.path, facts=facts, verb="deploy", desired=f
            )
        return step(
            FILE_WRITE,
            f"{f.path} changed on node since spctl wrote it; --force puts spctl's version back",
            CHANGED_ON_NODE,
            metadata,
        )
    if state.sha256 == f.sha256:
        if not owned:
            return step(
                FILE_WRITE,
                f"{f.path} already holds this content; spctl now owns it"
                + (f" ({', '.join(metadata)})" if metadata else ""),
                DRIFTED if metadata else IN_SYNC,
                metadata,
            )
        if metadata:
            return step(FILE_WRITE, f"{f.path}: {', '.join(metadata)}", DRIFTED, metadata)
        return step(FILE_UNCHANGED, f"{f.path} is up to date", IN_SYNC)
    if not owned:
        raise PlanError(
            f"node {node}: pod {pod}: {f.path} exists and spctl did not write it; spctl never "
            "changes files it does not own. Compare it with `spctl render --files`, then move "
            "it away (or make it hold what the inventory gives it) and deploy again"
        )
    return step(FILE_WRITE, f"{f.path} differs", DRIFTED, metadata)


def removal_steps(
    node: str, pod: str, facts: NodeFacts, force: bool = False, keep: Iterable[str] = ()
) -> list[FileStep]:
    """A removal for each file spctl wrote for ``pod`` (but those in ``keep``) that is on
    the node; one that changed on the node since only with ``force``."""
    keep = set(keep)
    steps = []
    for path, meta in sorted(facts.owned_files.items()):
        if meta.get("pod") != pod or path in keep:
            continue
        state = facts.pod_files.get(path)
        if state is None or not state.exists:
            continue
        if not force and file_changed_on_node(facts, path, state.sha256):
            raise file_refusal(node=node, pod=pod, path=path, facts=facts, verb="remove")
        steps.append(
            FileStep(
                path=path,
                action=FILE_REMOVE,
                reason=f"{path} is removed (spctl wrote it for {pod})",
                state=CHANGED_ON_NODE
                if file_changed_on_node(facts, path, state.sha256)
                else DRIFTED,
                expected_sha256=state.sha256,
                diff=f"# {path}: removed (sha256 {_short(state.sha256)})\n",
            )
        )
    return steps


def files_diff(steps: Iterable[FileStep]) -> str:
    return "".join(s.diff for s in steps if s.changes)
