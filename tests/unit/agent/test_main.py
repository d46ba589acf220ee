"""One agent call (agent/main.py): an unknown op is an answer, not a crash."""

from __future__ import annotations

import pytest
from spctl_agent.main import handle

from tests.fakes.agent_node import make_node


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


def test_an_unknown_op_is_an_answer_not_a_crash(node):
    answer = handle({"op": "reboot"}, node)
    assert answer == {
        "ok": False,
        "error": "unknown op 'reboot'; expected one of facts, apply",
    }
