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
    from spctl.desired.inventory import Node
    from spctl.desired.render import DesiredPod, render_node
    from spctl.errors import SpctlError
    from spctl.facts import NodeFacts
    from spctl.plan.status import NodeStatus
    from spctl.transport import fleet
    from spctl.verbs.source import source_for
    from spctl.verbs.status import status_node

    from ..report import describe_url, status_rows
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

    def names_of(node: Node) -> list[str]:
        return [r.name for r in node.pods if not pods or r.name in pods] or list(pods)

    def desired_of(node: Node) -> list[DesiredPod] | None:
        return rendered[node.name]

    def status_of(node: Node, facts: NodeFacts, desired: list[DesiredPod] | None) -> NodeStatus:
        result = source_for(node, inv.url).status(node, facts, desired, names_of(node))
        if pods:
            result.pods = [p for p in result.pods if p.name in pods]
        return result

    if watch:
        from spctl.verbs.watch import Watch

        from ..live import watch_status

        session = Watch(
            chosen,
            names_of,
            lambda n, facts: status_of(n, facts, rendered[n.name]),
            settings,
            interval=interval,
            workers=options["workers"],
            desired_of=desired_of,
        )
        watch_status(app, session, fmt, interval)
        sys.exit(0)

    def work(node: Node) -> NodeStatus:
        desired = desired_of(node)
        result = status_node(node, desired, names_of(node), settings, source_for(node, inv.url))
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
            if s.url:
                app.out.print(f"{s.name}: {describe_url(s.url)}", markup=False)
            for warning in s.warnings:
                app.warn(f"{s.name}: {warning}")
    if interrupted:
        sys.exit(130)
    if any(not s.reachable or s.error for s in statuses):
        sys.exit(1)
