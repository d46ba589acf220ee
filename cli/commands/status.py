"""spctl status: every node's static pods in one view."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..app import App, output_option, pass_app
from .options import connection, selection


@click.command("status")
@click.argument("pods", nargs=-1)
@selection
@connection
@output_option("table", "wide", "json", "yaml")
@pass_app
def status(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    fmt: str,
    **options: Any,
) -> None:
    """One row per node and pod: manifest state, phase, readiness, restarts, age.

    Every node unless -n or -l says otherwise. Unreachable nodes are rows with their error.
    Exit 0 when every node answered, 1 otherwise.
    """
    from spctl import fleet
    from spctl.errors import SpctlError
    from spctl.operations import NodeStatus, status_node
    from spctl.render import render_node

    from ..report import status_rows
    from .options import settings_from

    inv = app.inventory()
    chosen = inv.select(
        nodes, selectors, all_nodes=all_nodes or not (nodes or selectors), require=False
    )
    settings = settings_from(options)
    # Rendered here, one node after another, as deploy does: in the workers, every thread
    # would load and compile the same templates at once.
    rendered: dict[str, Any] = {}
    for node in chosen:
        try:
            rendered[node.name] = render_node(node, pods)
        except SpctlError:
            rendered[node.name] = None  # still reported; `spctl validate` explains why

    def work(node: Any) -> NodeStatus:
        names = [r.name for r in node.pods if not pods or r.name in pods] or list(pods)
        result = status_node(node, rendered[node.name], names, settings)
        if pods:
            result.pods = [p for p in result.pods if p.name in pods]
        return result

    results, interrupted = fleet.run(
        chosen, work, workers=options["workers"], max_fail=None, on_interrupt=app.interrupted_once
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
            for warning in s.warnings:
                app.warn(f"{s.name}: {warning}")
    if interrupted:
        sys.exit(130)
    if any(not s.reachable or s.error for s in statuses):
        sys.exit(1)
