"""The kubelet's container garbage collection for one pod (standin/garbage.py)."""

from __future__ import annotations

from typing import Any

from spctl_lab.standin.garbage import garbage
from spctl_lab.standin.pods import PodContainers, RuntimeContainer


def rc(cid: str, container: str, attempt: int, alive: bool, sandbox: str = "s0") -> Any:
    return RuntimeContainer(
        id=cid,
        pod_uid="u1",
        pod_name="p-my-node1",
        namespace="default",
        container=container,
        attempt=attempt,
        state="running" if alive else "exited",
        created=attempt,
        sandbox_id=cid if container == "POD" else sandbox,
        ip="",
        grace=30,
    )


def pod_of(*items: Any) -> Any:
    pod = PodContainers()
    for c in items:
        if c.container == "POD":
            pod.sandboxes.append(c)
        else:
            pod.containers.setdefault(c.container, []).append(c)
    for history in [pod.sandboxes, *pod.containers.values()]:
        history.sort(key=lambda c: c.attempt, reverse=True)
    return pod


def test_gc_keeps_the_newest_dead_container_of_each_name() -> None:
    pod = pod_of(
        rc("s0", "POD", 0, True),
        rc("w0", "web", 0, False),
        rc("w1", "web", 1, False),
        rc("w2", "web", 2, True),
        rc("x0", "side", 0, False),
    )
    assert [c.id for c in garbage(pod)] == ["w0"]


def test_gc_keeps_a_dead_sandbox_while_it_holds_a_dead_container() -> None:
    # The sandbox died; a new one runs the restarted container; the old one holds w0.
    pod = pod_of(
        rc("s0", "POD", 0, False),
        rc("s1", "POD", 1, True),
        rc("w0", "web", 0, False, "s0"),
        rc("w1", "web", 1, True, "s1"),
    )
    assert garbage(pod) == []
    # Once w1 has died too, w0 goes, and with it the sandbox that held it.
    pod = pod_of(
        rc("s0", "POD", 0, False),
        rc("s1", "POD", 1, True),
        rc("w0", "web", 0, False, "s0"),
        rc("w1", "web", 1, False, "s1"),
    )
    assert [c.id for c in garbage(pod)] == ["w0", "s0"]


def test_gc_never_removes_the_newest_sandbox_and_removes_older_empty_ones() -> None:
    pod = pod_of(rc("s0", "POD", 0, False), rc("s1", "POD", 1, False), rc("s2", "POD", 2, False))
    assert [c.id for c in garbage(pod)] == ["s0", "s1"]
