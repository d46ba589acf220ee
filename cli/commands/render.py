"""spctl render: print rendered manifests."""

from __future__ import annotations

import sys

import click

from ..app import App, pass_app
from .options import selection


@click.command("render")
@click.argument("pods", nargs=-1)
@selection
@pass_app
def render(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
) -> None:
    """Print the manifests spctl would write, exactly as they would be written (every node
    unless -n or -l says otherwise)."""
    from spctl.render import render_all

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes or not (nodes or selectors), require=False)
    rendered = render_all(chosen, pods)
    first = True
    for node in chosen:
        for pod in rendered[node.name]:
            if not first:
                sys.stdout.write("---\n")
            first = False
            sys.stdout.write(f"# node: {node.name}  file: {pod.file}  template: {pod.template}\n")
            sys.stdout.write(pod.content)
