"""The application object every command receives: options shared by all verbs, and
all output. Data goes to stdout, progress and messages to stderr."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import click
from rich.console import Console
from rich.markup import escape

OUTPUT_FORMATS = ("table", "wide", "json", "yaml")

# C0 controls but tab and newline, DEL, C1; and the invisible format characters that
# reorder or hide text on a terminal: zero-width ones, bidirectional embeddings, overrides
# and isolates (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069), so that a pod cannot make a
# line read backwards.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text that came from a node (a pod's probe output, the kubelet's message, a file or
    container name), made safe for a terminal: each control character but tab and newline
    is shown as ``\\xNN`` (an invisible format character as ``\\uNNNN``), so nothing a pod
    prints can move the cursor, clear the screen, retitle the window or reorder a line.
    JSON and YAML output escape them already."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``clean`` and escaped for Rich markup: node text inside a markup string."""
    return escape(clean(text))


@dataclass
class App:
    inventory_path: Optional[Path] = None
    quiet: bool = False
    interrupted: bool = False
    # Tables are data: when stdout is not a terminal, never truncate them to 80 columns.
    # No :emoji: codes: a node's error or a pod's name is printed as it is (and each cell
    # costs less to render).
    out: Console = field(
        default_factory=lambda: Console(
            highlight=False, emoji=False, width=None if sys.stdout.isatty() else 1000
        )
    )
    # Messages are never hard-wrapped: an error must stay greppable and copyable.
    err: Console = field(
        default_factory=lambda: Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
    )

    def progress(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[dim]spctl:[/dim] {safe(message)}")

    def interrupted_once(self, in_flight: list[str]) -> None:
        """The first Ctrl-C: say what spctl waits for and how to stop waiting."""
        self.interrupted = True
        waiting = ", ".join(in_flight) or "no node"
        self.err.print(
            f"spctl: interrupted: no new node starts; waiting for the nodes in flight to finish "
            f"their transaction ({waiting}); Ctrl-C again to stop waiting",
            markup=False,
        )

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {safe(message)}")

    def emit(self, data: Any, fmt: str) -> bool:
        """Print machine output and return True; return False for the table formats."""
        if fmt == "json":
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
            return True
        if fmt == "yaml":
            import yaml  # only for -o yaml: --help and table output need no YAML library

            sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
            return True
        return False

    def inventory(self):
        from spctl.desired.inventory import load_inventory

        return load_inventory(self.resolved_inventory_path())

    def resolved_inventory_path(self) -> Path:
        if self.inventory_path is not None:
            return self.inventory_path
        for candidate in (
            Path("spctl.yaml"),
            Path("inventory.yaml"),
            Path(".spctl-lab/inventory.yaml"),
        ):
            if candidate.exists():
                return candidate
        raise click.UsageError(
            "no inventory: pass -i FILE (or set SPCTL_INVENTORY), or create spctl.yaml here; "
            "`spctl lab up` writes .spctl-lab/inventory.yaml"
        )


pass_app = click.make_pass_decorator(App)


def output_option(*formats: str):
    choices = formats or OUTPUT_FORMATS
    return click.option(
        "-o",
        "--output",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )
