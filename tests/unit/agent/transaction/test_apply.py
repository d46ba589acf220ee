"""The agent's two transactions, failed at each step, as kubeadm's staticpods_test.go fails
its upgrade (cmd/kubeadm/app/phases/upgrade/staticpods_test.go: a path manager whose
MoveFile fails for one component, a waiter that never sees the new hash; each case asserts
the error and whether the live manifest changed).

The agent runs on a temporary directory tree through its seam (``node.Node``): a file system
whose write, fsync or rename fails on cue, a systemd and a kubelet whose restart, health and
command line follow the configuration file, and a runtime whose pods follow the manifest on
disk, as the kubelet's would. Every case asserts the answer's error and that the live
manifest and the kubelet's configuration file hold exactly the bytes they held before (or
the new ones, when the change completed), with no temporary file left anywhere.

Also: manifest directories others can write are refused before any write, a run waits
only for the content it planned from, and a plan made while another run held the node is
refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spctl_agent.main import handle
from spctl_agent.protocol import STALE_PLAN
from spctl_agent.system.files import is_temporary
from spctl_agent.system.lock import NodeLock

from tests.fakes.agent_node import FailingFileSystem, FakeClock, FakeRuntime, make_node, pod, tree
from tests.fakes.apply_request import NEW_MANIFEST, OLD_MANIFEST, Kubelet, request, sha

WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"


@pytest.mark.parametrize(
    "setup, culprit, owner, mode",
    [
        ("group-writable", "pods", "root", "0775"),
        ("world-writable-sticky", "pods", "root", "1777"),
        ("not-root", "pods", "nobody", "0755"),
        ("parent-writable", "parent", "root", "0777"),
    ],
)
def test_directories_others_can_write_are_refused_before_any_write(
    tmp_path, setup, culprit, owner, mode
):
    parent = tmp_path / "parent"
    pods = parent / "pods"
    pods.mkdir(parents=True)
    os.chmod(parent, 0o755)
    os.chmod(pods, 0o755)
    if setup == "group-writable":
        os.chmod(pods, 0o775)
    elif setup == "world-writable-sticky":
        os.chmod(pods, 0o1777)
    elif setup == "not-root":
        os.chown(pods, 65534, 65534)
    else:
        os.chmod(parent, 0o777)
    node = make_node(tmp_path)
    answer = handle(
        {
            "op": "apply",
            "node_name": "n1",
            "manifest_dir": str(pods),
            "changes": [
                {"pod": "web", "action": "create", "file": "web.yaml", "content": WEB.decode()}
            ],
        },
        node,
    )
    where = pods if culprit == "pods" else parent
    assert not answer["ok"]
    assert f"{where} is owned by {owner} with mode {mode}" in answer["error"], answer["error"]
    assert list(pods.iterdir()) == []
    assert not (tmp_path / "state" / "journal.json").exists()


def wait_request(root: Path, expected: str, **extra) -> dict:
    return {
        "op": "apply",
        "node_name": "n1",
        "manifest_dir": str(root / "manifests"),
        "timeout": 10,
        "stable_for": 1,
        "wait_running": [{"pod": "web", "file": "web.yaml", "expected_sha256": expected}],
        **extra,
    }


def test_a_run_waits_only_for_the_content_it_planned_from(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "web.yaml").write_bytes(WEB)
    node = make_node(tmp_path, runtime=FakeRuntime([pod(name="web-n1")]))
    # Another run rolled the file back after this one read it: waiting would report the
    # old pod's success as this version's.
    answer = handle(wait_request(tmp_path, sha(b"the version another run wrote")), node)
    assert not answer["ok"] and "changed on the node since spctl read it" in answer["error"]
    answer = handle(wait_request(tmp_path, sha(WEB)), node)
    assert answer["ok"] and answer["pods"][0]["ok"], answer


class ReleasingClock(FakeClock):
    """The other run ends (its lock is released) while this one waits for it."""

    def __init__(self, other: NodeLock) -> None:
        super().__init__()
        self.other = other

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.other.fd != -1:
            self.other.__exit__(None, None, None)
            self.other.fd = -1


def test_a_plan_made_while_another_run_held_the_node_is_refused_after_the_wait(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "web.yaml").write_bytes(WEB)
    other = NodeLock(make_node(tmp_path), "the other run", 0)
    other.__enter__()
    node = make_node(
        tmp_path, clock=ReleasingClock(other), runtime=FakeRuntime([pod(name="web-n1")])
    )
    request = wait_request(tmp_path, sha(WEB), wait_lock=30, planned_while_busy=True)
    answer = handle(request, node)
    assert not answer["ok"] and answer["error"].startswith(STALE_PLAN), answer
    assert "locked by another spctl run while this one read its facts" in answer["error"]
    # Planned from facts read while the node was quiet, the same wait goes ahead.
    request["planned_while_busy"] = False
    assert handle(request, node)["ok"]


OLD_FLAGS = b"--a=1\n"


MANIFEST = "manifests/static-web.yaml"


FLAGS = "etc/kubelet-flags"


NEW_FLAGS = b"--a=1 --pod-manifest-path=/new\n"


def pods_from_disk(manifest: Path, new_pod: dict):
    """The static pod the kubelet runs for what the manifest holds now: the old pod (UID
    "old") for the old bytes, ``new_pod`` for the new ones, none without a file."""

    def script(_reads):
        if not manifest.exists():
            return []
        if manifest.read_bytes() == NEW_MANIFEST:
            return [new_pod]
        return [pod(uid="old")]

    return script


RUNNING = pod(uid="new")


FAILED = pod(uid="new", phase="Failed", exit_code=1)


PENDING = pod(uid="new", phase="Pending")


MANIFEST_CASES = {
    # name: (the failing step and file, the new pod, expected error or None, the manifest
    # changes); a file is relative to the tree, or "*part" for any path containing part.
    "write fails": (
        ("write", MANIFEST),
        RUNNING,
        "(injected at write); nothing was changed",
        False,
    ),
    "fsync fails": (
        ("fsync", MANIFEST),
        RUNNING,
        "(injected at fsync); nothing was changed",
        False,
    ),
    "rename fails": (
        ("rename", MANIFEST),
        RUNNING,
        "(injected at rename); nothing was changed",
        False,
    ),
    "backup fails": (("write", "*backups"), RUNNING, "cannot write", False),
    "state fails": (("rename", "*state.json"), RUNNING, "cannot write", False),
    "pod never runs": (None, PENDING, "not settled within 30s (pod Pending)", False),
    "pod fails": (None, FAILED, "the pod failed (web: exited, 0 restarts, exit code 1)", False),
    "pod runs": (None, RUNNING, None, True),
}


@pytest.fixture
def tree_root(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "static-web.yaml").write_bytes(OLD_MANIFEST)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kubelet-flags").write_bytes(OLD_FLAGS)
    return tmp_path


def failing_fs(root: Path, failing) -> FailingFileSystem | None:
    if failing is None:
        return None
    step, where = failing
    if where.startswith("*"):
        return FailingFileSystem(step, where[1:], anywhere=True)
    return FailingFileSystem(step, str(root / where))


def assert_no_temporaries(root: Path) -> None:
    left = [p for p in tree(root) if is_temporary(Path(p).name)]
    assert left == [], left


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=list(MANIFEST_CASES))
def test_manifest_transaction(tree_root, case):
    failing, new_pod, error, changes = MANIFEST_CASES[case]
    fs = failing_fs(tree_root, failing)
    live = tree_root / "manifests" / "static-web.yaml"
    node = make_node(tree_root, fs=fs, runtime=FakeRuntime(script=pods_from_disk(live, new_pod)))
    answer = handle(request(tree_root), node)
    if error is None:
        assert answer["ok"] and answer["pods"][0]["ok"], answer
        assert live.read_bytes() == NEW_MANIFEST
        assert (
            len(list((tree_root / "state" / "backups" / "manifests" / "static-web").iterdir())) == 1
        )
    elif answer["ok"]:  # the change was made, the pod did not come up: rolled back
        result = answer["pods"][0]
        assert (result["ok"], result["rolled_back"]) == (False, True)
        assert error in result["error"], result["error"]
        assert "after rollback" not in result["error"]  # the old pod runs again
    else:
        assert error in answer["error"], answer["error"]
    assert live.read_bytes() == (NEW_MANIFEST if changes else OLD_MANIFEST)
    assert (tree_root / "etc" / "kubelet-flags").read_bytes() == OLD_FLAGS
    assert_no_temporaries(tree_root)


KUBELET_CASES = {
    # name: (the failing step and file, kubelet options, restarts that fail, expected error)
    "backup fails": (("write", "*backups/kubelet"), {}, 0, "cannot back up"),
    "write fails": (("write", FLAGS), {}, 0, "injected at write"),
    "fsync fails": (("fsync", FLAGS), {}, 0, "injected at fsync"),
    "rename fails": (("rename", FLAGS), {}, 0, "injected at rename"),
    "restart fails": (None, {}, 1, "systemctl restart kubelet.service failed"),
    "kubelet not healthy": (
        None,
        {"sick": [NEW_FLAGS]},
        0,
        "the kubelet did not become healthy within 20s",
    ),
    "kubelet ignores the file": (
        None,
        {"ignores_file": True},
        0,
        "runs with no --pod-manifest-path instead of --pod-manifest-path=/new",
    ),
    "kubelet takes the change": (None, {}, 0, None),
}


@pytest.mark.parametrize("case", KUBELET_CASES, ids=list(KUBELET_CASES))
def test_kubelet_transaction(tree_root, case):
    failing, options, restart_fails, error = KUBELET_CASES[case]
    fs = failing_fs(tree_root, failing)
    flags = tree_root / "etc" / "kubelet-flags"
    live = tree_root / "manifests" / "static-web.yaml"
    kubelet = Kubelet(flags, **options)
    kubelet.restart_fails = restart_fails
    node = make_node(
        tree_root,
        fs=fs,
        systemd=kubelet,
        healthz=kubelet.healthy,
        clock=FakeClock(),
        runtime=FakeRuntime(script=pods_from_disk(live, RUNNING)),
    )
    change = {
        "unit": "kubelet",
        "files": [
            {"path": str(flags), "content": NEW_FLAGS.decode(), "expected_sha256": sha(OLD_FLAGS)}
        ],
        "timeout": 20,
        "flag": ["--pod-manifest-path", "/new"],
    }
    answer = handle(request(tree_root, change), node)
    if error is None:
        assert answer["ok"] and answer["kubelet_restarted"], answer
        assert flags.read_bytes() == NEW_FLAGS and live.read_bytes() == NEW_MANIFEST
        backups = tree(tree_root / "state" / "backups" / "kubelet")
        assert list(backups.values()) == [OLD_FLAGS]
    else:
        assert not answer["ok"]
        assert error in answer["error"], answer["error"]
        if case != "backup fails":  # which fails before anything is written
            assert (
                "previous configuration restored and the kubelet is healthy again"
                in (answer["error"])
            )
        assert flags.read_bytes() == OLD_FLAGS
        assert (
            live.read_bytes() == OLD_MANIFEST
        )  # no manifest is written after a failed kubelet change
        assert kubelet.active and kubelet.flags == OLD_FLAGS  # running on the old flags
    assert_no_temporaries(tree_root)


def test_a_failed_write_after_a_kubelet_change_restores_the_kubelet(tree_root):
    """A transaction is the kubelet's change and the manifests together: a manifest that
    cannot be written puts the kubelet's file back and restarts it on the old flags."""
    flags = tree_root / "etc" / "kubelet-flags"
    live = tree_root / "manifests" / "static-web.yaml"
    kubelet = Kubelet(flags)
    node = make_node(
        tree_root,
        fs=failing_fs(tree_root, ("rename", MANIFEST)),
        systemd=kubelet,
        healthz=kubelet.healthy,
        runtime=FakeRuntime(script=pods_from_disk(live, RUNNING)),
    )
    change = {
        "unit": "kubelet",
        "files": [
            {"path": str(flags), "content": NEW_FLAGS.decode(), "expected_sha256": sha(OLD_FLAGS)}
        ],
        "timeout": 20,
        "flag": ["--pod-manifest-path", "/new"],
    }
    answer = handle(request(tree_root, change), node)
    assert not answer["ok"]
    assert "(injected at rename)" in answer["error"]
    assert (
        "the kubelet's previous configuration was restored (and the kubelet restarted)"
        in (answer["error"])
    )
    assert flags.read_bytes() == OLD_FLAGS and kubelet.flags == OLD_FLAGS
    assert kubelet.restarts == ["kubelet", "kubelet"]  # the change, and the way back
    assert live.read_bytes() == OLD_MANIFEST
    assert not (tree_root / "state" / "journal.json").exists()
    assert_no_temporaries(tree_root)


