"""A pod's files in its transaction (agent/transaction/file_change.py, manifest_change.py,
apply.py): written before the manifest with their mode and owner, backed up, recorded as
spctl's, removed after the pod is gone, and, at every step that can fail, the node left as
it was: files, modes, owners, ownership records and manifest.

Driven through the agent's entry point with requests built by protocol.messages, on a
temporary tree (tests/fakes/pod_files.py) whose runtime runs the pod the manifest on disk
describes and remembers what the pod's file held when each pod started.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from spctl_agent.main import handle
from spctl_agent.protocol import messages
from spctl_agent.system.files import FileSystem, is_temporary

from tests.fakes.agent_node import FailingFileSystem, make_node, tree
from tests.fakes.pod_files import (
    CRASHING_WEB,
    NEW_CONF,
    NEW_WEB,
    OLD_CONF,
    OLD_WEB,
    SECRET,
    PodRuntime,
    apply,
    conf_path,
    key_path,
    make_tree,
    removal,
    sha,
    snapshot,
    the_usual_files,
    update,
    write,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_tree(tmp_path)
    return tmp_path


def run(root: Path, request: dict, fs=None, runtime=None) -> tuple[dict, PodRuntime]:
    runtime = runtime or PodRuntime(root)
    answer = handle(request, make_node(root, fs=fs, runtime=runtime))
    assert "TOPSECRET" not in json.dumps(answer)
    return answer, runtime


def no_temporaries(root: Path) -> None:
    assert [p for p in tree(root) if is_temporary(Path(p).name)] == []


class Renames(FileSystem):
    """The real file system, keeping the live path of every rename and unlink in order."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def rename(self, src, dst):
        super().rename(src, dst)
        self.done.append(dst)

    def unlink(self, path):
        super().unlink(path)
        self.done.append(path)


def test_files_are_written_before_the_manifest_with_their_mode_and_owner(root):
    renames = Renames()
    answer, runtime = run(root, update(root, the_usual_files(root)), fs=renames)
    assert answer["ok"] and answer["pods"][0]["ok"], answer
    live = [conf_path(root), key_path(root), str(root / "manifests" / "web.yaml")]
    assert [p for p in renames.done if p in live] == live  # the files, then the manifest
    assert (root / "manifests" / "web.yaml").read_bytes() == NEW_WEB
    # The new pod started with its file in place; the old one had the old file.
    assert runtime.started == {sha(OLD_WEB)[:8]: OLD_CONF, sha(NEW_WEB)[:8]: NEW_CONF}
    conf = os.lstat(conf_path(root))
    assert Path(conf_path(root)).read_bytes() == NEW_CONF
    assert (stat.S_IMODE(conf.st_mode), conf.st_uid, conf.st_gid) == (0o600, 1, 65534)
    key = os.lstat(key_path(root))
    assert Path(key_path(root)).read_bytes() == SECRET
    assert (stat.S_IMODE(key.st_mode), key.st_uid, key.st_gid) == (0o400, 0, 1)
    made = os.lstat(os.path.dirname(key_path(root)))  # the missing parent: 0755, root's
    assert (stat.S_IMODE(made.st_mode), made.st_uid) == (0o755, 0)
    owned = json.loads((root / "state" / "state.json").read_text())["files"]
    assert owned == {
        conf_path(root): {"pod": "web", "sha256": sha(NEW_CONF)},
        # A secret's record says so: its text is never read back for a diff.
        key_path(root): {"pod": "web", "sha256": sha(SECRET), "secret": True},
    }
    # The previous app.conf is kept with the previous manifest, under one stamp, 0600.
    (manifest_backup,) = os.listdir(root / "state" / "backups" / "manifests" / "web")
    sets = root / "state" / "backups" / "files" / "web"
    (stamp,) = os.listdir(sets)
    assert manifest_backup == stamp + ".yaml"
    kept = {
        p: (b, os.lstat(sets / stamp / p).st_mode & 0o777) for p, b in tree(sets / stamp).items()
    }
    assert kept["0"] == (OLD_CONF, 0o600)
    index = json.loads(kept["index.json"][0])["files"]
    assert [(e["path"], e["existed"]) for e in index] == [
        (conf_path(root), True),
        (key_path(root), False),
    ]
    assert (index[0]["mode"], index[0]["uid"], index[0]["gid"]) == (0o640, 0, 1)
    assert not (root / "state" / "journal.json").exists()
    no_temporaries(root)


