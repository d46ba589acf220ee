"""One manifest's change (agent/transaction/manifest_change.py): its backup, its undo (bytes
and ownership), and the refusal of a file that changed since the plan was made."""

from __future__ import annotations

import hashlib

import pytest
from spctl_agent.system import AgentError
from spctl_agent.system.state import backups_of, load_state
from spctl_agent.transaction.manifest_change import PodChange

from tests.fakes.agent_node import make_node


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


def test_pod_change_backs_up_and_undo_restores_bytes_and_ownership(node, tmp_path):
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "static-web.yaml").write_text("old\n")
    spec = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "update",
        "content": "new\n",
        "expected_sha256": hashlib.sha256(b"old\n").hexdigest(),
    }
    c = PodChange(node, spec, str(directory), "n1")
    state = load_state(node)
    c.check(state)
    c.write(state)
    assert (directory / "static-web.yaml").read_text() == "new\n"
    live = str(directory / "static-web.yaml")
    assert load_state(node)["manifests"][live]["pod"] == "static-web"
    assert len(backups_of(node, "static-web")) == 1
    c.undo(state)
    assert (directory / "static-web.yaml").read_text() == "old\n"
    # The file was not spctl's before: after the undo spctl does not own it either.
    assert live not in load_state(node)["manifests"]


def test_stale_facts_are_refused(node, tmp_path):
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "static-web.yaml").write_text("edited by hand\n")
    spec = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "update",
        "content": "new\n",
        "expected_sha256": "0" * 64,
    }
    with pytest.raises(AgentError, match="changed on the node since spctl read it"):
        PodChange(node, spec, str(directory), "n1").check(load_state(node))
