"""Plans for URL mode: a kubelet that fetches its pods from ``spctl serve``.

- A node in ``source: url``: the kubelet is pointed at ``node.manifest_url`` with its token
  (``Profile.configure_url``), and the pods are waited for as the kubelet runs them from the URL
  (annotation ``kubernetes.io/config.source: http``). The server is checked beforehand by
  the caller (``verbs.source.URLSource.check``): it must serve what the inventory renders now.
- Switching file -> url: spctl's files of the node's pods leave the manifest directory in
  the same transaction that points the kubelet at the URL.
- Switching url -> file: a node in ``source: file`` whose kubelet still fetches spctl's URL
  for it gets its files back and the URL taken out, in one transaction.

A switch is carried out with the kubelet stopped (``Plan.switch``): the agent stops it,
removes or writes the pods' files and changes its configuration, then starts it. At no
moment does a running kubelet see the same pod from both sources (a file pod and an http
pod of one name get different UIDs, ``pkg/kubelet/config/common.go``, and both would run),
and the pods are lost for no longer than that one restart: the containers keep running
while the kubelet is stopped, and the started kubelet replaces them by the new source's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from spctl.desired.inventory import Node
from spctl.desired.render import DesiredPod
from spctl.facts import NodeFacts
from spctl.manifest_url import node_path, node_url
from spctl.plan.changed_on_node import changed_on_node, refusal
from spctl.plan.directory import check_kubelet_names, choose_dir, plan_deploy, stray_files
from spctl.plan.model import Plan, PlanError, PodStep, unified
from spctl.profiles import detect
from spctl.profiles.base import same_dir


def refuse_files(node: Node, desired: list[DesiredPod]) -> None:
    """A pod with files on a node in URL mode: bad input (the kubelet fetches manifests
    from the URL; nothing carries the files)."""
    with_files = [pod.name for pod in desired if pod.files]
    if with_files:
        raise PlanError(
            f"node {node.name}: pod(s) {', '.join(with_files)} have files, but the node is in "
            "source: url: files are delivered in directory mode; URL mode serves manifests "
            "only. Deliver this pod in directory mode (source: file) or drop its files"
        )


def plan_url(
    node: Node, desired: list[DesiredPod], facts: NodeFacts, token: str, force: bool = False
) -> Plan:
    """The plan for a node in ``source: url`` (``node.manifest_url`` set); a file of spctl's
    that changed on the node is taken out of the directory only with ``force``."""
    url = node.manifest_url
    if not url:
        raise PlanError(f"node {node.name}: source url needs url.base in the inventory")
    refuse_files(node, desired)
    profile = detect(facts, node.profile)
    node_name = profile.node_name(facts)
    check_kubelet_names(node, node_name, desired)
    kubelet, warnings = profile.configure_url(facts, url, token)
    directory = profile.manifest_dir(facts) or choose_dir(node, profile, facts)
    entries = {e.name: e for e in facts.dirs.get(directory) or ()}
    steps = []
    for pod in desired:
        owned = [
            path
            for path, meta in sorted(facts.owned.items())
            if meta.get("pod") == pod.name and same_dir(path.rsplit("/", 1)[0], directory)
        ]
        others = [
            e.name
            for e in entries.values()
            if e.kubelet_reads and e.pod_name == pod.name and f"{directory}/{e.name}" not in owned
        ]
        if others:
            raise PlanError(
                f"node {node.name}: {', '.join(f'{directory}/{o}' for o in others)} also "
                f"define(s) pod {pod.name!r}, which the node now gets from {url}; the kubelet "
                "would run both. Move the file(s) out of the manifest directory, then deploy again"
            )
        removed = False
        for path in owned:
            file = path.rsplit("/", 1)[1]
            entry = entries.get(file)
            if entry is None:
                continue
            if not force and changed_on_node(facts, path, entry.sha256):
                raise refusal(
                    node=node.name,
                    pod=pod.name,
                    path=path,
                    facts=facts,
                    verb="url",
                    rendered=pod.content,
                    redact=(token,),
                )
            removed = True
            steps.append(
                PodStep(
                    pod.name,
                    file,
                    "remove",
                    f"{path} is removed: the pod now comes from {url}",
                    expected_sha256=entry.sha256,
                    diff=unified(facts.file(path) or "", "", path),
                )
            )
        if not removed:
            steps.append(PodStep(pod.name, pod.file, "unchanged", f"served at {url}"))
    switch = kubelet is not None and any(s.action == "remove" for s in steps)
    return Plan.for_node(
        node.name,
        profile,
        facts,
        directory,
        kubelet,
        tuple(steps),
        warnings=tuple(warnings) + tuple(stray_files(facts, directory)),
        switch=switch,
        redact=(token,),
    )


def plan_file(
    node: Node,
    desired: list[DesiredPod],
    facts: NodeFacts,
    base: Optional[str],
    force: bool = False,
) -> Plan:
    """The plan for a node in ``source: file``: the directory plan, plus taking out the URL
    spctl pointed its kubelet at earlier (a switch back from URL mode)."""
    profile = detect(facts, node.profile)
    now = profile.current_url(facts)
    plan = plan_deploy(node, desired, facts, force, redact=(now.token,) if now.token else ())
    if now.url is None:
        return plan
    # spctl's: the inventory's URL for the node, or (url.base moved since) one with the
    # node's path and spctl's token header.
    ours = (base is not None and now.url == node_url(base, node.name)) or (
        now.token is not None and now.url.endswith(node_path(node.name))
    )
    if not ours:
        return replace(
            plan,
            warnings=(
                *plan.warnings,
                f"the kubelet also fetches pods from {now.url}, which spctl did not configure",
            ),
        )
    if plan.kubelet is not None:
        raise PlanError(
            f"node {node.name}: leaving URL mode and moving the manifest directory "
            f"({plan.kubelet.reason}) at once is refused; deploy with the node's current "
            "directory first (manifest_dir), then move it"
        )
    kubelet, _ = profile.configure_url(facts, None, None)
    return replace(
        plan,
        kubelet=kubelet,
        switch=any(s.action in ("create", "update", "adopt") for s in plan.pods),
        redact=(now.token,) if now.token else (),
        warnings=(*plan.warnings, f"leaving URL mode: the kubelet stops fetching {now.url}"),
    )
