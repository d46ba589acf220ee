"""The agent reads and writes as root in directories others may reach: only regular files
are opened, reads are capped, temporary names cannot be guessed or pre-created, and
manifest directories others can write are refused. Also: bytes of configuration files
survive the trip to the control host and back, stray JSON does not break facts, and a run
waits only for the content it planned from."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from spctl_agent.facts import dir_listing, guess_pod_name
from spctl_agent.main import handle
from spctl_agent.protocol import STALE_PLAN
from spctl_agent.system import files
from spctl_agent.system.lock import NodeLock

from spctl.operations import _sha
from tests.unit.agent_fakes import FakeClock, FakeRuntime, make_node, pod

WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def no_hang():
    """Fail instead of hanging when something opens a FIFO for reading."""

    def fail(*_):
        raise AssertionError("blocked")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_fifos_devices_and_symlinks_are_listed_by_type_never_read(tmp_path, no_hang):
    d = tmp_path / "manifests"
    d.mkdir(mode=0o755)
    os.mkfifo(d / "fifo.yaml")
    (d / "zero.yaml").symlink_to("/dev/zero")
    (d / "web.yaml").write_bytes(WEB)
    listing = dir_listing(str(d), str(tmp_path))
    by_name = {e["name"]: e for e in listing["entries"]}
    assert by_name["fifo.yaml"] == {"name": "fifo.yaml", "type": "fifo"}
    assert by_name["zero.yaml"] == {"name": "zero.yaml", "type": "symlink"}
    assert by_name["web.yaml"]["sha256"] == sha(WEB)
    assert listing["unsafe"] is None


def test_dev_as_a_manifest_directory_is_listed_without_reading_a_device(no_hang):
    listing = dir_listing("/dev")
    types = {e["name"]: e["type"] for e in listing["entries"]}
    assert types["zero"] == "char-device" and types["null"] == "char-device"
    assert all("sha256" not in e for e in listing["entries"] if e["type"] != "file")


def test_reads_refuse_what_is_not_a_regular_file_and_stop_past_the_limit(tmp_path, no_hang):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/zero")
    (tmp_path / "big").write_bytes(b"x" * (files.MAX_READ + 100))
    with pytest.raises(files.NotRegularFile) as fifo:
        files.read_bytes(str(tmp_path / "fifo"))
    assert fifo.value.kind == "fifo"
    with pytest.raises(files.NotRegularFile) as link:
        files.read_bytes(str(tmp_path / "link"))
    assert link.value.kind == "symlink"
    with pytest.raises(files.NotRegularFile):  # followed, a device is still not a file
        files.read_file(str(tmp_path / "link"), follow=True)
    with pytest.raises(files.TooLarge):
        files.read_bytes(str(tmp_path / "big"))
    assert files.read_text(str(tmp_path / "fifo")) is None
    assert files.read_bytes(str(tmp_path / "absent")) is None


def test_temporary_files_cannot_be_predicted_or_planted(tmp_path):
    live = str(tmp_path / "web.yaml")
    names = {files.temporary_path(live) for _ in range(50)}
    assert len(names) == 50 and all(files.is_temporary(os.path.basename(n)) for n in names)
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's file\n")
    planted = tmp_path / "planted"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):  # O_EXCL: not through a planted link
        files.REAL.create(str(planted), 0o644)
    assert victim.read_bytes() == b"root's file\n"
    old = os.umask(0o077)
    try:
        files.atomic_write(live, WEB, 0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "web.yaml").stat().st_mode & 0o777 == 0o644  # fchmod, not umask


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


def test_tmp_itself_is_refused_sticky_bit_or_not():
    problem = files.unsafe_directory("/tmp/pods")
    assert problem is not None and problem.startswith("/tmp is owned by root with mode 1777")


@pytest.mark.parametrize(
    "data",
    [b'{"metadata": []}', b"[1, 2]", b'{"metadata": {"name": 5}}', b'"x"', b"null"],
)
def test_stray_json_in_a_listed_directory_does_not_break_facts(tmp_path, data):
    assert guess_pod_name(data) is None
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "stray.json").write_bytes(data)
    answer = handle({"op": "facts", "manifest_dirs": [str(d)]}, make_node(tmp_path))
    assert answer["ok"], answer
    assert answer["dirs"][str(d)]["entries"][0]["sha256"] == sha(data)


def test_a_non_utf8_byte_in_an_environment_file_survives_the_round_trip(tmp_path):
    env = tmp_path / "kubelet-env"
    raw = b"# caf\xe9 (latin-1)\nKUBELET_EXTRA_ARGS=--a=1\n"
    env.write_bytes(raw)
    facts = handle({"op": "facts", "read": [str(env)]}, make_node(tmp_path))
    text = json.loads(json.dumps(facts))["files"][str(env)]  # as the control host gets it
    assert _sha(text) == sha(raw)  # so the expected sha matches the node's file
    new_text = text.replace("--a=1", "--a=1 --pod-manifest-path=/x")
    request = json.loads(
        json.dumps(
            {
                "op": "apply",
                "node_name": "n1",
                "kubelet": {
                    "unit": "kubelet",
                    "timeout": 10,
                    "files": [
                        {"path": str(env), "content": new_text, "expected_sha256": _sha(text)}
                    ],
                },
            }
        )
    )
    answer = handle(request, make_node(tmp_path))
    assert answer["ok"], answer
    assert env.read_bytes() == raw.replace(b"--a=1", b"--a=1 --pod-manifest-path=/x")


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