def test_a_pod_that_fails_brings_back_its_previous_files_and_manifest(root):
    before = snapshot(root)
    renames = Renames()
    answer, runtime = run(root, update(root, the_usual_files(root), CRASHING_WEB), fs=renames)
    live = [conf_path(root), key_path(root), str(root / "manifests" / "web.yaml")]
    # Written: the files, then the manifest; undone: the files (the last first), then the
    # manifest, so the previous pod starts on its previous files.
    assert [p for p in renames.done if p in live] == live + [live[1], live[0], live[2]]
    assert answer["ok"], answer
    result = answer["pods"][0]
    assert (result["ok"], result["rolled_back"]) == (False, True)
    assert "the pod failed" in result["error"] and "after rollback" not in result["error"]
    assert "errors" not in answer
    # The failed pod had its new file; the previous pod runs again on the previous one.
    assert runtime.started[sha(CRASHING_WEB)[:8]] == NEW_CONF
    assert snapshot(root) == before  # the created key and its directory are gone too
    assert not (root / "state" / "journal.json").exists()
    no_temporaries(root)


# name: (failing step, file (a tree path; "*part": any path with part), error in the answer)
FAILING_STEPS = {
    "backup of the file": ("write", "*backups/files", "cannot write"),
    "file: create (read-only directory)": ("create", "etc/app/app.conf", "(injected at create)"),
    "file: write (disk full)": ("write", "etc/app/app.conf", "(injected at write)"),
    "file: chown": ("fchown", "etc/app/app.conf", "(injected at fchown)"),
    "file: fsync": ("fsync", "etc/app/app.conf", "(injected at fsync)"),
    "file: rename": ("rename", "etc/app/app.conf", "(injected at rename)"),
    "parent directory": ("mkdir", "etc/app/tls.d", "(injected at mkdir)"),
    "second file": ("rename", "etc/app/tls.d/tls.key", "(injected at rename)"),
    "ownership record": ("rename", "*state.json", "cannot write"),
    "manifest after the files": ("rename", "manifests/web.yaml", "(injected at rename)"),
}


@pytest.mark.parametrize("case", FAILING_STEPS, ids=list(FAILING_STEPS))
def test_a_step_that_fails_leaves_the_node_as_it_was(root, case):
    step, where, error = FAILING_STEPS[case]
    if where.startswith("*"):
        fs = FailingFileSystem(step, where[1:], anywhere=True)
    else:
        fs = FailingFileSystem(step, str(root / where))
    before = snapshot(root)
    answer, _ = run(root, update(root, the_usual_files(root)), fs=fs)
    assert not answer["ok"], answer
    assert error in answer["error"] and "nothing was changed" in answer["error"], answer
    assert "TOPSECRET" not in answer["error"]
    assert snapshot(root) == before
    assert not (root / "state" / "journal.json").exists()
    no_temporaries(root)


def test_a_file_changed_since_the_plan_refuses_the_whole_change(root):
    Path(conf_path(root)).write_bytes(b"edited on the node\n")
    before = snapshot(root)
    answer, runtime = run(root, update(root, the_usual_files(root)))
    assert not answer["ok"]
    assert answer["error"] == f"{conf_path(root)} changed on the node since spctl read it; rerun"
    assert snapshot(root) == before  # not even the key, whose check passed
    assert runtime.reads == 0 and not (root / "state" / "journal.json").exists()


