"""One SSH connection per node, with host keys verified (``host_keys``).

A :class:`Connection` carries bytes and nothing else: it runs one argv (quoted here, never
by callers) and feeds it stdin; the agent itself arrives that way too.

A failure is a :class:`~spctl.errors.TransportError` when the connection itself dropped (see
:func:`dropped`), and a plain :class:`~spctl.errors.NodeError` otherwise; this module decides
which, and never tries again itself.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import paramiko

from spctl.errors import NodeError, TransportError
from spctl.transport import known_hosts
from spctl.transport.host_keys import HostKeyCheck, known_hosts_files
from spctl.transport.known_hosts import HostKeyError
from spctl.transport.target import SSHTarget

# A command's answer: large enough for facts carrying a few manifests of up to 10 MiB each
# (the kubelet's limit), small enough that 20 nodes at once cannot exhaust the control host.
MAX_OUTPUT_BYTES = 32 * 1024 * 1024
MAX_STDERR_BYTES = 1024 * 1024
# Liveness: an SSH keepalive every KEEPALIVE_INTERVAL seconds; the kernel drops the TCP
# connection when sent data stays unacknowledged for TCP_USER_TIMEOUT_S (a frozen node), or
# when an idle connection misses TCP_KEEPCNT probes.
KEEPALIVE_INTERVAL = 15
TCP_KEEPIDLE_S = 30
TCP_KEEPINTVL_S = 10
TCP_KEEPCNT = 3
TCP_USER_TIMEOUT_S = 60

# paramiko logs every failed handshake with a traceback; spctl reports failures itself.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


@dataclass(frozen=True)
class Dialog:
    """A conversation on stderr before the command gets its stdin (sudo asking for a
    password): when ``prompt`` appears, ``answer`` is sent, once; when ``ready`` appears,
    the command's stdin follows. A second prompt, or any of ``refused``, ends the command
    at once: the channel is closed while the asker waits for another answer, so it reads
    the answer exactly once and never reads the stdin meant for the command."""

    prompt: bytes
    answer: bytes = field(repr=False)
    ready: bytes
    refused: tuple[bytes, ...] = ()
    # How long to wait for the prompt, and then for ``ready``, before giving up: something
    # else may be asking (a PAM module's own question, a second factor).
    patience: float = 30.0
    stuck: str = "the command asked something spctl cannot answer"


@dataclass(frozen=True)
class Completed:
    exit_code: int
    stdout: bytes
    stderr: bytes


_keys_lock = threading.Lock()
_keys: dict[str, tuple[tuple[int, int, int], paramiko.PKey]] = {}


def load_key(path: str) -> Optional[paramiko.PKey]:
    """The private key in ``path``, read and parsed once per run (again if the file
    changes) rather than once per node. None when paramiko should load it itself: a key
    with a certificate beside it (``-cert.pub``), one with a passphrase, or one it cannot
    read, so that its own errors are reported as before."""
    try:
        st = os.stat(path)
        if os.path.exists(path + "-cert.pub"):
            return None
    except OSError:
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _keys_lock:
        cached = _keys.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            key = paramiko.PKey.from_path(path)
        except Exception:  # a passphrase, an unknown format: paramiko says why at connect
            return None
        _keys[path] = (stamp, key)
        return key


def _transport_with_host_key_order(order: list[str]) -> Callable[..., paramiko.Transport]:
    """paramiko asks for the host key algorithms in its own order, with certificates last;
    OpenSSH asks first for the kinds known_hosts can vouch for. This does the same."""

    class OrderedTransport(paramiko.Transport):
        @property
        def preferred_keys(self) -> tuple[str, ...]:
            known = self._key_info  # type: ignore[attr-defined]  # what paramiko can verify
            return tuple(a for a in order if a in known)

    def factory(sock: Any, **kwargs: Any) -> paramiko.Transport:
        return OrderedTransport(sock, **kwargs)

    return factory


class Connection:
    """An open SSH transport to one node. Use as a context manager."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self._client: Optional[paramiko.SSHClient] = None
        self._jump: Optional[Connection] = None
        self._sock: Optional[socket.socket] = None
        self._aborted = threading.Event()

    def __enter__(self) -> Connection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        # Each step of connecting has its own timeout in paramiko, but not every wait
        # between them does: the whole of it gets a deadline too.
        t = self.target
        try:
            with self._deadline(3 * t.connect_timeout) as expired:
                try:
                    self._open()
                except NodeError:
                    if expired.is_set():
                        raise NodeError(
                            f"{t.display}: cannot connect: no answer within "
                            f"{3 * t.connect_timeout:g}s"
                        ) from None
                    raise
        except BaseException:
            self.close()  # a jump host connection must not outlive a failed open
            raise

    def _open(self) -> None:
        t = self.target
        if t.key_file and not Path(t.key_file).expanduser().is_file():
            raise NodeError(
                f"{t.display}: the ssh key {Path(t.key_file).expanduser()} is not a file "
                "(ssh.key in the inventory, or IdentityFile in ~/.ssh/config)"
            )
        # Only the lines for this node: the files are parsed once per run (see for_host).
        entries = known_hosts.for_host(known_hosts_files(t), t.known_hosts_name)
        order = known_hosts.host_key_order(entries, t.known_hosts_name)
        key_file = str(Path(t.key_file).expanduser()) if t.key_file else None
        key = load_key(key_file) if key_file else None
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(HostKeyCheck(t, entries))
        sock = self._open_socket()
        started = time.monotonic()
        try:
            client.connect(
                t.host,
                port=t.port,
                username=t.user,
                pkey=key,
                key_filename=None if key is not None else key_file,
                sock=sock,
                # The whole handshake; longer than the banner's own timeout, so that a
                # missing banner is reported as such and not as "No existing session".
                timeout=2 * t.connect_timeout,
                banner_timeout=t.connect_timeout,
                auth_timeout=t.connect_timeout,
                allow_agent=True,
                look_for_keys=t.key_file is None,
                transport_factory=_transport_with_host_key_order(order),
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.AuthenticationException as exc:
            client.close()
            raise NodeError(
                f"{t.display}: authentication failed ({exc}); check ssh user and key"
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            # paramiko says "No existing session" both when the handshake outlived its
            # timeout and when the node closed the connection during it.
            timed_out = time.monotonic() - started >= 2 * t.connect_timeout
            text = _describe_handshake(exc, t, timed_out)
            if t.key_file and "key" in text and self._client is None and _is_key_problem(exc):
                raise NodeError(
                    f"{t.display}: cannot use the ssh key {t.key_file}: {text} (a key with a "
                    "passphrase must be added to ssh-agent)"
                ) from None
            message = f"{t.display}: cannot connect: {text}"
            if timed_out or not dropped(exc):
                raise NodeError(message) from None
            raise TransportError(message) from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_INTERVAL)
        self._client = client

    def _open_socket(self) -> Optional[socket.socket]:
        t = self.target
        if t.jump is None:
            try:
                sock = socket.create_connection((t.host, t.port), timeout=t.connect_timeout)
            except OSError as exc:
                raise _failure(exc, f"{t.display}: cannot connect: {_describe(exc)}") from None
            enable_tcp_keepalive(sock)
            # An agent call is a burst of small packets (channel open, exec, stdin, EOF)
            # sent without waiting for answers: with Nagle's algorithm each waits for the
            # ACK of the previous one, which the node delays (40 ms on Linux), several times
            # per call. Measured on the test server: 132 ms per call with it, 48 without.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            return sock
        self._jump = Connection(t.jump)
        self._jump.open()
        transport = self._jump.transport
        try:
            channel = transport.open_channel(
                "direct-tcpip", (t.host, t.port), ("127.0.0.1", 0), timeout=t.connect_timeout
            )
            self._sock = channel  # type: ignore[assignment]
            return channel  # type: ignore[return-value]
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise _failure(
                exc, f"{t.display}: jump host {t.jump.display} cannot reach it: {_describe(exc)}"
            ) from None

    @property
    def transport(self) -> paramiko.Transport:
        if self._client is None:
            raise NodeError(f"{self.target.display}: not connected")
        transport = self._client.get_transport()
        assert transport is not None
        return transport

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes = b"",
        timeout: float = 60.0,
        max_output: int = MAX_OUTPUT_BYTES,
        dialog: Optional[Dialog] = None,
    ) -> Completed:
        """Run argv (each element quoted for the remote shell) and wait for it.

        ``timeout`` is a deadline for the whole command: opening the channel, sending stdin,
        reading the output and the exit status. When it passes, the transport is closed
        (channel and socket, so no call stays blocked on a node that stopped answering) and
        NodeError is raised; the connection cannot be used again. sshd sends the remote
        process SIGHUP. Output beyond ``max_output`` bytes (stdout) or
        ``MAX_STDERR_BYTES`` (stderr) is a NodeError too, never a control host out of memory.
        A session the node refused or closed before the exit status arrived is a
        :class:`TransportError` (unless :meth:`abort` closed it); a command that exited
        non-zero is a :class:`Completed`, not an error.
        """
        command = " ".join(shlex.quote(a) for a in argv)
        what = f"`{argv[0]}`" if argv else "the command"
        with self._deadline(timeout) as expired:
            try:
                return self._run(command, stdin, max_output, dialog)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if expired.is_set():
                    raise NodeError(
                        f"{self.target.display}: no answer: {what} did not finish within "
                        f"{timeout:g}s; the connection was closed (is the node frozen or "
                        "its network down?)"
                    ) from None
                message = f"{self.target.display}: connection lost: {_describe(exc)}"
                if self._aborted.is_set():  # closed on purpose (abort): not a drop
                    raise NodeError(message) from None
                raise _failure(exc, message) from None

    def _run(
        self, command: str, stdin: bytes, max_output: int, dialog: Optional[Dialog]
    ) -> Completed:
        try:
            channel = self.transport.open_session(timeout=self.target.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if self._aborted.is_set():
                raise
            raise _failure(
                exc, f"{self.target.display}: session refused: {_describe(exc)}"
            ) from None
        out, err = bytearray(), bytearray()
        try:
            channel.exec_command(command)
            if dialog is not None:
                ended, said = self._converse(channel, dialog)
                if ended is not None:  # refused, or ended before it was ready
                    return ended
                err += said
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            # Read stdout until EOF; stderr is drained on the way. The exit status arrives
            # after EOF, and by then every byte of stderr is buffered too. A closed
            # transport (the deadline) ends recv() with EOF, and status_event is set then.
            channel.settimeout(0.2)
            while True:
                try:
                    chunk = channel.recv(65536)
                except socket.timeout:
                    chunk = None
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    _cap(err, MAX_STDERR_BYTES, "error output", self.target.display)
                if chunk == b"":
                    break
                if chunk:
                    out += chunk
                    _cap(out, max_output, "output", self.target.display)
            channel.status_event.wait()
            if self._aborted.is_set():
                raise EOFError("transport closed")
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                _cap(err, MAX_STDERR_BYTES, "error output", self.target.display)
            code = _exit_status(channel)
        finally:
            channel.close()
        return Completed(code, bytes(out), bytes(err))

    def _converse(
        self, channel: paramiko.Channel, dialog: Dialog
    ) -> tuple[Optional[Completed], bytes]:
        """Hold stdin back until ``dialog.ready``: (None, stderr after it) when the command
        may go on, or (what it ended with, b"") when it was refused or ended first."""
        said = bytearray()
        answered = False
        waited_since = time.monotonic()
        channel.settimeout(0.2)
        while True:
            try:
                chunk = channel.recv_stderr(4096)
            except socket.timeout:
                if time.monotonic() - waited_since > dialog.patience:
                    channel.close()
                    text = bytes(said).replace(dialog.prompt, b"").strip()
                    note = f"spctl: {dialog.stuck} (waited {dialog.patience:g}s)".encode()
                    return Completed(1, b"", text + b"\n" + note if text else note), b""
                continue
            said += chunk
            _cap(said, MAX_STDERR_BYTES, "error output", self.target.display)
            if dialog.ready in said:
                return None, bytes(said).split(dialog.ready, 1)[1].lstrip(b"\n")
            text = bytes(said).replace(dialog.prompt, b"")
            prompts = said.count(dialog.prompt)
            if prompts > 1 or any(r in said for r in dialog.refused):
                channel.close()
                return Completed(1, b"", text), b""
            if prompts == 1 and not answered:
                channel.sendall(dialog.answer)
                answered = True
                waited_since = time.monotonic()
            if not chunk:  # the channel ended: the command exited before it was ready
                channel.status_event.wait()
                if self._aborted.is_set():
                    raise EOFError("transport closed")
                code = _exit_status(channel)
                return Completed(code, b"", text), b""

    @contextmanager
    def _deadline(self, seconds: float) -> Iterator[threading.Event]:
        """Abort the connection (see :meth:`abort`) if the block runs past ``seconds``."""
        expired = threading.Event()

        def fire() -> None:
            expired.set()
            self.abort()

        timer = threading.Timer(max(0.0, seconds), fire)
        timer.daemon = True
        timer.start()
        try:
            yield expired
        finally:
            timer.cancel()

    def abort(self) -> None:
        """Close the transport under any call blocked on it, from any thread.

        The socket is shut down first: paramiko's reader thread and every waiting channel
        then see the connection end at once, whatever the node does (or does not) send.
        """
        self._aborted.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        client = self._client
        if client is not None:
            transport = client.get_transport()
            if transport is not None:
                transport.close()
        if self._jump is not None:
            self._jump.abort()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None
        self._sock = None


def _exit_status(channel: paramiko.Channel) -> int:
    """The command's exit status, once the channel has ended. paramiko reports a channel
    closed without one as "ready" with status -1 (a real status is an SSH uint32, never
    negative): that is the session dropped, an EOFError."""
    code = channel.recv_exit_status() if channel.exit_status_ready() else -1
    if code < 0:
        raise EOFError(
            "the session ended without the command's exit status (dropped, or the command "
            "was killed by a signal)"
        )
    return code


def enable_tcp_keepalive(sock: socket.socket) -> None:
    """TCP keepalive and a bound on unacknowledged data, where the platform has them."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", TCP_KEEPIDLE_S),
        ("TCP_KEEPINTVL", TCP_KEEPINTVL_S),
        ("TCP_KEEPCNT", TCP_KEEPCNT),
        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_S * 1000),  # Linux, in milliseconds
    ):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


def _cap(buffer: bytearray, limit: int, what: str, display: str) -> None:
    if len(buffer) > limit:
        raise NodeError(
            f"{display}: the command's {what} passed {limit // (1024 * 1024)} MiB; stopped "
            "reading it (is something on the node printing without end?)"
        )


def _is_key_problem(exc: BaseException) -> bool:
    """paramiko reports a key file it could not load as the reason authentication failed."""
    return isinstance(exc, paramiko.SSHException) and any(
        word in str(exc)
        for word in ("private key", "expected OPENSSH key", "encountered", "password")
    )


#: How paramiko words a connection that ended under it (paramiko/transport.py,
#: channel.py): the node closed it before its banner, during the key exchange, or while a
#: session was opened or used.
_DROPPED_WORDS = (
    "Error reading SSH protocol banner",
    "No existing session",
    "Negotiation failed",
    "SSH session not active",
    "Unable to open channel",
    "Channel closed",
    "Socket is closed",
)


def dropped(exc: BaseException) -> bool:
    """Whether ``exc`` is the connection itself failing: refused, reset or closed by the
    node (before its banner, during the handshake, or before a session's exit status), or a
    session refused (sshd's MaxSessions). Not a timeout (a deadline the operator set, also
    when paramiko wraps it: its banner error carries the timeout as its context), a name
    that does not resolve, or a host key or authentication refusal."""
    if any(isinstance(e, socket.timeout) for e in (exc, exc.__cause__, exc.__context__)):
        return False
    if isinstance(
        exc, (paramiko.AuthenticationException, paramiko.BadHostKeyException, socket.gaierror)
    ):
        return False
    if isinstance(exc, (EOFError, ConnectionError, paramiko.ChannelException)):
        return True
    text = str(exc)
    return isinstance(exc, (paramiko.SSHException, OSError)) and any(
        words in text for words in _DROPPED_WORDS
    )


def _failure(exc: BaseException, message: str) -> NodeError:
    return TransportError(message) if dropped(exc) else NodeError(message)


def _describe_handshake(exc: BaseException, t: SSHTarget, timed_out: bool) -> str:
    text = _describe(exc)
    if "protocol banner" in text:
        if dropped(exc):  # closed before its banner: sshd's MaxStartups, or a restart
            return "the node closed the connection before its SSH banner (is sshd overloaded?)"
        return (
            f"no SSH banner within {t.connect_timeout:g}s (is port {t.port} an SSH server, "
            "and is it overloaded?)"
        )
    if "No existing session" in text:  # paramiko: the handshake ended without a reason
        if not timed_out:
            return "the node closed the connection during the SSH handshake"
        return f"the SSH handshake did not complete within {2 * t.connect_timeout:g}s"
    return text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text
