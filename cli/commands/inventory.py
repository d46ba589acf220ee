"""spctl inventory: the resolved view of the inventory."""

from __future__ import annotations

import click

from ..app import App, output_option, pass_app
from .options import selection


@click.command("inventory")
@selection
@output_option("yaml", "json")
@pass_app
def inventory(
    app: App, nodes: tuple[str, ...], selectors: tuple[str, ...], all_nodes: bool, fmt: str
) -> None:
    """Print each node as spctl resolves it (defaults, groups, node, ~/.ssh/config)."""
    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes, require=False)
    app.emit({"nodes": [n.as_dict() for n in chosen]}, fmt)
