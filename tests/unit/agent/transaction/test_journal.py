"""The journal (agent/transaction/journal.py): a journal the agent cannot use stops it with the
field named, before any file is touched; an intact one is still rolled back."""

from __future__ import annotations

import pytest
from spctl_agent.main import handle

from tests.fakes.agent_node import make_node, pod, tree
from tests.fakes.apply_request import OLD_MANIFEST, request, sha
from tests.fakes.journal import write_journal


@pytest.fixture
def root(tmp_path):
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "static-web.yaml").write_bytes(OLD_MANIFEST)
    return tmp_path


CORRUPT = {
    "a file without its path": (lambda r: r["files"][0].pop("path"), "files[0].path None"),
    "a relative path": (
        lambda r: r["files"][0].update(path="manifests/../x"),
        "files[0].path 'manifests/../x' is not an absolute, normalized path",
    ),
    "a path with ..": (
        lambda r: r["files"][0].update(path="/etc/kubernetes/../shadow"),
        "is not an absolute, normalized path",
    ),
    "no before": (lambda r: r["files"][0].pop("before"), "files[0].before is missing"),
    "bytes that do not match": (
        lambda r: r["files"][0].update(before_sha256=sha(b"other")),
        "files[0].before does not match its before_sha256",
    ),
    "an unknown role": (
        lambda r: r["files"][0].update(role="shadow"),
        "files[0].role 'shadow' is not manifest or kubelet",
    ),
    "an unknown phase": (lambda r: r.update(phase="half"), "phase 'half' is not one of"),
    "no files": (lambda r: r.pop("files"), "files is missing or not a list"),
    "a kubelet without healthz": (
        lambda r: r.update(kubelet={"unit": "kubelet.service"}),
        "kubelet.healthz_url is missing",
    ),
    "pods without a node name": (
        lambda r: (r.pop("node_name"), r.update(pods_before=[{"name": "static-web"}])),
        "node_name is missing",
    ),
    "an ownership sha that is not a sha": (
        lambda r: r["files"][0].update(owned_sha256="spctl's"),
        "files[0].owned_sha256 is not a sha256",
    ),
    "a mode that is not a mode": (
        lambda r: r["files"][0].update(mode="rwx"),
        "files[0].mode 'rwx' is not a file mode",
    ),
    "a pod's file with a relative path": (
        lambda r: r.update(pod_files=[dict(POD_FILE, path="etc/app.conf")]),
        "pod_files[0].path 'etc/app.conf' is not an absolute, normalized path",
    ),
    "a pod's file without its backup": (
        lambda r: r.update(pod_files=[dict(POD_FILE, backup=None)]),
        "pod_files[0].backup is not the absolute path of the file's backup",
    ),
    "a pod's file with an owner that is no uid": (
        lambda r: r.update(pod_files=[dict(POD_FILE, uid="root")]),
        "pod_files[0].uid 'root' is not a file's uid",
    ),
    "a pod's file with directories that are not paths": (
        lambda r: r.update(pod_files=[dict(POD_FILE, dirs="/etc/app")]),
        "pod_files[0].dirs is not a list of absolute paths",
    ),
}


POD_FILE = {
    "path": "/etc/app/app.conf",
    "pod": "static-web",
    "before_sha256": sha(b"listen 80\n"),
    "after_sha256": sha(b"listen 8080\n"),
    "backup": "/var/lib/spctl/backups/files/static-web/20261128T080000000000Z/0",
    "mode": 0o640,
    "uid": 0,
    "gid": 0,
    "dirs": [],
    "secret": False,
}


@pytest.mark.parametrize("case", CORRUPT, ids=list(CORRUPT))
def test_a_journal_it_cannot_use_is_named_with_its_field_and_nothing_is_touched(root, case):
    edit, problem = CORRUPT[case]
    journal = write_journal(root, edit)
    before = tree(root)
    for op in ("facts", "apply"):
        node = make_node(root)
        node._runtime.pods = [pod(uid="new")]
        if op == "facts":
            answer = handle({"op": "facts", "pods": ["static-web"], "manifest_dirs": []}, node)
        else:
            answer = handle(request(root), node)
        assert not answer["ok"], (op, answer)
        assert f"the journal {journal} of an unfinished change (by alice@ctl" in answer["error"]
        assert problem in answer["error"]
        assert "remove the journal by hand" in answer["error"]
        after = tree(root)
        after.pop("state/lock", None)  # the empty lock file flock(2) needs; nothing in it
        assert after == before, op


def test_an_intact_journal_is_still_rolled_back(root):
    write_journal(root, lambda r: None)
    node = make_node(root)
    node._runtime.pods = [pod(uid="old")]
    answer = handle({"op": "facts", "pods": ["static-web"], "manifest_dirs": []}, node)
    assert answer["ok"], answer
    assert answer["recovered"]["action"] == "rolled back"
    assert (root / "manifests" / "static-web.yaml").read_bytes() == OLD_MANIFEST
    assert not (root / "state" / "journal.json").exists()


def test_a_pods_file_whose_backup_is_gone_is_a_problem_of_the_recovery(root, tmp_path):
    """Killed after a pod's file was replaced, its backup then lost: the recovery puts
    back what it can (the manifest) and names the file it cannot; the journal stays for
    the operator (a later call tries again)."""
    conf = tmp_path / "etc" / "app.conf"
    conf.parent.mkdir()
    conf.write_bytes(b"listen 8080\n")  # the new bytes: the old ones are only in the backup
    entry = dict(POD_FILE, path=str(conf), backup=str(tmp_path / "state" / "gone" / "0"))
    write_journal(root, lambda r: r.update(pod_files=[entry]))
    node = make_node(root)
    node._runtime.pods = [pod(uid="old")]
    answer = handle({"op": "facts", "pods": ["static-web"], "manifest_dirs": []}, node)
    assert answer["ok"], answer
    recovered = answer["recovered"]
    assert recovered["action"] == "rolled back" and not recovered["ok"]
    assert recovered["problems"] == [
        f"could not restore {conf}: its backup {entry['backup']} is missing or damaged"
    ]
    assert (root / "manifests" / "static-web.yaml").read_bytes() == OLD_MANIFEST
    assert conf.read_bytes() == b"listen 8080\n"  # never replaced by a guess
    assert (root / "state" / "journal.json").exists()
