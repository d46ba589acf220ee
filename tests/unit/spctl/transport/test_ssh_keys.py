"""An ssh key that is missing, not a key, or has a passphrase: the node's error names the
key file and what to do, before or instead of a confusing authentication failure."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from spctl.errors import NodeError
from spctl.transport.ssh import Connection
from spctl.transport.target import SSHTarget
from tests.fakes.ssh_server import FakeNode


def open_with(node: FakeNode, tmp_path: Path, key: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(node.known_hosts_line())
    Connection(SSHTarget("127.0.0.1", node.port, "ops", str(key), str(known))).open()


def test_a_missing_key_is_named_before_connecting(tmp_path: Path) -> None:
    with (
        FakeNode() as node,
        pytest.raises(NodeError, match=r"the ssh key .*/nope is not a file \(ssh.key"),
    ):
        open_with(node, tmp_path, tmp_path / "nope")
    assert node.connections == 0


@pytest.mark.parametrize("kind", ["garbage", "passphrase"])
def test_a_key_that_cannot_be_used_is_named(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no agent key to fall back on
    key = tmp_path / "id"
    if kind == "garbage":
        key.write_text("not a key\n")
    else:
        paramiko.ECDSAKey.generate().write_private_key_file(str(key), password="pw")
    with FakeNode() as node, pytest.raises(NodeError) as caught:
        open_with(node, tmp_path, key)
    message = str(caught.value)
    assert f"cannot use the ssh key {key}: " in message
    assert "must be added to ssh-agent" in message
    assert node.commands == []
