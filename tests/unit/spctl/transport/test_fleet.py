"""Batches, the failure budget and results per node."""

from __future__ import annotations

import threading

import pytest

from spctl.desired.inventory import Node, SSHSettings
from spctl.errors import SpctlError
from spctl.transport.fleet import batches, parse_amount, run


def nodes(count: int) -> list[Node]:
    return [Node(name=f"n{i}", address="127.0.0.1", ssh=SSHSettings()) for i in range(1, count + 1)]


@pytest.mark.parametrize(
    "text, total, expected",
    [("3", 10, 3), ("25%", 10, 2), ("100%", 7, 7), ("0", 5, 0), (None, 5, None), ("0%", 9, 0)],
)
def test_parse_amount(text, total, expected):
    assert parse_amount(text, total, "--serial") == expected


@pytest.mark.parametrize("bad", ["-1", "x", "150%", "1.5"])
def test_parse_amount_refuses(bad):
    with pytest.raises(SpctlError, match="--serial must be a number N or a percentage N%"):
        parse_amount(bad, 10, "--serial")


def test_batches_by_count_and_percent():
    assert [len(b) for b in batches(nodes(5), "2")] == [2, 2, 1]
    assert [len(b) for b in batches(nodes(10), "30%")] == [3, 3, 3, 1]
    assert [len(b) for b in batches(nodes(3), "10%")] == [1, 1, 1]  # at least one node a batch
    assert [len(b) for b in batches(nodes(4), None)] == [4]


def test_failure_is_a_value_and_the_others_finish():
    def work(node: Node) -> str:
        if node.name == "n2":
            raise SpctlError("n2: cannot connect")
        return node.name.upper()

    results, interrupted = run(nodes(3), work, workers=3)
    assert not interrupted
    assert [(r.node, r.value, r.error) for r in results] == [
        ("n1", "N1", None),
        ("n2", None, "n2: cannot connect"),
        ("n3", "N3", None),
    ]
    assert [r.failed for r in results] == [False, True, False]


def test_unexpected_exception_is_contained():
    results, _ = run(nodes(2), lambda n: 1 / 0 if n.name == "n1" else 1, workers=2)
    assert results[0].failed and "ZeroDivisionError" in results[0].error
    assert results[1].succeeded


def test_default_budget_stops_after_first_failing_batch():
    seen = []
    lock = threading.Lock()

    def work(node: Node) -> None:
        with lock:
            seen.append(node.name)
        if node.name == "n2":
            raise SpctlError("boom")

    results, _ = run(nodes(6), work, serial="2")
    assert sorted(seen) == ["n1", "n2"]
    assert [r.started for r in results] == [True, True, False, False, False, False]
    assert "exceeded --max-fail" in results[4].error


def test_max_fail_lets_rollout_continue_until_exceeded():
    def work(node: Node) -> None:
        if node.name in ("n1", "n3"):
            raise SpctlError("boom")

    # Budget 1: batch 1 (n1 fails, 1 failure: within budget), batch 2 (n3 fails: 2 > 1), stop.
    results, _ = run(nodes(6), work, serial="1", max_fail="1")
    assert [r.started for r in results] == [True, True, True, False, False, False]
    # Budget 50% of 6 = 3: every batch runs.
    results, _ = run(nodes(6), work, serial="1", max_fail="50%")
    assert all(r.started for r in results)
