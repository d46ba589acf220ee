"""Commands the agent runs (agent/system/commands.py): a failing one names itself; capture
reads stdout only, gives up after its timeout, and a missing program is an OSError."""

from __future__ import annotations

import pytest
from spctl_agent.system import AgentError
from spctl_agent.system.commands import capture, run_command


def test_failing_command_names_itself():
    with pytest.raises(AgentError, match=r"sh -c exit 3 failed"):
        run_command(["sh", "-c", "exit 3"], timeout=5)


def test_capture_returns_stdout_and_ignores_stderr_and_status():
    out = capture(["sh", "-c", "printf 'a\\r\\nb\\n'; echo oops >&2; exit 3"], timeout=10)
    assert out == "a\nb\n"


def test_capture_gives_up_after_its_timeout():
    with pytest.raises(AgentError, match="did not finish within 1s"):
        capture(["sleep", "30"], timeout=1)


def test_capture_of_a_missing_program_is_an_os_error():
    with pytest.raises(OSError):
        capture(["/nonexistent/spctl-no-such-program"], timeout=5)
