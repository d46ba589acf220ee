"""Calling the node agent over an SSH connection.

The agent (the package ``spctl_agent``) travels as one file, a zipapp built here from the
package's files, and is cached on the node by its hash: ``/var/lib/spctl/agent-<hash>.pyz``
(run it by hand: ``sudo python3 /var/lib/spctl/agent-<hash>.pyz`` reads one JSON request on
stdin) and, extracted beside it, ``/var/lib/spctl/agent-<hash>/``, which each call imports so
that python keeps the compiled bytecode there. A small installer reads the archive from
stdin, checks its hash and renames both into place, so the same paths work for root and for
sudo users and nothing needs SFTP. Every call is one command (a POSIX sh script that finds
the node's python, then python) with one JSON request on stdin and one JSON answer on stdout.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import io
import json
import os
import socket
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional

from spctl_agent.protocol import READ_ONLY_OPS, STATE_DIR

from spctl.errors import NodeError
from spctl.transport.ssh import Completed, Connection, Dialog

AGENT_DIR = STATE_DIR
AGENT_PACKAGE = "spctl_agent"
MIN_PYTHON = (3, 6)
OS_RELEASE = "/etc/os-release"
#: Exit codes of the python finder (and of the python code it starts).
EXIT_TOO_OLD = 3
EXIT_NO_PYTHON = 5

# Finds the node's python in one POSIX sh script, so a call stays one SSH round trip:
# python3, RHEL 8's /usr/libexec/platform-python (its minimal installs have no python3),
# then python3.N, newest first. The python code it starts exits EXIT_TOO_OLD, before it
# reads stdin, when that python is older than MIN_PYTHON: then the next one is tried.
# $1 is the os-release file (named in the error when there is no python); the rest are
# python's arguments.
FIND_PYTHON = """osrel=$1
shift
found=
for py in python3 /usr/libexec/platform-python {versions}; do
    command -v "$py" >/dev/null 2>&1 || continue
    "$py" -I -S "$@"
    rc=$?
    [ "$rc" -eq {too_old} ] || exit "$rc"
    found="$found $py"
done
name=$(sed -n 's/^PRETTY_NAME=//p' "$osrel" 2>/dev/null | tail -n 1 | tr -d "\\"'")
[ -n "$name" ] || name="an unknown OS (no $osrel)"
if [ -n "$found" ]; then
    echo "spctl: the python on this node ($name) is too old:$found; spctl's agent needs python {min} or newer: install python3 {min}+ (e.g. the python3 or python39 package)" >&2
    exit {too_old}
fi
echo "spctl: no python3 on this node ($name); spctl's agent runs on the node's own python {min} or newer. Container-optimized OSes (Flatcar, Fedora CoreOS, Talos, Bottlerocket) ship none: use a node image that has python3, or install python3 on the node (a package, a systemd-sysext image, or a toolbox whose python3 is on root's PATH)" >&2
exit {no_python}
""".format(
    versions=" ".join(f"python3.{n}" for n in range(13, MIN_PYTHON[1] - 1, -1)),
    too_old=EXIT_TOO_OLD,
    no_python=EXIT_NO_PYTHON,
    min="{}.{}".format(*MIN_PYTHON),
)

# The first lines of every python code the finder starts: refuse an old python before
# touching stdin, so that the finder can try the next one with the request still unread.
_VERSION_GATE = f"import sys\nif sys.version_info < {MIN_PYTHON!r}:\n    sys.exit({EXIT_TOO_OLD})\n"

# Writes the archive atomically, extracts it beside itself (extract into a temporary
# directory, then rename), and removes older versions. The archive is the last <size>
# bytes of stdin.
_INSTALLER = (
    _VERSION_GATE
    + """import hashlib, io, os, shutil, zipfile
pyz, size, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = sys.stdin.buffer.read()[-size:]
if hashlib.sha256(data).hexdigest() != digest:
    sys.stderr.write("spctl: agent upload corrupted\\n")
    sys.exit(4)
home, name = os.path.split(pyz)
target = pyz[: -len(".pyz")]
os.makedirs(home, mode=0o700, exist_ok=True)
tmp = os.path.join(home, ".{}.{}.tmp".format(name, os.getpid()))
with open(tmp, "wb") as fh:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())
os.chmod(tmp, 0o700)
os.rename(tmp, pyz)
tmpdir = os.path.join(home, ".{}.{}.dir".format(name, os.getpid()))
shutil.rmtree(tmpdir, ignore_errors=True)
zipfile.ZipFile(io.BytesIO(data)).extractall(tmpdir)
try:
    os.rename(tmpdir, target)
