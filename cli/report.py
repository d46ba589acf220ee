"""Printing results: per-node summaries of deploy/remove/rollback, and status tables."""

from __future__ import annotations

import time
from typing import Any, Optional

from rich.table import Table

from spctl.plan.status import NodeStatus, ready_text
from spctl.plan.status_changes import Change
from spctl.transport.fleet import NodeResult
from spctl.verbs.outcome import Outcome

from .app import App, safe


def outcome_dicts(results: list[NodeResult[Outcome]]) -> dict[str, Any]:
    nodes = []
    for r in results:
        if r.value is not None:
            nodes.append(r.value.as_dict())
        else:
            nodes.append(
                {
                    "name": r.node,
                    "ok": False,
                    "changed": False,
                    "kubelet_restarted": False,
                    "started": r.started,
                    "error": r.error,
                    "profile": None,
                    "manifest_dir": None,
                    "kubelet_change": None,
                    "warnings": [],
                    "pods": [],
                }
            )
    return {"nodes": nodes}


def print_outcomes(
    app: App, results: list[NodeResult[Outcome]], dry_run: bool, show_diff: bool
) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NODE", "RESULT", "KUBELET", "PODS"):
        table.add_column(column)
    for r in results:
        o = r.value
        if o is None:
            label = "not started" if not r.started else "[red]failed[/red]"
            # A refusal can carry a diff (a file changed on the node): its first line goes
            # in the table; the whole text is on stderr (the progress line, or below).
            first, _, more = (r.error or "").partition("\n")
            table.add_row(
                r.node, label, "-", safe(first + (" (details on stderr)" if more else ""))
            )
            continue
        if not o.ok:
            label = "[red]failed[/red]"
        elif dry_run:
            label = "would change" if o.changed else "no change"
        else:
            label = "changed" if o.changed else "no change"
        if o.plan.kubelet is None:
            kubelet = "unchanged"
        elif dry_run:
            kubelet = "would restart"
        else:
            kubelet = "restarted" if o.kubelet_restarted else "[red]not restarted[/red]"
        pods = (
            ", ".join(
                f"{p.name}: {p.action}" + (f" ({p.phase})" if p.phase else "") for p in o.pods
            )
            or "-"
        )
        table.add_row(r.node, label, kubelet, safe(pods))
    app.out.print(table)
    for r in results:
        o = r.value
        if o is None:
            if app.quiet and "\n" in (r.error or ""):  # otherwise the progress printed it
                app.err.print(f"[red]{safe(r.node)}:[/red] {safe(r.error or '')}")
            continue
        if show_diff:
            if o.plan.kubelet is not None:
                app.out.print(f"# {o.node}: {safe(o.plan.kubelet.reason)}")
                app.out.print(safe(o.plan.kubelet_diff()), end="")
            for p in o.pods:
                if p.diff:
                    app.out.print(safe(p.diff), end="")
        for warning in o.plan.warnings:
            app.warn(f"{o.node}: {warning}")
        if o.error:
            app.err.print(f"[red]{safe(o.node)}:[/red] {safe(o.error)}")
            print_output(app, o)


def print_output(app: App, o: Outcome) -> None:
    """Under a node's failure, the last lines each crashed container wrote (made inert: a
    pod's output must not move the cursor or retitle the window)."""
    for p in o.pods:
        for entry in p.output:
            more = ", the last ones" if entry["cut"] else ""
            app.err.print(f"  {safe(p.name)}/{safe(entry['container'])} wrote{more}:")
            for line in entry["lines"]:
                app.err.print(f"    | {safe(line)}")


#: Where a change is marked: the column of each field of spctl.verbs.watch.Change; the others
#: (reachable, a pod that appeared) mark the whole row.
_CHANGED_COLUMN = {"manifest": 2, "phase": 3, "ready": 4, "restarts": 5}
CHANGED_STYLE = "reverse"


