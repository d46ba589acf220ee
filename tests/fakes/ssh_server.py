"""An SSH server in the test process, standing in for a node: paramiko's server side on
127.0.0.1, any public key accepted, each command handled by a Python function.

A node can be frozen: its socket then stops reading and writing (the kernel still
acknowledges what arrives, as for a VM that was paused), which is what a client sees from a
node that stops answering after the session opened.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import paramiko

# handler(node, command, channel): reads stdin from the channel, writes the answer, and
# sends an exit status; the channel is closed afterwards.
Handler = Callable[["FakeNode", str, paramiko.Channel], None]


class FreezableSocket:
    """A socket that, once frozen, neither reads nor writes until it is closed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frozen = threading.Event()
        self.closed = threading.Event()

    def recv(self, n: int) -> bytes:
        if self.frozen.is_set():
            self.closed.wait(0.1)
            raise socket.timeout()
        return self.sock.recv(n)

    def send(self, data: bytes) -> int:
        if self.frozen.is_set():
            self.closed.wait(0.1)
            raise socket.timeout()
        return self.sock.send(data)

    def settimeout(self, value: Optional[float]) -> None:
        self.sock.settimeout(value)

    def close(self) -> None:
        self.closed.set()
        self.sock.close()

    def __getattr__(self, name: str):  # fileno, getpeername, ...
        return getattr(self.sock, name)


def read_stdin(channel: paramiko.Channel) -> bytes:
    data = bytearray()
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def exit_with(code: int, stdout: bytes = b"", stderr: bytes = b"") -> Handler:
    def handler(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        node.stdin.append(read_stdin(channel))
        if stdout:
            channel.sendall(stdout)
        if stderr:
            channel.sendall_stderr(stderr)
        channel.send_exit_status(code)

    return handler


class _Interface(paramiko.ServerInterface):
    def __init__(self, node: FakeNode, sock: FreezableSocket) -> None:
        self.node = node
        self.sock = sock

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_FAILED if self.node.refuse_auth else paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode()
        self.node.commands.append(text)
        self.node.exec_seen.set()
        if self.node.freeze_on_exec:
            self.sock.frozen.set()  # the reply to this request never leaves
            return True
        threading.Thread(target=self._handle, args=(channel, text), daemon=True).start()
        return True

    def _handle(self, channel: paramiko.Channel, command: str) -> None:
        try:
            self.node.handler(self.node, command, channel)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            try:
                channel.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # the client is gone already


class FakeNode:
    """Listens on 127.0.0.1; use as a context manager. ``known_hosts_line`` trusts it."""

    def __init__(
        self,
        handler: Optional[Handler] = None,
        host_key: Optional[paramiko.PKey] = None,
        *,
        freeze_on_exec: bool = False,
        banner: bool = True,
        refuse_auth: bool = False,
        close_first: int = 0,
    ) -> None:
        self.handler = handler or exit_with(0)
        self.host_key = host_key or paramiko.ECDSAKey.generate()
        self.freeze_on_exec = freeze_on_exec
        self.banner = banner  # False: accept TCP, then say nothing
        self.refuse_auth = refuse_auth  # True: every key is refused
        # The first N connections are closed before the banner, as sshd does beyond its
        # MaxStartups.
        self.close_first = close_first
        self.commands: list[str] = []
        self.stdin: list[bytes] = []
        self.exec_seen = threading.Event()
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._socks: list[FreezableSocket] = []
        self._open_channels: list[paramiko.Channel] = []

    def __enter__(self) -> FakeNode:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._socks:
            sock.close()
        for t in self._transports:
            t.close()

    @property
    def known_hosts_name(self) -> str:
        return f"[127.0.0.1]:{self.port}"

    def known_hosts_line(self) -> str:
        return f"{self.known_hosts_name} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections <= self.close_first:
                conn.close()
                continue
            sock = FreezableSocket(conn)
            self._socks.append(sock)
            if not self.banner:
                continue
            transport = paramiko.Transport(sock)  # type: ignore[arg-type]
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Interface(self, sock))
            except (paramiko.SSHException, EOFError, OSError):
                continue
            threading.Thread(target=self._channels, args=(transport,), daemon=True).start()

    def _channels(self, transport: paramiko.Transport) -> None:
        # Accepted channels are kept: paramiko closes a channel when its object is collected.
        while transport.is_active():
            channel = transport.accept(0.5)
            if channel is not None:
                self._open_channels.append(channel)


def client_key(tmp_path: Path) -> Path:
    """A private key for the client to offer (the fake node accepts any)."""
    path = tmp_path / "id_ecdsa"
    if not path.exists():
        paramiko.ECDSAKey.generate().write_private_key_file(str(path))
    return path


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class CertHostKey(paramiko.Ed25519Key):
    """An ed25519 host key that presents its OpenSSH certificate (paramiko's server side
    only ever presents plain keys; the signature is the plain key's, as PROTOCOL.certkeys
    says)."""

    def get_name(self) -> str:
        if self.public_blob is None:  # while the certificate is being loaded
            return super().get_name()
        return str(self.public_blob.key_type)

    def asbytes(self) -> bytes:
        if self.public_blob is None:
            return super().asbytes()
        return bytes(self.public_blob.key_blob)


def ssh_keygen(*args: str) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


def make_key(directory: Path, name: str) -> Path:
    """An ed25519 key pair made by OpenSSH's ssh-keygen; returns the private key's path."""
    path = directory / name
    ssh_keygen("-t", "ed25519", "-N", "", "-C", name, "-f", str(path))
    return path


def sign_host_key(
    ca: Path,
    key: Path,
    principals: str,
    *,
    validity: str = "-5m:+1h",
    host: bool = True,
) -> CertHostKey:
    """``ssh-keygen -s CA -h``: a host certificate for ``key``, loaded for the server side."""
    args = ["-s", str(ca), "-I", f"{key.name}-id", "-n", principals, "-V", validity]
    if host:
        args.append("-h")
    ssh_keygen(*args, f"{key}.pub")
    cert = CertHostKey.from_private_key_file(str(key))
    cert.load_certificate(f"{key}-cert.pub")
    return cert


def public_line(path: Path) -> str:
    """``type base64`` of the public key next to a private key file."""
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])
