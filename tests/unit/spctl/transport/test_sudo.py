"""sudo with a password: sudo reads it once, from stdin, only when it asks; the request
follows only after sudo let the command run. The node here emulates sudo -S the way sudo
reads a password (a byte at a time up to the newline, then "Sorry, try again." and the
prompt again after a wrong one)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import paramiko
import pytest

from spctl.errors import NodeError
from spctl.transport.agent import Agent
from spctl.transport.ssh import Connection
from spctl.transport.sudo import SUDO_READY, Sudo
from spctl.transport.target import SSHTarget
from tests.fakes.ssh_server import FakeNode, client_key, read_stdin


def read_line(channel: paramiko.Channel) -> bytes | None:
    line = bytearray()
    while True:
        c = channel.recv(1)
        if not c:
            return None
        line += c
        if c == b"\n":
            return bytes(line)


def fake_sudo(password: str, asks: bool = True, own_prompt: bool = False):
    def handler(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        argv = shlex.split(command)
        assert argv[:3] == ["sudo", "-S", "-p"]
        assert password not in command  # never on a command line
        prompt = argv[3].encode()
        attempts = node.sudo_attempts  # type: ignore[attr-defined]
        if own_prompt:  # a PAM module asking its own question, then waiting for an answer
            channel.sendall_stderr(b"Verification code: ")
            line = read_line(channel)
            if line is not None:
                attempts.append(line)
            return
        if asks:
            while len(attempts) < 3:  # sudo's default passwd_tries
                channel.sendall_stderr(prompt)
                line = read_line(channel)
                if line is None:
                    channel.send_exit_status(1)
                    return
                attempts.append(line)
                if line == password.encode() + b"\n":
                    break
                channel.sendall_stderr(b"Sorry, try again.\n")
            else:
                channel.sendall_stderr(b"sudo: 3 incorrect password attempts\n")
                channel.send_exit_status(1)
                return
        # sudo runs `sh -c 'printf ... >&2 && exec "$@"'`
        assert argv[argv.index("--") + 1 : argv.index("--") + 3] == ["sh", "-c"]
        channel.sendall_stderr(SUDO_READY.encode() + b"\n")
        request = read_stdin(channel)
        node.stdin.append(request)
        channel.sendall(json.dumps({"ok": True, "request": request.decode()}).encode() + b"\n")
        channel.send_exit_status(0)

    return handler


def agent(node: FakeNode, tmp_path: Path, password: str | None, patience: float = 30) -> Agent:
    known = tmp_path / "known_hosts"
    known.write_text(node.known_hosts_line())
    target = SSHTarget(
        host="127.0.0.1",
        port=node.port,
        user="ops",
        key_file=str(client_key(tmp_path)),
        known_hosts=str(known),
    )
    conn = Connection(target)
    conn.open()
    return Agent(conn, Sudo(enabled=True, password=password, patience=patience), "node1")


def test_the_right_password_is_read_once_and_the_request_arrives_intact(tmp_path: Path) -> None:
    with FakeNode(fake_sudo("s3cret")) as node:
        node.sudo_attempts = []  # type: ignore[attr-defined]
        a = agent(node, tmp_path, "s3cret")
        try:
            answer = a.call({"op": "facts"})
        finally:
            a.conn.close()
    assert node.sudo_attempts == [b"s3cret\n"]  # type: ignore[attr-defined]
    assert json.loads(answer["request"]) == {"op": "facts"}  # no password line before it


def test_a_wrong_password_is_tried_once_and_the_request_is_never_sent(tmp_path: Path) -> None:
    with FakeNode(fake_sudo("s3cret")) as node:
        node.sudo_attempts = []  # type: ignore[attr-defined]
        a = agent(node, tmp_path, "wrong")
        try:
            with pytest.raises(NodeError) as caught:
                a.call({"op": "facts"})
        finally:
            a.conn.close()
    assert node.sudo_attempts == [b"wrong\n"]  # type: ignore[attr-defined]
    assert node.stdin == []
    message = str(caught.value)
    assert message.startswith("node1: sudo refused the password for ops (one attempt")
    assert "wrong" not in message


def test_a_password_sudo_does_not_ask_for_is_never_sent(tmp_path: Path) -> None:
    with FakeNode(fake_sudo("s3cret", asks=False)) as node:
        node.sudo_attempts = []  # type: ignore[attr-defined]
        a = agent(node, tmp_path, "s3cret")
        try:
            answer = a.call({"op": "facts"})
        finally:
            a.conn.close()
    assert json.loads(answer["request"]) == {"op": "facts"}
    assert b"s3cret" not in node.stdin[0]


def test_the_password_is_not_in_the_sudo_object_repr() -> None:
    sudo = Sudo(enabled=True, password="s3cret")
    assert "s3cret" not in repr(sudo)
    assert "s3cret" not in repr(sudo.dialog())
    assert "s3cret" not in " ".join(sudo.prefix())


def test_a_question_that_is_not_sudo_prompt_is_not_answered(tmp_path: Path) -> None:
    with FakeNode(fake_sudo("s3cret", own_prompt=True)) as node:
        node.sudo_attempts = []  # type: ignore[attr-defined]
        a = agent(node, tmp_path, "s3cret", patience=1.0)
        try:
            with pytest.raises(NodeError) as caught:
                a.call({"op": "facts"}, timeout=20)
        finally:
            a.conn.close()
    assert node.sudo_attempts == []  # type: ignore[attr-defined]
    assert node.stdin == []
    message = str(caught.value)
    assert message.startswith("node1: spctl: sudo did not ask with spctl's prompt")
    assert "waited 1s" in message
