"""spctl serve: each URL-mode node's pods over HTTP, reloaded when the inventory changes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import click

from ..app import App, pass_app
from .options import inventory_option


@click.command("serve")
@inventory_option
@click.option(
    "--listen",
    metavar="ADDR:PORT",
    help="Address to bind (default: the inventory's url.listen, else 127.0.0.1:8080).",
)
@click.option(
    "--poll",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds between checks for changed inventory, templates or secret (0: SIGHUP only).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Serve HTTPS with this certificate chain (PEM); reloaded with the rest.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The certificate's private key (PEM).",
)
@click.option("--init-secret", is_flag=True, help="Create the secret file (mode 0600) and exit.")
@click.option(
    "--print-token",
    "print_token",
    metavar="NODE",
    help="Print NODE's token on stdout and exit (for a web server serving `render --out`).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log every answered request.")
@pass_app
def serve(
    app: App,
    listen: Optional[str],
    poll: float,
    tls_cert: Optional[Path],
    tls_key: Optional[Path],
    init_secret: bool,
    print_token: Optional[str],
    verbose: bool,
) -> None:
    """Serve each node's pods at /nodes/<node>/pods.json for kubelets in URL mode
    (see docs/url-mode.md). Runs until SIGTERM or SIGINT; SIGHUP reloads."""
    from spctl import manifest_url
    from spctl.serve.server import PodServer

    inv = app.inventory()
    if init_secret:
        path = inv.url.secret_file
        if manifest_url.init_secret(path):
            app.progress(f"created {path} (mode 0600); keep it on this host only")
        else:
            app.progress(f"{path} already exists; left as it is")
        return
    if print_token is not None:
        if print_token not in inv.nodes:
            raise click.UsageError(f"no node {print_token!r} in {inv.path}")
        secret = manifest_url.read_secret(inv.url.secret_file)
        sys.stdout.write(manifest_url.node_token(secret, print_token) + "\n")
        return
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    address = listen or inv.url.listen or manifest_url.DEFAULT_LISTEN
    try:
        manifest_url.parse_listen(address)
    except ValueError as exc:
        raise click.UsageError(f"--listen: {exc}") from None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    server = PodServer(inv.path, address, tls_cert=tls_cert, tls_key=tls_key)
    try:
        server.run_forever(poll=poll)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {address}: {exc.strerror or exc}") from None
