"""How the agent reaches a node and starts there: the zipapp, its installer, and the sh
script that finds the node's python. Each runs here for real, with a fake PATH, a fake
os-release and a temporary directory in place of /var/lib/spctl."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from spctl.errors import NodeError
from spctl.transport import agent_archive
from spctl.transport.agent import Agent
from spctl.transport.ssh import Completed
from spctl.transport.sudo import Sudo
from tests.fakes import paths


def test_the_archive_is_the_same_bytes_every_time_and_holds_every_module():
    files = agent_archive._package_files()
    assert agent_archive.build_agent_archive(files) == agent_archive.build_agent_archive(
        list(reversed(files))
    )
    archive = zipfile.ZipFile(io.BytesIO(agent_archive.agent_archive()))
    names = archive.namelist()
    assert names == sorted(names)
    assert {"__main__.py", "spctl_agent/main.py", "spctl_agent/protocol/__init__.py"} <= set(names)
    assert "spctl_agent/runtime/docker.py" in names
    agent_dir = paths.REPO / "agent"
    on_disk = {
        "spctl_agent/" + str(p.relative_to(agent_dir))
        for p in agent_dir.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "spctl_agent/main.py" in on_disk and on_disk <= set(names)
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def run_finder(args, stdin=b"", path="", os_release="/nonexistent/os-release"):
    """FIND_PYTHON under sh with PATH = ``path`` plus the few tools its error path needs."""
    return subprocess.run(
        ["/bin/sh", "-c", agent_archive.FIND_PYTHON, "spctl", os_release, *args],
        input=stdin,
        capture_output=True,
        env={"PATH": path},
        timeout=60,
    )


@pytest.fixture
def fake_path(tmp_path):
    """A PATH with sed, tail and tr but no python; ``add(name, script)`` adds a fake one."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("sed", "tail", "tr", "cat"):
        os.symlink(
            subprocess.check_output(["sh", "-c", f"command -v {tool}"]).decode().strip(),
            tools / tool,
        )
    pythons = tmp_path / "pythons"
    pythons.mkdir()

    def add(name, body):
        exe = pythons / name
        exe.write_text("#!/bin/sh\n" + body)
        exe.chmod(0o755)

    add.path = f"{pythons}:{tools}"  # type: ignore[attr-defined]
    return add


def test_a_node_without_python_gets_an_error_that_names_its_os(fake_path, tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text(
        'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\n'
        'PRETTY_NAME="Flatcar Container Linux by Kinvolk 3510.2.0 (Oklo)"\n'
    )
    done = run_finder(["-c", "pass"], path=fake_path.path, os_release=str(os_release))
    assert done.returncode == agent_archive.EXIT_NO_PYTHON
    err = done.stderr.decode()
    assert err.startswith(
        "spctl: no python3 on this node (Flatcar Container Linux by Kinvolk 3510.2.0 (Oklo))"
    )
    assert "use a node image that has python3" in err


def test_without_os_release_the_error_says_so(fake_path):
    done = run_finder(["-c", "pass"], path=fake_path.path)
    assert done.returncode == agent_archive.EXIT_NO_PYTHON
    assert (
        "no python3 on this node (an unknown OS (no /nonexistent/os-release))"
        in done.stderr.decode()
    )


def test_a_too_old_python3_is_skipped_and_the_next_one_gets_the_request(fake_path):
    # The fake python3 is "too old": it exits EXIT_TOO_OLD without reading stdin, as the
    # version gate does, so python3.9 must still find the request.
    fake_path("python3", f"exit {agent_archive.EXIT_TOO_OLD}\n")
    fake_path("python3.9", 'echo "python3.9 $*"; cat\n')
    done = run_finder(["-c", "CODE"], stdin=b'{"op": "facts"}\n', path=fake_path.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == 'python3.9 -I -S -c CODE\n{"op": "facts"}\n'


def test_python3_comes_first_and_its_exit_code_is_the_calls(fake_path):
    fake_path("python3", "echo python3; exit 1\n")
    fake_path("python3.12", "echo python3.12\n")
    done = run_finder(["-c", "CODE"], path=fake_path.path)
    assert (done.returncode, done.stdout) == (1, b"python3\n")


def test_only_too_old_pythons_is_its_own_error(fake_path):
    fake_path("python3", f"exit {agent_archive.EXIT_TOO_OLD}\n")
    done = run_finder(["-c", "CODE"], path=fake_path.path)
    assert done.returncode == agent_archive.EXIT_TOO_OLD
    assert "is too old: python3;" in done.stderr.decode()


def test_the_version_gate_refuses_an_old_python_before_reading_stdin(tmp_path):
    gate = agent_archive._VERSION_GATE.replace(repr(agent_archive.MIN_PYTHON), repr((99, 0)))
    code = gate + "sys.stdout.write(sys.stdin.read())\n"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], input=b"request", capture_output=True
    )
    assert (done.returncode, done.stdout) == (agent_archive.EXIT_TOO_OLD, b"")


