"""What status --watch marks between two refreshes: each field of a pod that moved (age is
not one), pods that appear and go, a node that becomes unreachable or reachable again."""

from __future__ import annotations

from spctl.plan.status import NodeStatus, PodStatus
from spctl.plan.status_changes import Change, changes, describe


def pod(phase: str = "Running", restarts: int = 0, manifest: str = "in-sync") -> PodStatus:
    state = "running" if phase == "Running" else "exited"
    containers = [{"name": "web", "state": state, "restarts": restarts}]
    return PodStatus(
        "static-web", "static-web-n1", None, manifest, phase, phase == "Running", restarts, 5.0,
        containers,
    )  # fmt: skip


def test_changes_name_each_field_that_moved_and_ignore_age() -> None:
    before = [NodeStatus("n1", pods=[pod()]), NodeStatus("n2", pods=[pod()])]
    older = [NodeStatus("n1", pods=[pod()]), NodeStatus("n2", pods=[pod()])]
    older[0].pods[0].age = 500.0
    assert changes(before, older) == []
    after = [
        NodeStatus("n1", pods=[pod("Failed", 1, "drifted")]),
        NodeStatus("n2", reachable=False, error="n2: connection lost"),
    ]
    found = changes(before, after)
    assert found == [
        Change("n1", "static-web", "manifest", "in-sync", "drifted"),
        Change("n1", "static-web", "phase", "Running", "Failed"),
        Change("n1", "static-web", "ready", "1/1", "0/1"),
        Change("n1", "static-web", "restarts", 0, 1),
        Change("n2", None, "reachable", True, False, "n2: connection lost"),
    ]
    assert describe(found) == [
        "pod static-web on n1: manifest in-sync -> drifted, Running -> Failed, ready 1/1 -> 0/1, "
        "restarts 0 -> 1",
        "node n2 unreachable: n2: connection lost",
    ]
    back = changes(after, before)
    assert describe(back)[-1] == "node n2 reachable again"


def test_pods_that_appear_and_go() -> None:
    before = [NodeStatus("n1", pods=[])]
    after = [NodeStatus("n1", pods=[pod()])]
    assert describe(changes(before, after)) == ["pod static-web on n1: appeared (Running)"]
    assert describe(changes(after, before)) == ["pod static-web on n1: gone"]
