"""A node's agent on one SSH connection, and the one retry of a dropped connection (for work
that only reads)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, TypeVar

from spctl.desired.inventory import Node
from spctl.errors import TransportError
from spctl.transport.agent import Agent
from spctl.transport.ssh import Connection
from spctl.transport.sudo import Sudo
from spctl.verbs.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long to wait before the one new connection of :func:`read_node`: a node whose sshd
#: just dropped a session under load (MaxStartups, MaxSessions) gets a moment first.
RETRY_PAUSE = 0.5


@contextmanager
def agent_for(node: Node, settings: Settings, read_only: bool = False) -> Iterator[Agent]:
    """The node's agent on a new connection, closed when the block ends (``read_only``: see
    :class:`~spctl.transport.agent.Agent`)."""
    target = node.target(settings.host_key_policy, settings.connect_timeout)
    sudo = Sudo(enabled=node.needs_sudo, password=settings.sudo_password)
    with Connection(target) as conn:
        yield Agent(conn, sudo, node.name, read_only=read_only)


def read_node(node: Node, settings: Settings, read: Callable[[Agent], T]) -> T:
    """``read(agent)`` on the node, once more when the SSH connection drops.

    The one place spctl connects again: for work that changes nothing on the node (status, diff,
    import's read), whose agent is read-only (it refuses to send ``apply``). Only a
    :class:`~spctl.errors.TransportError` is retried: a connection refused or reset, a
    node that closed it before its banner or during the handshake, a session refused or
    closed before its exit status. Never a host key or authentication refusal, a command
    that exited non-zero, the agent's error, a timeout or Ctrl-C. The dropped connection
    is closed (the ``with`` ends), and after :data:`RETRY_PAUSE` a new one is opened; a
    second drop fails the node with that error. The retry is logged at debug level only.
    Deploy, remove and rollback never come here: an apply cut off may have run.
    """
    try:
        with agent_for(node, settings, read_only=True) as agent:
            return read(agent)
    except TransportError as exc:
        log.debug("%s: %s; trying once more on a new connection", node.name, exc)
    time.sleep(RETRY_PAUSE)
    try:
        with agent_for(node, settings, read_only=True) as agent:
            return read(agent)
    except TransportError as exc:
        raise TransportError(f"{exc} (tried twice, the second time on a new connection)") from None
