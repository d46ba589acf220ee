"""spctl remove and spctl rollback: one change of named pods on each node (``change_pods``),
planned by the verb's own planner."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..app import App, output_option, pass_app
from .options import connection, force, rollout, selection, settings_from
from .run import finish, run_on_nodes


def pods_verb(name: str, summary: str, planner: Callable[[], Any]) -> click.Command:
    """A verb on named pods; ``planner()`` gives its plan function (imported when it runs,
    so that --help stays fast)."""

    @click.command(name, help=summary)
    @click.argument("pods", nargs=-1, required=True)
    @selection
    @force
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

        plan = planner()
        for pod in pods:
            problem = validate_pod_name(pod)
            if problem:
                raise click.BadParameter(problem, param_hint="POD")
        chosen = app.inventory().select(nodes, selectors, all_nodes)
        settings = settings_from(options)
        results = run_on_nodes(
            app,
            name,
            chosen,
            lambda n, step: change_pods(n, list(pods), settings, plan, step),
            options,
        )
        finish(app, results, fmt)

    return command
