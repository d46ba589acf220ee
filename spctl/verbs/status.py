"""One node's status: its facts read once (retried when the session drops), shown by its source."""

from __future__ import annotations

from typing import Optional

from spctl.desired.inventory import Node
from spctl.desired.probe_specs import readiness_specs
from spctl.desired.render import DesiredPod
from spctl.plan.status import NodeStatus
from spctl.verbs.read import read_facts
from spctl.verbs.session import read_node
from spctl.verbs.settings import Settings
from spctl.verbs.source import PodSource


def status_node(
    node: Node,
    desired: Optional[list[DesiredPod]],
    names: list[str],
    settings: Settings,
    source: PodSource,
) -> NodeStatus:
    """The node's status rows; READY from the readiness probes of the pods' rendering."""
    probes = readiness_specs(desired or [], names)
    facts = read_node(node, settings, lambda agent: read_facts(agent, node, names, probes))
    return source.status(node, facts, desired, names)
