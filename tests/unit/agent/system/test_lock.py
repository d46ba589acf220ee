"""The node lock and the state directory behind it (agent/system/lock.py): the lock names its
holder and a dead holder is stale; the agent trusts its state directory (journal, ownership
state, lock) only when root alone could have written it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from spctl_agent.main import handle
from spctl_agent.node import Paths
from spctl_agent.system import AgentError
from spctl_agent.system.lock import NodeLock, lock_holder

from tests.fakes.agent_node import make_node, pod, tree
from tests.fakes.apply_request import OLD_MANIFEST, request
from tests.fakes.journal import write_journal


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


def test_lock_names_its_holder_and_a_dead_holder_is_stale(node):
    with NodeLock(node, "alice@ctl (pid 1)", wait=0):
        with (
            pytest.raises(AgentError, match=r"node is locked by alice@ctl \(pid 1\)"),
            NodeLock(node, "bob@ctl", wait=0.3),
        ):
            pass
        assert lock_holder(node)["holder"] == "alice@ctl (pid 1)"
    assert lock_holder(node) is None
    Path(node.paths.holder_file).write_text(json.dumps({"holder": "ghost", "pid": 2**22 + 7}))
    assert lock_holder(node) is None


@pytest.fixture
def root(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "static-web.yaml").write_bytes(OLD_MANIFEST)
    return tmp_path


def apply(root: Path) -> dict:
    node = make_node(root)
    node._runtime.pods = [pod(uid="old")]
    return handle(request(root), node)


def test_a_state_directory_others_can_write_is_refused_before_any_write(root):
    state = root / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    before = tree(root)
    answer = apply(root)
    assert not answer["ok"]
    assert (
        f"the state directory {state} is a directory owned by uid 0 with mode 0777"
        in (answer["error"])
    )
    assert f"chmod 0700 {state}" in answer["error"]
    assert tree(root) == before  # no manifest, no lock file, no journal


def test_a_state_directory_that_is_a_symlink_is_refused(root):
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (root / "state").symlink_to(elsewhere)
    answer = apply(root)
    assert not answer["ok"]
    assert "is not a directory" in answer["error"]
    assert list(elsewhere.iterdir()) == []
    assert (root / "manifests" / "static-web.yaml").read_bytes() == OLD_MANIFEST


def test_a_state_directory_under_a_parent_others_can_write_is_refused(tmp_path):
    parent = tmp_path / "var"
    (parent / "manifests").mkdir(parents=True)
    os.chmod(parent, 0o777)
    os.chmod(parent / "manifests", 0o755)
    (parent / "manifests" / "static-web.yaml").write_bytes(OLD_MANIFEST)
    node = make_node(tmp_path, paths=Paths(str(parent / "st")))
    node._runtime.pods = [pod(uid="old")]
    answer = handle(request(parent), node)
    assert not answer["ok"]
    assert f"cannot trust the state directory {parent / 'st'}" in answer["error"]
    assert "can replace spctl's journal" in answer["error"]
    assert not (parent / "st").exists()


def test_a_lock_file_planted_as_a_symlink_is_not_followed(root):
    state = root / "state"
    state.mkdir(mode=0o700)
    target = root / "target"
    target.write_bytes(b"keep")
    (state / "lock").symlink_to(target)
    answer = apply(root)
    assert not answer["ok"]
    assert str(state / "lock") in answer["error"]
    assert target.read_bytes() == b"keep"
    assert (root / "manifests" / "static-web.yaml").read_bytes() == OLD_MANIFEST


def test_facts_with_a_journal_in_a_state_directory_others_can_write_is_refused(root):
    """Recovery's try of the lock refuses the directory; it is not taken for a busy lock."""
    journal = write_journal(root, lambda r: None)
    os.chmod(journal.parent, 0o777)
    before = tree(root)
    node = make_node(root)
    node._runtime.pods = [pod(uid="new")]
    answer = handle({"op": "facts", "pods": ["static-web"], "manifest_dirs": []}, node)
    assert not answer["ok"], answer
    assert f"the state directory {journal.parent} is a directory owned by uid 0" in answer["error"]
    assert tree(root) == before
