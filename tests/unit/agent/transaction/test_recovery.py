"""The agent SIGKILLed at each step of a transaction, in a process of its own, then run again.

``tests.fakes.crashing_agent`` runs the real agent against a temporary tree whose kubelet
and runtime live in files, and kills its own process right after a step: the journal written, the
kubelet's file edited, the kubelet restarted, a manifest written, during the wait, and
after the journal recorded success. The next run (a read-only facts call, as `spctl status`
makes, or an apply) must find the journal and leave a consistent node: the kubelet's file
and the running kubelet as before, every manifest as before, the previous pods running with
their UIDs, no journal and no temporary file; or, after success, the change completed.

With a pod's files: killed after a file is written and before the manifest, after the
manifest, during the wait, and while the undo puts a file back; the next run puts every
file back (bytes, mode, owner), removes the file and the directory the change created, and
restores the ownership records; a run killed after success is completed, files included.

The transaction is the hardest one spctl makes: the kubelet moves from ROOT/manifests to
ROOT/new, pod web is updated on the way, and pod api, which spctl also owns, moves with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from spctl_agent.protocol import messages

from tests.fakes.crashing_agent import Tree
from tests.fakes.pod_files import NEW_CONF, OLD_CONF, SECRET, write

REPO = Path(__file__).resolve().parents[4]
OLD_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# v1\n"
NEW_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# v2\n"
CRASHING_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# v2 crash\n"
API = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\n"
OLD_FLAGS = b"--a=1\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(root: Path, request: dict, kill_at: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.fakes.crashing_agent", str(root), kill_at],
        input=json.dumps(request).encode(),
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kubelet-flags").write_bytes(OLD_FLAGS)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "web.yaml").write_bytes(OLD_WEB)
    (tmp_path / "manifests" / "api.yaml").write_bytes(API)
    (tmp_path / "state").mkdir()
    owned = {
        str(tmp_path / "manifests" / "web.yaml"): {"pod": "web", "sha256": sha(OLD_WEB)},
        str(tmp_path / "manifests" / "api.yaml"): {"pod": "api", "sha256": sha(API)},
    }
    (tmp_path / "state" / "state.json").write_text(json.dumps({"manifests": owned}))
    (tmp_path / "kubelet.json").write_text(json.dumps({"flags": ["--a=1"], "pid": 100}))
    return tmp_path


def move_request(root: Path, web: bytes = NEW_WEB) -> dict:
    new = str(root / "new")
    return {
        "op": "apply",
        "node_name": "n1",
        "manifest_dir": new,
        "holder": "crash test",
        "timeout": 20,
        "stable_for": 1,
        "kubelet": {
            "unit": "kubelet",
            "files": [
                {
                    "path": str(root / "etc" / "kubelet-flags"),
                    "content": f"--a=1 --pod-manifest-path={new}\n",
                    "expected_sha256": sha(OLD_FLAGS),
                }
            ],
            "timeout": 10,
            "flag": ["--pod-manifest-path", new],
        },
        "changes": [
            {
                "pod": "web",
                "action": "create",
                "file": "web.yaml",
                "content": web.decode(),
                "expected_sha256": None,
                "from_path": str(root / "manifests" / "web.yaml"),
                "from_sha256": sha(OLD_WEB),
            },
            {
                "pod": "api",
                "action": "move",
                "file": "api.yaml",
                "expected_sha256": None,
                "from_path": str(root / "manifests" / "api.yaml"),
                "from_sha256": sha(API),
            },
        ],
    }


def uids(root: Path) -> dict[str, str]:
    return {p["pod"]: p["uid"] for p in Tree(str(root)).pods() if p["phase"] == "Running"}


def files_in(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def assert_as_before(root: Path, before_uids: dict[str, str]) -> None:
    assert (root / "etc" / "kubelet-flags").read_bytes() == OLD_FLAGS
    assert Tree(str(root)).kubelet()["flags"] == ["--a=1"]  # the running kubelet too
    assert files_in(root / "manifests") == {"web.yaml": OLD_WEB, "api.yaml": API}
    assert files_in(root / "new") == {}  # no manifest, no temporary file
    assert uids(root) == before_uids  # the previous pods, with their UIDs
    owned = json.loads((root / "state" / "state.json").read_text())["manifests"]
    assert sorted(owned) == sorted(str(root / "manifests" / f) for f in ("web.yaml", "api.yaml"))
    assert not (root / "state" / "journal.json").exists()


@pytest.mark.parametrize("step", ["journal", "kubelet-edit", "restart", "write", "wait"])
@pytest.mark.parametrize("next_run", ["facts", "apply"])
def test_killed_transaction_is_rolled_back_by_the_next_run(root, step, next_run):
    before = uids(root)
    assert set(before) == {"web-n1", "api-n1"}
    killed = run(root, move_request(root), step)
    assert killed.returncode == -9, killed.stderr.decode()
    assert killed.stdout == b""
    assert (root / "state" / "journal.json").exists()
    if next_run == "facts":
        answer = json.loads(run(root, {"op": "facts"}).stdout)
    else:  # a deploy that changes nothing but waits for web: it recovers first
        answer = json.loads(
            run(
                root,
                {
                    "op": "apply",
                    "node_name": "n1",
                    "manifest_dir": str(root / "manifests"),
                    "timeout": 10,
                    "stable_for": 1,
                    "changes": [],
                    "wait_running": [
                        {"pod": "web", "file": "web.yaml", "expected_sha256": sha(OLD_WEB)}
                    ],
                },
            ).stdout
        )
    assert answer["ok"], answer
    recovered = answer["recovered"]
    assert recovered["action"] == "rolled back" and recovered["ok"], recovered
    assert recovered["pods"] == ["api", "web"]
    assert_as_before(root, before)
    # And a third run finds nothing to do.
    assert json.loads(run(root, {"op": "facts"}).stdout)["recovered"] is None


def test_killed_after_success_is_completed_by_the_next_run(root):
    killed = run(root, move_request(root), "succeeded")
    assert killed.returncode == -9
    answer = json.loads(run(root, {"op": "facts"}).stdout)
    assert answer["recovered"]["action"] == "completed", answer["recovered"]
    new = root / "new"
    assert files_in(new) == {"web.yaml": NEW_WEB, "api.yaml": API}
    assert files_in(root / "manifests") == {}
    assert Tree(str(root)).kubelet()["flags"] == ["--a=1", f"--pod-manifest-path={new}"]
    owned = json.loads((root / "state" / "state.json").read_text())["manifests"]
    assert owned == {
        str(new / "web.yaml"): {"pod": "web", "sha256": sha(NEW_WEB)},
        str(new / "api.yaml"): {"pod": "api", "sha256": sha(API)},
    }
    assert set(uids(root)) == {"web-n1", "api-n1"}
    assert not (root / "state" / "journal.json").exists()


def test_directory_move_carries_its_pods(root):
    answer = json.loads(run(root, move_request(root)).stdout)
    assert answer["ok"] and answer["kubelet_restarted"], answer
    assert [(p["name"], p["ok"]) for p in answer["pods"]] == [("web", True), ("api", True)]
    assert files_in(root / "new") == {"web.yaml": NEW_WEB, "api.yaml": API}
    assert files_in(root / "manifests") == {}
    assert set(uids(root)) == {"web-n1", "api-n1"}  # api kept running, from its new place
    assert not (root / "state" / "journal.json").exists()


def test_failed_pod_after_a_directory_move_brings_the_previous_directory_back(root):
    """Moving the manifest directory, then a pod fails: the kubelet goes back to its
    previous directory (file and restart), so the previous pods run again."""
    before = uids(root)
    answer = json.loads(run(root, move_request(root, CRASHING_WEB)).stdout)
    assert answer["ok"], answer
    web, api = answer["pods"]
    assert (web["ok"], web["rolled_back"]) == (False, True)
    assert "the pod failed" in web["error"] and "after rollback" not in web["error"]
    assert (api["ok"], api["rolled_back"]) == (False, True)
    assert api["error"] == "undone with the rest of the transaction"
    assert answer["kubelet_restored"] is True
    assert_as_before(root, before)


API_AS_WRITTEN = API + b"# as spctl wrote it, before a hand edit\n"


@pytest.mark.parametrize("kill_at", ["", "succeeded", "write"])
def test_a_moved_pod_that_changed_on_node_stays_changed_on_node(root, kill_at):
    """api changed on the node since spctl wrote it (its bytes are not the recorded sha):
    the move carries the node's bytes, and its ownership record keeps the sha spctl wrote,
    so at its new place it is still changed on node (status says so, deploy refuses it)
    rather than taken for spctl's own. Completed after a kill, the same; rolled back, the
    record is as it was."""
    state = root / "state" / "state.json"
    owned = json.loads(state.read_text())
    record = {"pod": "api", "sha256": sha(API_AS_WRITTEN)}
    owned["manifests"][str(root / "manifests" / "api.yaml")] = record
    state.write_text(json.dumps(owned))
    done = run(root, move_request(root), kill_at)
    if kill_at:
        assert done.returncode == -9
        assert json.loads(run(root, {"op": "facts"}).stdout)["ok"]
    owned = json.loads(state.read_text())["manifests"]
    if kill_at == "write":  # rolled back: where it was, with its record as it was
        assert files_in(root / "manifests")["api.yaml"] == API
        assert owned[str(root / "manifests" / "api.yaml")] == record
        assert str(root / "new" / "api.yaml") not in owned
        return
    assert files_in(root / "new")["api.yaml"] == API
    assert owned[str(root / "new" / "api.yaml")] == record
    assert str(root / "manifests" / "api.yaml") not in owned
    # web, written by this change, is recorded with what was written.
    assert owned[str(root / "new" / "web.yaml")] == {"pod": "web", "sha256": sha(NEW_WEB)}


def test_deploy_force_over_a_retired_file_that_changed_on_node_keeps_it_in_the_backups(root):
    """`deploy --force` with a directory move: web's old file, which changed on the node
    since spctl wrote it, is retired for the rendering in the new directory. As with any
    --force, the node's version is kept in the backups (spctl rollback brings it back)."""
    edited = OLD_WEB + b"# edited on the node\n"
    (root / "manifests" / "web.yaml").write_bytes(edited)
    request = move_request(root)
    request["changes"][0]["from_sha256"] = sha(edited)  # planned from the file now
    answer = json.loads(run(root, request).stdout)
    assert answer["ok"], answer
    assert files_in(root / "new")["web.yaml"] == NEW_WEB
    assert files_in(root / "manifests") == {}
    assert list(files_in(root / "state" / "backups" / "manifests" / "web").values()) == [edited]
    # api's bytes moved as they are: nothing of them to keep.
    assert not (root / "state" / "backups" / "manifests" / "api").exists()


