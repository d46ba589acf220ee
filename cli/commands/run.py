"""Running a verb on the selected nodes, with progress on stderr, and ending it with the
results and an exit status: what deploy, remove and rollback, and diff share."""

from __future__ import annotations

import sys
from typing import Any

from ..app import App


def run_on_nodes(
    app: App, verb: str, nodes: list, work: Any, options: dict[str, Any], *, dry_run: bool = False
) -> list:
    """``work(node, on_step)`` on every node, with progress on stderr (cli/progress.py)."""
    from spctl.transport import fleet

    from ..progress import Progress

    with Progress(app, verb, len(nodes), dry_run) as progress:
        results, interrupted = fleet.run(
            nodes,
            lambda n: work(n, progress.step),
            workers=options["workers"],
            serial=options.get("serial"),
            max_fail=options.get("max_fail", "0"),
            on_start=progress.start,
            on_done=progress.done,
            on_interrupt=app.interrupted_once,
        )
    if interrupted:
        app.err.print(
            "spctl: interrupted; the nodes in flight finished, the others were not started"
        )
        app.interrupted = True
    return results


def finish(
    app: App,
    results: list,
    fmt: str,
    *,
    dry_run: bool = False,
    show_diff: bool = False,
) -> None:
    """Print the outcomes (or emit them as data), then exit: 130 when interrupted, 1 when a
    node failed."""
    from ..report import outcome_dicts, print_outcomes

    if not app.emit(outcome_dicts(results), fmt):
        print_outcomes(app, results, dry_run, show_diff)
    if app.interrupted:
        sys.exit(130)
    if any(r.failed for r in results):
        sys.exit(1)