def test_a_file_that_appeared_since_the_plan_is_refused(root):
    os.mkdir(os.path.dirname(key_path(root)))
    Path(key_path(root)).write_bytes(b"someone else's\n")
    before = snapshot(root)
    answer, _ = run(root, update(root, the_usual_files(root)))
    assert not answer["ok"] and "tls.key changed on the node since spctl read it" in answer["error"]
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"owner": "no-such-user"}, "no user 'no-such-user' on this node"),
        ({"group": "no-such-group"}, "no group 'no-such-group' on this node"),
    ],
)
def test_an_unknown_owner_is_refused_before_any_write(root, fields, error):
    before = snapshot(root)
    files = [write(conf_path(root), NEW_CONF, sha(OLD_CONF), **fields)]
    answer, _ = run(root, update(root, files))
    assert not answer["ok"]
    assert answer["error"] == (
        f"pod web, file {conf_path(root)}: {error}; create it first or name another"
    )
    assert snapshot(root) == before


def test_what_is_not_a_regular_file_is_never_written_through(root):
    target = root / "elsewhere"
    target.write_bytes(b"not the pod's\n")
    os.unlink(conf_path(root))
    os.symlink(target, conf_path(root))
    before = snapshot(root)
    answer, _ = run(root, update(root, [write(conf_path(root), NEW_CONF, None)]))
    assert not answer["ok"]
    assert "the node has a symlink there, not a regular file" in answer["error"]
    assert snapshot(root) == before and target.read_bytes() == b"not the pod's\n"


def test_a_file_on_the_node_too_large_to_read_is_refused_and_still_hashed_in_facts(root):
    big = b"x" * (10 * 1024 * 1024 + 1)
    Path(conf_path(root)).write_bytes(big)
    before = snapshot(root)
    answer, _ = run(root, update(root, [write(conf_path(root), NEW_CONF, sha(big))]))
    assert not answer["ok"]
    assert "the node's file is over 10485760 bytes, more than spctl reads" in answer["error"]
    assert snapshot(root) == before
    facts = handle(messages.facts_request(pod_files=[conf_path(root)]), make_node(root))
    state = messages.read_facts_answer(facts)["pod_files"][conf_path(root)]
    assert (state["sha256"], state["size"]) == (sha(big), len(big))


@pytest.mark.parametrize("where", ["manifests/web.conf", "state/x.conf", "/proc/x", "/dev/x"])
def test_paths_the_kubelet_or_spctl_use_are_refused(root, where):
    path = where if where.startswith("/") else str(root / where)
    before = snapshot(root)
    answer, _ = run(root, update(root, [write(path, NEW_CONF, None)]))
    assert not answer["ok"] and "refusing a path inside" in answer["error"], answer
    assert snapshot(root) == before


def test_a_parent_that_links_into_the_manifest_directory_is_refused(root):
    """The path's text is not the place: a parent that is a symbolic link into the kubelet's
    directory would make the file a pod the kubelet parses."""
    os.symlink(root / "manifests", root / "etc" / "web")
    before = snapshot(root)
    answer, _ = run(
        root, update(root, [write(str(root / "etc" / "web" / "evil.yaml"), NEW_CONF, None)])
    )
    assert not answer["ok"] and "refusing a path inside" in answer["error"], answer
    assert snapshot(root) == before
    os.makedirs(root / "srv" / "real")
    os.symlink(root / "srv" / "real", root / "etc" / "linked")
    answer, _ = run(
        root, update(root, [write(str(root / "etc" / "linked" / "a.conf"), NEW_CONF, None)])
    )
    assert not answer["ok"] and "a parent directory is a symbolic link" in answer["error"], answer
    assert not (root / "srv" / "real" / "a.conf").exists()


def test_an_id_beyond_32_bits_is_refused_in_words(root):
    before = snapshot(root)
    change = write(conf_path(root), NEW_CONF, sha(OLD_CONF))
    change["owner"] = "4294967296"
    answer, _ = run(root, update(root, [change]))
    assert not answer["ok"] and "beyond 4294967294" in answer["error"], answer
    assert snapshot(root) == before


