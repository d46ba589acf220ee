"""Text that comes from a node reaches the operator's terminal inert: a pod's probe output,
the kubelet's message or a file name cannot move the cursor, clear the screen or retitle
the window, and brackets in it are not taken for Rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from cli.app import App, clean
from cli.report import print_outcomes, status_rows
from spctl.plan.status import NodeStatus, PodStatus
from spctl.transport.fleet import NodeResult

HOSTILE = "probe said \x1b[2J\x1b]0;owned\x07 [red]not red[/red] \x9b31m\r"


def render(renderable) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=400, force_terminal=True, color_system=None).print(renderable)
    return buffer.getvalue()


def test_clean_shows_control_characters_and_keeps_tab_and_newline() -> None:
    assert clean("a\x1b[2Jb\tc\nd\x9b\x7f\x00") == "a\\x1b[2Jb\tc\nd\\x9b\\x7f\\x00"
    assert clean("plain text: ok") == "plain text: ok"
    # A right-to-left override would show "failed" as "deliaf"; zero-width text hides.
    assert clean("ok \u202edeliaf\u202c \u200b\u2066x") == (
        "ok \\u202edeliaf\\u202c \\u200b\\u2066x"
    )
    assert clean("überall – ok") == "überall – ok"


def test_the_status_table_shows_node_text_inert() -> None:
    pod = PodStatus(
        name="web",
        pod="web-n1",
        file="/etc/kubernetes/manifests/[bold]x\x1b[1m.yaml",
        manifest="unmanaged",
        phase="Running",
        ready=False,
        restarts=0,
        age=5.0,
        containers=[{"name": "web\x1b[8m", "state": "running"}],
        not_ready=HOSTILE,
    )
    shown = render(status_rows([NodeStatus("n1", pods=[pod])], wide=True))
    assert "\x1b[2J" not in shown and "\x1b]0" not in shown and "\x07" not in shown
    assert "\x9b" not in shown and "\r" not in shown and "\x1b[8m" not in shown
    assert "\\x1b[2J" in shown and "[red]not red[/red]" in shown
    assert "[bold]x\\x1b[1m.yaml" in shown and "web\\x1b[8m:running" in shown


def test_a_node_error_in_the_deploy_report_is_inert() -> None:
    buffer = io.StringIO()
    app = App()
    app.out = Console(file=io.StringIO(), width=400, force_terminal=True, color_system=None)
    app.err = Console(file=buffer, width=400, force_terminal=True, color_system=None)
    failed = NodeResult(node="n1", value=None, error=HOSTILE, started=True)
    print_outcomes(app, [failed], dry_run=False, show_diff=False)
    table = app.out.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[2J" not in table and "\\x1b[2J" in table and "[red]not red[/red]" in table


def test_a_crashed_containers_output_is_shown_under_the_failure_inert() -> None:
    from spctl.plan.model import Plan
    from spctl.verbs.outcome import Outcome, PodOutcome

    buffer = io.StringIO()
    app = App()
    app.out = Console(file=io.StringIO(), width=400, force_terminal=True, color_system=None)
    app.err = Console(file=buffer, width=400, force_terminal=True, color_system=None)
    plan = Plan("n1", "kubeadm-deb", "n1", "/etc/kubernetes/manifests", "", "kubelet", None, ())
    pod = PodOutcome(
        "web",
        "failed",
        "Failed",
        ok=False,
        error="the pod failed (web: exited, 0 restarts, exit code 1, Error)",
        output=[{"container": "web", "lines": ["starting", HOSTILE], "cut": True}],
    )
    outcome = Outcome("n1", plan, ok=False, error=f"web: {pod.error}", pods=[pod])
    print_outcomes(app, [NodeResult(node="n1", value=outcome, started=True)], False, False)
    shown = buffer.getvalue()
    assert "exit code 1" in shown and "web/web wrote, the last ones:" in shown
    assert "    | starting\n" in shown
    assert "| probe said \\x1b[2J\\x1b]0;owned\\x07 [red]not red[/red] \\x9b31m\\x0d" in shown
    assert "\x1b[2J" not in shown and "\x07" not in shown and "\r" not in shown
