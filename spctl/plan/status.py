"""A node's static pods as status shows them, decided from its facts (pure but for the clock,
which gives each pod's age)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from spctl_agent.protocol import MANIFEST_SUFFIX, SOURCE_HTTP

from spctl.desired.inventory import Node
from spctl.desired.render import DesiredPod
from spctl.desired.restart_annotation import kept_restart
from spctl.errors import SpctlError
from spctl.facts import NodeFacts, RuntimePod
from spctl.plan.changed_on_node import (
    BYTES_ONLY,
    OTHER_POD,
    TAKEN_IN,
    changed_on_node,
    compared,
)
from spctl.plan.changed_on_node import STATE as CHANGED_ON_NODE
from spctl.plan.directory import choose_dir, stray_files
from spctl.plan.files import file_state
from spctl.plan.model import CHANGED_ON_NODE as FILE_CHANGED_ON_NODE
from spctl.plan.model import recovered_note
from spctl.profiles import detect
from spctl.profiles.base import same_dir


@dataclass
class PodStatus:
    name: str
    pod: str
    file: Optional[str]
    #: in-sync | drifted (the inventory renders something else) | changed-on-node (the
    #: file changed since spctl wrote it: plan.changed_on_node) | missing | unmanaged
    manifest: str
    phase: str  # Running | Pending | Failed | Succeeded | Absent
    ready: bool
    restarts: int
    age: Optional[float]
    containers: list[dict[str, Any]]
    not_ready: str = ""  # why its readiness probe fails, when it runs but is not ready
    #: The pod's files: [{"path", "state"}], state in-sync | drifted | missing |
    #: changed-on-node (``plan.files.file_state``).
    files: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pod": self.pod,
            "file": self.file,
            "manifest": self.manifest,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "age_seconds": None if self.age is None else int(self.age),
            "containers": self.containers,
            "not_ready": self.not_ready or None,
            "files": self.files,
        }


@dataclass
class NodeStatus:
    name: str
    reachable: bool = True
    error: Optional[str] = None
    profile: Optional[str] = None
    kubelet_active: bool = False
    kubelet_healthy: bool = False
    manifest_dir: Optional[str] = None
    runtime: Optional[str] = None  # "cri" or "docker": where the agent read the pods
    runtime_endpoint: Optional[str] = None
    #: The CRI version the runtime answered in ("v1", "v1alpha2"); None for Docker.
    runtime_cri_version: Optional[str] = None
    pods: list[PodStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: URL mode: the URL, what the server serves, the last fetch (:class:`URLStatus`).
    url: Optional[dict[str, Any]] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "error": self.error,
            "profile": self.profile,
            "kubelet": {
                "active": self.kubelet_active,
                "healthy": self.kubelet_healthy,
                "manifest_dir": self.manifest_dir,
            },
            "runtime": {
                "kind": self.runtime,
                "endpoint": self.runtime_endpoint,
                "cri_version": self.runtime_cri_version,
            },
            "warnings": self.warnings,
            "url": self.url,
            "pods": [p.as_dict() for p in self.pods],
        }


@dataclass
class URLStatus:
    """What ``spctl serve`` serves a URL-mode node, against what the inventory renders."""

    url: Optional[str]
    served: str  # in-sync | stale | unreachable
    served_sha256: Optional[str]
    expected_sha256: str
    last_fetch: Optional[dict[str, Any]]
    error: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "served": self.served,
            "served_sha256": self.served_sha256,
            "expected_sha256": self.expected_sha256,
            "last_fetch": self.last_fetch,
            "error": self.error,
        }


def node_status(
    node: Node,
    facts: NodeFacts,
    desired: Optional[list[DesiredPod]],
    names: list[str],
) -> NodeStatus:
    """The status of a node whose pods come from its manifest directory: one row per pod of
    ``names``, then the other static pods the kubelet runs (unmanaged)."""
    status = NodeStatus(node.name)
    status.runtime = facts.runtime
    status.runtime_endpoint = facts.runtime_endpoint
    status.runtime_cri_version = facts.runtime_cri_version
    note = recovered_note(facts)
    if note:
        status.warnings.append(note)
    if facts.journal:
        status.warnings.append(
            f"a spctl run ({facts.journal.get('holder')}) is changing this node now"
        )
    try:
        profile = detect(facts, node.profile)
    except SpctlError as exc:
        status.error = str(exc)
        return status
    status.profile = profile.name
    unit = facts.unit(profile.unit(facts))
    status.kubelet_active = bool(unit and unit.active)
    status.kubelet_healthy = facts.healthz
    # The running kubelet's directory, not its files': a file edited without a restart (a
    # hand edit, an agent killed in between) is a pending change that deploy settles.
    configured = profile.manifest_dir(facts)
    running = facts.running_dir(profile.unit(facts))
    status.manifest_dir = running or configured
    if running and configured and not same_dir(running, configured):
        status.warnings.append(
            f"the running kubelet watches {running} but its configuration names "
            f"{configured} (changed without a restart): a pending change; `spctl diff` "
            "shows how deploy completes or reverts it"
        )
    directory = node.manifest_dir or running or choose_dir(node, profile, facts)
    node_name = profile.node_name(facts)
    if facts.runtime_error:
        status.warnings.append(f"container runtime: {facts.runtime_error}")
    entries = {e.name: e for e in facts.dirs.get(directory) or ()}
    # A pod `spctl restart` restarted is in sync: its annotation is kept (restart_annotation).
    want = {p.name: kept_restart(p, facts.file(f"{directory}/{p.file}")) for p in desired or []}
    seen_pods: set[str] = set()
    for name in names:
        file = name + MANIFEST_SUFFIX
        path = f"{directory}/{file}"
        entry = entries.get(file)
        if entry is None:
            manifest = "missing"
        elif path not in facts.owned:
            manifest = "unmanaged"  # a file spctl did not write; deploy will not touch it
        elif name in want and entry.sha256 == want[name].sha256:
            manifest = "in-sync"  # (after `spctl import`, deploy records it as spctl's)
        elif how := _refused_change(facts, path, entry.sha256, want.get(name)):
            manifest = CHANGED_ON_NODE  # deploy refuses to overwrite it (without --force)
            status.warnings.append(_changed_warning(path, name, node.name, how))
        elif name in want:
            manifest = "drifted"
        else:
            recorded = (facts.owned.get(path) or {}).get("sha256")
            manifest = "in-sync" if recorded == entry.sha256 else "drifted"
        kubelet_name = f"{name}-{node_name}"
        seen_pods.add(kubelet_name)
        row = _row(name, kubelet_name, path if entry else None, manifest, facts.pod(kubelet_name))
        if name in want:
            row.files = [{"path": f.path, "state": file_state(f, facts)} for f in want[name].files]
            status.warnings += [
                f"{f['path']} (a file of pod {name}) changed on node since spctl wrote it: "
                f"deploy refuses to overwrite it; `spctl deploy {name} --node {node.name} "
                "--force` puts spctl's back"
                for f in row.files
                if f["state"] == FILE_CHANGED_ON_NODE
            ]
        status.pods.append(row)
    listed = {name + MANIFEST_SUFFIX for name in names}
    for entry in facts.dirs.get(directory) or ():
        if not entry.kubelet_reads or entry.name in listed:
            continue
        path = f"{directory}/{entry.name}"
        if path in facts.owned:
            status.warnings.append(
                f"{path} was deployed by spctl but the inventory no longer assigns it to this "
                f"node; `spctl remove {facts.owned[path].get('pod')} --node {node.name}` removes it"
            )
        pod_name = entry.pod_name or entry.name
        kubelet_name = f"{pod_name}-{node_name}"
        seen_pods.add(kubelet_name)
        status.pods.append(_row(pod_name, kubelet_name, path, "unmanaged", facts.pod(kubelet_name)))
    # Static pods of other sources (another directory, a manifest URL) the runtime shows.
    for pod in facts.pods:
        source = pod.annotations.get("kubernetes.io/config.source")
        if pod.pod in seen_pods or source not in ("file", "http"):
            continue
        base = pod.pod[: -len(node_name) - 1] if pod.pod.endswith("-" + node_name) else pod.pod
        status.pods.append(_row(base, pod.pod, None, "unmanaged", pod))
    status.warnings += stray_files(facts, directory)
    return status


def _refused_change(
    facts: NodeFacts, path: str, sha256: Optional[str], desired: Optional[DesiredPod]
) -> Optional[str]:
    """How ``path`` changed on the node, when deploy refuses it (``BYTES_ONLY`` or
    ``OTHER_POD``, ``plan.changed_on_node.compared``); None when it did not, or when the
    inventory renders the node's version (deploy adopts it)."""
    if not changed_on_node(facts, path, sha256):
        return None
    how = OTHER_POD if desired is None else compared(facts, path, sha256, desired.content)
    return None if how == TAKEN_IN else how


