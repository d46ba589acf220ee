"""known_hosts with @cert-authority and @revoked lines, against an SSH server in the test
process presenting host certificates made by OpenSSH's ssh-keygen."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import paramiko
import pytest

from spctl.errors import NodeError
from spctl.transport.known_hosts import Entry, HostKeyError, KnownHostsError
from spctl.transport.ssh import Connection
from spctl.transport.target import SSHTarget
from tests.fakes.ssh_server import FakeNode, client_key, make_key, public_line, sign_host_key


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "keys"
    d.mkdir()
    return {name: make_key(d, name) for name in ("ca", "other-ca", "host")}


def connect(node: FakeNode, tmp_path: Path, known: str) -> Connection:
    path = tmp_path / "known_hosts"
    path.write_text(known)
    conn = Connection(
        SSHTarget(
            host="127.0.0.1",
            port=node.port,
            user="ops",
            key_file=str(client_key(tmp_path)),
            known_hosts=str(path),
        )
    )
    conn.open()
    return conn


def test_a_certificate_signed_by_a_listed_ca_is_trusted(tmp_path: Path, keys) -> None:
    cert = sign_host_key(keys["ca"], keys["host"], "127.0.0.1,node1.example.com")
    with FakeNode(host_key=cert) as node:
        conn = connect(node, tmp_path, f"@cert-authority * {public_line(keys['ca'])}\n")
        try:
            assert conn.transport.host_key_type == "ssh-ed25519-cert-v01@openssh.com"
            assert conn.run(["true"]).exit_code == 0
        finally:
            conn.close()
    assert node.commands == ["true"]


def test_the_ca_must_be_listed_for_a_pattern_that_matches_the_host(tmp_path: Path, keys) -> None:
    cert = sign_host_key(keys["ca"], keys["host"], "127.0.0.1")
    with FakeNode(host_key=cert) as node, pytest.raises(HostKeyError) as caught:
        connect(node, tmp_path, f"@cert-authority *.example.com {public_line(keys['ca'])}\n")
    assert "host key not known" in str(caught.value)
    assert node.commands == []


def test_a_certificate_from_an_unlisted_ca_is_not_trusted(tmp_path: Path, keys) -> None:
    cert = sign_host_key(keys["other-ca"], keys["host"], "127.0.0.1")
    with FakeNode(host_key=cert) as node, pytest.raises(HostKeyError) as caught:
        connect(node, tmp_path, f"@cert-authority * {public_line(keys['ca'])}\n")
    message = str(caught.value)
    assert "host key not known" in message
    assert "which no @cert-authority line lists" in message
    assert node.commands == []


@pytest.mark.parametrize(
    ("principals", "validity", "host", "expected"),
    [
        ("node9.example.com", "-5m:+1h", True, "is for node9.example.com, not 127.0.0.1"),
        ("127.0.0.1", "20200101:20200102", True, "not valid now (valid from 2020-01-01"),
        ("127.0.0.1", "+1d:+2d", True, "not valid now"),
        ("127.0.0.1", "-5m:+1h", False, "is a user certificate, not a host certificate"),
    ],
    ids=["wrong-principal", "expired", "not-yet-valid", "user-certificate"],
)
def test_a_certificate_that_does_not_fit_is_refused(
    tmp_path: Path, keys, principals: str, validity: str, host: bool, expected: str
) -> None:
    cert = sign_host_key(keys["ca"], keys["host"], principals, validity=validity, host=host)
    with FakeNode(host_key=cert) as node, pytest.raises(HostKeyError) as caught:
        connect(node, tmp_path, f"@cert-authority * {public_line(keys['ca'])}\n")
    assert expected in str(caught.value)
    assert f"{tmp_path / 'known_hosts'}:1" in str(caught.value)  # names the CA's line
    assert node.commands == []


def test_a_revoked_host_key_is_refused_even_when_also_listed(tmp_path: Path, keys) -> None:
    host_key = paramiko.Ed25519Key.from_private_key_file(str(keys["host"]))
    with FakeNode(host_key=host_key) as node:
        known = (
            f"{node.known_hosts_name} {public_line(keys['host'])}\n"
            f"@revoked * {public_line(keys['host'])}\n"
        )
        with pytest.raises(HostKeyError) as caught:
            connect(node, tmp_path, known)
    assert "is marked @revoked in" in str(caught.value)
    assert "known_hosts:2" in str(caught.value)
    assert node.commands == []


def test_a_revoked_ca_is_refused(tmp_path: Path, keys) -> None:
    cert = sign_host_key(keys["ca"], keys["host"], "127.0.0.1")
    with FakeNode(host_key=cert) as node:
        known = (
            f"@cert-authority * {public_line(keys['ca'])}\n@revoked * {public_line(keys['ca'])}\n"
        )
        with pytest.raises(HostKeyError, match="the CA .* is marked @revoked"):
            connect(node, tmp_path, known)
    assert node.commands == []


def test_plain_and_hashed_lines_next_to_ca_lines_still_work(tmp_path: Path, keys) -> None:
    host_key = paramiko.Ed25519Key.from_private_key_file(str(keys["host"]))
    with FakeNode(host_key=host_key) as node:
        salt = b"0123456789abcdefghij"
        digest = hmac.new(salt, node.known_hosts_name.encode(), hashlib.sha1).digest()
        hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
        known = (
            f"@cert-authority *.example.com {public_line(keys['ca'])}\n"
            f"# a comment\n\n"
            f"{hashed} {public_line(keys['host'])}\n"
        )
        conn = connect(node, tmp_path, known)
        try:
            assert conn.run(["true"]).exit_code == 0
        finally:
            conn.close()


def test_a_changed_key_is_refused_with_both_fingerprints(tmp_path: Path, keys) -> None:
    host_key = paramiko.Ed25519Key.from_private_key_file(str(keys["host"]))
    with FakeNode(host_key=host_key) as node:
        known = f"{node.known_hosts_name} {public_line(keys['ca'])}\n"
        with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as caught:
            connect(node, tmp_path, known)
    assert str(caught.value).count("SHA256:") == 2
    assert node.commands == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "@marker-from-the-future * ssh-ed25519 AAAA\n",
            "unknown marker '@marker-from-the-future'",
        ),
        ("host-without-key ssh-ed25519\n", "expected `[marker] hosts key-type base64-key"),
        ("host ssh-ed25519 not-base64!!\n", "the key is not valid base64"),
        ("host ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==\n", "the line says ssh-rsa"),
    ],
    ids=["unknown-marker", "missing-key", "bad-base64", "type-mismatch"],
)
def test_a_line_spctl_does_not_understand_is_named(tmp_path: Path, line: str, expected) -> None:
    with FakeNode() as node, pytest.raises(KnownHostsError) as caught:
        connect(node, tmp_path, "# first\n" + line)
    assert isinstance(caught.value, NodeError)
    assert f"{tmp_path / 'known_hosts'}:2: " in str(caught.value)
    assert expected in str(caught.value)
    assert node.connections == 0  # refused before connecting


def test_host_patterns_follow_openssh() -> None:
    def entry(hosts: str) -> Entry:
        return Entry(None, hosts, "ssh-ed25519", b"", Path("k"), 1)

    assert entry("*.example.com").matches("a.example.com")
    assert not entry("*.example.com").matches("example.org")
    assert entry("node?,other").matches("node1")
    assert not entry("*.example.com,!bad.example.com").matches("bad.example.com")
    assert entry("[10.0.0.1]:2222").matches("[10.0.0.1]:2222")
    assert not entry("10.0.0.1").matches("[10.0.0.1]:2222")
    assert entry("NODE1").matches("node1")
