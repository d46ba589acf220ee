"""spctl deploy, remove, rollback and diff: change what runs on nodes."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..app import App, clean, output_option, pass_app
from .options import connection, rollout, selection, settings_from, strict


def _run(
    app: App, verb: str, nodes: list, work: Any, options: dict[str, Any], dry_run: bool = False
) -> list:
    """``work(node, on_step)`` on every node, with progress on stderr (cli/progress.py)."""
    from spctl.transport import fleet

    from ..progress import Progress

    with Progress(app, verb, len(nodes), dry_run) as progress:
        results, interrupted = fleet.run(
            nodes,
            lambda n: work(n, progress.step),
            workers=options["workers"],
            serial=options.get("serial"),
            max_fail=options.get("max_fail", "0"),
            on_start=progress.start,
            on_done=progress.done,
            on_interrupt=app.interrupted_once,
        )
    if interrupted:
        app.err.print(
            "spctl: interrupted; the nodes in flight finished, the others were not started"
        )
        app.interrupted = True
    return results


def _finish(
    app: App,
    results: list,
    fmt: str,
    dry_run: bool = False,
    show_diff: bool = False,
) -> None:
    from ..report import outcome_dicts, print_outcomes

    if not app.emit(outcome_dicts(results), fmt):
        print_outcomes(app, results, dry_run, show_diff)
    if app.interrupted:
        sys.exit(130)
    if any(r.failed for r in results):
        sys.exit(1)


@click.command("deploy")
@click.argument("pods", nargs=-1)
@selection
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, change nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show the diff of every file that changes.")
@strict
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
    rendered = render_all(chosen, pods)  # every problem is reported before any node is touched
    for warning in dangerous_pods(rendered, strict):
        app.warn(warning)
    settings = settings_from(options, dry_run=dry_run)
    results = _run(
        app,
        "deploy",
        chosen,
        lambda n, step: deploy_node(n, rendered[n.name], settings, source_for(n, inv.url), step),
        options,
        dry_run,
    )
    _finish(app, results, fmt, dry_run, show_diff or dry_run)


def _planners() -> dict[str, Any]:
    """remove and rollback, each with the planner of its change (imported when run)."""
    from spctl.plan.directory import plan_remove, plan_rollback

    return {"remove": plan_remove, "rollback": plan_rollback}


def _pods_verb(name: str, summary: str) -> click.Command:
    """remove and rollback: the same options, one ``change_pods`` per node on named pods,
    planned by the verb's planner (:func:`_planners`)."""

    @click.command(name, help=summary)
    @click.argument("pods", nargs=-1, required=True)
    @selection
    @rollout
    @connection
    @output_option("table", "json", "yaml")
    @pass_app
    def command(
        app: App,
        pods: tuple[str, ...],
        nodes: tuple[str, ...],
        selectors: tuple[str, ...],
        all_nodes: bool,
        fmt: str,
        **options: Any,
    ) -> None:
        from spctl.desired.validation.static_pod import validate_pod_name
        from spctl.verbs.deploy import change_pods

        planner = _planners()[name]
        for pod in pods:
            problem = validate_pod_name(pod)
            if problem:
                raise click.BadParameter(problem, param_hint="POD")
        chosen = app.inventory().select(nodes, selectors, all_nodes)
        settings = settings_from(options)
        results = _run(
            app,
            name,
            chosen,
            lambda n, step: change_pods(n, list(pods), settings, planner, step),
            options,
        )
        _finish(app, results, fmt)

    return command


remove = _pods_verb(
    "remove", "Remove static pods spctl deployed, and wait until they are gone."
)
rollback = _pods_verb(
    "rollback",
    "Put back the previous version of pods (from the backups on each node).",
)


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
    """Show what deploy would change. Exit 0: no change, 1: changes, 2 or more: error."""
    from spctl.desired.render import render_all
    from spctl.verbs.deploy import diff_node
    from spctl.verbs.source import source_for

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes)
    rendered = render_all(chosen, pods)
    settings = settings_from(options)
    results = _run(
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
                    f"# {plan.node}: {step.name}: {step.action}: {step.reason}\n{step.diff}"
                )
    for r in results:
        if r.failed:
            app.err.print(f"{r.node}: {clean(r.error or '')}", markup=False)
    if app.interrupted:
        sys.exit(130)
    if any(r.failed for r in results):
        sys.exit(2)
    sys.exit(1 if changed else 0)