except OSError:
    shutil.rmtree(tmpdir, ignore_errors=True)  # another install won the race
    if not os.path.isdir(target):
        raise
keep = (os.path.basename(pyz), os.path.basename(target))
for old in os.listdir(home):
    path = os.path.join(home, old)
    if old in keep or not old.startswith(("agent-", "agent_", ".agent-")):
        continue
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)
shutil.rmtree(os.path.join(home, "__pycache__"), ignore_errors=True)  # the single-file agent's
"""
)


def _package_files() -> list[tuple[str, bytes]]:
    """(archive name, bytes) of every python file of the agent package, sorted."""
    found: list[tuple[str, bytes]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.name.startswith((".", "__pycache__")):
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".py"):
                found.append((prefix + child.name, child.read_bytes()))

    walk(resources.files(AGENT_PACKAGE), AGENT_PACKAGE + "/")
    return sorted(found)


def build_agent_archive(files: list[tuple[str, bytes]]) -> bytes:
    """A zipapp of ``files``, the same bytes for the same files: sorted names, fixed
    timestamps and modes, no compression (zlib versions differ between control hosts).
    Its ``__main__.py`` is the package's, so that ``python3 agent.pyz`` runs the agent."""
    main = dict(files)[f"{AGENT_PACKAGE}/__main__.py"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in sorted([("__main__.py", main), *files]):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the control host
            archive.writestr(info, data)
    return buffer.getvalue()


@functools.cache
def agent_archive() -> bytes:
    return build_agent_archive(_package_files())


AGENT_HASH = hashlib.sha256(agent_archive()).hexdigest()
AGENT_NAME = f"agent-{AGENT_HASH[:16]}"
AGENT_PYZ = f"{AGENT_DIR}/{AGENT_NAME}.pyz"
AGENT_HOME = f"{AGENT_DIR}/{AGENT_NAME}"


def run_code(home: str) -> str:
    """The python code of one call: import the agent from its extracted directory ``home``
    rather than run the archive, so that python keeps its compiled bytecode there and each
    call skips compiling the agent."""
    return (
        _VERSION_GATE
        + f"sys.path[:0] = [{home!r}]\n"
        + f"from {AGENT_PACKAGE}.main import main\n"
        + "sys.exit(main())\n"
    )


_RUN_AGENT = run_code(AGENT_HOME)
_MISSING = f"No module named '{AGENT_PACKAGE}'".encode()


#: sudo's refusal when sudoers says ``Defaults requiretty`` and there is no terminal:
#: plugins/sudoers/sudoers.c, ``sudo_warnx("%s", U_("sorry, you must have a tty to run
#: sudo"))``, printed after the program name ("sudo: ..."). The text is translated when the
#: node's locale is not English; then the error is reported as sudo printed it.
REQUIRETTY = "sorry, you must have a tty to run sudo"


def python_argv(*args: str) -> list[str]:
    """The command that runs the node's python (found by FIND_PYTHON) with ``args``."""
    return ["sh", "-c", FIND_PYTHON, "spctl", OS_RELEASE, *args]


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
        if self.read_only and request.get("op") not in READ_ONLY_OPS:
            raise RuntimeError(
                f"{self.node}: a {request.get('op')!r} request on a read-only agent: only "
                f"{', '.join(READ_ONLY_OPS)} may be sent where a dropped session is retried"
            )
        payload = json.dumps(request).encode() + b"\n"
        # -I -S (in FIND_PYTHON): no environment variables, no site packages: the standard
        # library only, and a faster start.
        argv = [*self.sudo.prefix(), *python_argv("-c", _RUN_AGENT)]
        done = self._run(argv, payload, timeout)
        if done.exit_code == 1 and _MISSING in done.stderr:
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
        self._check_python(done)
        self._check_tty(done)
        self._check_common(done)
        return done

    def _install(self) -> None:
        archive = agent_archive()
        argv = [
            *self.sudo.prefix(),
            *python_argv("-c", _INSTALLER, AGENT_PYZ, str(len(archive)), AGENT_HASH),
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
