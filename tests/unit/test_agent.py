"""The node agent's decisions and file handling, without a node: its state directory is
moved into a temporary directory, and the runtime's pod list is given as data."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from spctl.remote import agent_source

AGENT = Path(__file__).resolve().parents[2] / "agent" / "spctl_agent.py"


@pytest.fixture
def agent(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("spctl_agent_under_test", AGENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = tmp_path / "state"
    monkeypatch.setattr(module, "STATE_DIR", str(state))
    monkeypatch.setattr(module, "STATE_FILE", str(state / "state.json"))
    monkeypatch.setattr(module, "LOCK_FILE", str(state / "lock"))
    monkeypatch.setattr(module, "BACKUP_DIR", str(state / "backups"))
    return module


def test_agent_parses_as_python_3_8():
    ast.parse(agent_source().decode(), feature_version=(3, 8))


def pod(name="static-web-n1", uid="u1", phase="Running", restarts=0):
    return {
        "pod": name,
        "uid": uid,
        "phase": phase,
        "restarts": restarts,
        "containers": [
            {"name": "web", "state": "running", "restarts": restarts, "exit_code": None}
        ],
    }


def change(agent, action="update", tmp="/tmp"):
    return agent.PodChange(
        {
            "pod": "static-web",
            "file": "static-web.yaml",
            "action": action,
            "content": "x",
            "expected_sha256": None,
        },
        tmp,
        "n1",
    )


def test_update_waits_for_a_new_uid_then_a_stable_window(agent):
    c = change(agent)
    c.before_uid = "old"
    since: dict = {}
    assert (
        agent.pod_settled(c, [pod(uid="old")], since, 5, now=0) is None
    )  # the old pod is not the new one
    assert agent.pod_settled(c, [pod(uid="old"), pod(uid="new")], since, 5, now=1) is None
    assert agent.pod_settled(c, [pod(uid="new")], since, 5, now=5.9) is None
    assert agent.pod_settled(c, [pod(uid="new")], since, 5, now=6.1) is True


def test_a_restart_in_the_stable_window_is_a_crash_loop(agent):
    c = change(agent)
    since: dict = {}
    assert agent.pod_settled(c, [pod(uid="new")], since, 5, now=0) is None
    verdict = agent.pod_settled(c, [pod(uid="new", restarts=1)], since, 5, now=2)
    assert isinstance(verdict, str) and "keep restarting" in verdict
    pending = agent.pod_settled(
        change(agent), [pod(uid="x", phase="Pending", restarts=2)], {}, 5, now=0
    )
    assert "keep restarting" in pending


def test_rollback_waits_for_the_previous_uid(agent):
    c = change(agent, action="restore")
    c.want_uid = "old"
    since: dict = {}
    assert agent.pod_settled(c, [pod(uid="crashing", restarts=3)], since, 0, now=0) is None
    assert agent.pod_settled(c, [pod(uid="old")], since, 0, now=1) is True


def test_remove_waits_until_no_pod_has_the_name(agent):
    c = change(agent, action="remove")
    assert agent.pod_settled(c, [pod()], {}, 0, now=0) is None
    assert agent.pod_settled(c, [pod(name="other-n1")], {}, 0, now=0) is True


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_failure(
    agent, tmp_path, monkeypatch
):
    target = tmp_path / "m" / "web.yaml"
    target.parent.mkdir()
    agent.atomic_write(str(target), b"one")
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(agent.os, "fsync", fail)
    with pytest.raises(OSError):
        agent.atomic_write(str(target), b"two")
    assert target.read_bytes() == b"one" and os.listdir(target.parent) == ["web.yaml"]


def test_pod_change_backs_up_and_undo_restores_bytes_and_ownership(agent, tmp_path):
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "static-web.yaml").write_text("old\n")
    import hashlib

    spec = {
        "pod": "static-web",
        "file": "static-web.yaml",
        "action": "update",
        "content": "new\n",
        "expected_sha256": hashlib.sha256(b"old\n").hexdigest(),
    }
    c = agent.PodChange(spec, str(directory), "n1")
    state = agent.load_state()
    c.check(state)
    c.write(state)
    assert (directory / "static-web.yaml").read_text() == "new\n"
    assert (
        agent.load_state()["manifests"][str(directory / "static-web.yaml")]["pod"] == "static-web"
    )
    backups = agent.backups_of("static-web")
    assert len(backups) == 1
    c.undo(state)
    assert (directory / "static-web.yaml").read_text() == "old\n"
    # The file was not spctl's before: after the undo spctl does not own it either.
    assert str(directory / "static-web.yaml") not in agent.load_state()["manifests"]


def test_stale_facts_are_refused(agent, tmp_path):
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
    with pytest.raises(agent.AgentError, match="changed on the node since spctl read it"):
        agent.PodChange(spec, str(directory), "n1").check(agent.load_state())


def test_lock_names_its_holder_and_a_dead_holder_is_stale(agent):
    with agent.NodeLock("alice@ctl (pid 1)", wait=0):
        with (
            pytest.raises(agent.AgentError, match=r"node is locked by alice@ctl \(pid 1\)"),
            agent.NodeLock("bob@ctl", wait=0.3),
        ):
            pass
        assert agent.lock_holder()["holder"] == "alice@ctl (pid 1)"
    assert agent.lock_holder() is None
    Path(agent.LOCK_FILE + ".holder").write_text(json.dumps({"holder": "ghost", "pid": 2**22 + 7}))
    assert agent.lock_holder() is None


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
def test_guess_pod_name(agent, text, name):
    assert agent.guess_pod_name(text.encode()) == name


def test_docker_containers_are_grouped_into_pods(agent):
    def container(name, kind, state, status="Up 1 second"):
        labels = {
            "io.kubernetes.pod.name": "static-web-n1",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u1",
            "io.kubernetes.docker.type": kind,
            "io.kubernetes.container.name": "POD" if kind == "podsandbox" else "web",
            "annotation.kubernetes.io/config.source": "file",
        }
        return {
            "Id": name,
            "Names": ["/" + name],
            "Labels": labels,
            "State": state,
            "Status": status,
            "Created": 1,
        }

    grouped = agent.pods_from_docker(
        [
            container("k8s_POD_static-web-n1_default_u1_0", "podsandbox", "running"),
            container(
                "k8s_web_static-web-n1_default_u1_0",
                "container",
                "exited",
                "Exited (137) 3 seconds ago",
            ),
            container("k8s_web_static-web-n1_default_u1_1", "container", "running"),
        ]
    )
    ((key, raw),) = grouped.items()
    summary = agent.summarize_pod(*key, raw)
    assert (
        summary["phase"],
        summary["restarts"],
        summary["annotations"]["kubernetes.io/config.source"],
    ) == ("Running", 1, "file")


@pytest.mark.parametrize(
    "cmdline, value",
    [
        (["kubelet", "--pod-manifest-path=/etc/kubelet.d/"], "/etc/kubelet.d/"),
        (["kubelet", "--pod-manifest-path", "/a", "--pod-manifest-path=/b"], "/b"),
        (["kubelet", "--pod-manifest-path-other=/x"], None),
        (["kubelet", "--pod-manifest-path"], None),
    ],
)
def test_flag_value(agent, cmdline, value):
    assert agent.flag_value(cmdline, "--pod-manifest-path") == value


def test_failing_command_names_itself(agent):
    with pytest.raises(agent.AgentError, match=r"sh -c exit 3 failed"):
        agent.run_command(["sh", "-c", "exit 3"], timeout=5)
