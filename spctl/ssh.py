"""One SSH connection per node, with host keys verified.

A :class:`Connection` carries bytes and nothing else: it runs one argv (quoted here, never
by callers) and feeds it stdin; the agent itself arrives that way too. Host keys
are always checked against a known_hosts file; an unknown key is refused with its
fingerprint, or recorded when the operator chose ``accept-new``; a changed key is always
refused.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import paramiko

from spctl.errors import NodeError

DEFAULT_CONNECT_TIMEOUT = 10.0

# paramiko logs every failed handshake with a traceback; spctl reports failures itself.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


class HostKeyError(NodeError):
    """The node's host key is unknown or has changed."""


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to reach one node; every field is already resolved."""

    host: str
    port: int = 22
    user: str = "root"
    key_file: Optional[str] = None
    known_hosts: Optional[str] = None
    jump: Optional[SSHTarget] = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    host_key_policy: str = "strict"  # "strict" or "accept-new"

    @property
    def display(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.host}{port}"

    @property
    def known_hosts_name(self) -> str:
        """The host name as OpenSSH writes it in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Completed:
    exit_code: int
    stdout: bytes
    stderr: bytes


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_files(target: SSHTarget) -> list[Path]:
    if target.known_hosts:
        return [Path(target.known_hosts).expanduser()]
    return [Path("~/.ssh/known_hosts").expanduser()]


class _HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for hosts absent from known_hosts (changed keys raise
    BadHostKeyException before this is asked)."""

    _append_lock = threading.Lock()

    def __init__(self, target: SSHTarget) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        files = known_hosts_files(self.target)
        if self.target.host_key_policy != "accept-new":
            raise HostKeyError(
                f"{self.target.known_hosts_name}: host key not known "
                f"({key.get_name()} {fingerprint(key)}); nothing was sent. Check the fingerprint "
                f"on the node (ssh-keygen -lf /etc/ssh/ssh_host_{_short(key)}_key.pub), then add "
                f"it to {files[0]} or rerun with --host-key-policy accept-new"
            )
        line = f"{self.target.known_hosts_name} {key.get_name()} {key.get_base64()}\n"
        path = files[0]
        with self._append_lock:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(path, "a", encoding="ascii") as fh:
                fh.write(line)


def _short(key: paramiko.PKey) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key.get_name(), "ecdsa")


class Connection:
    """An open SSH transport to one node. Use as a context manager."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self._client: Optional[paramiko.SSHClient] = None
        self._jump: Optional[Connection] = None

    def __enter__(self) -> Connection:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self._open()
        except BaseException:
            self.close()  # a jump host connection must not outlive a failed open
            raise

    def _open(self) -> None:
        t = self.target
        client = paramiko.SSHClient()
        for path in known_hosts_files(t):
            if path.exists():
                client.load_host_keys(str(path))
        client.set_missing_host_key_policy(_HostKeyCheck(t))
        sock = self._open_socket()
        try:
            client.connect(
                t.host,
                port=t.port,
                username=t.user,
                key_filename=str(Path(t.key_file).expanduser()) if t.key_file else None,
                sock=sock,
                timeout=t.connect_timeout,
                banner_timeout=t.connect_timeout,
                auth_timeout=t.connect_timeout,
                allow_agent=True,
                look_for_keys=t.key_file is None,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"{t.known_hosts_name}: HOST KEY CHANGED: known_hosts has "
                f"{fingerprint(exc.expected_key)}, the node offered {fingerprint(exc.key)}; "
                "nothing was sent. If the node was reinstalled, remove its old line "
                f"(ssh-keygen -R '{t.known_hosts_name}' -f {known_hosts_files(t)[0]}) and verify "
                "the new key"
            ) from None
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
            raise NodeError(f"{t.display}: cannot connect: {_describe(exc)}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self._client = client

    def _open_socket(self) -> Optional[socket.socket]:
        t = self.target
        if t.jump is None:
            try:
                return socket.create_connection((t.host, t.port), timeout=t.connect_timeout)
            except OSError as exc:
                raise NodeError(f"{t.display}: cannot connect: {_describe(exc)}") from None
        self._jump = Connection(t.jump)
        self._jump.open()
        transport = self._jump.transport
        try:
            return transport.open_channel(  # type: ignore[return-value]
                "direct-tcpip", (t.host, t.port), ("127.0.0.1", 0), timeout=t.connect_timeout
            )
        except (paramiko.SSHException, OSError) as exc:
            raise NodeError(
                f"{t.display}: jump host {t.jump.display} cannot reach it: {exc}"
            ) from None

    @property
    def transport(self) -> paramiko.Transport:
        if self._client is None:
            raise NodeError(f"{self.target.display}: not connected")
        transport = self._client.get_transport()
        assert transport is not None
        return transport

    def run(self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = 60.0) -> Completed:
        """Run argv (each element quoted for the remote shell) and wait for it.

        A command still running after ``timeout`` seconds raises NodeError; its channel
        is closed, which sends the remote process SIGHUP through sshd.
        """
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            channel = self.transport.open_session(timeout=self.target.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise NodeError(f"{self.target.display}: session refused: {_describe(exc)}") from None
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            channel.settimeout(0.2)
            # Read stdout until EOF; stderr is drained on the way. The exit status arrives
            # after EOF, and by then every byte of stderr is buffered too.
            while True:
                try:
                    chunk = channel.recv(65536)
                except socket.timeout:
                    chunk = None
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                if chunk == b"":
                    break
                if chunk:
                    out += chunk
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"{self.target.display}: `{argv[0]}` did not finish within {timeout:.0f}s"
                    )
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic()) + 1.0):
                raise NodeError(f"{self.target.display}: `{argv[0]}` gave no exit status")
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            code = channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise NodeError(f"{self.target.display}: connection lost: {_describe(exc)}") from None
        finally:
            channel.close()
        return Completed(code, bytes(out), bytes(err))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text
