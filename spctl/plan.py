"""Deciding what to change on a node: pure functions of (desired pods, node facts).

``diff`` and ``deploy --dry-run`` stop here; ``deploy`` hands the plan to the agent. Every
decision carries its reason, so "nothing to do" says why.

Ownership: spctl records on the node (``/var/lib/spctl/state.json``) each manifest it wrote.
It changes or removes only those. A file at a pod's path that spctl does not own is adopted
when its content already equals the desired one, and otherwise refused.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Optional

from spctl.errors import SpctlError
from spctl.facts import DirEntry, NodeFacts
from spctl.inventory import Node
from spctl.manifest import semantically_equal
from spctl.profiles import KubeletChange, Profile, detect
from spctl.render import FILE_SUFFIX, DesiredPod


class PlanError(SpctlError):
    """The node cannot be brought to the desired state safely."""


@dataclass(frozen=True)
class PodStep:
    name: str
    file: str
    action: str  # create | update | unchanged | remove | adopt | rollback
    reason: str
    content: str = ""
    expected_sha256: Optional[str] = None  # the file's sha256 when facts were read
    diff: str = ""

    @property
    def changes(self) -> bool:
        return self.action in ("create", "update", "remove", "rollback")


@dataclass(frozen=True)
class Plan:
    node: str
    profile: str
    node_name: str  # the kubelet's node name: pods are called <name>-<node_name>
    manifest_dir: str
    healthz_url: str
    unit: str
    kubelet: Optional[KubeletChange]
    pods: tuple[PodStep, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return self.kubelet is not None or any(p.changes for p in self.pods)

    def kubelet_diff(self) -> str:
        if self.kubelet is None:
            return ""
        return "".join(unified(f.old or "", f.new, f.path) for f in self.kubelet.files)


def unified(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a{path}" if old else "/dev/null",
            tofile=f"b{path}",
        )
    )


def choose_dir(node: Node, profile: Profile, facts: NodeFacts) -> str:
    return node.manifest_dir or profile.default_manifest_dir(facts)


def plan_deploy(node: Node, desired: list[DesiredPod], facts: NodeFacts) -> Plan:
    profile = detect(facts, node.profile)
    directory = choose_dir(node, profile, facts)
    kubelet = profile.configure(facts, directory)
    entries = _entries(facts, directory)
    steps = []
    for pod in desired:
        path = f"{directory}/{pod.file}"
        entry = entries.get(pod.file)
        current = facts.file(path)
        if entry is None:
            steps.append(
                PodStep(
                    pod.name,
                    pod.file,
                    "create",
                    f"{path} does not exist",
                    pod.content,
                    None,
                    unified("", pod.content, path),
                )
            )
        elif entry.type != "file":
            raise PlanError(f"node {node.name}: {path} is a {entry.type}, not a file; move it away")
        elif path not in facts.owned:
            if current is not None and semantically_equal(current, pod.content):
                steps.append(
                    PodStep(
                        pod.name,
                        pod.file,
                        "adopt",
                        f"{path} already has this content; spctl now owns it",
                        pod.content,
                        entry.sha256,
                    )
                )
            else:
                raise PlanError(
                    f"node {node.name}: {path} exists and spctl did not write it; spctl never "
                    "changes files it does not own. Compare it with `spctl render`, then move it "
                    "out of the manifest directory (or delete it) and deploy again"
                )
        elif entry.sha256 == pod.sha256:
            steps.append(
                PodStep(
                    pod.name,
                    pod.file,
                    "unchanged",
                    f"{path} is up to date",
                    pod.content,
                    entry.sha256,
                )
            )
        else:
            steps.append(
                PodStep(
                    pod.name,
                    pod.file,
                    "update",
                    f"{path} differs",
                    pod.content,
                    entry.sha256,
                    unified(current or "", pod.content, path),
                )
            )
    return Plan(
        node=node.name,
        profile=profile.name,
        node_name=profile.node_name(facts),
        manifest_dir=directory,
        healthz_url=profile.healthz_url(facts),
        unit=profile.unit(facts),
        kubelet=kubelet,
        pods=tuple(steps),
        warnings=tuple(stray_files(facts, directory)),
    )


def plan_remove(node: Node, names: list[str], facts: NodeFacts) -> Plan:
    profile = detect(facts, node.profile)
    directory = profile.manifest_dir(facts) or choose_dir(node, profile, facts)
    entries = _entries(facts, directory)
    steps = []
    for name in names:
        file = name + FILE_SUFFIX
        path = f"{directory}/{file}"
        entry = entries.get(file)
        if entry is None:
            steps.append(PodStep(name, file, "unchanged", f"{path} is already absent"))
        elif path not in facts.owned:
            raise PlanError(
                f"node {node.name}: {path} was not written by spctl; spctl never removes files "
                "it does not own. Remove it by hand if it should go"
            )
        else:
            steps.append(
                PodStep(
                    name,
                    file,
                    "remove",
                    f"{path} is removed",
                    "",
                    entry.sha256,
                    unified(facts.file(path) or "", "", path),
                )
            )
    return Plan(
        node.name,
        profile.name,
        profile.node_name(facts),
        directory,
        profile.healthz_url(facts),
        profile.unit(facts),
        None,
        tuple(steps),
    )


def plan_rollback(node: Node, names: list[str], facts: NodeFacts) -> Plan:
    profile = detect(facts, node.profile)
    directory = profile.manifest_dir(facts) or choose_dir(node, profile, facts)
    steps = []
    for name in names:
        file = name + FILE_SUFFIX
        path = f"{directory}/{file}"
        if path not in facts.owned:
            raise PlanError(
                f"node {node.name}: {path} is not managed by spctl; nothing to roll back"
            )
        if not facts.backups.get(name):
            raise PlanError(
                f"node {node.name}: no earlier version of {name} is backed up on the node"
            )
        steps.append(PodStep(name, file, "rollback", f"{path} goes back to its previous version"))
    return Plan(
        node.name,
        profile.name,
        profile.node_name(facts),
        directory,
        profile.healthz_url(facts),
        profile.unit(facts),
        None,
        tuple(steps),
    )


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
        elif entry.size > 10 * 1024 * 1024:
            warnings.append(f"{directory}/{entry.name} is over 10 MiB; the kubelet refuses it")
    for pod, files in sorted(by_pod.items()):
        if len(files) > 1:
            warnings.append(
                f"pod {pod!r} is defined by {len(files)} files in {directory} ({', '.join(files)}); "
                "which one the kubelet runs is undefined: keep one"
            )
    return warnings
