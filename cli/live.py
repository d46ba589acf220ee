"""What changes while a command runs: the live status (`status --watch`).

On a terminal the table is redrawn in place (rich Live) with the cells that changed since
the last refresh in reverse video and the latest changes under it. Elsewhere (a pipe, a
file) the first refresh prints the table and each later one prints only its change lines,
stamped with the time; with -o json or yaml every refresh is one document (JSON: one line).
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from datetime import datetime, timezone
from typing import Optional

import yaml
from rich.console import Group
from rich.live import Live
from rich.text import Text

from spctl.plan.status import NodeStatus
from spctl.plan.status_changes import Change, changes, describe
from spctl.verbs.watch import Watch

from .app import App, clean, safe
from .report import describe_url, status_rows

#: How many change lines stay under the live table.
HISTORY = 8


def watch_status(app: App, watch: Watch, fmt: str, interval: float) -> None:
    """Refresh until Ctrl-C; returns then (the caller exits 0) with every connection closed."""
    tty = fmt in ("table", "wide") and app.out.is_terminal
    live: Optional[Live] = None
    history: deque[str] = deque(maxlen=HISTORY)
    previous: Optional[list[NodeStatus]] = None
    warned: set[str] = set()
    try:
        if tty:
            live = Live(console=app.out, auto_refresh=False, redirect_stderr=False)
            live.start()
        while True:
            started = time.monotonic()
            statuses = watch.refresh()
            now = datetime.now(timezone.utc).astimezone()
            found = changes(previous, statuses) if previous is not None else []
            lines = describe(found)
            stamp = now.strftime("%H:%M:%S")
            if fmt in ("json", "yaml"):
                document = {
                    "time": now.isoformat(timespec="seconds"),
                    "nodes": [s.as_dict() for s in statuses],
                    "changes": [c.as_dict() for c in found],
                }
                if fmt == "json":
                    sys.stdout.write(json.dumps(document) + "\n")
                else:
                    sys.stdout.write("---\n" + yaml.safe_dump(document, sort_keys=False))
                sys.stdout.flush()
            elif live is not None:
                history.extend(f"{stamp} {line}" for line in lines)
                live.update(
                    _screen(statuses, fmt == "wide", found, history, interval, stamp),
                    refresh=True,
                )
            elif previous is None:
                app.out.print(status_rows(statuses, wide=fmt == "wide"))
                for s in statuses:
                    if s.url:
                        app.out.print(f"{s.name}: {describe_url(s.url)}", markup=False)
                sys.stdout.flush()
            else:
                for line in lines:
                    app.out.print(f"{stamp} {clean(line)}", markup=False, highlight=False)
                sys.stdout.flush()
            if live is None:
                for s in statuses:
                    for warning in s.warnings:
                        if f"{s.name}: {warning}" not in warned:
                            warned.add(f"{s.name}: {warning}")
                            app.warn(f"{s.name}: {warning}")
            previous = statuses
            time.sleep(max(0.0, started + interval - time.monotonic()))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`| head`): the watch ends like after Ctrl-C.
        sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - nothing more may reach the pipe
    finally:
        if live is not None:
            live.stop()
        watch.close()


def _screen(
    statuses: list[NodeStatus],
    wide: bool,
    found: list[Change],
    history: deque[str],
    interval: float,
    stamp: str,
) -> Group:
    answered = sum(1 for s in statuses if s.reachable and not s.error)
    head = Text.from_markup(
        f"[bold]spctl status --watch[/bold]  every {interval:g}s  {stamp}  "
        f"{answered}/{len(statuses)} nodes answered  (Ctrl-C to stop)"
    )
    parts: list[object] = [head, Text(""), status_rows(statuses, wide, found), Text("")]
    if history:
        parts.append(Text("changes:", style="bold"))
        parts.extend(Text(clean(line)) for line in history)
    else:
        parts.append(Text("changes: none yet", style="dim"))
    parts.extend(Text(f"{s.name}: {describe_url(s.url)}") for s in statuses if s.url)
    warnings = [f"{s.name}: {w}" for s in statuses for w in s.warnings]
    parts.extend(Text.from_markup(f"[yellow]warning:[/yellow] {safe(w)}") for w in warnings)
    return Group(*parts)  # type: ignore[arg-type]
