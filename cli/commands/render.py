"""spctl render: print rendered manifests, or write each node's URL-mode document."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from ..app import App, pass_app
from .options import selection

if TYPE_CHECKING:
    from spctl.desired.fleet import Fleet


@click.command("render")
@click.argument("pods", nargs=-1)
@selection
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each node's document for URL mode to DIR/nodes/<node>/pods.json (what "
    "`spctl serve` answers) instead of printing manifests.",
)
@pass_app
def render(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    out: Optional[Path],
) -> None:
    """Print the manifests spctl would write, exactly as they would be written (every node
    unless -n or -l says otherwise)."""
    from spctl.desired.render import render_all

    inv = app.inventory()
    chosen = inv.select(nodes, selectors, all_nodes or not (nodes or selectors), require=False)
    if out is not None:
        if pods:
            raise click.UsageError("--out writes every pod of each node; name no pods with it")
        write_documents(app, chosen, inv.fleet, out)
        return
    rendered = render_all(chosen, inv.fleet, pods)
    first = True
    for node in chosen:
        for pod in rendered[node.name]:
            if not first:
                sys.stdout.write("---\n")
            first = False
            sys.stdout.write(f"# node: {node.name}  file: {pod.file}  template: {pod.template}\n")
            sys.stdout.write(pod.content)


def write_documents(app: App, chosen: list, fleet: Fleet, out: Path) -> None:
    """Render everything first, then write each file atomically (temp file, fsync, rename):
    a web server serving DIR never sees a half-written document, and nothing is written when
    one node does not render."""
    from spctl import manifest_url
    from spctl.serve.document import render_documents

    documents = render_documents(chosen, fleet)
    for name, document in documents.items():
        directory = out / "nodes" / name
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / manifest_url.DOCUMENT_FILE
        if target.exists() and target.read_bytes() == document.body:
            app.progress(f"{target}: unchanged")
            continue
        fd, tmp = tempfile.mkstemp(prefix=".pods.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(document.body)
                f.flush()
                os.fsync(f.fileno())
            # No secret inside, but each node's pods: the web server guards each node's path.
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        pods = ", ".join(document.pods) or "no pods"
        app.progress(f"{target}: written ({pods}; sha256 {document.sha256[:12]})")