def test_a_directory_others_can_write_is_refused(root):
    os.chmod(root / "etc" / "app", 0o777)
    before = snapshot(root)
    answer, _ = run(root, update(root, the_usual_files(root)))
    assert not answer["ok"]
    assert f"{root / 'etc' / 'app'} is owned by root with mode 0777" in answer["error"]
    assert snapshot(root) == before


def test_two_pods_may_not_write_one_file(root):
    one = messages.pod_change(
        pod="web",
        action="update",
        file="web.yaml",
        content=NEW_WEB.decode(),
        expected_sha256=sha(OLD_WEB),
        files=[write(conf_path(root), NEW_CONF, sha(OLD_CONF))],
    )
    other = messages.pod_change(
        pod="api",
        action="create",
        file="api.yaml",
        content="x",
        files=[write(conf_path(root), b"api's\n", sha(OLD_CONF))],
    )
    before = snapshot(root)
    answer, _ = run(root, apply(root, [one, other]))
    assert not answer["ok"] and "is a file of both pod web and pod api" in answer["error"]
    assert snapshot(root) == before


def test_a_file_another_pod_owns_is_refused(root):
    state = json.loads((root / "state" / "state.json").read_text())
    state["files"][conf_path(root)]["pod"] = "api"
    (root / "state" / "state.json").write_text(json.dumps(state))
    before = snapshot(root)
    answer, _ = run(root, update(root, the_usual_files(root)))
    assert not answer["ok"]
    assert (
        f"file {conf_path(root)}: it is pod api's file; one file belongs to one pod"
        in (answer["error"])
    )
    assert snapshot(root) == before


def test_a_path_that_cannot_be_looked_at_is_other_in_the_facts(root):
    loop = root / "loop"
    os.symlink(loop, loop)
    path = str(loop / "x.conf")
    answer = handle(messages.facts_request(pod_files=[path]), make_node(root))
    assert answer["ok"], answer
    state = messages.read_facts_answer(answer)["pod_files"][path]
    assert (state["exists"], state["type"]) == (True, "other")


class SeeingRuntime(PodRuntime):
    """Remembers whether app.conf was still there when the pod was first seen gone."""

    def read(self):
        answer = super().read()
        if not answer["pods"] and not hasattr(self, "conf_when_gone"):
            self.conf_when_gone = os.path.exists(conf_path(self.root))
        return answer


def remove_request(root: Path) -> dict:
    change = messages.pod_change(
        pod="web",
        action="remove",
        file="web.yaml",
        expected_sha256=sha(OLD_WEB),
        files=[removal(conf_path(root), sha(OLD_CONF))],
    )
    return apply(root, [change])


def test_remove_takes_the_files_away_after_the_pod_is_gone(root):
    runtime = SeeingRuntime(root)
    answer, _ = run(root, remove_request(root), runtime=runtime)
    assert answer["ok"] and answer["pods"][0]["ok"], answer
    assert runtime.conf_when_gone is True  # the pod went while its file was still there
    assert not (root / "manifests" / "web.yaml").exists()
    assert not os.path.exists(conf_path(root))
    state = json.loads((root / "state" / "state.json").read_text())
    assert state["files"] == {} and state["manifests"] == {}
    sets = root / "state" / "backups" / "files" / "web"
    (stamp,) = os.listdir(sets)
    assert (sets / stamp / "0").read_bytes() == OLD_CONF


def test_a_removal_that_fails_brings_the_pod_and_its_files_back(root):
    before = snapshot(root)
    fs = FailingFileSystem("unlink", conf_path(root))
    answer, runtime = run(root, remove_request(root), fs=fs)
    assert answer["ok"], answer
    result = answer["pods"][0]
    assert (result["ok"], result["rolled_back"]) == (False, True)
    assert result["error"].startswith(f"cannot remove {conf_path(root)}: No space left")
    assert "after rollback" not in result["error"]  # the previous pod runs again
    assert snapshot(root) == before


