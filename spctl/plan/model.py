"""What a plan is: the steps one node needs, each with its reason, and the kubelet change.

A :class:`Plan` is built by ``plan.directory`` or ``plan.url`` from (what should run, the
node's facts), shown by ``diff`` and ``deploy --dry-run``, and carried out by the agent.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Optional

from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.profiles import KubeletChange, Profile


class PlanError(SpctlError):
    """The node cannot be brought to the desired state safely."""


#: What a plan does with one of a pod's files (``FileStep.action``).
FILE_WRITE = "write"
FILE_REMOVE = "remove"
FILE_UNCHANGED = "unchanged"

#: How a pod's file on the node compares with the inventory (``FileStep.state``; status
#: shows it): the same bytes and metadata, other ones, absent, or changed on the node
#: since spctl wrote it (``plan.changed_on_node``).
IN_SYNC = "in-sync"
DRIFTED = "drifted"
MISSING = "missing"
CHANGED_ON_NODE = "changed-on-node"


@dataclass(frozen=True)
class FileStep:
    """One of a pod's files: written, removed or left as it is, with the reason; carried in
    the pod's change (``messages.file_change``), written before its manifest and removed
    after its pod is gone."""

    path: str
    action: str  # write | remove | unchanged
    reason: str
    state: str  # in-sync | drifted | missing | changed-on-node
    content: bytes = field(default=b"", repr=False)
    sha256: Optional[str] = None  # of ``content``
    expected_sha256: Optional[str] = None  # the file's sha256 when facts were read
    mode: int = 0o644
    owner: Optional[str] = None
    group: Optional[str] = None
    secret: bool = False
    diff: str = ""

    @property
    def changes(self) -> bool:
        return self.action in (FILE_WRITE, FILE_REMOVE)


@dataclass(frozen=True)
class PodStep:
    name: str
    file: str
    action: str  # create | update | unchanged | remove | adopt | rollback | move
    reason: str
    content: str = ""
    expected_sha256: Optional[str] = None  # the file's sha256 when facts were read
    diff: str = ""
    #: The pod's file in the directory the kubelet moves away from: retired by this step
    #: (for "move", its bytes become the file in the new directory).
    from_path: Optional[str] = None
    from_sha256: Optional[str] = None
    #: The pod's files, in the inventory's order (then those it no longer has).
    files: tuple[FileStep, ...] = ()
    #: The version it replaces is the same content (``spctl restart``): its backup is kept
    #: apart from the versions ``rollback`` brings back (messages.pod_change kept_backup).
    kept_backup: bool = False

    @property
    def changes(self) -> bool:
        return (
            self.action in ("create", "update", "remove", "rollback", "move")
            or bool(self.from_path)
            or any(f.changes for f in self.files)
        )


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
    #: The kubelet changes source (directory <-> URL): the agent stops it, changes the
    #: files and its configuration, then starts it (docs/url-mode.md, switching).
    switch: bool = False
    #: Values never shown (the node's token in the kubelet's files).
    redact: tuple[str, ...] = field(default=(), repr=False)
    #: The node IP hostNetwork probes use, when the profile knows it from the node's files
    #: (k3s's and rke2's node-ip); None: the agent finds it.
    node_ip: Optional[str] = None

    @classmethod
    def for_node(
        cls,
        node: str,
        profile: Profile,
        facts: NodeFacts,
        manifest_dir: str,
        kubelet: Optional[KubeletChange],
        pods: tuple[PodStep, ...],
        warnings: tuple[str, ...] = (),
        switch: bool = False,
        redact: tuple[str, ...] = (),
    ) -> Plan:
        """A plan for ``node`` with what the profile reads from the facts: the kubelet's
        node name, unit and healthz URL."""
        return cls(
            node=node,
            profile=profile.name,
            node_name=profile.node_name(facts),
            manifest_dir=manifest_dir,
            healthz_url=profile.healthz_url(facts),
            unit=profile.unit(facts),
            kubelet=kubelet,
            pods=pods,
            warnings=warnings,
            switch=switch,
            redact=redact,
            node_ip=profile.node_ip(facts),
        )

    @property
    def changed(self) -> bool:
        return self.kubelet is not None or any(p.changes for p in self.pods)

    def kubelet_diff(self) -> str:
        if self.kubelet is None:
            return ""
        text = "".join(
            unified(shown(f.old or ""), shown(f.new), f.path) for f in self.kubelet.files
        )
        return redacted(text, self.redact)


def shown(text: str) -> str:
    """A node file's text for a terminal: undecodable bytes (carried as lone surrogates)
    shown as U+FFFD. (Control characters are escaped where text is printed: cli.app.clean.)"""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def redacted(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of a plan's secrets (``Plan.redact``: the node's token) replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<token>")
    return text


def unified(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a{path}" if old else "/dev/null",
            tofile=f"b{path}",
        )
    )


def recovered_note(facts: NodeFacts) -> Optional[str]:
    """What the agent did about an unfinished transaction it found, for the operator."""
    rec = facts.recovered
    if not rec:
        return None
    what = (
        "an interrupted spctl run "
        f"({rec.get('holder')}, started {rec.get('started')}, phase {rec.get('phase')}"
        f"{', pods ' + ', '.join(rec.get('pods') or []) if rec.get('pods') else ''})"
    )
    if rec.get("action") == "completed":
        return f"{what} had succeeded; its change was completed"
    text = f"{what} was rolled back: its files and the kubelet's configuration are as before"
    if rec.get("problems"):
        text += "; BUT: " + "; ".join(rec["problems"])
    return text


def noted(plan: Plan, facts: NodeFacts) -> Plan:
    """The plan with the note of a recovered transaction first among its warnings."""
    note = recovered_note(facts)
    return replace(plan, warnings=(note, *plan.warnings)) if note else plan
