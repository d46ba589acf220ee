"""Ctrl-C in fleet.run: the first stops starting nodes and waits for those in flight; the
second raises Abandoned at once, naming the nodes still in flight."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from spctl.desired.inventory import Node, SSHSettings
from spctl.transport import fleet


def nodes(*names: str) -> list[Node]:
    return [Node(name=n, address=n, ssh=SSHSettings()) for n in names]


def send_sigint_when(condition: threading.Event) -> None:
    def fire() -> None:
        condition.wait(10)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def test_first_ctrl_c_waits_second_abandons() -> None:
    started = {n: threading.Event() for n in "abc"}
    release = {n: threading.Event() for n in "abc"}
    told: list[list[str]] = []
    second = threading.Event()

    def work(node: Node) -> str:
        started[node.name].set()
        release[node.name].wait(20)
        return "done"

    def on_interrupt(in_flight: list[str]) -> None:
        told.append(in_flight)
        release["a"].set()  # a finishes; b stays in flight
        second.set()

    both = threading.Event()
    threading.Thread(
        target=lambda: (started["a"].wait(10), started["b"].wait(10), both.set()), daemon=True
    ).start()
    send_sigint_when(both)
    send_sigint_when(second)
    with pytest.raises(fleet.Abandoned) as caught:
        fleet.run(nodes("a", "b", "c"), work, workers=2, on_interrupt=on_interrupt)
    release["b"].set()
    assert told == [["a", "b"]]
    assert caught.value.in_flight == ["b"]
    assert caught.value.exit_code == 130
    assert "may still be finishing their transaction on their own: b" in str(caught.value)
    assert not started["c"].is_set()  # never started


def test_one_ctrl_c_lets_the_nodes_in_flight_finish() -> None:
    started = threading.Event()
    release = threading.Event()

    def work(node: Node) -> str:
        if node.name == "a":
            started.set()
            release.wait(20)
        return "done"

    send_sigint_when(started)
    results, interrupted = fleet.run(
        nodes("a", "b"), work, workers=1, on_interrupt=lambda flying: release.set()
    )
    assert interrupted
    assert [(r.node, r.value, r.started) for r in results] == [
        ("a", "done", True),
        ("b", None, False),
    ]
