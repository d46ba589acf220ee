"""spctl render: print rendered manifests, or write each node's URL-mode document."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click

from ..app import App, clean, pass_app
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
@click.option(
    "--files",
    "files",
    is_flag=True,
    help="Also print each pod's files after its manifest (a secret file's content is not "
    "shown, only its sha256).",
)
@pass_app
def render(
    app: App,
    pods: tuple[str, ...],
    nodes: tuple[str, ...],
    selectors: tuple[str, ...],
    all_nodes: bool,
    out: Optional[Path],
    files: bool,
) -> None:
    """Print the manifests spctl would write, exactly as they would be written (every node
    unless -n or -l says otherwise); with --files, each pod's files too."""
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
            for f in pod.files if files else ():
                sys.stdout.write(file_text(node.name, pod.name, f))


def file_text(node: str, pod: str, f: Any) -> str:
    """One of a pod's files as ``render --files`` prints it: a header line (path, mode,
    owner, group, sha256, what it is made from), then its content; a secret's is masked."""
    header = (
        f"--- # node: {node}  pod: {pod}  path: {f.path}  mode: {f.mode:04o}  owner: "
        f"{f.owner or 'root'}  group: {f.group or 'root'}  sha256: {f.sha256}  "
        f"from: {f.origin}\n"
    )
    if f.secret:
        return header + f"# (a secret: {len(f.content)} bytes, not shown)\n"
    text = clean(f.content.decode("utf-8", "replace"))
    return header + text + ("" if text.endswith("\n") or not text else "\n")


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