# -- a pod's files: killed between a file and the manifest, after the manifest, in the undo


def with_pod_files(root: Path) -> dict:
    """web reads ROOT/etc/app/app.conf (0640 root:daemon, spctl's); the request updates
    web, changes app.conf (0600 daemon) and adds a secret in a new directory."""
    conf = root / "etc" / "app" / "app.conf"
    conf.parent.mkdir(parents=True)
    conf.write_bytes(OLD_CONF)
    os.chown(conf, 0, 1)
    os.chmod(conf, 0o640)
    state = root / "state" / "state.json"
    owned = json.loads(state.read_text())
    owned["files"] = {str(conf): {"pod": "web", "sha256": sha(OLD_CONF)}}
    state.write_text(json.dumps(owned))
    return owned


def pod_files_request(root: Path, web: bytes) -> dict:
    conf = str(root / "etc" / "app" / "app.conf")
    key = str(root / "etc" / "app" / "tls.d" / "tls.key")
    files = [
        write(conf, NEW_CONF, sha(OLD_CONF), mode=0o600, owner="daemon"),
        write(key, SECRET, None, mode=0o400, secret=True),
    ]
    change = messages.pod_change(
        pod="web",
        action="update",
        file="web.yaml",
        content=web.decode(),
        expected_sha256=sha(OLD_WEB),
        files=files,
    )
    return messages.apply_request(
        node_name="n1",
        manifest_dir=str(root / "manifests"),
        holder="crash test",
        timeout=20,
        stable_for=1,
        changes=[change],
    )


