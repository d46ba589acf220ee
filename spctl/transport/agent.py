"""Calling the node agent over an SSH connection: one command, one JSON request on stdin,
one JSON answer on stdout (installing the agent first when the node lacks this version).

What travels, and how it is found and run on the node, is ``agent_archive``; becoming root
is ``sudo``.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from typing import Any

from spctl_agent.protocol import READ_ONLY_OPS, messages

from spctl.errors import NodeError
from spctl.transport.agent_archive import (
    AGENT_HASH,
    AGENT_PYZ,
    EXIT_NO_PYTHON,
    EXIT_TOO_OLD,
    INSTALLER,
    MIN_PYTHON,
    MISSING,
    RUN_AGENT,
    agent_archive,
    python_argv,
)
from spctl.transport.ssh import Completed, Connection
from spctl.transport.sudo import REQUIRETTY, Sudo


def holder_name() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()})"


class Agent:
    """The agent on one node, reached through an open connection.

    A ``read_only`` agent sends only the requests of ``protocol.READ_ONLY_OPS`` (facts) and
    refuses any other before it is sent: the work it serves may be run again on a new
    connection when the first one drops (``spctl.verbs.session.read_node``), which must never
    repeat a change. (It may still install the agent itself, which is atomic and the same
    bytes every time.)
    """

    def __init__(self, conn: Connection, sudo: Sudo, node: str, read_only: bool = False) -> None:
        self.conn = conn
        self.sudo = sudo
        self.node = node
        self.read_only = read_only

    def call(self, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        op = messages.read_op(request)
        if self.read_only and op not in READ_ONLY_OPS:
            raise RuntimeError(
                f"{self.node}: a {op!r} request on a read-only agent: only "
                f"{', '.join(READ_ONLY_OPS)} may be sent where a dropped session is retried"
            )
        payload = json.dumps(request).encode() + b"\n"
        # -I -S (in FIND_PYTHON): no environment variables, no site packages: the standard
        # library only, and a faster start.
        argv = [*self.sudo.prefix(), *python_argv("-c", RUN_AGENT)]
        done = self._run(argv, payload, timeout)
        if done.exit_code == 1 and MISSING in done.stderr:
            self._install()
            done = self._run(argv, payload, timeout)
        if done.exit_code != 0:
            raise NodeError(
                f"{self.node}: agent failed (exit {done.exit_code}): {_tail(done.stderr)}"
            )
        try:
            answer = json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise NodeError(
                f"{self.node}: agent gave no answer: {_tail(done.stderr or done.stdout)}"
            ) from None
        ok, error = messages.read_status(answer)
        if not ok:
            raise NodeError(f"{self.node}: {error}")
        return answer

    def _run(self, argv: list[str], payload: bytes, timeout: float) -> Completed:
        done = self.conn.run(argv, stdin=payload, timeout=timeout, dialog=self.sudo.dialog())
        self._check_python(done)
        self._check_tty(done)
        self._check_common(done)
        return done

    def _install(self) -> None:
        archive = agent_archive()
        argv = [
            *self.sudo.prefix(),
            *python_argv("-c", INSTALLER, AGENT_PYZ, str(len(archive)), AGENT_HASH),
        ]
        done = self._run(argv, archive, 60.0)
        if done.exit_code != 0:
            raise NodeError(f"{self.node}: cannot install the agent: {_tail(done.stderr)}")

    def _check_python(self, done: Completed) -> None:
        """The finder's own errors: no python on the node, or none new enough."""
        err = done.stderr.decode(errors="replace")
        if done.exit_code in (EXIT_NO_PYTHON, EXIT_TOO_OLD) and "spctl: " in err:
            line = next(x for x in err.splitlines() if x.startswith("spctl: "))
            raise NodeError(f"{self.node}: {line[len('spctl: ') :]}")

    def _check_tty(self, done: Completed) -> None:
        """sudo under ``Defaults requiretty`` (hardened hosts, older EL) refuses to run
        without a terminal. spctl does not retry with one: a pty echoes the request back
        into stdout, turns its newlines into CRLF and reads control bytes in the agent's
        upload as signals (^C, ^Z), so the user must be let through without one."""
        if REQUIRETTY in done.stderr.decode(errors="replace"):
            user = self.conn.target.user
            raise NodeError(
                f"{self.node}: sudo on the node requires a terminal for {user} (`Defaults "
                "requiretty` in sudoers) and spctl runs commands without one; allow it for "
                f"this user: run `visudo -f /etc/sudoers.d/spctl` on the node and add the "
                f"line `Defaults:{user} !requiretty` (or connect as root)"
            )

    def _check_common(self, done: Completed) -> None:
        err = done.stderr.decode(errors="replace")
        if "sudo: command not found" in err or "sudo: not found" in err:
            raise NodeError(f"{self.node}: sudo is not installed; connect as root or install sudo")
        if (
            done.exit_code == 127
            or "python3: command not found" in err
            or "python3: not found" in err
        ):
            raise NodeError(
                f"{self.node}: python3 not found on the node; spctl's agent needs python3 "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer: install it (e.g. apt-get install python3)"
            )
        if done.exit_code == 3 and "too old" in err:
            raise NodeError(f"{self.node}: {err.strip()}")
        if "a password is required" in err:
            raise NodeError(
                f"{self.node}: sudo needs a password for {self.conn.target.user}: set "
                "SPCTL_SUDO_PASSWORD or pass --ask-sudo-password"
            )
        if "incorrect password" in err or "Sorry, try again" in err:
            raise NodeError(
                f"{self.node}: sudo refused the password for {self.conn.target.user} (one "
                "attempt; nothing was run): check SPCTL_SUDO_PASSWORD or --ask-sudo-password"
            )
        if "no password was provided" in err:
            raise NodeError(f"{self.node}: sudo asked for a password and got none")
        if "spctl: sudo did not ask" in err:
            raise NodeError(f"{self.node}: {_tail(done.stderr, 1)}")


def _tail(data: bytes, lines: int = 6) -> str:
    text = data.decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
