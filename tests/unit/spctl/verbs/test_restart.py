"""``verbs.restart``: which nodes a restart acts on (those the inventory runs the pod on,
among the selected), and a URL-mode node refused before it is touched."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from spctl.desired.inventory import Node, PodRef, SSHSettings, URLSettings
from spctl.errors import InventoryError, SpctlError
from spctl.verbs.restart import restart_node, restart_targets
from spctl.verbs.settings import Settings
from spctl.verbs.source import DirectorySource, URLSource


def node(name: str, *pods: str, url: str | None = None) -> Node:
    refs = tuple(PodRef(p, Path(f"templates/{p}.yaml.j2")) for p in pods)
    return Node(name=name, address="127.0.0.1", ssh=SSHSettings(), pods=refs, manifest_url=url)


def test_targets_are_the_selected_nodes_that_run_a_named_pod():
    nodes = [node("n1", "web", "lb"), node("n2", "lb"), node("n3", "db")]
    assert restart_targets(nodes, ["web", "lb"]) == {"n1": ["web", "lb"], "n2": ["lb"]}
    assert restart_targets(nodes, ["db"]) == {"n3": ["db"]}


def test_a_pod_no_selected_node_runs_is_an_error_listing_the_known_pods():
    with pytest.raises(InventoryError) as raised:
        restart_targets([node("n1", "web"), node("n2", "lb")], ["web", "nope"])
    assert str(raised.value) == (
        "pod(s) 'nope' not assigned to any selected node in the inventory; known pods: lb, web"
    )


def test_a_url_mode_node_is_refused_before_it_is_touched():
    url = "http://10.0.0.5:8080/nodes/n1/pods"
    n1 = node("n1", "web", url=url)
    # No connection is made: the node's address would not answer.
    with pytest.raises(SpctlError) as raised:
        restart_node(
            n1,
            ["web"],
            Settings(),
            URLSource(URLSettings(base="http://10.0.0.5:8080")),
            datetime.now(timezone.utc),
        )
    text = str(raised.value)
    assert text.startswith("node n1: restart works in directory mode only"), text
    assert url in text and "`spctl deploy`" in text
    DirectorySource(None).check_restart(n1)  # a directory node is not refused here
