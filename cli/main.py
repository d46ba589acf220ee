"""spctl: Kubernetes static pods on many nodes, over SSH."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from spctl.errors import SpctlError

from .app import App, clean
from .commands import COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-i",
    "--inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SPCTL_INVENTORY",
    help="Inventory file (default: ./spctl.yaml, ./inventory.yaml, then .spctl-lab/inventory.yaml).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
@click.version_option(package_name="spctl")
@click.pass_context
def cli(ctx: click.Context, inventory: Optional[Path], quiet: bool) -> None:
    """Manage Kubernetes static pods on many nodes over SSH."""
    ctx.obj = App(inventory_path=inventory, quiet=quiet)


for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    from spctl.limits import raise_nofile

    raise_nofile()  # a socket per node in flight: never fail a node for want of one
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("spctl: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SpctlError as exc:
        if exc.exit_code == 130:
            # fleet.Abandoned, a second Ctrl-C: the threads of the nodes in flight still wait
            # on their connections and the interpreter would join them at exit, so the
            # process ends here, output flushed.
            click.echo(f"spctl: {exc}", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        click.echo(f"spctl: error: {clean(str(exc))}", err=True)  # may quote a node's files
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("spctl: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
