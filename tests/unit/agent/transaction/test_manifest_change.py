"""One manifest's change (agent/transaction/manifest_change.py): its backup, its undo (bytes
and ownership), and the refusal of a file that changed since the plan was made."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from spctl_agent.system import AgentError
from spctl_agent.system.state import backups_of, load_state, save_state
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


SPCTLS = b"metadata: {name: static-web}\n"
RENDERED = b"metadata:\n  name: static-web\n"
EDITED = b"# a comment someone added\nmetadata: {name: static-web}\n"


@pytest.mark.parametrize(
    "on_node, recorded, backed_up",
    [
        # A file spctl owns that changed on the node (a hand edit keeping the pod): the
        # edit's bytes are kept in the backups before the rewrite.
        (EDITED, SPCTLS, True),
        # A file spctl did not write (the first deploy after `spctl import`): the same.
        (EDITED, None, True),
        # spctl's own bytes in another form: nothing to keep.
        (SPCTLS, SPCTLS, False),
        # The node's bytes are the rendering already (`spctl import` took them in).
        (RENDERED, SPCTLS, False),
    ],
    ids=["changed-on-node", "not-owned", "spctls-own", "already-rendered"],
)
def test_an_adopt_backs_up_bytes_spctl_did_not_write(node, tmp_path, on_node, recorded, backed_up):
    directory = tmp_path / "manifests"
    directory.mkdir()
    live = directory / "static-web.yaml"
    live.write_bytes(on_node)
    if recorded is not None:
        save_state(
            node,
            {"manifests": {str(live): {"pod": "static-web", "sha256": _sha(recorded)}}},
        )
    before = load_state(node)["manifests"].get(str(live))
    spec = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "adopt",
        "content": RENDERED.decode(),
        "expected_sha256": _sha(on_node),
    }
    c = PodChange(node, spec, str(directory), "n1")
    state = load_state(node)
    c.check(state)
    c.write(state)
    assert live.read_bytes() == RENDERED
    assert load_state(node)["manifests"][str(live)]["sha256"] == _sha(RENDERED)
    backups = backups_of(node, "static-web")
    if backed_up:
        (name,) = backups
        kept = Path(node.paths.manifest_backups("static-web")) / name
        assert kept.read_bytes() == on_node
    else:
        assert backups == []
    # A failure after the write (the pod does not come back) undoes it: bytes and ownership.
    c.undo(state)
    assert live.read_bytes() == on_node
    assert load_state(node)["manifests"].get(str(live)) == before


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
