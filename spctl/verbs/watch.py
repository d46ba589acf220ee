"""A live status: one SSH connection per node kept open, one agent call per refresh.

A :class:`Watch` holds a :class:`NodeSession` per node. A session connects once and then
asks the agent for facts on a new exec channel of the same transport at every refresh, so
a refresh costs no handshake. A session whose call fails (or outlives its deadline, which
closes the connection) reports the node unreachable and connects again at a later refresh,
after a back-off that doubles up to :data:`MAX_BACKOFF`; it never holds up the other nodes:
a refresh waits at most its deadline, and a node still busy after that keeps its last
row and is not asked again until it has answered.

    watch = Watch(nodes, names_of, status_of, settings, interval=2)
    statuses = watch.refresh()          # one NodeStatus per node, in node order
    watch.close()

What changed between two refreshes is ``plan.status_changes``.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

from spctl.desired.inventory import Node
from spctl.desired.probe_specs import readiness_specs
from spctl.desired.render import DesiredPod
from spctl.desired.restart_policies import restart_policies
from spctl.errors import SpctlError
from spctl.facts import NodeFacts
from spctl.plan.status import NodeStatus
from spctl.transport.agent import Agent
from spctl.transport.ssh import Connection
from spctl.transport.sudo import Sudo
from spctl.verbs.read import read_facts
from spctl.verbs.settings import Settings

#: The shortest deadline of one node's call: a busy node or a slow link must not look
#: unreachable because the interval is short.
MIN_DEADLINE = 2.0
#: The longest wait before connecting again to a node that failed.
MAX_BACKOFF = 60.0

#: Builds one node's status from its facts: (node, facts) -> NodeStatus. The CLI passes
#: the node's PodSource.status with the rendering of the inventory's pods.
StatusOf = Callable[[Node, NodeFacts], NodeStatus]


class _BoundedAgent(Agent):
    """The agent with every call bounded by the watch's deadline (the connection is
    closed when it passes, see :meth:`spctl.transport.ssh.Connection.run`)."""

    deadline = MIN_DEADLINE

    def call(self, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        return super().call(request, timeout=min(timeout, self.deadline))


class NodeSession:
    """One node's connection across refreshes, reconnected with back-off after a failure."""

    def __init__(
        self,
        node: Node,
        names: list[str],
        status_of: StatusOf,
        settings: Settings,
        deadline: float,
        interval: float,
        desired: Optional[list[DesiredPod]] = None,
    ) -> None:
        self.node = node
        self.names = names
        # READY from their readiness probes: parsed once, sent with every refresh.
        self.probes = readiness_specs(desired or [], names)
        self.policies = restart_policies(desired or [], names)
        self.status_of = status_of
        self.settings = settings
        self.deadline = deadline
        self.interval = interval
        self.conn: Optional[Connection] = None
        self.agent: Optional[_BoundedAgent] = None
        self.connects = 0  # how many connections were opened (tests and benchmarks read it)
        self.failures = 0
        self.retry_at = 0.0
        self.last_error = ""
        self._lock = threading.Lock()
        self._closed = False

    def poll(self) -> NodeStatus:
        """Connect if needed (and due), then one facts call; never raises."""
        agent = self.agent
        if agent is None:
            wait = self.retry_at - time.monotonic()
            if wait > 0:
                return NodeStatus(
                    self.node.name,
                    reachable=False,
                    error=f"{self.last_error} (next try in {wait:.0f}s)",
                )
            try:
                agent = self._connect()
            except SpctlError as exc:
                return self._failed(exc)
        try:
            facts = read_facts(agent, self.node, self.names, self.probes, self.policies)
        except SpctlError as exc:
            return self._failed(exc)
        self.failures = 0
        return self.status_of(self.node, facts)

    def _connect(self) -> _BoundedAgent:
        target = self.node.target(self.settings.host_key_policy, self.settings.connect_timeout)
        conn = Connection(target)
        with self._lock:
            if self._closed:
                raise SpctlError(f"{self.node.name}: watch ended")
            self.conn = conn  # visible to close() while it connects
        conn.open()
        self.connects += 1
        sudo = Sudo(enabled=self.node.needs_sudo, password=self.settings.sudo_password)
        agent = _BoundedAgent(conn, sudo, self.node.name, read_only=True)  # facts only
        agent.deadline = self.deadline
        self.agent = agent
        return agent

    def _failed(self, exc: BaseException) -> NodeStatus:
        self.drop()
        self.failures += 1
        backoff = min(self.interval * 2 ** (self.failures - 1), MAX_BACKOFF)
        self.retry_at = time.monotonic() + backoff
        self.last_error = str(exc)
        return NodeStatus(self.node.name, reachable=False, error=self.last_error)

    def drop(self) -> None:
        with self._lock:
            conn, self.conn, self.agent = self.conn, None, None
        if conn is not None:
            conn.abort()
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.drop()


class Watch:
    """Every selected node's status, refreshed over connections kept open."""

    def __init__(
        self,
        nodes: Sequence[Node],
        names_of: Callable[[Node], list[str]],
        status_of: StatusOf,
        settings: Settings,
        *,
        interval: float = 2.0,
        workers: int = 20,
        deadline: Optional[float] = None,
        desired_of: Optional[Callable[[Node], Optional[list[DesiredPod]]]] = None,
    ) -> None:
        self.interval = interval
        self.deadline = deadline or max(interval, MIN_DEADLINE)
        self.sessions = [
            NodeSession(
                n,
                names_of(n),
                status_of,
                settings,
                self.deadline,
                interval,
                desired_of(n) if desired_of else None,
            )
            for n in nodes
        ]
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers))
        self._pending: dict[str, concurrent.futures.Future[NodeStatus]] = {}
        self._last: dict[str, NodeStatus] = {}
        self.refreshes = 0

    @property
    def connects(self) -> int:
        return sum(s.connects for s in self.sessions)

    def refresh(self) -> list[NodeStatus]:
        """Ask every node that is not still busy; wait at most the deadline (the first
        refresh waits for every connection, as a cold status does)."""
        for s in self.sessions:
            if s.node.name not in self._pending:
                self._pending[s.node.name] = self._pool.submit(s.poll)
        timeout = None if self.refreshes == 0 else self.deadline
        concurrent.futures.wait(list(self._pending.values()), timeout=timeout)
        for name, future in list(self._pending.items()):
            if future.done():
                self._last[name] = future.result()
                del self._pending[name]
        self.refreshes += 1
        return [
            self._last.get(s.node.name)
            or NodeStatus(s.node.name, reachable=False, error="connecting")
            for s in self.sessions
        ]

    def close(self) -> None:
        """Close every connection, including those still connecting or in a call."""
        for s in self.sessions:
            s.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
