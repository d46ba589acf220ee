"""spctl import: take over a static pod that already runs on nodes, as one template."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import click

from ..app import App, clean, pass_app
from .options import connection, selection, settings_from


@click.command("import")
@click.argument("pod")
@selection
@click.option(
    "--template-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write POD.yaml.j2 (default: the inventory's templates directory).",
)
@click.option(
    "--var-prefix",
    metavar="PREFIX",
    help="Prefix of the variables' names (default: the pod's name, e.g. kube_apiserver).",
)
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the template and the inventory lines to add; write nothing.",
)
@click.option("--force", is_flag=True, help="Replace a template that already exists.")
@connection
@pass_app
def import_pod(
    app: App,
    pod: str,
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    template_dir: Optional[Path],
    var_prefix: Optional[str],
    print_only: bool,
    force: bool,
    **options: Any,
) -> None:
    """Read POD's manifest on the selected nodes and write one template for it.

    Where the nodes' files differ in a value (an address, a node name), the template takes a
    variable and each node's value goes into its `vars` in the inventory; the pod is added to
    the nodes (or to the group selected). The template renders each node's file as the same
    pod, so the next deploy adopts the files and no pod restarts. Exit 0 when imported, 1
    when a node could not be read, 2 when the pod cannot be imported (nothing is written).
    """
    from spctl.desired.validation.static_pod import validate_pod_name
    from spctl.transport import fleet
    from spctl.verbs.import_pod import workflow as import_workflow

    problem = validate_pod_name(pod)
    if problem:
        raise click.BadParameter(problem, param_hint="POD")
    inventory_path = app.resolved_inventory_path()
    inv = app.inventory()
    text = inventory_path.read_text()
    chosen = inv.select(nodes, selectors, all_nodes)
    group = nodes[0] if len(nodes) == 1 and not selectors and nodes[0] in inv.groups else None
    # Refused before any node is read: a template that is already there.
    import_workflow.template_target(inventory_path, text, pod, template_dir, force)
    settings = settings_from(options)
    results, interrupted = fleet.run(
        chosen,
        lambda n: import_workflow.fetch_pod_manifest(n, pod, settings),
        workers=options["workers"],
        max_fail=None,
    )
    if interrupted:
        app.err.print("spctl: interrupted; nothing was written")
        sys.exit(130)
    failed = [r for r in results if r.failed]
    if failed:
        for r in failed:
            app.err.print(f"{r.node}: {clean(r.error or '')}", markup=False)
        app.err.print("spctl: nothing was written", markup=False)
        sys.exit(1)
    found = [r.value for r in results if r.value is not None]
    plan = import_workflow.plan_import(
        inv,
        text,
        pod,
        found,
        group=group,
        template_dir=template_dir,
        var_prefix=var_prefix,
        force=force,
    )
    imported = plan.imported
    for variable in imported.variables:
        values = ", ".join(f"{n}={v}" for n, v in variable.values.items())
        app.progress(f"variable {variable.name}: {values} (in {', '.join(variable.fields)})")
    others = [f.node for f in found if f.node not in imported.byte_exact]
    app.progress(
        f"the template keeps {imported.base}'s text and renders "
        + ", ".join(imported.byte_exact or ["no node"])
        + " byte for byte"
        + (f", {', '.join(others)} as the same pod in other bytes" if others else "")
    )
    for warning in plan.warnings:
        app.warn(warning)
    if print_only:
        sys.stdout.write(f"# {plan.template_path}\n{imported.template}")
        sys.stdout.write(f"# {plan.inventory_path}: lines to add\n{plan.inventory_diff()}")
        return
    import_workflow.apply_import(plan)
    app.progress(f"wrote {plan.template_path}")
    app.progress(f"updated {plan.inventory_path}: {pod} and its variables")
    app.progress(
        f"the next deploy adopts {pod} on {', '.join(f.node for f in found)} without "
        "restarting it (`spctl diff` shows the adoption)"
    )
