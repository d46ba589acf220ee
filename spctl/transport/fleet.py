"""Running one node's work per worker, across the fleet, in batches.

:func:`run` returns a :class:`NodeResult` for every selected node, in the order given: a
node that failed holds its error as its result (failure is a value, not an exception that
stops the others), and a node never started says why.

    results, interrupted = run(nodes, work, workers=20)
    [r.node for r in results if r.failed]

Batches (``--serial``) and the failure budget (``--max-fail``):

- ``serial`` splits the nodes into batches of N nodes (or N% of them, at least one); each
  batch starts when the previous one has finished. None means one batch of all nodes.
- ``max_fail`` is how many failed nodes the rollout tolerates (N, or N% of all selected
  nodes, rounded down). After a batch, if more nodes have failed than that, no new batch
  starts; the nodes of later batches are reported as not started. The default, 0, stops
  after the first batch that has a failure. The batch in flight always completes.

Ctrl-C (:class:`KeyboardInterrupt`) stops starting nodes; the nodes in flight finish (their
agents complete or roll back their transaction), and the rest are reported as not started.
A second Ctrl-C stops waiting: :func:`run` raises :class:`Abandoned`, which names the nodes
still in flight (their agents ignore SIGHUP and finish their transaction on their own).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Optional, TypeVar

from spctl.desired.inventory import Node
from spctl.errors import SpctlError

T = TypeVar("T")
DEFAULT_WORKERS = 20


class Abandoned(SpctlError):
    """A second Ctrl-C: spctl stopped waiting for the nodes in flight."""

    exit_code = 130

    def __init__(self, in_flight: list[str]) -> None:
        self.in_flight = in_flight
        names = ", ".join(in_flight) or "none"
        super().__init__(
            f"interrupted twice: stopped waiting. Nodes that may still be finishing their "
            f"transaction on their own: {names}; run `spctl status` on them to see the outcome"
        )


@dataclass
class NodeResult(Generic[T]):
    node: str
    value: Optional[T] = None
    error: Optional[str] = None
    started: bool = True

    @property
    def succeeded(self) -> bool:
        # A value may carry its own verdict (a deploy whose pods did not converge).
        return self.started and self.error is None and getattr(self.value, "ok", True) is not False

    @property
    def failed(self) -> bool:
        return not self.succeeded


def parse_amount(text: Optional[str], total: int, what: str) -> Optional[int]:
    """``N`` or ``N%`` of ``total``; None stays None."""
    if text is None:
        return None
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            percent = float(raw[:-1])
            if not 0 <= percent <= 100:
                raise ValueError
            return int(total * percent / 100)
        value = int(raw)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise SpctlError(f"{what} must be a number N or a percentage N%, got {text!r}") from None


def batches(nodes: Sequence[Node], serial: Optional[str]) -> list[list[Node]]:
    size = parse_amount(serial, len(nodes), "--serial")
    if not size:
        size = len(nodes) if serial is None else 1
    return [list(nodes[i : i + size]) for i in range(0, len(nodes), size)] or [[]]


def run(
    nodes: Sequence[Node],
    work: Callable[[Node], T],
    *,
    workers: int = DEFAULT_WORKERS,
    serial: Optional[str] = None,
    max_fail: Optional[str] = "0",
    on_start: Optional[Callable[[str], None]] = None,
    on_done: Optional[Callable[[NodeResult[T]], None]] = None,
    on_interrupt: Optional[Callable[[list[str]], None]] = None,
) -> tuple[list[NodeResult[T]], bool]:
    """Run ``work`` on every node; return (results in node order, interrupted).

    ``on_start`` is called with a node's name when its work starts and ``on_done`` with its
    result when it ends, from the node's worker thread (progress displays use both).
    ``on_interrupt`` is called after the first Ctrl-C with the nodes in flight. After a
    second Ctrl-C, :class:`Abandoned` is raised without waiting for them; the worker threads
    are left running, so the caller must end the process (``os._exit``) soon after.
    """
    budget = parse_amount(max_fail, len(nodes), "--max-fail")
    results: dict[str, NodeResult[T]] = {}
    stop = threading.Event()
    interrupted = False
    abandoned = False
    in_flight: dict[str, None] = {}  # ordered set
    lock = threading.Lock()

    def one(node: Node) -> NodeResult[T]:
        if stop.is_set():
            return NodeResult(node.name, error="not started: interrupted", started=False)
        with lock:
            in_flight[node.name] = None
        try:
            return _one(node)
        finally:
            with lock:
                in_flight.pop(node.name, None)

    def _one(node: Node) -> NodeResult[T]:
        try:
            if on_start is not None:
                on_start(node.name)
            result = NodeResult(node.name, value=work(node))
        except SpctlError as exc:
            result = NodeResult(node.name, error=str(exc))
        except Exception as exc:  # a bug must not take the other nodes down
            result = NodeResult(node.name, error=f"internal error: {exc.__class__.__name__}: {exc}")
        if on_done is not None:
            on_done(result)
        return result

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers))
    futures: list[concurrent.futures.Future[NodeResult[T]]] = []

    def collect() -> None:
        for future in futures:
            result = future.result()
            results[result.node] = result

    try:
        for batch in batches(nodes, serial):
            failed = sum(1 for r in results.values() if r.failed)
            if budget is not None and failed > budget:
                break
            futures = []
            for n in batch:
                futures.append(pool.submit(one, n))
            collect()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        with lock:
            flying = list(in_flight)
        try:
            if on_interrupt is not None:
                on_interrupt(flying)
            # The nodes in flight finish their transaction; a second Ctrl-C stops waiting.
            collect()
        except KeyboardInterrupt:
            abandoned = True
            with lock:
                flying = list(in_flight)
            raise Abandoned(flying) from None
    finally:
        # After a second Ctrl-C nothing more is awaited: queued nodes are dropped, and the
        # threads in flight are left to the process's exit.
        pool.shutdown(wait=not abandoned, cancel_futures=abandoned)
    reason = (
        "not started: interrupted"
        if interrupted
        else "not started: an earlier batch exceeded --max-fail"
    )
    ordered = [
        results.get(n.name) or NodeResult(n.name, error=reason, started=False) for n in nodes
    ]
    return ordered, interrupted
