"""``spctl serve``: each node's pods over HTTP, for kubelets in URL mode.

Routes (every node route needs that node's token in ``X-Spctl-Token``; see
``spctl/manifest_url.py`` for what the kubelet does with each answer):

- ``GET|HEAD /nodes/<node>/pods.json``: the node's PodList (JSON), with a strong ETag (the
  body's sha256). A node in file mode gets an empty PodList.
- ``GET /nodes/<node>/digest``: what is served to the node (sha256, pods, source), when the
  inventory was last loaded, the last reload error, and the last fetch of the node's URL
  (sha256, time, remote address): the deploy side reads there that a kubelet picked a change up.
- ``GET /healthz``: ``ok`` (no token; says nothing about nodes).

A missing or wrong token is 403 and is logged with the node and the remote address (never
the token). A node the inventory does not have is 404.

The server renders at start (a failure there is fatal), and again on SIGHUP or when the
inventory, the secret or a file under a template's directory changes (checked every
``poll`` seconds). A reload that fails keeps the last good rendering and is logged with every
problem. All nodes are rendered together: one bad template keeps every node at its last good
document, as ``spctl deploy`` refuses to start when one node does not render.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from spctl import manifest_url
from spctl.desired.inventory import Inventory, load_inventory
from spctl.desired.sandbox import reset_template_cache
from spctl.errors import SpctlError, ValidationError
from spctl.serve.document import NodeDocument, render_documents

log = logging.getLogger("spctl.serve.server")


@dataclass(frozen=True)
class Catalog:
    """One complete, validated rendering: what every node gets, and the token it must send."""

    documents: dict[str, NodeDocument]
    tokens: dict[str, str]
    loaded_at: float
    watched: tuple[Path, ...]


@dataclass
class Fetch:
    sha256: str
    at: float
    remote: str


def load_catalog(inventory_path: Path) -> Catalog:
    inv = load_inventory(inventory_path)
    secret = manifest_url.read_secret(inv.url.secret_file)
    documents = render_documents(inv.nodes.values(), inv.fleet)
    tokens = {name: manifest_url.node_token(secret, name) for name in inv.nodes}
    return Catalog(documents, tokens, time.time(), _watched_paths(inv))


def _watched_paths(inv: Inventory) -> tuple[Path, ...]:
    """The inventory, the secret, and every template directory (templates may include others)."""
    dirs = {ref.template.parent for n in inv.nodes.values() for ref in n.pods}
    return (inv.path, inv.url.secret_file, *sorted(dirs))


def fingerprint(paths: Iterable[Path]) -> tuple[Any, ...]:
    """Name, size, mtime and inode of each file (directories walked): a change shows here."""
    seen: list[Any] = []
    for path in paths:
        for root, dirs, files in os.walk(path) if path.is_dir() else [("", [], [str(path)])]:
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                try:
                    st = os.stat(full)
                except OSError:
                    seen.append((full, None))
                    continue
                seen.append((full, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(seen)


@dataclass
class PodServer:
    """The catalog, the HTTP server around it, and reloading. ``start`` serves in a thread."""

    inventory_path: Path
    listen: str = manifest_url.DEFAULT_LISTEN
    #: Serve HTTPS with this certificate chain and key (PEM); both or neither.
    tls_cert: Optional[Path] = None
    tls_key: Optional[Path] = None
    catalog: Catalog = field(init=False)
    last_error: Optional[str] = field(default=None, init=False)
    fetches: dict[str, Fetch] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _httpd: Optional[_Server] = field(default=None, init=False)
    _thread: Optional[threading.Thread] = field(default=None, init=False)
    _fingerprint: tuple[Any, ...] = field(default=(), init=False)
    _tls: Optional[ssl.SSLContext] = field(default=None, init=False)

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SpctlError("TLS needs both a certificate and its key")
        if self.tls_cert is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self._load_certificate()
        self.catalog = load_catalog(self.inventory_path)
        self._fingerprint = fingerprint(self._watched(self.catalog))
        log.info("rendered %d nodes from %s", len(self.catalog.documents), self.inventory_path)

    def _watched(self, catalog: Catalog) -> tuple[Path, ...]:
        tls = (self.tls_cert, self.tls_key) if self.tls_cert and self.tls_key else ()
        return catalog.watched + tls

    def _load_certificate(self) -> None:
        assert self._tls is not None and self.tls_cert is not None
        try:
            self._tls.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise SpctlError(
                f"cannot load the TLS certificate {self.tls_cert} and key {self.tls_key}: {exc}"
            ) from None

    # --- reloading ---------------------------------------------------------------------

    def reload(self, reason: str = "requested") -> bool:
        """Render again; on success serve the new rendering, else keep the last good one."""
        reset_template_cache()
        old = self.catalog
        try:
            if self._tls is not None:
                self._load_certificate()  # a renewed certificate, for the next connections
            new = load_catalog(self.inventory_path)
        except Exception as exc:  # a long-running server outlives any one bad rendering
            if isinstance(exc, ValidationError):
                problems = exc.problems
            elif isinstance(exc, SpctlError):
                problems = [str(exc)]
            else:
                problems = [f"unexpected {type(exc).__name__}: {exc}"]
            self.last_error = "\n".join(problems)
            log.error(
                "reload (%s) failed; still serving the rendering of %s:\n  %s",
                reason,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(old.loaded_at)),
                "\n  ".join(problems),
            )
            self._fingerprint = fingerprint(self._watched(old))
            return False
        with self._lock:
            self.catalog = new
            self.last_error = None
        self._fingerprint = fingerprint(self._watched(new))
        for name in sorted(set(old.documents) | set(new.documents)):
            before, after = old.documents.get(name), new.documents.get(name)
            if after is None:
                log.info("node %s: no longer in the inventory (404 from now on)", name)
            elif before is None or before.body != after.body:
                pods = ", ".join(after.pods) or "no pods"
                log.info("node %s: now serving sha256 %s (%s)", name, after.sha256[:12], pods)
        log.info("reloaded (%s): %d nodes", reason, len(new.documents))
        return True

    def check_for_changes(self) -> bool:
        """Reload when a watched file changed since the last load; True when it reloaded."""
        if fingerprint(self._watched(self.catalog)) == self._fingerprint:
            return False
        return self.reload("files changed")

    # --- serving -----------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        host, port = manifest_url.parse_listen(self.listen)
        if host in ("0.0.0.0", "::"):  # noqa: S104 - only when asked, and said out loud
            log.warning("listening on every interface (%s): every network can reach it", host)
        server_class = _IPv6Server if ":" in host else _Server
        self._httpd = server_class((host, port), _handler_for(self))
        self._httpd.tls = self._tls
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="spctl-serve", daemon=True
        )
        self._thread.start()
        bound = self._httpd.server_address
        scheme = "https" if self._tls else "http"
        log.info("listening on %s (%s):%d", bound[0], scheme, bound[1])
        return str(bound[0]), int(bound[1])

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish, close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def run_forever(self, poll: float = 2.0) -> None:
        """Serve until SIGTERM or SIGINT; reload on SIGHUP and when files change.

        The signal handlers only set a flag: a handler runs in the main thread between any
        two of its instructions, so one that took a lock (an Event's, the logging's) could
        wait forever for the lock the main thread holds. The main loop sleeps in select()
        on a pipe that the interpreter writes to when a signal arrives
        (``signal.set_wakeup_fd``), so it wakes at once and does the work itself.
        """
        flags: dict[str, Any] = {"stop": None, "hup": False}

        def on_stop(signum: int, _frame: Any) -> None:
            flags["stop"] = signum

        def on_hup(_signum: int, _frame: Any) -> None:
            flags["hup"] = True

        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        self.start()
        try:
            while flags["stop"] is None:
                woken, _, _ = select.select([wake_r], [], [], poll if poll > 0 else None)
                if woken:
                    _drain(wake_r)
                if flags["stop"] is not None:
                    break
                if flags["hup"]:
                    flags["hup"] = False
                    self.reload("SIGHUP")
                elif poll > 0 and not woken:
                    self.check_for_changes()
            log.info("%s: shutting down", signal.Signals(flags["stop"]).name)
        finally:
            self.stop()
            signal.set_wakeup_fd(previous)
            os.close(wake_r)
            os.close(wake_w)
        log.info("stopped")

    def answer(self, method: str, path: str, token: Optional[list[str]], remote: str):
        """(status, headers, body) for one request: the whole routing, testable alone."""
        parts = urlsplit(path).path.split("/")
        if parts == ["", "healthz"]:
            return _text(200, "ok\n")
        if len(parts) != 4 or parts[:2] != ["", "nodes"] or parts[3] not in ("pods.json", "digest"):
            return _text(404, "not found; a node's pods are at /nodes/<node>/pods.json\n")
        node, what = parts[2], parts[3]
        with self._lock:
            catalog, last_error = self.catalog, self.last_error
        document = catalog.documents.get(node)
        if document is None:
            return _text(404, f"no node {node!r} in the inventory\n")
        if (
            not token
            or len(token) != 1
            or not manifest_url.token_matches(catalog.tokens[node], token[0])
        ):
            why = "no token" if not token else "several tokens" if len(token) > 1 else "wrong token"
            log.warning("node %s: %s from %s: refused", node, why, remote)
            return _text(
                403, f"forbidden: {manifest_url.TOKEN_HEADER} is not node {node}'s token\n"
            )
        if what == "digest":
            fetch = self.fetches.get(node)
            info = {
                "node": node,
                "source": document.source,
                "sha256": document.sha256,
                "pods": list(document.pods),
                "url_path": manifest_url.node_path(node),
                "loaded_at": catalog.loaded_at,
                "reload_error": last_error,
                "last_fetch": vars(fetch) if fetch else None,
            }
            return 200, {"Content-Type": "application/json"}, (json.dumps(info) + "\n").encode()
        if method == "GET":
            before = self.fetches.get(node)
            self.fetches[node] = Fetch(document.sha256, time.time(), remote)
            if before is None or before.sha256 != document.sha256:
                log.info("node %s: fetched sha256 %s from %s", node, document.sha256[:12], remote)
        headers = {
            "Content-Type": manifest_url.CONTENT_TYPE,
            "ETag": document.etag,
            "Cache-Control": "no-store",
        }
        return 200, headers, document.body


def _drain(fd: int) -> None:
    """Read a non-blocking pipe empty."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _text(status: int, text: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


class _Server(ThreadingHTTPServer):
    # Request threads are joined on close, so a shutdown lets answers in flight finish
    # (each at most Handler.timeout when a client stalls).
    daemon_threads = False
    tls: Optional[ssl.SSLContext] = None

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        if self.tls is not None:
            # The handshake happens in the request's thread (Handler.setup), so a client
            # that never finishes it cannot stall the accepting loop.
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("%s: connection failed: %s", client_address[0], sys.exc_info()[1])


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler_for(server: PodServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "spctl-serve"
        sys_version = ""
        # A client that stops sending holds one thread at most this long.
        timeout = 30

        def setup(self) -> None:
            super().setup()
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()

        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            self._reply(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply(with_body=False)

        def _reply(self, with_body: bool) -> None:
            token = self.headers.get_all(manifest_url.TOKEN_HEADER)
            status, headers, body = server.answer(
                self.command, self.path, token, self.client_address[0]
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            # The request line only: headers (and so tokens) are never logged.
            level = logging.DEBUG if str(code).startswith("2") else logging.INFO
            # %r: control characters in a request line must not forge or erase log lines.
            log.log(level, "%s %r %s", self.client_address[0], self.requestline, code)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("%s %s", self.client_address[0], format % args)

    return Handler
