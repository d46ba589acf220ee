"""--host-key-policy accept-new records a node's key once, however many connections (threads
of one run, or several spctl processes) accept it at the same moment."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from spctl.transport.ssh import Connection
from spctl.transport.target import SSHTarget
from tests.fakes.ssh_server import FakeNode, client_key


def test_concurrent_connections_append_the_host_once(tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    errors: list[BaseException] = []
    with FakeNode() as node:
        target = SSHTarget(
            host="127.0.0.1",
            port=node.port,
            user="ops",
            key_file=str(client_key(tmp_path)),
            known_hosts=str(known),
            host_key_policy="accept-new",
        )

        def connect() -> None:
            try:
                with Connection(target) as conn:
                    conn.run(["true"])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=connect) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        line = node.known_hosts_line()
    assert errors == []
    assert known.read_text() == line
    assert len(node.commands) == 8


def test_concurrent_processes_append_the_host_once(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n")
    script = (
        "import sys, paramiko\n"
        "from pathlib import Path\n"
        "from spctl.transport.host_keys import append_known_host\n"
        "key = paramiko.RSAKey(filename=sys.argv[2])\n"
        "append_known_host(Path(sys.argv[1]), 'node1.example.com', key)\n"
    )
    key_file = tmp_path / "id_rsa"
    import paramiko

    paramiko.RSAKey.generate(1024).write_private_key_file(str(key_file))
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(known), str(key_file)])
        for _ in range(6)
    ]
    assert [p.wait(60) for p in procs] == [0] * 6
    lines = known.read_text().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("node1.example.com ssh-rsa ")