def test_a_restart_that_leaves_the_kubelet_on_another_directory_is_undone(tree_root):
    """A restart-only change (completing a pending one) has no flag to check: the running
    kubelet's directory is checked instead, and a kubelet on another one is undone."""
    flags = tree_root / "etc" / "kubelet-flags"
    flags.write_bytes(b"--pod-manifest-path=/elsewhere\n")
    kubelet = Kubelet(flags)
    live = tree_root / "manifests" / "static-web.yaml"
    node = make_node(
        tree_root,
        systemd=kubelet,
        healthz=kubelet.healthy,
        runtime=FakeRuntime(script=pods_from_disk(live, RUNNING)),
    )
    change = {"unit": "kubelet", "files": [], "timeout": 20, "expect_dir": "/wanted"}
    answer = handle(request(tree_root, change), node)
    assert not answer["ok"]
    assert "the restarted kubelet watches /elsewhere instead of /wanted" in answer["error"]
    assert live.read_bytes() == OLD_MANIFEST  # no manifest is written


def test_a_crashed_pods_result_carries_what_its_container_wrote_last(tree_root):
    """exit code 1 comes with why: the agent reads the crashed container's output (from the
    runtime that listed it) into the pod's result, and the rollback keeps it there."""
    live = tree_root / "manifests" / "static-web.yaml"
    runtime = FakeRuntime(script=pods_from_disk(live, FAILED))
    runtime.outputs["new-web"] = (["starting", "config: no such file /etc/web.conf"], False)
    runtime.outputs["old-web"] = (["the old pod's line"], False)
    answer = handle(request(tree_root), make_node(tree_root, runtime=runtime))
    result = answer["pods"][0]
    assert not result["ok"] and result["rolled_back"], result
    assert "exit code 1" in result["error"]
    assert result["output"] == [
        {
            "container": "web",
            "lines": ["starting", "config: no such file /etc/web.conf"],
            "cut": False,
        }
    ]
    assert live.read_bytes() == OLD_MANIFEST


def test_a_running_pods_result_carries_no_output(tree_root):
    live = tree_root / "manifests" / "static-web.yaml"
    runtime = FakeRuntime(script=pods_from_disk(live, RUNNING))
    runtime.outputs["new-web"] = (["hello"], False)
    answer = handle(request(tree_root), make_node(tree_root, runtime=runtime))
    assert answer["pods"][0]["ok"] and "output" not in answer["pods"][0], answer
