"""spctl lab: a multi-node lab on the local Docker engine, with the kubelet stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import click

from ..app import App, output_option, pass_app

STATE_DIR = Path(".spctl-lab")


LAB_PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm", "k3s", "rke2", "fedora-config")
INSTALL_HINT = "pip install 'spctl[lab]' (or, in a checkout, make venv)"


def require_lab_extra() -> None:
    """The lab needs the docker SDK (the `lab` extra): without it, say how to install it."""
    from spctl.errors import SpctlError

    try:
        import docker  # noqa: F401
    except ImportError as exc:
        raise SpctlError(
            f"spctl lab needs the lab's extra dependencies ({exc.name or 'docker'} is not "
            f"installed): {INSTALL_HINT}"
        ) from None


@contextmanager
def engine_errors() -> Iterator[None]:
    """Docker engine errors become LabErrors: a message, not a traceback."""
    require_lab_extra()
    import docker.errors
    from spctl_lab.images import LabError

    try:
        yield
    except docker.errors.DockerException as exc:
        raise LabError(f"Docker engine: {exc}") from None


@click.group("lab")
def lab() -> None:
    """A lab of nodes on the local Docker engine (their kubelet is a stand-in)."""


@lab.command("up")
@click.option(
    "-n", "--nodes", "count", type=int, help="Number of nodes (default: 3, or the current count)."
)
@click.option(
    "-p",
    "--profile",
    "profiles",
    multiple=True,
    type=click.Choice(LAB_PROFILES),
    help="Profile of each node in turn, repeated (default: fedora, kubeadm-deb, kubeadm-rpm).",
)
@pass_app
def up(app: App, count: Optional[int], profiles: tuple[str, ...]) -> None:
    """Start (or reconcile) the lab and wait until every node is ready."""
    import time

    with engine_errors():
        from spctl_lab.cluster import Lab

        started = time.monotonic()
        lab = Lab(STATE_DIR, progress=app.progress)
        nodes = lab.up(count, profiles)
    app.progress(
        f"lab ready: {len(nodes)} node(s) in {time.monotonic() - started:.1f}s; their kubelet is "
        "the lab's kubelet stand-in, not a real kubelet"
    )
    app.progress(f"inventory: {lab.inventory_path}  (spctl -i {STATE_DIR}/inventory.yaml status)")
    _print_nodes(app, nodes, "table")


@lab.command("down")
@pass_app
def down(app: App) -> None:
    """Remove every container, volume and network of the lab (cached images stay)."""
    with engine_errors():
        from spctl_lab.cluster import Lab

        removed = Lab(STATE_DIR, progress=app.progress).down()
    app.progress(f"lab removed ({removed} node(s))")


@lab.command("status")
@output_option("table", "json", "yaml")
@pass_app
def status(app: App, fmt: str) -> None:
    """List the lab's nodes."""
    with engine_errors():
        from spctl_lab.cluster import Lab

        nodes = Lab(STATE_DIR).nodes()
    _print_nodes(app, nodes, fmt)


def _print_nodes(app: App, nodes: list, fmt: str) -> None:
    rows = [
        {
            "name": n.name,
            "profile": n.profile,
            "state": n.state,
            "ssh": f"127.0.0.1:{n.port}" if n.port else None,
        }
        for n in nodes
    ]
    if app.emit({"nodes": rows}, fmt):
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("NODE", "PROFILE", "STATE", "SSH"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["profile"], row["state"], row["ssh"] or "-")
    app.out.print(table)


@lab.command("control-plane")
@click.argument("names", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove the manifests instead.")
@pass_app
def control_plane(app: App, names: tuple[str, ...], remove: bool) -> None:
    """Lay out kubeadm nodes as control-plane nodes: kube-apiserver's static pod in
    /etc/kubernetes/manifests as kubeadm writes it (a stand-in serving /livez and /readyz)."""
    from spctl_lab import control_plane as cp
    from spctl_lab.cluster import Lab
    from spctl_lab.images import LabError

    lab = Lab(STATE_DIR, progress=app.progress)
    with engine_errors():
        nodes = {n.name: n for n in lab.nodes()}
        for name in names:
            if name not in nodes:
                raise LabError(f"no lab node {name!r}; the lab has {', '.join(nodes) or 'none'}")
            if remove:
                cp.tear_down(lab, nodes[name])
                app.progress(f"{name}: removed {cp.MANIFEST}")
                continue
            try:
                address = cp.lay_out(lab, nodes[name])
            except ValueError as exc:
                raise LabError(str(exc)) from None
            app.progress(f"{name}: wrote {cp.MANIFEST} (kube-apiserver advertising {address})")
        if not remove:
            path = cp.write_inventory(lab, list(names))
            app.progress(f"inventory: {path}  (group control-plane)")
