"""spctl validate: check every pod of every node without connecting."""

from __future__ import annotations

import click

from ..app import App, pass_app


@click.command("validate")
@click.option(
    "-n", "--node", "nodes", multiple=True, metavar="NAME", help="Node or group (default: all)."
)
@pass_app
def validate(app: App, nodes: tuple[str, ...]) -> None:
    """Render and validate every pod of every node; connect to nothing."""
    from spctl.render import render_all

    inv = app.inventory()
    chosen = inv.select(nodes, (), all_nodes=not nodes, require=False)
    rendered = render_all(chosen)
    count = sum(len(p) for p in rendered.values())
    app.progress(f"{count} pod manifest(s) on {len(chosen)} node(s) are valid static pods")
