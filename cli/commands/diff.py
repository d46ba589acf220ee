"""spctl diff: what deploy would change on each node; exit 0 no change, 1 changes, 2 error."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..app import App, clean, pass_app
from .options import connection, selection, settings_from
from .run import run_on_nodes


@click.command("diff")
@click.argument("pods", nargs=-1)
@selection
@connection
@pass_app
def diff(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    **options: Any,
) -> None:
    """Show what deploy would change. Exit 0: no change, 1: changes, 2 or more: error.

    A pod's files show as a unified diff each after its manifest's (a secret file as
    "secret changed" with its sha256 only)."""
    from spctl.desired.render import render_all
    from spctl.verbs.deploy import diff_node
    from spctl.verbs.source import source_for

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes)
    rendered = render_all(chosen, inv.fleet, pods)
    settings = settings_from(options)
    results = run_on_nodes(
        app,
        "diff",
        chosen,
        lambda n, step: diff_node(n, rendered[n.name], settings, source_for(n, inv.url), step),
        options,
    )
    changed = False
    for r in results:
        if r.value is None:
            continue
        plan = r.value
        if plan.kubelet is not None:
            changed = True
            sys.stdout.write(f"# {plan.node}: {plan.kubelet.reason}\n{plan.kubelet_diff()}")
        for step in plan.pods:
            if step.changes or step.action == "adopt":
                changed = changed or step.changes
                sys.stdout.write(
                    f"# {plan.node}: {step.name}: {step.action}: {step.reason}\n{clean(step.diff)}"
                )
    for r in results:
        if r.failed:
            app.err.print(f"{r.node}: {clean(r.error or '')}", markup=False)
    if app.interrupted:
        sys.exit(130)
    if any(r.failed for r in results):
        sys.exit(2)
    sys.exit(1 if changed else 0)