def _changed_warning(path: str, pod: str, node: str, how: str) -> str:
    """What to do about ``path``, changed on node (``how``: ``plan.changed_on_node.compared``)."""
    if how == BYTES_ONLY:
        return (
            f"{path} changed on node since spctl wrote it, in its bytes only (a comment, "
            "another spelling; the same pod): deploy refuses to rewrite it; `spctl deploy "
            f"{pod} --node {node} --force` rewrites it as rendered (nothing restarts)"
        )
    return (
        f"{path} changed on node since spctl wrote it (kubeadm upgrade apply, a hand edit): "
        f"deploy refuses to overwrite it; `spctl import {pod} --force` takes the node's "
        f"version into the template, `spctl deploy {pod} --node {node} --force` puts "
        "spctl's back"
    )


def url_node_status(
    node: Node,
    facts: NodeFacts,
    desired: list[DesiredPod],
    names: list[str],
    served: URLStatus,
) -> NodeStatus:
    """The status of a node in URL mode: the pods the kubelet runs from its URL (config
    source http), with the same columns as directory mode; ``manifest`` says whether the
    pod is in the node's rendering (in-sync), or missing from it, and drifted when the
    server does not serve what the inventory renders (``served``)."""
    status = node_status(node, facts, None, [])
    status.url = served.as_dict()
    try:
        node_name = detect(facts, node.profile).node_name(facts)
    except SpctlError:
        return status
    want = {p.name for p in desired}
    rows = []
    for name in names or sorted(want):
        kubelet_name = f"{name}-{node_name}"
        pod = next(
            (
                p
                for p in facts.pods
                if p.pod == kubelet_name
                and p.annotations.get("kubernetes.io/config.source") == SOURCE_HTTP
            ),
            None,
        )
        manifest = "in-sync" if name in want else "missing"
        if manifest == "in-sync" and served.served != "in-sync":
            manifest = "drifted"  # the kubelet is not served what the inventory renders
        rows.append(_row(name, kubelet_name, node.manifest_url, manifest, pod))
    http_names = {r.pod for r in rows}
    status.pods = rows + [p for p in status.pods if p.pod not in http_names or p.file is not None]
    return status


