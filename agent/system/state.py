"""What spctl keeps on the node about the files it writes, in its state directory: who
owns each manifest and each pod's file, {"manifests": {path: {"pod", "sha256"}}, "files":
{path: {"pod", "sha256"}}} (state.json), and the bytes each change replaced: a pod's
manifest backups (newest first, the last KEEP_BACKUPS of them; a rollback takes the newest
that differs; apart from them, with ``KEPT_SUFFIX``, the versions adopts kept) and, beside
them, its files' backups of the same change.

A change's backups share one stamp: ``backups/manifests/POD/STAMP.yaml`` holds the
manifest it replaced and ``backups/files/POD/STAMP/`` the pod's files it replaced (an
``index.json`` naming each path as it was, absent or {sha256, mode, uid, gid, secret}, and
the bytes of each in a file of its own), so that a rollback to a manifest brings back the
files that went with it. Every backup is 0600 in 0700 directories: a secret's bytes are
never readable by anyone but root."""

import os

from ..protocol import MANIFEST_SUFFIX
from .files import atomic_write, read_text, sha256_bytes
from .jsonfast import loads


def load_state(node):
    text = read_text(node.paths.state_file, follow=False)
    if not text:
        return {"manifests": {}, "files": {}}
    try:
        state = loads(text)
    except ValueError:
        return {"manifests": {}, "files": {}}
    state.setdefault("manifests", {})
    state.setdefault("files", {})
    return state


def save_state(node, state):
    import json

    node.fs.makedirs(node.paths.state_dir, 0o700)
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    atomic_write(node.paths.state_file, data, 0o600, node.fs)


KEEP_BACKUPS = 5


#: The suffix of a backup an adopt kept: the same pod in other bytes (a hand edit that kept
#: the pod, kubeadm's spelling). Kept for the operator, never a rollback's previous version.
KEPT_SUFFIX = ".kept" + MANIFEST_SUFFIX


def backups_of(node, pod, kept=False):
    """Backup file names of one pod, newest first: the versions a rollback may bring back,
    or (``kept``) the ones adopts kept."""
    try:
        names = os.listdir(node.paths.manifest_backups(pod))
    except OSError:
        return []
    ours = [n for n in names if n.endswith(MANIFEST_SUFFIX) and n.endswith(KEPT_SUFFIX) == kept]
    return sorted(ours, reverse=True)


def _stamp(when):
    import time

    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(when)) + "%06dZ" % (when % 1 * 1e6)


def new_stamp(node, pod):
    """A backup stamp of now for one pod's change that neither a manifest backup nor a
    file backup of that pod uses yet (names sort by time)."""
    when = node.clock.time()
    while True:
        stamp = _stamp(when)
        taken = os.path.lexists(
            os.path.join(node.paths.manifest_backups(pod), stamp + MANIFEST_SUFFIX)
        ) or os.path.lexists(os.path.join(node.paths.file_backups(pod), stamp))
        if not taken:
            return stamp
        when += 1e-6


def backup_manifest(node, pod, content, stamp=None, kept=False):
    directory = node.paths.manifest_backups(pod)
    node.fs.makedirs(directory, 0o700)
    if stamp is None:
        stamp = _stamp(node.clock.time())
    path = os.path.join(directory, stamp + (KEPT_SUFFIX if kept else MANIFEST_SUFFIX))
    atomic_write(path, content, 0o600, node.fs)
    for old in backups_of(node, pod, kept)[KEEP_BACKUPS:]:
        try:
            os.unlink(os.path.join(directory, old))
        except OSError:
            pass
    return path


#: The index of one change's file backups (``backup_files``).
FILE_INDEX = "index.json"


def file_backup_dir(node, pod, stamp):
    return os.path.join(node.paths.file_backups(pod), stamp)


def backup_files(node, pod, stamp, entries):
    """Keep the files one change of ``pod`` replaces, under ``stamp``: ``entries`` are
    (path, bytes | None, {mode, uid, gid, secret}) each, None for a file that was absent;
    the bytes of the n-th go to ``n`` beside the index. Older sets past KEEP_BACKUPS go."""
    import json

    directory = file_backup_dir(node, pod, stamp)
    for level in (os.path.dirname(os.path.dirname(directory)), os.path.dirname(directory)):
        node.fs.makedirs(level, 0o700)  # each level 0700, not only the last
    node.fs.makedirs(directory, 0o700)
    index = []
    for n, (path, data, meta) in enumerate(entries):
        entry = {"path": path, "existed": data is not None}
        if data is not None:
            atomic_write(os.path.join(directory, str(n)), data, 0o600, node.fs)
            entry.update(meta)
            entry.update({"sha256": sha256_bytes(data), "blob": str(n)})
        index.append(entry)
    data = json.dumps({"files": index}, sort_keys=True).encode()
    atomic_write(os.path.join(directory, FILE_INDEX), data, 0o600, node.fs)
    _prune_file_backups(node, pod)
    return directory


def _prune_file_backups(node, pod):
    import shutil

    top = node.paths.file_backups(pod)
    try:
        stamps = sorted(os.listdir(top), reverse=True)
    except OSError:
        return
    for old in stamps[KEEP_BACKUPS:]:
        shutil.rmtree(os.path.join(top, old), ignore_errors=True)


def file_backup_set(node, pod, stamp):
    """The index of the files a change of ``pod`` replaced under ``stamp`` ([entry], each
    with ``blob`` the path of its bytes), or None when that change kept none."""
    directory = file_backup_dir(node, pod, stamp)
    text = read_text(os.path.join(directory, FILE_INDEX), follow=False)
    if not text:
        return None
    try:
        entries = loads(text).get("files") or []
    except (ValueError, AttributeError):
        return None
    for entry in entries:
        if entry.get("blob") is not None:
            entry["blob"] = os.path.join(directory, entry["blob"])
    return entries
