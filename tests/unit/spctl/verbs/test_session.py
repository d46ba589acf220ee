"""A read-only command survives one dropped SSH session: it is read again, once, on a new
connection; a second drop, a refusal (host key, authentication), an error of the agent or
a change (apply) is never tried again. Nodes are served in-process (tests.fakes.ssh_server),
their agent answers as the real one does (tests.fakes.agent)."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from spctl.desired.inventory import Node, load_inventory
from spctl.desired.render import render_node
from spctl.errors import NodeError, TransportError
from spctl.transport import fleet
from spctl.transport.agent import Agent
from spctl.transport.known_hosts import HostKeyError
from spctl.transport.ssh import Connection
from spctl.transport.sudo import Sudo
from spctl.verbs import session
from spctl.verbs.deploy import deploy_node, diff_node
from spctl.verbs.import_pod import workflow as import_workflow
from spctl.verbs.settings import Settings
from spctl.verbs.source import DirectorySource, source_for
from spctl.verbs.status import status_node
from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.cli import SPCTL
from tests.fakes.ssh_server import FakeNode, read_stdin

POD = "static-web"


class Dropping:
    """The node's agent, except that the first ``drops`` requests of an op in ``ops`` are
    cut off: the session (or the whole connection) closes before any exit status."""

    def __init__(
        self, agent: FakeAgent, drops: int, ops: tuple[str, ...] = ("facts",), how: str = "session"
    ) -> None:
        self.agent = agent
        self.drops = drops
        self.ops = ops
        self.how = how
        self.calls: list[str] = []  # the op of every request that reached the node

    def __call__(self, node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        request = json.loads(read_stdin(channel).decode() or "{}")
        self.calls.append(request.get("op"))
        if request.get("op") in self.ops and self.drops > 0:
            self.drops -= 1
            if self.how == "connection":
                channel.get_transport().close()
            return  # the channel is closed without an exit status
        answer = self.agent.apply(request) if request.get("op") == "apply" else self.agent.facts()
        channel.sendall((json.dumps(answer) + "\n").encode())
        channel.send_exit_status(0)


def served(tmp_path: Path, node: FakeNode) -> Node:
    return load_inventory(write_inventory(tmp_path, {"n1": node}, (POD,))).nodes["n1"]


def running_agent() -> FakeAgent:
    agent = FakeAgent("n1")
    agent.set_pod(POD)
    return agent


@pytest.mark.parametrize("how", ["session", "connection"])
def test_status_reads_again_on_a_new_connection_after_one_drop(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Dropping(running_agent(), drops=1, how=how)
    caplog.set_level(logging.DEBUG, logger="spctl.verbs.session")
    with FakeNode(handler) as served_node:
        node = served(tmp_path, served_node)
        started = time.monotonic()
        status = status_node(node, None, [POD], Settings(), DirectorySource(None))
        elapsed = time.monotonic() - started
    assert handler.calls == ["facts", "facts"]  # exactly two attempts
    assert served_node.connections == 2  # the second on a new connection
    assert elapsed >= session.RETRY_PAUSE
    assert status.reachable and status.error is None
    assert [(p.name, p.phase) for p in status.pods] == [(POD, "Running")]
    retried = [r for r in caplog.records if "trying once more" in r.getMessage()]
    assert [r.levelno for r in retried] == [logging.DEBUG]
    assert retried[0].getMessage().startswith("n1: ")


def test_a_node_that_closes_the_first_connection_before_its_banner_is_read(
    tmp_path: Path,
) -> None:
    handler = Dropping(running_agent(), drops=0)
    with FakeNode(handler, close_first=1) as served_node:
        status = status_node(
            served(tmp_path, served_node), None, [POD], Settings(), DirectorySource(None)
        )
    assert served_node.connections == 2
    assert handler.calls == ["facts"]
    assert [(p.name, p.phase) for p in status.pods] == [(POD, "Running")]


def test_diff_and_import_read_again_too(tmp_path: Path) -> None:
    handler = Dropping(running_agent(), drops=1)
    with FakeNode(handler) as served_node:
        node = served(tmp_path, served_node)
        url = load_inventory(tmp_path / "inventory.yaml").url
        plan = diff_node(
            node,
            render_node(node, load_inventory(tmp_path / "inventory.yaml").fleet),
            Settings(),
            source_for(node, url),
        )
        assert [s.name for s in plan.pods] == [POD]
        handler.drops = 1
        found = import_workflow.fetch_pod_manifest(node, POD, Settings())
    assert found.node == "n1" and found.manifest is None  # the fake node keeps no file
    assert handler.calls == ["facts"] * 4
    assert served_node.connections == 4


def test_a_second_drop_fails_the_node_with_the_transport_error(tmp_path: Path) -> None:
    handler = Dropping(running_agent(), drops=2)
    with FakeNode(handler) as served_node:
        node = served(tmp_path, served_node)
        results, _ = fleet.run(
            [node], lambda n: status_node(n, None, [POD], Settings(), DirectorySource(None))
        )
        port = served_node.port
    assert handler.calls == ["facts", "facts"]
    assert served_node.connections == 2
    [result] = results
    assert result.node == "n1" and result.failed
    assert result.error is not None
    assert f"root@127.0.0.1:{port}: connection lost" in result.error
    assert "tried twice, the second time on a new connection" in result.error


def test_a_host_key_mismatch_is_not_retried(tmp_path: Path) -> None:
    handler = Dropping(running_agent(), drops=0)
    with FakeNode(handler) as served_node, FakeNode() as other:
        node = served(tmp_path, served_node)
        # known_hosts trusts another key under this node's name
        line = other.known_hosts_line().replace(
            other.known_hosts_name, served_node.known_hosts_name
        )
        (tmp_path / "known_hosts").write_text(line)
        with pytest.raises(HostKeyError):
            status_node(node, None, [POD], Settings(), DirectorySource(None))
    assert served_node.connections == 1
    assert handler.calls == []


def test_an_unknown_host_key_is_not_retried(tmp_path: Path) -> None:
    with FakeNode(Dropping(running_agent(), drops=0)) as served_node:
        node = served(tmp_path, served_node)
        (tmp_path / "known_hosts").write_text("")
        with pytest.raises(HostKeyError, match="host key not known"):
            status_node(node, None, [POD], Settings(), DirectorySource(None))
    assert served_node.connections == 1


def test_an_authentication_failure_is_not_retried(tmp_path: Path) -> None:
    with FakeNode(Dropping(running_agent(), drops=0), refuse_auth=True) as served_node:
        node = served(tmp_path, served_node)
        with pytest.raises(NodeError, match="authentication failed") as caught:
            status_node(node, None, [POD], Settings(), DirectorySource(None))
    assert not isinstance(caught.value, TransportError)
    assert served_node.connections == 1


def test_a_command_that_exits_non_zero_and_an_agent_error_are_not_retried(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    def failing(node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        read_stdin(channel)
        calls.append(command)
        if len(calls) == 1:
            channel.sendall_stderr(b"Traceback: boom\n")
            channel.send_exit_status(1)
        else:
            channel.sendall(b'{"ok": false, "error": "the agent refused"}\n')
            channel.send_exit_status(0)

    with FakeNode(failing) as served_node:
        node = served(tmp_path, served_node)
        with pytest.raises(NodeError, match=r"agent failed \(exit 1\)"):
            status_node(node, None, [POD], Settings(), DirectorySource(None))
        with pytest.raises(NodeError, match="the agent refused"):
            status_node(node, None, [POD], Settings(), DirectorySource(None))
    assert len(calls) == 2 and served_node.connections == 2  # one each


def test_a_deadline_that_passed_is_not_a_drop(tmp_path: Path) -> None:
    """The operator's timeouts end a command without a retry: a frozen node, and a node
    that accepts TCP but never sends its banner."""
    known = tmp_path / "known_hosts"
    with FakeNode(freeze_on_exec=True) as frozen:
        node = served(tmp_path, frozen)
        with Connection(node.target("strict", None)) as conn, pytest.raises(NodeError) as caught:
            conn.run(["true"], timeout=1.0)
    assert not isinstance(caught.value, TransportError)
    with FakeNode(banner=False) as silent:
        node = served(tmp_path, silent)
        known.write_text(silent.known_hosts_line())
        with pytest.raises(NodeError, match="no SSH banner within") as caught:
            status_node(node, None, [POD], Settings(connect_timeout=0.5), DirectorySource(None))
    assert not isinstance(caught.value, TransportError)
    assert silent.connections == 1


def test_a_dropped_apply_is_not_sent_again(tmp_path: Path) -> None:
    handler = Dropping(running_agent(), drops=1, ops=("apply",))
    with FakeNode(handler) as served_node:
        node = served(tmp_path, served_node)
        with pytest.raises(TransportError, match="connection lost"):
            deploy_node(
                node,
                render_node(node, load_inventory(tmp_path / "inventory.yaml").fleet),
                Settings(),
                DirectorySource(None),
            )
    assert handler.calls == ["facts", "apply"]  # one attempt
    assert served_node.connections == 1


def test_a_read_only_agent_refuses_to_send_a_change() -> None:
    class Unused:
        def run(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("nothing may be sent")

    agent = Agent(Unused(), Sudo(), "n1", read_only=True)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="read-only agent"):
        agent.call({"op": "apply", "changes": []})


def test_status_on_the_command_line_shows_no_trace_of_the_retry(tmp_path: Path) -> None:
    handler = Dropping(running_agent(), drops=1)
    with FakeNode(handler) as served_node:
        inventory = write_inventory(tmp_path, {"n1": served_node}, (POD,))
        done = subprocess.run(
            [SPCTL, "-i", str(inventory), "status"], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:4] == ["n1", POD, "missing", "Running"]
    assert "connection" not in done.stdout + done.stderr
    assert handler.calls == ["facts", "facts"]
