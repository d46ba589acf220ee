"""The agent as it travels: a zipapp of ``spctl_agent``, its hash, its paths on the node, the
installer that puts it there and the shell code that finds the node's python to run it.

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
import hashlib
import io
import zipfile
from importlib import resources
from typing import Any

from spctl_agent.protocol import STATE_DIR

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
INSTALLER = (
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


RUN_AGENT = run_code(AGENT_HOME)
MISSING = f"No module named '{AGENT_PACKAGE}'".encode()


def python_argv(*args: str) -> list[str]:
    """The command that runs the node's python (found by FIND_PYTHON) with ``args``."""
    return ["sh", "-c", FIND_PYTHON, "spctl", OS_RELEASE, *args]