def test_an_undo_that_cannot_restore_a_file_says_so(root):
    """The pod fails; putting app.conf back fails: the answer names the file, the
    manifest is still put back, and nothing claims the node is as before."""
    fs = FailingFileSystem("rename", conf_path(root), n=2)  # the write, then the undo's
    answer, _ = run(root, update(root, the_usual_files(root), CRASHING_WEB), fs=fs)
    assert answer["ok"], answer
    assert answer["errors"] == [
        f"could not restore {conf_path(root)}: No space left on device (injected at rename)"
    ]
    assert (root / "manifests" / "web.yaml").read_bytes() == OLD_WEB
    assert not os.path.exists(key_path(root))  # the other file was undone


class ManifestAndUndoFail(FailingFileSystem):
    """The manifest's rename fails, and so does the undo's rename of app.conf."""

    def __init__(self, root: Path) -> None:
        super().__init__("rename", conf_path(root), n=2)
        self.manifest = str(root / "manifests" / "web.yaml")

    def rename(self, src, dst):
        if dst == self.manifest:
            raise OSError(28, "No space left on device (injected at rename)", dst)
        super().rename(src, dst)


def test_a_failed_write_whose_undo_fails_does_not_claim_nothing_changed(root):
    answer, _ = run(root, update(root, the_usual_files(root)), fs=ManifestAndUndoFail(root))
    assert not answer["ok"]
    assert "nothing was changed" not in answer["error"], answer["error"]
    assert f"the change was undone except: could not restore {conf_path(root)}" in answer["error"]
    assert (root / "manifests" / "web.yaml").read_bytes() == OLD_WEB
    assert not os.path.exists(key_path(root))


class JournalReader(FileSystem):
    """Keeps every version of the journal the agent writes."""

    def __init__(self, journal: str) -> None:
        self.journal = journal
        self.texts: list[str] = []

    def rename(self, src, dst):
        super().rename(src, dst)
        if dst == self.journal:
            self.texts.append(Path(dst).read_text())


def test_a_secret_is_never_in_the_journal_an_answer_or_an_error(root):
    reader = JournalReader(str(root / "state" / "journal.json"))
    answer, _ = run(root, update(root, the_usual_files(root), CRASHING_WEB), fs=reader)
    assert reader.texts and not any("TOPSECRET" in t for t in reader.texts)
    import base64

    encoded = base64.b64encode(SECRET).decode()
    assert not any(encoded[:20] in t for t in reader.texts)
    entry = json.loads(reader.texts[0])["pod_files"][1]
    assert entry["secret"] is True and entry["before_sha256"] is None
    assert entry["after_sha256"] == sha(SECRET)
    # A write that fails says where, never what.
    fs = FailingFileSystem("write", key_path(root))
    answer, _ = run(root, update(root, the_usual_files(root)), fs=fs)
    assert not answer["ok"] and key_path(root) in answer["error"]


def test_backups_of_a_secret_are_readable_by_root_only(root):
    assert run(root, update(root, the_usual_files(root)))[0]["ok"]
    # The key is changed again: its previous version goes to the backups, 0600 in 0700.
    later = messages.pod_change(
        pod="web",
        action="update",
        file="web.yaml",
        content=OLD_WEB.decode(),
        expected_sha256=sha(NEW_WEB),
        files=[write(key_path(root), b"another key\n", sha(SECRET), mode=0o440, secret=True)],
    )
    assert run(root, apply(root, [later]))[0]["ok"]
    top = root / "state" / "backups"
    assert stat.S_IMODE(os.lstat(root / "state").st_mode) == 0o700
    for directory, _dirs, names in os.walk(top / "files"):
        assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700, directory
        for name in names:
            assert stat.S_IMODE(os.lstat(os.path.join(directory, name)).st_mode) == 0o600
    assert SECRET in tree(top / "files" / "web").values()