class LocalConnection:
    """Runs the agent's commands on this machine, /var/lib/spctl moved to ``home``, with
    only ``python`` on PATH as python3."""

    def __init__(self, home: Path, python: str, tmp_path: Path) -> None:
        self.home = str(home)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        if not (bin_dir / "python3").exists():
            os.symlink(python, bin_dir / "python3")
        self.path = str(bin_dir)
        self.commands: list[list[str]] = []

    def run(self, argv, *, stdin=b"", timeout=60.0, dialog=None):
        assert dialog is None  # no sudo here
        argv = [a.replace(agent_archive.AGENT_DIR, self.home) for a in argv]
        argv[0] = "/bin/sh" if argv[0] == "sh" else argv[0]
        self.commands.append(argv)
        done = subprocess.run(
            argv, input=stdin, capture_output=True, timeout=timeout, env={"PATH": self.path}
        )
        return Completed(done.returncode, done.stdout, done.stderr)


def test_first_call_installs_then_the_agent_answers_from_its_extracted_copy(tmp_path):
    python = sys.executable
    home = tmp_path / "spctl"
    home.mkdir()
    # An older agent of each kind: both go when the new one is installed.
    (home / "agent_0123456789abcdef.py").write_text("old")
    (home / "agent-0123456789abcdef.pyz").write_text("old")
    (home / "agent-0123456789abcdef").mkdir()
    (home / "state.json").write_text("{}")
    conn = LocalConnection(home, python, tmp_path)
    agent = Agent(conn, Sudo(), "n1")  # type: ignore[arg-type]
    with pytest.raises(NodeError, match=r"n1: unknown op 'hello'; expected one of facts, apply"):
        agent.call({"op": "hello"})
    assert len(conn.commands) == 3  # the call, the install, the call again
    assert sorted(os.listdir(home)) == sorted(
        ["state.json", agent_archive.AGENT_NAME + ".pyz", agent_archive.AGENT_NAME]
    )
    assert (
        home / (agent_archive.AGENT_NAME + ".pyz")
    ).read_bytes() == agent_archive.agent_archive()
    with pytest.raises(NodeError, match="unknown op"):
        agent.call({"op": "hello"})
    assert len(conn.commands) == 4  # installed: one command per call
    assert list((home / agent_archive.AGENT_NAME / "spctl_agent").glob("__pycache__/main.*.pyc"))
    # The archive alone runs too, as an operator would run it by hand.
    done = subprocess.run(
        [python, str(home / (agent_archive.AGENT_NAME + ".pyz"))],
        input=b'{"op": "hello"}\n',
        capture_output=True,
    )
    assert json.loads(done.stdout)["error"].startswith("unknown op 'hello'")


def test_a_corrupted_upload_installs_nothing(tmp_path):
    home = tmp_path / "spctl"
    archive = agent_archive.agent_archive()
    done = subprocess.run(
        [
            "sh",
            "-c",
            agent_archive.FIND_PYTHON,
            "spctl",
            "/etc/os-release",
            "-c",
            agent_archive.INSTALLER,
            str(home / "agent-x.pyz"),
            str(len(archive)),
            "0" * 64,
        ],
        input=archive,
        capture_output=True,
    )
    assert done.returncode == 4 and b"agent upload corrupted" in done.stderr
    assert not home.exists()
