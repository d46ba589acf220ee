"""spctl status: every node's static pods in one view, once or live (--watch)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..app import App, output_option, pass_app
from .options import Seconds, connection, selection


@click.command("status")
@click.argument("pods", nargs=-1)
@selection
@click.option(
    "--watch",
    "watch",
    is_flag=True,
    help="Keep one connection per node and refresh every --interval, marking what changed, "
    "until Ctrl-C (exit 0). With -o json or yaml: one document per refresh.",
)
@click.option(
    "--interval",
    type=Seconds(0.1, 86400),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Time between two refreshes of --watch.",
)
@connection
@output_option("table", "wide", "json", "yaml")
@pass_app
def status(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    watch: bool,
    interval: float,
    fmt: str,
    **options: Any,
) -> None:
    """One row per node and pod: manifest state, phase, readiness, restarts, age.

    Every node unless -n or -l says otherwise. Unreachable nodes are rows with their error.
    Exit 0 when every node answered, 1 otherwise; --watch ends with Ctrl-C, exit 0.
    """
    from spctl.plan.status import NodeStatus
    from spctl.transport import fleet
    from spctl.verbs.status import StatusView

    from ..report import describe_url, status_rows
    from .options import settings_from

    inv = app.inventory()
    chosen = inv.select(
        nodes, selectors, all_nodes=all_nodes or not (nodes or selectors), require=False
    )
    settings = settings_from(options)
    view = StatusView(chosen, pods, inv.url, inv.fleet)
    if watch:
        from spctl.verbs.watch import Watch

        from ..live import watch_status

        session = Watch(
            chosen,
            view.names,
            view.of,
            settings,
            interval=interval,
            workers=options["workers"],
            desired_of=view.desired,
        )
        watch_status(app, session, fmt, interval)
        sys.exit(0)

    results, interrupted = fleet.run(
        chosen,
        lambda node: view.read(node, settings),
        workers=options["workers"],
        max_fail=None,
        on_interrupt=app.interrupted_once,
    )
    statuses = []
    for r in results:
        if r.value is not None:
            statuses.append(r.value)
        else:
            statuses.append(NodeStatus(r.node, reachable=False, error=r.error))
    if not app.emit({"nodes": [s.as_dict() for s in statuses]}, fmt):
        app.out.print(status_rows(statuses, wide=fmt == "wide"))
        for s in statuses:
            if s.url:
                app.out.print(f"{s.name}: {describe_url(s.url)}", markup=False)
            for warning in s.warnings:
                app.warn(f"{s.name}: {warning}")
    if interrupted:
        sys.exit(130)
    if any(not s.reachable or s.error for s in statuses):
        sys.exit(1)
