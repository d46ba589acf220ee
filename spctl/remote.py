"""Calling the node agent over an SSH connection.

The agent is pushed once per version: it lives at ``/var/lib/spctl/agent_<hash>.py`` and is
installed by a small bootstrap that reads the source from stdin, checks its hash and renames
it into place, so the same path works for root and for sudo users and nothing needs SFTP.
Every call is one command with one JSON request on stdin and one JSON answer on stdout.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional

from spctl.errors import NodeError
from spctl.ssh import Completed, Connection, Dialog

AGENT_DIR = "/var/lib/spctl"
MIN_PYTHON = (3, 8)

# Runs with the node's python3: checks the version, then writes the agent atomically.
# The source is the last <size> bytes of stdin (a sudo password line may precede it).
_INSTALLER = """\
import hashlib, os, sys
if sys.version_info < (3, 8):
    sys.stderr.write("spctl: python3 %d.%d is too old; 3.8 or newer is needed\\n" % sys.version_info[:2])
    sys.exit(3)
path, size, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = sys.stdin.buffer.read()[-size:]
if hashlib.sha256(data).hexdigest() != digest:
    sys.stderr.write("spctl: agent upload corrupted\\n")
    sys.exit(4)
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
tmp = os.path.join(os.path.dirname(path), ".agent-%d.tmp" % os.getpid())
with open(tmp, "wb") as fh:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())
os.chmod(tmp, 0o700)
os.rename(tmp, path)
for name in os.listdir(os.path.dirname(path)):
    if name.startswith("agent") and name.endswith(".py") and name != os.path.basename(path):
        os.unlink(os.path.join(os.path.dirname(path), name))  # older versions
"""


def agent_source() -> bytes:
    return resources.files("spctl_agent").joinpath("spctl_agent.py").read_bytes()


_SOURCE = agent_source()
AGENT_HASH = hashlib.sha256(_SOURCE).hexdigest()
AGENT_MODULE = f"agent_{AGENT_HASH[:16]}"
AGENT_PATH = f"{AGENT_DIR}/{AGENT_MODULE}.py"
# Imported rather than run as a script, so that python keeps its compiled bytecode in
# /var/lib/spctl/__pycache__ and each call skips compiling the agent.
_RUN_AGENT = f"import sys; sys.path[:0] = [{AGENT_DIR!r}]; import {AGENT_MODULE}; sys.exit({AGENT_MODULE}.main())"


# sudo's prompt, and the line a root shell prints once sudo let it run: until then, the
# command's stdin is held back (ssh.Dialog), so sudo reads the password once and never the
# request, and a password sudo did not ask for never reaches the command.
SUDO_PROMPT = "[spctl] sudo password for the agent:"
SUDO_READY = "[spctl] sudo: authenticated"
_SUDO_THEN = f'printf "%s\\n" "{SUDO_READY}" >&2 && exec "$@"'


@dataclass(frozen=True)
class Sudo:
    """How to become root: not at all (already root), passwordless, or with a password
    that sudo reads from stdin, exactly once (the password is never on a command line)."""

    enabled: bool = False
    password: Optional[str] = field(default=None, repr=False)
    patience: float = 30.0  # for sudo's prompt, then for sudo to let the command run

    def prefix(self) -> list[str]:
        if not self.enabled:
            return []
        if self.password is None:
            return ["sudo", "-n", "--"]
        return ["sudo", "-S", "-p", SUDO_PROMPT, "--", "sh", "-c", _SUDO_THEN, "spctl-sudo"]

    def dialog(self) -> Optional[Dialog]:
        if not self.enabled or self.password is None:
            return None
        return Dialog(
            prompt=SUDO_PROMPT.encode(),
            answer=(self.password + "\n").encode(),
            ready=SUDO_READY.encode(),
            patience=self.patience,
            # Refused at the first wrong password: the channel closes while sudo waits for
            # a second one, so PAM (and faillock) count one failed attempt, not three.
            refused=(b"Sorry, try again", b"incorrect password", b"no password was provided"),
            stuck="sudo did not ask with spctl's prompt, or asked again after the password "
            "(does sudoers set passprompt_override, or a PAM module ask its own question, "
            "such as a second factor?)",
        )


def holder_name() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()})"


class Agent:
    """The agent on one node, reached through an open connection."""

    def __init__(self, conn: Connection, sudo: Sudo, node: str) -> None:
        self.conn = conn
        self.sudo = sudo
        self.node = node

    def call(self, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        payload = json.dumps(request).encode() + b"\n"
        # -I -S: no environment variables, no site packages: the standard library only, and
        # a faster start.
        argv = [*self.sudo.prefix(), "python3", "-I", "-S", "-c", _RUN_AGENT]
        done = self._run(argv, payload, timeout)
        if done.exit_code == 1 and f"No module named '{AGENT_MODULE}'".encode() in done.stderr:
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
        if not answer.get("ok"):
            raise NodeError(f"{self.node}: {answer.get('error')}")
        return answer

    def _run(self, argv: list[str], payload: bytes, timeout: float) -> Completed:
        done = self.conn.run(argv, stdin=payload, timeout=timeout, dialog=self.sudo.dialog())
        self._check_common(done)
        return done

    def _install(self) -> None:
        argv = [
            *self.sudo.prefix(),
            "python3",
            "-I",
            "-S",
            "-c",
            _INSTALLER,
            AGENT_PATH,
            str(len(_SOURCE)),
            AGENT_HASH,
        ]
        done = self._run(argv, _SOURCE, 60.0)
        if done.exit_code != 0:
            raise NodeError(f"{self.node}: cannot install the agent: {_tail(done.stderr)}")

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
