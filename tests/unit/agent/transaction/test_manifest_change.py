"""One manifest's change (agent/transaction/manifest_change.py): its backup, its undo (bytes
and ownership), and the refusal of a file that changed since the plan was made."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from spctl_agent.system import AgentError
from spctl_agent.system.state import backup_manifest, backups_of, load_state, save_state
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
    # Kept apart from the versions a rollback may bring back: the same pod in other bytes
    # is no previous version (a rollback to it would wait for a new pod that never comes).
    assert backups_of(node, "static-web") == []
    backups = backups_of(node, "static-web", kept=True)
    if backed_up:
        (name,) = backups
        kept = Path(node.paths.manifest_backups("static-web")) / name
        assert kept.read_bytes() == on_node and name.endswith(".kept.yaml")
    else:
        assert backups == []
    # A failure after the write (the pod does not come back) undoes it: bytes and ownership.
    c.undo(state)
    assert live.read_bytes() == on_node
    assert load_state(node)["manifests"].get(str(live)) == before


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_rollback_after_an_adopt_takes_the_previous_version_not_the_kept_one(node, tmp_path):
    """An adopt keeps the node's bytes (the same pod, other bytes) apart: the rollback that
    follows brings back the version before, the one a new pod comes from."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    live = directory / "static-web.yaml"
    backup_manifest(node, "static-web", b"previous version\n")
    live.write_bytes(EDITED)
    adopt = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "adopt",
        "content": SPCTLS.decode(),
        "expected_sha256": _sha(EDITED),
    }
    state = load_state(node)
    c = PodChange(node, adopt, str(directory), "n1")
    c.check(state)
    c.write(state)
    rollback = {**adopt, "action": "rollback", "content": "", "expected_sha256": _sha(SPCTLS)}
    r = PodChange(node, rollback, str(directory), "n1")
    r.check(load_state(node))
    assert r.content == b"previous version\n"


def test_a_file_keeps_its_mode_through_the_change_and_the_undo(node, tmp_path):
    """kubeadm writes its manifests 0600 (WriteStaticPodToDisk): spctl's update keeps that,
    and an undo puts the old bytes back with it."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    live = directory / "kube-apiserver.yaml"
    live.write_bytes(b"old\n")
    live.chmod(0o600)
    spec = {
        "pod": "kube-apiserver",
        "file": "kube-apiserver.yaml",
        "action": "update",
        "content": "new\n",
        "expected_sha256": _sha(b"old\n"),
    }
    state = load_state(node)
    c = PodChange(node, spec, str(directory), "n1")
    c.check(state)
    assert c.journal_files()[0]["mode"] == 0o600
    c.write(state)
    assert (live.read_bytes(), live.stat().st_mode & 0o7777) == (b"new\n", 0o600)
    live.chmod(0o640)  # whatever happened since, the undo restores what was there
    c.undo(state)
    assert (live.read_bytes(), live.stat().st_mode & 0o7777) == (b"old\n", 0o600)


def test_a_rollback_after_a_restart_brings_back_the_version_before(node, tmp_path):
    """A restart rewrites the pod's own version with an annotation: its backup is that
    version, kept apart, so a rollback brings back the one deployed before it."""
    directory = tmp_path / "manifests"
    directory.mkdir()
    live = directory / "static-web.yaml"
    backup_manifest(node, "static-web", b"v1\n")
    live.write_bytes(b"v2\n")
    restart = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "update",
        "content": "v2 restarted\n",
        "expected_sha256": _sha(b"v2\n"),
        "kept_backup": True,
    }
    state = load_state(node)
    c = PodChange(node, restart, str(directory), "n1")
    c.check(state)
    c.write(state)
    assert backups_of(node, "static-web", kept=True)
    rollback = {**restart, "action": "rollback", "content": "", "kept_backup": False}
    rollback["expected_sha256"] = _sha(b"v2 restarted\n")
    r = PodChange(node, rollback, str(directory), "n1")
    r.check(load_state(node))
    assert r.content == b"v1\n"
