"""What status shows of the selected nodes (StatusView): the pods each node is assigned, or
only those named; a node whose templates do not render is still shown, from its node."""

from __future__ import annotations

from pathlib import Path

from spctl.desired.inventory import load_inventory
from spctl.verbs.settings import Settings
from spctl.verbs.status import StatusView
from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.ssh_server import FakeNode


def rows(view: StatusView, node) -> list[tuple[str, str, str]]:
    status = view.read(node, Settings())
    return [(p.name, p.manifest, p.phase) for p in status.pods]


def test_the_assigned_pods_or_only_those_named(tmp_path: Path) -> None:
    agent = FakeAgent("n1")
    agent.set_pod("web")
    with FakeNode(agent) as served:
        inv = load_inventory(write_inventory(tmp_path, {"n1": served}, ("web", "lb")))
        node = inv.nodes["n1"]
        everything = StatusView([node], (), inv.url, inv.fleet)
        assert everything.names(node) == ["web", "lb"]
        assert [r[0] for r in rows(everything, node)] == ["web", "lb"]
        assert dict((r[0], r[2]) for r in rows(everything, node)) == {
            "web": "Running",
            "lb": "Absent",
        }
        only_web = StatusView([node], ("web",), inv.url, inv.fleet)
        assert only_web.names(node) == ["web"]
        assert [r[0] for r in rows(only_web, node)] == ["web"]
        # A pod the node is not assigned is still looked for when named.
        assert StatusView([node], ("other",), inv.url, inv.fleet).names(node) == ["other"]


def test_a_node_whose_template_does_not_render_is_still_shown(tmp_path: Path) -> None:
    agent = FakeAgent("n1")
    agent.set_pod("web")
    with FakeNode(agent) as served:
        path = write_inventory(tmp_path, {"n1": served}, ("web",))
        (tmp_path / "templates" / "web.yaml.j2").write_text("{{ undefined_variable }}\n")
        inv = load_inventory(path)
        node = inv.nodes["n1"]
        view = StatusView([node], (), inv.url, inv.fleet)
        assert view.desired(node) is None
        assert [(r[0], r[2]) for r in rows(view, node)] == [("web", "Running")]