def status_rows(
    statuses: list[NodeStatus], wide: bool, changed: Optional[list[Change]] = None
) -> Table:
    """The status table; with ``changed`` (spctl.verbs.watch.changes), those cells are marked."""
    cells: dict[tuple[str, Optional[str]], set[int]] = {}
    for c in changed or ():
        cells.setdefault((c.node, c.pod), set()).add(_CHANGED_COLUMN.get(c.field, -1))
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ["NODE", "POD", "MANIFEST", "PHASE", "READY", "RESTARTS", "AGE"]
    if wide:
        columns += ["PROFILE", "FILE", "CONTAINERS", "FILES"]
    for column in columns:
        table.add_column(column)
    for s in statuses:
        if s.error or not s.reachable:
            row = [
                s.name,
                "-",
                "-",
                "[red]unreachable[/red]" if not s.reachable else "[red]error[/red]",
                "-",
                "-",
                safe(s.error or ""),
            ]
            table.add_row(*_mark(row + (["-", "-", "-", "-"] if wide else []), cells, s.name, None))
            continue
        if not s.pods:
            row = [s.name, "(none)", "-", "-", "-", "-", "-"]
            row += [s.profile or "-", safe(s.manifest_dir or "-"), "-", "-"] if wide else []
            table.add_row(*_mark(row, cells, s.name, None))
        for p in s.pods:
            phase = {"Running": "[green]Running[/green]", "Failed": "[red]Failed[/red]"}.get(
                p.phase, safe(p.phase)
            )
            manifest = {
                "drifted": "[yellow]drifted[/yellow]",
                "changed-on-node": "[red]changed-on-node[/red]",
                "missing": "[yellow]missing[/yellow]",
            }.get(p.manifest, p.manifest)
            row = [
                s.name,
                safe(p.name),
                manifest,
                phase,
                ready_text(p),
                str(p.restarts),
                _age(p.age),
            ]
            if wide:
                containers = ", ".join(safe(container_text(c)) for c in p.containers) or "-"
                if p.not_ready:
                    containers += f" (not ready: {safe(p.not_ready)})"
                row += [s.profile or "-", safe(p.file or "-"), containers, files_text(p.files)]
            table.add_row(*_mark(row, cells, s.name, p.name))
    return table


_FILE_STATES = {
    "drifted": "[yellow]drifted[/yellow]",
    "changed-on-node": "[red]changed-on-node[/red]",
    "missing": "[yellow]missing[/yellow]",
}


def files_text(files: list[dict[str, str]]) -> str:
    """A pod's files in the wide table: ``/etc/haproxy/haproxy.cfg:in-sync``, one a line."""
    if not files:
        return "-"
    return "\n".join(
        f"{safe(f['path'])}:{_FILE_STATES.get(f['state'], safe(f['state']))}" for f in files
    )


def container_text(c: dict[str, Any]) -> str:
    """One container in the wide table: ``web:running``, and how it last ended when it did
    (``web:running (last exit 1, Error)``), as kubectl describe shows Last State."""
    text = f"{c['name']}:{c['state']}"
    if c.get("last_exit_code") is not None:
        reason = f", {c['last_reason']}" if c.get("last_reason") else ""
        text += f" (last exit {c['last_exit_code']}{reason})"
    return text


def _mark(
    row: list[str], cells: dict[tuple[str, Optional[str]], set[int]], node: str, pod: Optional[str]
) -> list[str]:
    columns = cells.get((node, pod), set()) | cells.get((node, None), set())
    if not columns:
        return row
    whole = -1 in columns
    return [
        f"[{CHANGED_STYLE}]{cell}[/{CHANGED_STYLE}]" if whole or i in columns else cell
        for i, cell in enumerate(row)
    ]


def _age(seconds: Any) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def describe_url(info: dict[str, Any]) -> str:
    """One line for ``spctl status``: the URL, what the server serves, the last fetch."""
    served = {
        "in-sync": "the server serves what the inventory renders",
        "stale": "the server serves OTHER content than the inventory renders (reload it)",
        "unreachable": f"the server is unreachable ({info.get('error')})",
    }[info["served"]]
    fetch = info.get("last_fetch")
    if fetch:
        ago = int(time.time() - float(fetch.get("at") or 0))
        same = "current" if fetch.get("sha256") == info.get("expected_sha256") else "older"
        fetched = f"last fetched {ago}s ago ({same} content) from {fetch.get('remote')}"
    else:
        fetched = "never fetched since the server started"
    return f"{info.get('url')}: {served}; {fetched}"
