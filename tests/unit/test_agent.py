"""The node agent's decisions and file handling, without a node: its state directory is a
temporary directory, and the runtime's pod list is given as data (tests/unit/agent_fakes)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from spctl_agent import facts as agent_facts
from spctl_agent.main import handle
from spctl_agent.protocol.flags import flag_value
from spctl_agent.system.commands import run_command
from spctl_agent.system.errors import AgentError
from spctl_agent.system.files import atomic_write
from spctl_agent.system.lock import NodeLock, lock_holder
from spctl_agent.system.state import load_state
from spctl_agent.transaction.backups import backups_of
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import pod_settled

from tests.unit.agent_fakes import FailingFileSystem, make_node, pod


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


def change(node, action="update", directory="/tmp"):
    return PodChange(
        node,
        {
            "pod": "static-web",
            "file": "static-web.yaml",
            "action": action,
            "content": "x",
            "expected_sha256": None,
        },
        directory,
        "n1",
    )


def test_update_waits_for_a_new_uid_then_a_stable_window(node):
    c = change(node)
    c.before_uid = "old"
    since: dict = {}
    assert pod_settled(c, [pod(uid="old")], since, 5, now=0) is None  # not the new one
    assert pod_settled(c, [pod(uid="old"), pod(uid="new")], since, 5, now=1) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=5.9) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=6.1) is True


def test_a_pod_of_the_same_name_from_another_source_is_not_the_static_pod(node):
    c = change(node)
    since: dict = {}
    assert pod_settled(c, [pod(uid="api", source="api")], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="api", source="api"), pod(uid="f")], since, 0, now=1) is True


def test_a_restart_in_the_stable_window_is_a_crash_loop(node):
    c = change(node)
    since: dict = {}
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0) is None
    verdict = pod_settled(c, [pod(uid="new", restarts=1)], since, 5, now=2)
    assert isinstance(verdict, str) and "keep restarting" in verdict
    pending = pod_settled(change(node), [pod(uid="x", phase="Pending", restarts=2)], {}, 5, now=0)
    assert "keep restarting" in pending


def test_a_failed_pod_fails_the_change_with_its_exit_code(node):
    verdict = pod_settled(change(node), [pod(uid="x", phase="Failed", exit_code=3)], {}, 5, now=0)
    assert verdict.startswith("the pod failed") and "exit code 3" in verdict


def test_rollback_waits_for_the_previous_uid(node):
    c = change(node, action="restore")
    c.want_uid = "old"
    since: dict = {}
    assert pod_settled(c, [pod(uid="crashing", restarts=3)], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="old")], since, 0, now=1) is True


def test_remove_waits_until_no_pod_has_the_name(node):
    c = change(node, action="remove")
    assert pod_settled(c, [pod()], {}, 0, now=0) is None
    assert pod_settled(c, [pod(name="other-n1")], {}, 0, now=0) is True


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "m" / "web.yaml"
    target.parent.mkdir()
    atomic_write(str(target), b"one")
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]
    with pytest.raises(OSError):
        atomic_write(str(target), b"two", fs=FailingFileSystem("fsync", str(target)))
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]


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


@pytest.mark.parametrize(
    "text, name",
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    name: decoy\n  name: static-web\n",
            "static-web",
        ),
        ('{"metadata": {"name": "from-json"}}', "from-json"),
        ("metadata:\n  name: 'quoted'  # comment\n", "quoted"),
        ("kind: Pod\n", None),
    ],
)
def test_guess_pod_name(text, name):
    assert agent_facts.guess_pod_name(text.encode()) == name


@pytest.mark.parametrize(
    "cmdline, value",
    [
        (["kubelet", "--pod-manifest-path=/etc/kubelet.d/"], "/etc/kubelet.d/"),
        (["kubelet", "--pod-manifest-path", "/a", "--pod-manifest-path=/b"], "/b"),
        (["kubelet", "--pod-manifest-path-other=/x"], None),
        (["kubelet", "--pod-manifest-path"], None),
        ("--a=1 --pod-manifest-path '/with space'", "/with space"),
    ],
)
def test_flag_value(cmdline, value):
    assert flag_value(cmdline, "--pod-manifest-path") == value


def test_failing_command_names_itself():
    with pytest.raises(AgentError, match=r"sh -c exit 3 failed"):
        run_command(["sh", "-c", "exit 3"], timeout=5)


def test_facts_lists_manifests_owned_files_and_the_runtimes_pods(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "static-web.yaml").write_text("metadata:\n  name: static-web\n")
    (manifests / ".hidden").write_text("x")
    node = make_node(tmp_path)
    node._runtime.pods = [pod()]
    answer = handle(
        {"op": "facts", "pods": ["static-web"], "manifest_dirs": [str(manifests)]}, node
    )
    assert answer["ok"], answer
    entries = {e["name"]: e for e in answer["dirs"][str(manifests)]["entries"]}
    assert entries["static-web.yaml"]["pod_name"] == "static-web"
    assert "sha256" not in entries[".hidden"]  # the kubelet ignores dot files: so do we
    assert answer["files"][str(manifests / "static-web.yaml")].startswith("metadata:")
    assert [p["uid"] for p in answer["runtime"]["pods"]] == ["u1"]


def test_an_unknown_op_is_an_answer_not_a_crash(node):
    answer = handle({"op": "reboot"}, node)
    assert answer == {
        "ok": False,
        "error": "unknown op 'reboot'; expected one of facts, apply",
    }