def _row(
    name: str, kubelet_name: str, file: Optional[str], manifest: str, pod: Optional[RuntimePod]
) -> PodStatus:
    if pod is None:
        return PodStatus(name, kubelet_name, file, manifest, "Absent", False, 0, None, [])
    age = time.time() - pod.created if pod.created else None
    containers = [
        {
            "name": c.name,
            "state": c.state,
            "restarts": c.restarts,
            "last_exit_code": c.last_exit_code,
            "last_reason": c.last_reason,
        }
        for c in pod.containers
    ]
    return PodStatus(
        name,
        kubelet_name,
        file,
        manifest,
        pod.phase,
        pod.ready,
        pod.restarts,
        age,
        containers,
        pod.not_ready,
    )


def ready_text(pod: PodStatus) -> str:
    """The READY column: ready containers of all, as kubectl prints it: running, and passing
    its readiness probe when it has one (``not_ready`` names the container that fails)."""
    if pod.containers:
        failing = pod.not_ready.split(":", 1)[0] if pod.not_ready else None
        ready = sum(
            1 for c in pod.containers if c.get("state") == "running" and c.get("name") != failing
        )
        return f"{ready}/{len(pod.containers)}"
    if pod.phase == "Absent":
        return "-"
    return "1/1" if pod.ready else "0/1"
