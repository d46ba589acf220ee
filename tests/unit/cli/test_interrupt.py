"""Ctrl-C through the CLI against a node whose command never finishes: the first stops
starting nodes and waits for the one in flight; the second exits 130 at once, naming it."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import paramiko

from tests.fakes.cli import SPCTL
from tests.fakes.ssh_server import FakeNode, client_key, read_stdin, wait_for


def hang(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
    read_stdin(channel)
    node.released.wait(60)  # type: ignore[attr-defined]


def test_second_ctrl_c_stops_waiting_and_names_the_node_in_flight(tmp_path: Path) -> None:
    with FakeNode(hang) as node:
        node.released = threading.Event()  # type: ignore[attr-defined]
        known = tmp_path / "known_hosts"
        known.write_text(node.known_hosts_line())
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(
            "nodes:\n"
            "  stuck-node:\n"
            "    address: 127.0.0.1\n"
            f"    ssh: {{port: {node.port}, user: root, key: {client_key(tmp_path)}, "
            f"known_hosts: {known}}}\n"
        )
        stderr = tmp_path / "stderr"
        with open(stderr, "wb") as err:
            proc = subprocess.Popen(
                [SPCTL, "-i", str(inventory), "status"],
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tmp_path,
            )
        try:
            assert node.exec_seen.wait(20), stderr.read_text()
            proc.send_signal(signal.SIGINT)
            assert wait_for(lambda: "Ctrl-C again" in stderr.read_text(), 10), stderr.read_text()
            time.sleep(1.0)
            assert proc.poll() is None  # the first Ctrl-C waits for the node in flight
            start = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(10)
            elapsed = time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()
            node.released.set()  # type: ignore[attr-defined]
    text = stderr.read_text()
    assert code == 130
    assert elapsed < 3.0
    assert "waiting for the nodes in flight to finish their transaction (stuck-node)" in text
    assert "may still be finishing their transaction on their own: stuck-node" in text
    assert "Traceback" not in text
