"""The facts request: what a node is, read by its agent in one call (three more at most)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Optional

from spctl_agent.protocol import messages

from spctl import profiles
from spctl.desired.inventory import Node
from spctl.facts import NodeFacts
from spctl.transport.agent import Agent


def facts_request(
    node: Node, pods: list[str], read: Sequence[str] = (), probes: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """What every facts call asks: what each profile reads to detect and configure, the
    inventory's manifest directory first; plus the files in ``read``, and the pods' probes
    to run (``probes``)."""
    return messages.facts_request(probes=probes, **_wanted(node, pods, read))


def _wanted(node: Node, pods: list[str], read: Sequence[str] = ()) -> dict[str, Any]:
    """The facts request's fields but the probes (``messages.facts_request``'s keywords):
    with the state of the pods' files (``pod_files``), and the text of those that are no
    secret (``read``), for ``diff`` to show what changes in them."""
    wanted: dict[str, Any] = {"pods": pods, **profiles.facts_request()}
    if node.manifest_dir:
        wanted["manifest_dirs"] = [node.manifest_dir, *wanted["manifest_dirs"]]
    files = [f for ref in node.pods if ref.name in pods for f in ref.files]
    wanted["read"] = [*wanted["read"], *read, *(f.path for f in files if f.kind != "secret")]
    if files:
        wanted["pod_files"] = [f.path for f in files]
    return wanted


def _owned_elsewhere(facts: NodeFacts, pods: list[str], wanted: dict[str, Any]) -> list[str]:
    """The files spctl wrote for ``pods`` that the request did not name (a file the
    inventory no longer gives a pod, a pod being removed): their state is read with one
    more call, for the plan to remove them."""
    asked = set(wanted.get("pod_files") or ())
    return sorted(
        path
        for path, meta in facts.owned_files.items()
        if meta.get("pod") in pods and path not in asked
    )


def read_facts(
    agent: Agent,
    node: Node,
    pods: list[str],
    probes: Optional[dict[str, Any]] = None,
    restart_policies: Optional[dict[str, str]] = None,
) -> NodeFacts:
    """The node's facts; with ``probes`` (``desired.probe_specs.readiness_specs``), the pods' READY
    comes from their readiness probes (one attempt each on the node, as status shows it);
    with ``restart_policies`` (``desired.restart_policies``), their phase is the kubelet's
    for that policy."""
    wanted = _wanted(node, pods)
    wanted["restart_policies"] = restart_policies
    # A hostNetwork pod is probed on the node's IP, which k3s and rke2 take from their
    # config files, known only from an answer: such probes run in the last call, once that
    # IP is known, and never first at another address.
    host_network = any(s.get("hostNetwork") for s in (probes or {}).values())
    first = None if host_network else probes
    facts = NodeFacts.from_agent(agent.call(messages.facts_request(probes=first, **wanted)))
    probed = facts.pods  # the probes ran in this call: its pods carry READY
    # A data dir, config file or manifest directory other than the defaults is known only
    # from an answer (a config file named on the command line, then the directory that file
    # names): read it with another call, at most two more.
    for _ in range(2):
        extra = profiles.follow_up(facts, node.profile)
        if extra is None:
            break
        for key, values in extra.items():
            wanted[key] = [*wanted[key], *values]
        facts = NodeFacts.from_agent(agent.call(messages.facts_request(**wanted)))
    extra_files = _owned_elsewhere(facts, pods, wanted)
    if extra_files:
        wanted["pod_files"] = [*(wanted.get("pod_files") or ()), *extra_files]
        facts = NodeFacts.from_agent(agent.call(messages.facts_request(**wanted)))
    if host_network:
        node_ip = _node_ip(facts, node)
        request = messages.facts_request(probes=probes, node_ip=node_ip, **wanted)
        probed = NodeFacts.from_agent(agent.call(request)).pods
    return replace(facts, pods=probed) if probes else facts


def _node_ip(facts: NodeFacts, node: Node) -> Optional[str]:
    """The node IP the profile knows from the node's files (k3s, rke2), else None: the
    agent then finds the kubelet's own."""
    try:
        return profiles.detect(facts, node.profile).node_ip(facts)
    except profiles.ProfileError:
        return None
