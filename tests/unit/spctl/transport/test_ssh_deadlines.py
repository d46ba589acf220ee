"""A node that stops answering, floods its output, or never says hello: every case ends
within its deadline with an error naming the node."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from spctl.errors import NodeError
from spctl.transport.ssh import Connection
from spctl.transport.target import SSHTarget
from tests.fakes.ssh_server import FakeNode, client_key, exit_with


def target(node: FakeNode, tmp_path: Path, **extra) -> SSHTarget:
    known = tmp_path / "known_hosts"
    known.write_text(node.known_hosts_line())
    return SSHTarget(
        host="127.0.0.1",
        port=node.port,
        user="ops",
        key_file=str(client_key(tmp_path)),
        known_hosts=str(known),
        **extra,
    )


def test_a_command_runs_and_returns_its_output(tmp_path: Path) -> None:
    with (
        FakeNode(exit_with(3, b"out", b"err")) as node,
        Connection(target(node, tmp_path)) as conn,
    ):
        done = conn.run(["echo", "a b"], stdin=b"in")
    assert (done.exit_code, done.stdout, done.stderr) == (3, b"out", b"err")
    assert node.commands == ["echo 'a b'"]


def test_a_node_that_freezes_after_the_session_opened_fails_within_the_deadline(
    tmp_path: Path,
) -> None:
    with FakeNode(freeze_on_exec=True) as node, Connection(target(node, tmp_path)) as conn:
        start = time.monotonic()
        with pytest.raises(NodeError) as caught:
            conn.run(["python3", "-c", "pass"], timeout=1.5)
        elapsed = time.monotonic() - start
        # The transport is closed: nothing else can block on it.
        assert not conn.transport.is_active()
    assert node.exec_seen.is_set()
    assert 1.4 < elapsed < 4.0
    message = str(caught.value)
    assert f"ops@127.0.0.1:{node.port}" in message
    assert "did not finish within 1.5s" in message and "connection was closed" in message


def test_endless_output_is_capped(tmp_path: Path) -> None:
    def flood(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        block = b"x" * 65536
        while True:
            channel.sendall(block)

    with (
        FakeNode(flood) as node,
        Connection(target(node, tmp_path)) as conn,
        pytest.raises(NodeError, match="output passed 1 MiB; stopped reading"),
    ):
        conn.run(["yes"], timeout=30, max_output=1024 * 1024)


def test_endless_error_output_is_capped(tmp_path: Path) -> None:
    def flood(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        while True:
            channel.sendall_stderr(b"e" * 65536)

    with (
        FakeNode(flood) as node,
        Connection(target(node, tmp_path)) as conn,
        pytest.raises(NodeError, match="error output passed 1 MiB"),
    ):
        conn.run(["yes"], timeout=30)


def test_a_node_that_never_sends_its_banner_is_a_connection_error(tmp_path: Path) -> None:
    with FakeNode(banner=False) as node:
        start = time.monotonic()
        with pytest.raises(NodeError) as caught:
            Connection(target(node, tmp_path, connect_timeout=1.0)).open()
    assert time.monotonic() - start < 4.0
    message = str(caught.value)
    assert message.startswith(f"ops@127.0.0.1:{node.port}: cannot connect:")
    assert "No existing session" not in message
    assert "banner" in message


def test_tcp_keepalive_is_on(tmp_path: Path) -> None:
    import socket

    with FakeNode() as node, Connection(target(node, tmp_path)) as conn:
        sock = conn.transport.sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
        assert conn.transport.packetizer._Packetizer__keepalive_interval == 15