def test_rollback_brings_back_the_files_kept_with_the_previous_manifest(root):
    before = snapshot(root)
    assert run(root, update(root, the_usual_files(root)))[0]["ok"]
    back = messages.pod_change(
        pod="web", action="rollback", file="web.yaml", expected_sha256=sha(NEW_WEB)
    )
    answer, runtime = run(root, apply(root, [back]))
    assert answer["ok"] and answer["pods"][0]["ok"], answer
    # app.conf as it was (0640 root:daemon), no key; the directory the key was put in
    # stays (its removal is a file's, not a directory's), empty.
    assert os.listdir(os.path.dirname(key_path(root))) == []
    os.rmdir(os.path.dirname(key_path(root)))
    assert snapshot(root) == before
    assert runtime.started[sha(OLD_WEB)[:8]] == OLD_CONF
    # And forward again: the rollback kept what it replaced.
    again = messages.pod_change(
        pod="web", action="rollback", file="web.yaml", expected_sha256=sha(OLD_WEB)
    )
    assert run(root, apply(root, [again]))[0]["ok"]
    assert Path(conf_path(root)).read_bytes() == NEW_CONF
    assert Path(key_path(root)).read_bytes() == SECRET


def test_rollback_refuses_a_file_changed_since_spctl_wrote_it(root):
    assert run(root, update(root, the_usual_files(root)))[0]["ok"]
    Path(conf_path(root)).write_bytes(b"hand edit\n")
    before = snapshot(root)
    back = messages.pod_change(
        pod="web", action="rollback", file="web.yaml", expected_sha256=sha(NEW_WEB)
    )
    answer, _ = run(root, apply(root, [back]))
    assert not answer["ok"]
    assert answer["error"] == (
        f"pod web, file {conf_path(root)}: the node's file is not the one spctl wrote (it "
        "changed on the node); nothing is rolled back"
    )
    assert snapshot(root) == before


def test_facts_give_each_pod_files_state_and_the_files_spctl_wrote(root):
    assert run(root, update(root, the_usual_files(root)))[0]["ok"]
    link = root / "etc" / "app" / "link.conf"
    os.symlink(conf_path(root), link)
    paths = [conf_path(root), key_path(root), str(link), str(root / "etc"), str(root / "none")]
    answer = handle(messages.facts_request(pod_files=paths), make_node(root))
    facts = messages.read_facts_answer(answer)
    states = facts["pod_files"]
    assert states[conf_path(root)] == {
        "exists": True,
        "type": "file",
        "sha256": sha(NEW_CONF),
        "size": len(NEW_CONF),
        "mode": 0o600,
        "owner": "daemon",
        "group": "nogroup",
        "uid": 1,
        "gid": 65534,
    }
    assert states[key_path(root)]["owner"] == "root" and states[key_path(root)]["group"] == "daemon"
    assert states[str(link)]["type"] == "symlink" and states[str(link)]["sha256"] is None
    assert states[str(root / "etc")]["type"] == "dir"
    assert states[str(root / "none")] == {
        "exists": False,
        "type": None,
        "sha256": None,
        "size": None,
        "mode": None,
        "owner": None,
        "group": None,
        "uid": None,
        "gid": None,
    }
    assert facts["owned_files"] == {
        conf_path(root): {"pod": "web", "sha256": sha(NEW_CONF)},
        # A secret's record says so: its text is never read back for a diff.
        key_path(root): {"pod": "web", "sha256": sha(SECRET), "secret": True},
    }
    assert "TOPSECRET" not in json.dumps(answer)


def test_an_unknown_owner_on_the_node_is_a_number_in_the_facts(root):
    os.chown(conf_path(root), 4242, 4343)
    answer = handle(messages.facts_request(pod_files=[conf_path(root)]), make_node(root))
    state = messages.read_facts_answer(answer)["pod_files"][conf_path(root)]
    assert (state["owner"], state["group"]) == ("4242", "4343")
