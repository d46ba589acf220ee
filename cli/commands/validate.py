"""spctl validate: check every pod of every node without connecting."""

from __future__ import annotations

import click

from ..app import App, pass_app
from .options import selection


@click.command("validate")
@selection
@pass_app
def validate(app: App, nodes: tuple[str, ...], selectors: tuple[str, ...], all_nodes: bool) -> None:
    """Render and validate every pod of every node (or those selected); connect to nothing."""
    from spctl.render import render_all

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes or not (nodes or selectors), require=False)
    rendered = render_all(chosen)
    count = sum(len(p) for p in rendered.values())
    app.progress(f"{count} pod manifest(s) on {len(chosen)} node(s) are valid static pods")
