"""spctl export daemonset: print the DaemonSets that can take over a static pod."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Optional

import click

from ..app import App, pass_app
from .options import selection


@click.group("export")
def export() -> None:
    """Print a static pod as another kind of Kubernetes object (nothing is applied)."""


@export.command("daemonset", short_help="Print the DaemonSets that can take over a static pod.")
@click.argument("pod")
@selection
@click.option(
    "--priority-class",
    metavar="NAME",
    help="Give the pods this priority class (system-node-critical needs --namespace kube-system).",
)
@click.option(
    "--namespace", metavar="NS", help="The DaemonSet's namespace (default: the pod's own)."
)
@click.option(
    "--plan",
    is_flag=True,
    help="Print the node-by-node handover instead (as text; -o json: as data).",
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@pass_app
def daemonset(
    app: App,
    pod: str,
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    priority_class: Optional[str],
    namespace: Optional[str],
    plan: bool,
    fmt: str,
) -> None:
    """Print one DaemonSet per distinct rendering of POD on the selected nodes that have it
    (every such node unless -n, -l or --all says otherwise), placed on exactly those nodes.
    Exit 0: printed; 2: bad input, or the pod cannot be a DaemonSet (the reasons are printed);
    1: a DaemonSet failed the DaemonSet schema (a bug in spctl)."""
    from spctl.verbs.export.daemonsets import export_daemonsets

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes or not (nodes or selectors), require=False)
    result = export_daemonsets(inv, chosen, pod, priority_class, namespace)
    if nodes or selectors:
        for node in chosen:
            if all(ref.name != pod for ref in node.pods):
                app.warn(f"{node.name} does not have {pod}: left out")
    for note in result.notes:
        app.warn(note)
    if plan:
        from spctl.verbs.export.handover import plan_handover

        spctl = "spctl"
        if app.inventory_path is not None:
            spctl += f" -i {shlex.quote(str(app.inventory_path))}"
        handover = plan_handover(result, spctl)
        if fmt == "json":
            sys.stdout.write(json.dumps(handover.as_dict(), indent=2) + "\n")
        else:
            sys.stdout.write(handover.text())
        return
    manifests = [ds.manifest for ds in result.daemonsets]
    if fmt == "json":
        data = (
            manifests[0]
            if len(manifests) == 1
            else {"apiVersion": "v1", "kind": "List", "items": manifests}
        )
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    from spctl.desired.yamlio import dump_manifest

    for i, ds in enumerate(result.daemonsets):
        if i:
            sys.stdout.write("---\n")
        sys.stdout.write(f"# DaemonSet {ds.name}: {pod} on {', '.join(ds.nodes)}\n")
        sys.stdout.write(dump_manifest(ds.manifest))
