"""Progress of a run over many nodes (deploy, remove, rollback, diff), on stderr.

- On a terminal (stdout and stderr both): a live panel, redrawn in place and gone at the
  end: how many nodes are done, failed, in flight and waiting, and each node in flight with
  its current step (spctl.verbs.steps) and for how long. A failure is also printed above it, and
  stays.
- Otherwise (a pipe, a file, CI): one plain line per node when it ends,
  ``spctl: my-node2: done (changed)`` or ``spctl: my-node3: failed: <error>``.
- With -q: nothing; only the summary on stdout.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from spctl.transport.fleet import NodeResult

from .app import App, safe

#: Nodes in flight listed by name; the rest are counted.
SHOWN_IN_FLIGHT = 15


class Progress:
    """Callbacks for fleet.run (``start``, ``done``) and for the verbs (``step``)."""

    def __init__(self, app: App, verb: str, total: int, dry_run: bool = False) -> None:
        self.app = app
        self.verb = verb
        self.total = total
        self.dry_run = dry_run
        if app.quiet:
            self.mode = "quiet"
        elif app.err.is_terminal and app.out.is_terminal:
            self.mode = "live"
        else:
            self.mode = "plain"
        self.finished = 0
        self.failed = 0
        self.started_at = time.monotonic()
        self.in_flight: dict[str, tuple[str, float]] = {}  # node: (step, since)
        self._lock = threading.Lock()
        self._live: Optional[Live] = None

    def __enter__(self) -> Progress:
        if self.mode == "live":
            self._live = Live(
                self,
                console=self.app.err,
                transient=True,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def start(self, node: str) -> None:
        with self._lock:
            self.in_flight[node] = ("starting", time.monotonic())

    def step(self, node: str, step: str) -> None:
        with self._lock:
            self.in_flight[node] = (step, time.monotonic())

    def done(self, result: NodeResult[Any]) -> None:
        with self._lock:
            self.in_flight.pop(result.node, None)
            self.finished += 1
            if result.failed:
                self.failed += 1
        line = f"{result.node}: {self.outcome(result)}"
        if self.mode == "plain":
            self.app.progress(line)
        elif self.mode == "live" and result.failed:
            self.app.err.print(f"[red]{safe(result.node)}:[/red] {safe(self.outcome(result))}")

    def outcome(self, result: NodeResult[Any]) -> str:
        if result.failed:
            error = result.error or getattr(result.value, "error", None) or "failed"
            return f"failed: {error}"
        changed = bool(getattr(result.value, "changed", False))
        if self.dry_run or self.verb == "diff":
            return "done (would change)" if changed else "done (no change)"
        return "done (changed)" if changed else "done (no change)"

    def __rich__(self) -> Group:
        with self._lock:
            flying = sorted(self.in_flight.items(), key=lambda item: item[1][1])
            finished, failed = self.finished, self.failed
        waiting = max(0, self.total - finished - len(flying))
        elapsed = time.monotonic() - self.started_at
        head = Text.from_markup(
            f"[bold]{self.verb}[/bold] {self.total} nodes: "
            f"[green]{finished - failed} done[/green], "
            + (f"[red]{failed} failed[/red]" if failed else "0 failed")
            + f", {len(flying)} in flight, {waiting} waiting  ({elapsed:.0f}s)"
        )
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("NODE", "STEP", "FOR"):
            table.add_column(column)
        now = time.monotonic()
        for node, (step, since) in flying[:SHOWN_IN_FLIGHT]:
            table.add_row(safe(node), safe(step), f"{now - since:.0f}s")
        parts: list[Any] = [head]
        if flying:
            parts.append(table)
        if len(flying) > SHOWN_IN_FLIGHT:
            parts.append(Text(f"... and {len(flying) - SHOWN_IN_FLIGHT} more in flight"))
        return Group(*parts)
