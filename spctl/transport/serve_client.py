"""Asking ``spctl serve`` what it serves a URL-mode node: ``GET <base>/nodes/<node>/digest``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from spctl import manifest_url
from spctl.desired.inventory import Node, URLSettings
from spctl.errors import SpctlError


class ServerError(SpctlError):
    """``spctl serve`` is not reachable, or does not serve what the inventory renders."""


def fetch_digest(url: URLSettings, node: Node, timeout: float = 10.0) -> dict[str, Any]:
    """The server's digest for ``node`` (sha256 served, last fetch, reload error), asked
    with the node's token."""
    if not url.base:
        raise ServerError(f"node {node.name}: source url needs url.base in the inventory")
    address = url.base.rstrip("/") + manifest_url.DIGEST_PATH.format(node=node.name)
    token = manifest_url.node_token(manifest_url.read_secret(url.secret_file), node.name)
    request = urllib.request.Request(address, headers={manifest_url.TOKEN_HEADER: token})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        raise ServerError(
            f"{address} answered {exc.code} {exc.reason}"
            + (
                ": the server has another secret than url.secret_file"
                if exc.code == 403
                else ": the server has another inventory (reload it)"
                if exc.code == 404
                else ""
            )
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(
            f"cannot reach spctl serve at {url.base} ({reason}): start `spctl serve` there"
        ) from None
