"""status --watch: one connection per node across refreshes, changes marked, a dropped node
reconnected without holding up the others, and the display on a terminal and off one (what
counts as a change is in tests/unit/spctl/plan/test_status_changes.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import paramiko

from spctl.desired.inventory import load_inventory
from spctl.plan.status import node_status
from spctl.plan.status_changes import changes, describe
from spctl.verbs.settings import Settings
from spctl.verbs.watch import Watch
from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.pty import SPCTL, PtyProcess
from tests.fakes.ssh_server import FakeNode, read_stdin, wait_for


def _watch(tmp_path: Path, nodes: dict[str, FakeNode], interval: float, **kw: float) -> Watch:
    inv = load_inventory(write_inventory(tmp_path, nodes, ("static-web",)))
    chosen = inv.select((), (), all_nodes=True, require=False)
    return Watch(
        chosen,
        lambda n: ["static-web"],
        lambda n, facts: node_status(n, facts, None, ["static-web"]),
        Settings(connect_timeout=2),
        interval=interval,
        **kw,  # type: ignore[arg-type]
    )


def test_one_connection_per_node_for_many_refreshes(tmp_path: Path) -> None:
    a1, a2 = FakeAgent("my-node1"), FakeAgent("my-node2")
    a1.set_pod("static-web")
    a2.set_pod("static-web")
    with (
        FakeNode(a1) as n1,
        FakeNode(a2) as n2,
        _watch(tmp_path, {"my-node1": n1, "my-node2": n2}, 0.05) as watch,
    ):
        for _ in range(5):
            statuses = watch.refresh()
        assert [s.pods[0].phase for s in statuses] == ["Running", "Running"]
        assert (n1.connections, n2.connections) == (1, 1)
        assert (len(a1.requests), len(a2.requests)) == (5, 5)
        assert all(r["op"] == "facts" for r in a1.requests)
        assert watch.connects == 2


def test_a_dropped_node_is_unreachable_then_reconnected_while_the_others_answer(
    tmp_path: Path,
) -> None:
    a1, a2 = FakeAgent("my-node1"), FakeAgent("my-node2")
    a1.set_pod("static-web")
    a2.set_pod("static-web")
    with (
        FakeNode(a1) as n1,
        FakeNode(a2) as n2,
        _watch(tmp_path, {"my-node1": n1, "my-node2": n2}, 0.2) as watch,
    ):
        first = watch.refresh()
        for transport in n2._transports:  # the node's side of the connection goes away
            transport.close()
        second = watch.refresh()
        assert second[0].reachable and not second[1].reachable
        assert "my-node2" in describe(changes(first, second))[0]
        assert "unreachable" in describe(changes(first, second))[0]
        assert wait_for(lambda: watch.refresh()[1].reachable, 10)
        assert n2.connections == 2  # connected again, once
        assert n1.connections == 1


def hang_after(calls: int, agent: FakeAgent, release: threading.Event):
    """An agent that answers ``calls`` times, then never again until ``release``."""

    def handler(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        if len(agent.requests) >= calls:
            read_stdin(channel)
            release.wait(30)
            return
        agent(node, command, channel)

    return handler


def test_a_frozen_node_never_holds_up_the_others(tmp_path: Path) -> None:
    a1, a2 = FakeAgent("my-node1"), FakeAgent("my-node2")
    a1.set_pod("static-web")
    a2.set_pod("static-web")
    release = threading.Event()
    with FakeNode(a1) as n1, FakeNode(hang_after(1, a2, release)) as n2:
        try:
            with _watch(tmp_path, {"my-node1": n1, "my-node2": n2}, 0.2, deadline=1.0) as watch:
                watch.refresh()
                took = []
                for _ in range(4):
                    start = time.monotonic()
                    statuses = watch.refresh()
                    took.append(time.monotonic() - start)
                # each refresh waits at most the deadline for the frozen node
                assert max(took) < 1.6, took
                assert statuses[0].reachable
                assert len(a1.requests) == 5  # the healthy node answered every refresh
                assert wait_for(lambda: not watch.refresh()[1].reachable, 5)
                assert "no answer" in (watch.refresh()[1].error or "")
        finally:
            release.set()


# -- the command ---------------------------------------------------------------------------------

REVERSED_FAILED = re.compile(r"\x1b\[(?:[0-9;]*;)?7(?:;[0-9;]*)?mFailed")


def test_watch_on_a_terminal_marks_changes_and_ends_with_ctrl_c(tmp_path: Path) -> None:
    a1, a2 = FakeAgent("my-node1"), FakeAgent("my-node2")
    a1.set_pod("static-web")
    a2.set_pod("static-web")
    with FakeNode(a1) as n1, FakeNode(a2) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        term = PtyProcess(["-i", str(inv), "status", "--watch", "--interval", "0.2"], tmp_path)
        try:
            assert term.wait_for(lambda s: "my-node2" in s and "Running" in s), term.screen
            assert "NODE" in term.screen and "RESTARTS" in term.screen
            assert "Failed" not in term.screen
            a2.set_pod("static-web", "Failed", restarts=1)
            assert term.wait_for(lambda s: "Running -> Failed" in s), term.screen
            line = (
                "pod static-web on my-node2: Running -> Failed, ready 1/1 -> 0/1, restarts 0 -> 1"
            )
            assert line in term.screen
            assert REVERSED_FAILED.search(term.screen), term.screen  # the changed cell
            assert wait_for(lambda: len(a1.requests) >= 5, 10)
            term.proc.send_signal(signal.SIGINT)
            code = term.finish()
        finally:
            if term.proc.poll() is None:
                term.proc.kill()
        assert code == 0, term.screen
        assert "Traceback" not in term.screen
        # many refreshes, one SSH connection per node
        assert (n1.connections, n2.connections) == (1, 1)
        assert len(a1.requests) >= 5


def test_watch_off_a_terminal_prints_the_table_then_change_lines(tmp_path: Path) -> None:
    a1 = FakeAgent("my-node1")
    a1.set_pod("static-web")
    with FakeNode(a1) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        proc = subprocess.Popen(
            [SPCTL, "-i", str(inv), "status", "--watch", "--interval", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        try:
            assert wait_for(lambda: len(a1.requests) >= 2, 15)
            a1.set_pod("static-web", "Running", restarts=3)
            start = len(a1.requests)
            assert wait_for(lambda: len(a1.requests) >= start + 3, 15)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = out.decode()
    assert proc.returncode == 0, err
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["NODE", "POD", "MANIFEST"]
    assert lines[1].split()[:4] == ["my-node1", "static-web", "missing", "Running"]
    # then only what changed, once, stamped with the time; no escape sequences
    changed = [line for line in lines[2:] if line.strip()]
    assert len(changed) == 1, text
    assert re.fullmatch(r"\d\d:\d\d:\d\d pod static-web on my-node1: restarts 0 -> 3", changed[0])
    assert "\x1b" not in text
    assert n1.connections == 1


def test_watch_json_is_one_document_per_refresh(tmp_path: Path) -> None:
    a1 = FakeAgent("my-node1")
    a1.set_pod("static-web")
    with FakeNode(a1) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        proc = subprocess.Popen(
            [SPCTL, "-i", str(inv), "status", "--watch", "--interval", "0.2", "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        try:
            assert wait_for(lambda: len(a1.requests) >= 2, 15)
            a1.set_pod("static-web", "Failed", restarts=1)
            start = len(a1.requests)
            assert wait_for(lambda: len(a1.requests) >= start + 2, 15)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    documents = [json.loads(line) for line in out.decode().splitlines()]
    assert len(documents) >= 3
    assert all(set(d) == {"time", "nodes", "changes"} for d in documents)
    assert documents[0]["nodes"][0]["pods"][0]["phase"] == "Running"
    assert documents[-1]["nodes"][0]["pods"][0]["phase"] == "Failed"
    moved = [c for d in documents for c in d["changes"]]
    assert {"node": "my-node1", "pod": "static-web", "field": "phase", "old": "Running",
            "new": "Failed", "detail": None} in moved  # fmt: skip


def test_watch_shows_a_url_mode_node_with_what_its_server_serves(tmp_path: Path) -> None:
    """A `source: url` node is watched as plain status shows it: its pods compared with what
    the kubelet is served, and the server's answer (here: none, nothing listens)."""
    a1 = FakeAgent("my-node1")
    a1.set_pod("static-web")
    with FakeNode(a1) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        (tmp_path / "url.secret").write_text("s" * 64)
        (tmp_path / "url.secret").chmod(0o600)
        text = inv.read_text().replace("defaults:\n", "defaults:\n  source: url\n")
        inv.write_text(text + "url:\n  base: http://127.0.0.1:9\n  secret_file: url.secret\n")
        proc = subprocess.Popen(
            [SPCTL, "-i", str(inv), "status", "--watch", "--interval", "0.2", "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        try:
            assert wait_for(lambda: len(a1.requests) >= 2, 15)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    documents = [json.loads(line) for line in out.decode().splitlines()]
    node = documents[-1]["nodes"][0]
    assert node["url"]["served"] == "unreachable", node
    assert node["url"]["url"].startswith("http://127.0.0.1:9/nodes/my-node1/")
