"""What status shows: one node's rows from its facts, read once (retried when the session
drops) and shown by its pod source; and the view of the selected nodes (``StatusView``)."""

from __future__ import annotations

from typing import Optional

from spctl.desired.fleet import Fleet
from spctl.desired.inventory import Node, URLSettings
from spctl.desired.probe_specs import readiness_specs
from spctl.desired.render import DesiredPod, render_node
from spctl.desired.restart_policies import restart_policies
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.status import NodeStatus
from spctl.verbs.read import read_facts
from spctl.verbs.session import read_node
from spctl.verbs.settings import Settings
from spctl.verbs.source import PodSource, source_for


def status_node(
    node: Node,
    desired: Optional[list[DesiredPod]],
    names: list[str],
    settings: Settings,
    source: PodSource,
) -> NodeStatus:
    """The node's status rows; READY from the readiness probes of the pods' rendering."""
    probes = readiness_specs(desired or [], names)
    policies = restart_policies(desired or [], names)
    facts = read_node(
        node, settings, lambda agent: read_facts(agent, node, names, probes, policies)
    )
    return source.status(node, facts, desired, names)


class StatusView:
    """What ``spctl status`` shows of the selected nodes: each node's rows for the pods the
    inventory assigns it (or only ``pods``, when named), from its own pod source.

    The nodes are rendered here, one after another, once: in the workers, every thread would
    load and compile the same templates at once. A node that does not render still gets its
    rows, with no rendering to compare (``spctl validate`` says why).
    """

    def __init__(
        self, nodes: list[Node], pods: tuple[str, ...], url: URLSettings, fleet: Fleet
    ) -> None:
        self.pods = pods
        self.url = url
        self.rendered: dict[str, Optional[list[DesiredPod]]] = {}
        for node in nodes:
            try:
                self.rendered[node.name] = render_node(node, fleet, pods)
            except SpctlError:
                self.rendered[node.name] = None

    def names(self, node: Node) -> list[str]:
        """The pods shown for ``node``: its pods, or the ones named."""
        return [r.name for r in node.pods if not self.pods or r.name in self.pods] or list(
            self.pods
        )

    def desired(self, node: Node) -> Optional[list[DesiredPod]]:
        return self.rendered[node.name]

    def of(self, node: Node, facts: NodeFacts) -> NodeStatus:
        """The node's rows from facts already read (``status --watch`` reads them itself)."""
        status = source_for(node, self.url).status(
            node, facts, self.desired(node), self.names(node)
        )
        return self._only_named(status)

    def read(self, node: Node, settings: Settings) -> NodeStatus:
        """The node's rows, its facts read once (retried when the session drops)."""
        source = source_for(node, self.url)
        status = status_node(node, self.desired(node), self.names(node), settings, source)
        return self._only_named(status)

    def _only_named(self, status: NodeStatus) -> NodeStatus:
        if self.pods:
            status.pods = [p for p in status.pods if p.name in self.pods]
        return status
