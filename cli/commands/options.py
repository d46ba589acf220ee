"""Options shared by several verbs, declared once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Optional

import click

from spctl.verbs.settings import Settings

from ..app import App

F = Callable[..., Any]


class Seconds(click.ParamType):
    """A finite number of seconds within bounds (NaN and infinity are refused too)."""

    name = "seconds"

    def __init__(self, low: float, high: float, allow_zero: bool = True) -> None:
        self.low, self.high, self.allow_zero = low, high, allow_zero

    def convert(
        self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> float:
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        bad = not math.isfinite(seconds) or seconds < self.low or seconds > self.high
        if bad or (seconds == 0 and not self.allow_zero):
            low = f"at least {self.low:g}" if self.allow_zero else f"more than {self.low:g}"
            self.fail(f"{value!r}: expected {low} and at most {self.high:g} seconds", param, ctx)
        return seconds


def _set_inventory(ctx: click.Context, _param: click.Parameter, value: Optional[str]) -> None:
    if value is not None:
        from pathlib import Path

        ctx.ensure_object(App).inventory_path = Path(value)


def inventory_option(func: F) -> F:
    """-i, also accepted after the verb."""
    return click.option(
        "-i",
        "--inventory",
        type=click.Path(dir_okay=False),
        expose_value=False,
        is_eager=True,
        callback=_set_inventory,
        help="Inventory file (as the global -i).",
    )(func)


def selection(func: F) -> F:
    """--node / -l / --all: which nodes a command acts on; and -i, also accepted after the verb."""
    func = inventory_option(func)
    func = click.option("--all", "all_nodes", is_flag=True, help="Every node of the inventory.")(
        func
    )
    func = click.option(
        "-l",
        "--selector",
        "selectors",
        multiple=True,
        metavar="KEY=VALUE",
        help="Nodes whose labels match (repeat to require several).",
    )(func)
    func = click.option(
        "-n",
        "--node",
        "nodes",
        multiple=True,
        metavar="NAME",
        help="A node or group name (repeatable).",
    )(func)
    return func


def connection(func: F) -> F:
    func = click.option(
        "--host-key-policy",
        type=click.Choice(["strict", "accept-new"]),
        default="strict",
        show_default=True,
        help="strict: refuse unknown host keys; accept-new: record unknown ones. A changed key is always refused.",
    )(func)
    func = click.option(
        "--connect-timeout",
        type=Seconds(0, 3600, allow_zero=False),
        metavar="SECONDS",
        help="SSH connect timeout (default 10).",
    )(func)
    func = click.option(
        "--ask-sudo-password",
        is_flag=True,
        help="Prompt for the sudo password (or set SPCTL_SUDO_PASSWORD).",
    )(func)
    func = click.option(
        "-w",
        "--workers",
        type=click.IntRange(1, 500),
        default=20,
        show_default=True,
        help="Nodes worked on at once.",
    )(func)
    return func


def rollout(func: F) -> F:
    func = click.option(
        "--timeout",
        type=Seconds(0, 7 * 86400, allow_zero=False),
        default=300.0,
        show_default=True,
        metavar="SECONDS",
        help="How long to wait for pods to run.",
    )(func)
    func = click.option(
        "--stable-for",
        type=Seconds(0, 86400),
        default=5.0,
        show_default=True,
        metavar="SECONDS",
        help="How long a new pod must run without a restart to count as up.",
    )(func)
    func = click.option(
        "--serial", metavar="N|N%", help="Roll out in batches of N nodes (or N% of them)."
    )(func)
    func = click.option(
        "--max-fail",
        default="0",
        show_default=True,
        metavar="N|N%",
        help="Failed nodes tolerated before no new batch starts.",
    )(func)
    func = click.option(
        "--wait-lock",
        type=Seconds(0, 7 * 86400),
        default=0.0,
        metavar="SECONDS",
        help="Wait this long for another spctl run on a node to finish.",
    )(func)
    return func


def settings_from(options: dict[str, Any], dry_run: bool = False) -> Settings:
    """The run's settings from the verb's options (``force``: deploy, remove, rollback)."""
    password: Optional[str] = os.environ.get("SPCTL_SUDO_PASSWORD")
    if options.get("ask_sudo_password"):
        password = click.prompt("sudo password", hide_input=True, err=True)
    return Settings(
        host_key_policy=options.get("host_key_policy") or "strict",
        connect_timeout=options.get("connect_timeout"),
        timeout=float(options.get("timeout") or 300.0),
        stable_for=5.0 if options.get("stable_for") is None else float(options["stable_for"]),
        wait_lock=float(options.get("wait_lock") or 0.0),
        sudo_password=password,
        dry_run=dry_run,
        force=bool(options.get("force")),
    )


def force(func: F) -> F:
    """--force: overwrite what changed on the node (deploy, remove, rollback)."""
    return click.option(
        "--force",
        is_flag=True,
        help="Also overwrite (remove, roll back) a file spctl owns that changed on the node "
        "since spctl wrote it (kubeadm upgrade apply, a hand edit); without it that node is "
        "refused. The node's version is kept in spctl's backups on the node.",
    )(func)


def strict(func: F) -> F:
    return click.option(
        "--strict",
        is_flag=True,
        help="Refuse pods with a privileged container, hostPID or a hostPath of / (exit 2) "
        "instead of warning.",
    )(func)
