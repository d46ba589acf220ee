"""spctl restart: a new pod of each named pod, content unchanged; wait until it runs."""

from __future__ import annotations

from typing import Any

import click

from ..app import App, output_option, pass_app
from .options import connection, rollout, selection, settings_from
from .run import finish, run_on_nodes


@click.command("restart")
@click.argument("pods", nargs=-1, required=True)
@selection
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, change nothing.")
@rollout
@connection
@output_option("table", "json", "yaml")
@pass_app
def restart(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    dry_run: bool,
    fmt: str,
    **options: Any,
) -> None:
    """Start a new pod of each POD, its content unchanged (after a certificate renewal on
    the node, say); wait until it runs and is ready, and roll back a node where it does not.

    Acts on the nodes the inventory runs each POD on (or those of them --node, -l or --all
    select). Writes the node's manifest with a spctl.io/restarted-at annotation, which a
    later deploy keeps. Exit 0 when every node's new pods are up, 1 otherwise.
    """
    from datetime import datetime, timezone

    from spctl.desired.validation.static_pod import validate_pod_name
    from spctl.verbs.restart import restart_node, restart_targets
    from spctl.verbs.source import source_for

    for pod in pods:
        problem = validate_pod_name(pod)
        if problem:
            raise click.BadParameter(problem, param_hint="POD")
    inv = app.inventory()
    selected = bool(nodes or selectors or all_nodes)
    chosen = inv.select(nodes, selectors, all_nodes, require=selected)
    targets = restart_targets(chosen, list(dict.fromkeys(pods)))
    chosen = [n for n in chosen if n.name in targets]
    at = datetime.now(timezone.utc)  # one time for the whole run: every node's annotation
    settings = settings_from(options, dry_run=dry_run)
    results = run_on_nodes(
        app,
        "restart",
        chosen,
        lambda n, step: restart_node(
            n, targets[n.name], settings, source_for(n, inv.url), at, step
        ),
        options,
        dry_run=dry_run,
    )
    finish(app, results, fmt, dry_run=dry_run, show_diff=dry_run)
