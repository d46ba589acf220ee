"""spctl deploy: render, push and start static pods; wait until they run."""

from __future__ import annotations

from typing import Any

import click

from ..app import App, output_option, pass_app
from .options import connection, force, rollout, selection, settings_from, strict
from .run import finish, run_on_nodes


@click.command("deploy")
@click.argument("pods", nargs=-1)
@selection
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, change nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show the diff of every file that changes.")
@strict
@force
@rollout
@connection
@output_option("table", "json", "yaml")
@pass_app
def deploy(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    dry_run: bool,
    show_diff: bool,
    strict: bool,
    fmt: str,
    **options: Any,
) -> None:
    """Render, push and start static pods; wait until they run.

    Points each node's kubelet at its manifest directory first (restarting the kubelet only
    when that changes). Exit 0 when every node converged, 1 otherwise.
    """
    from spctl.desired.render import dangerous_pods, render_all
    from spctl.verbs.deploy import deploy_node
    from spctl.verbs.source import source_for

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes)
    # Every problem is reported before any node is touched.
    rendered = render_all(chosen, inv.fleet, pods)
    for warning in dangerous_pods(rendered, strict):
        app.warn(warning)
    settings = settings_from(options, dry_run=dry_run)
    results = run_on_nodes(
        app,
        "deploy",
        chosen,
        lambda n, step: deploy_node(n, rendered[n.name], settings, source_for(n, inv.url), step),
        options,
        dry_run=dry_run,
    )
    finish(app, results, fmt, dry_run=dry_run, show_diff=show_diff or dry_run)
