"""spctl validate: check every pod of every node without connecting."""

from __future__ import annotations

import click

from ..app import App, pass_app
from .options import selection, strict


@click.command("validate")
@selection
@strict
@pass_app
def validate(
    app: App, nodes: tuple[str, ...], selectors: tuple[str, ...], all_nodes: bool, strict: bool
) -> None:
    """Render and validate every pod of every node (or those selected); connect to nothing.

    Pods with a privileged container, hostPID or a hostPath of / are valid but get a
    warning (static pods bypass admission control); --strict refuses them.
    """
    from spctl.desired.render import dangerous_pods, render_all

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes or not (nodes or selectors), require=False)
    rendered = render_all(chosen, inv.fleet)
    for warning in dangerous_pods(rendered, strict):
        app.warn(warning)
    count = sum(len(p) for p in rendered.values())
    app.progress(f"{count} pod manifest(s) on {len(chosen)} node(s) are valid static pods")
