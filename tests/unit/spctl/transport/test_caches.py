"""Caches that keep the control host's cost per node flat as fleets grow: known_hosts parsed
once, keys loaded once, invoke (which paramiko imports) not loaded until it is used (the
open-file limit is in tests/unit/spctl/test_limits.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from spctl.transport import known_hosts, ssh


@pytest.fixture
def keys():
    return [paramiko.RSAKey.generate(1024) for _ in range(3)]


def test_for_host_picks_what_load_and_matches_pick(tmp_path, keys):
    path = tmp_path / "known_hosts"
    lines = []
    for i in range(200):
        k = keys[i % 3]
        lines.append(f"[10.0.0.{i}]:22{i % 2},Node{i} {k.get_name()} {k.get_base64()}")
    lines.append(f"*.example.com {keys[0].get_name()} {keys[0].get_base64()}")
    lines.append(f"@cert-authority * {keys[1].get_name()} {keys[1].get_base64()}")
    lines.append(f"!node7,node* {keys[2].get_name()} {keys[2].get_base64()}")
    lines.append(f"@revoked [10.0.0.5]:221 {keys[2].get_name()} {keys[2].get_base64()}")
    path.write_text("\n".join(lines) + "\n")
    entries = known_hosts.load([path])
    for name in ["[10.0.0.5]:221", "node7", "NODE8", "a.example.com", "[10.0.0.4]:220", "x"]:
        expected = [e for e in entries if e.matches(name)]
        assert known_hosts.for_host([path], name) == expected, name


def test_for_host_reads_the_file_again_when_it_changes(tmp_path, keys):
    path = tmp_path / "known_hosts"
    path.write_text(f"node1 {keys[0].get_name()} {keys[0].get_base64()}\n")
    assert len(known_hosts.for_host([path], "node1")) == 1
    assert known_hosts.for_host([path], "node2") == []
    time.sleep(0.01)
    with open(path, "a") as fh:
        fh.write(f"node2 {keys[1].get_name()} {keys[1].get_base64()}\n")
    assert [e.line for e in known_hosts.for_host([path], "node2")] == [2]


def test_for_host_of_many_nodes_parses_the_file_once(tmp_path, keys, monkeypatch):
    path = tmp_path / "known_hosts"
    k = keys[0]
    path.write_text("".join(f"n{i} {k.get_name()} {k.get_base64()}\n" for i in range(300)))
    parsed = []
    real = known_hosts.load
    monkeypatch.setattr(known_hosts, "load", lambda paths: parsed.append(1) or real(paths))
    for i in range(300):
        assert [e.line for e in known_hosts.for_host([path], f"n{i}")] == [i + 1]
    assert len(parsed) == 1


def test_load_key_reads_a_key_once_and_again_when_it_changes(tmp_path, keys):
    path = tmp_path / "id_rsa"
    keys[0].write_private_key_file(str(path))
    first = ssh.load_key(str(path))
    assert first is not None and first.get_base64() == keys[0].get_base64()
    assert ssh.load_key(str(path)) is first
    os.unlink(path)
    keys[1].write_private_key_file(str(path))
    assert ssh.load_key(str(path)).get_base64() == keys[1].get_base64()


def test_load_key_leaves_passphrases_and_certificates_to_paramiko(tmp_path, keys):
    locked = tmp_path / "locked"
    keys[0].write_private_key_file(str(locked), password="secret")
    assert ssh.load_key(str(locked)) is None
    with_cert = tmp_path / "id_rsa"
    keys[1].write_private_key_file(str(with_cert))
    Path(str(with_cert) + "-cert.pub").write_text("ssh-rsa-cert-v01@openssh.com AAAA\n")
    assert ssh.load_key(str(with_cert)) is None
    assert ssh.load_key(str(tmp_path / "missing")) is None


def test_paramiko_does_not_load_invoke_until_it_is_used():
    code = (
        "import sys\n"
        "import spctl.transport.ssh\n"
        "print('asyncio' in sys.modules, 'unittest.mock' in sys.modules)\n"
        "import invoke\n"
        "print(callable(invoke.run), 'unittest.mock' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True", "True"]