def pod_files_as_before(root: Path, owned: dict) -> None:
    conf = root / "etc" / "app" / "app.conf"
    st = os.lstat(conf)
    assert conf.read_bytes() == OLD_CONF
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 1)
    assert sorted(os.listdir(root / "etc" / "app")) == ["app.conf"]  # no key, no tls.d
    assert json.loads((root / "state" / "state.json").read_text())["files"] == owned["files"]


# journal; pod-file: app.conf written, the manifest not yet; write: the manifest written
# after the files; wait; undo: the pod failed, killed while putting app.conf back.
@pytest.mark.parametrize("step", ["journal", "pod-file", "write", "wait", "undo"])
@pytest.mark.parametrize("next_run", ["facts", "apply"])
def test_killed_with_pod_files_is_rolled_back_by_the_next_run(root, step, next_run):
    web = CRASHING_WEB if step == "undo" else NEW_WEB
    owned = with_pod_files(root)
    before = uids(root)
    killed = run(root, pod_files_request(root, web), step)
    assert killed.returncode == -9, killed.stderr.decode()
    journal = (root / "state" / "journal.json").read_text()
    assert "TOPSECRET" not in journal
    if step == "pod-file":
        assert (root / "etc" / "app" / "app.conf").read_bytes() == NEW_CONF
        assert (root / "manifests" / "web.yaml").read_bytes() == OLD_WEB
    if next_run == "facts":
        answer = json.loads(run(root, messages.facts_request()).stdout)
    else:
        request = messages.apply_request(
            node_name="n1",
            manifest_dir=str(root / "manifests"),
            timeout=10,
            stable_for=1,
            wait_running=[
                messages.wait_for(pod="web", file="web.yaml", expected_sha256=sha(OLD_WEB))
            ],
        )
        answer = json.loads(run(root, request).stdout)
    assert answer["ok"], answer
    recovered = answer["recovered"]
    assert recovered["action"] == "rolled back" and recovered["ok"], recovered
    assert recovered["pods"] == ["web"]
    assert_as_before(root, before)
    pod_files_as_before(root, owned)
    assert json.loads(run(root, messages.facts_request()).stdout)["recovered"] is None


def test_killed_with_pod_files_after_success_is_completed(root):
    with_pod_files(root)
    killed = run(root, pod_files_request(root, NEW_WEB), "succeeded")
    assert killed.returncode == -9
    answer = json.loads(run(root, messages.facts_request()).stdout)
    assert answer["recovered"]["action"] == "completed", answer["recovered"]
    conf = str(root / "etc" / "app" / "app.conf")
    key = str(root / "etc" / "app" / "tls.d" / "tls.key")
    assert Path(conf).read_bytes() == NEW_CONF and Path(key).read_bytes() == SECRET
    assert json.loads((root / "state" / "state.json").read_text())["files"] == {
        conf: {"pod": "web", "sha256": sha(NEW_CONF)},
        key: {"pod": "web", "sha256": sha(SECRET)},
    }
    assert files_in(root / "manifests")["web.yaml"] == NEW_WEB
