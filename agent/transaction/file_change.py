"""One file of a pod (its configuration, a certificate, a secret) as part of the pod's
change: check, back up, write or remove, and undo.

The order, for the pod to see a whole version at each moment: a pod's files are written
before its manifest (the new pod starts with its files in place) and removed after its
pod is gone (the old pod never runs without them); an undo puts the files back before the
manifest, so the previous pod starts again on its previous files. Each write is a
temporary file in the same directory (0600), its owner, its mode, fsync, rename, fsync of
the directory: a reader sees the old file or the new one, never a part, and never a
secret's bytes with another owner or mode. Missing parent directories are created 0755,
root's, and removed again (when empty) by the undo.

A file is written only when the node holds what the plan saw (``expected_sha256``; null:
absent): checked for every file of every change before the first write, and again right
before each write or removal. A secret's bytes are never in an error, the journal (which
holds the backup's path and sha only) or an answer.
"""

import errno
import os

from ..protocol import MAX_MANIFEST_BYTES, messages
from ..system import AgentError
from ..system.files import (
    NotRegularFile,
    TooLarge,
    path_state,
    read_regular,
    remove,
    remove_stale_temporaries,
    sha256_bytes,
    unsafe_directory,
    write_owned,
)
from ..system.owners import UnknownOwner, gid_of, uid_of

#: Where a pod's file may never be: the kernel's and the devices' trees.
FORBIDDEN_TREES = ("/proc", "/sys", "/dev")

POD_FILE_DIR_RULE = (
    "the directories of a pod's file must be owned by root and writable by root only "
    "(anyone who can write there could redirect what root writes)"
)


class Changed(OSError):
    """The file is not what the plan saw (anymore): nothing of it is written."""

    def __init__(self, path):
        OSError.__init__(self, "%s changed on the node since spctl read it; rerun" % path)
        self.filename = path
        self.strerror = "changed on the node since spctl read it; rerun"


def _inside(path, tree):
    return path == tree or path.startswith(tree.rstrip("/") + "/")


class FileChange:
    """One file of one pod change: what the node held, what goes there, how to undo it."""

    def __init__(self, node, pod, spec, expect_owned=False):
        """``spec`` as ``messages.read_file_change`` reads it, or with ``data`` (bytes)
        instead of ``content_b64``; ``expect_owned``: the node's file must be the one spctl
        recorded writing (a rollback, which the plan did not read the files for)."""
        import base64

        self.node = node
        self.pod = pod
        self.path = spec["path"]
        self.action = spec["action"]
        self.data = spec.get("data")
        if self.data is None and spec.get("content_b64") is not None:
            self.data = base64.b64decode(spec["content_b64"].encode("ascii"))
        self.sha256 = sha256_bytes(self.data) if self.data is not None else None
        self.expected = spec.get("expected_sha256")
        self.expect_owned = expect_owned
        self.mode = spec["mode"]
        self.owner = spec.get("owner")
        self.group = spec.get("group")
        self.secret = bool(spec.get("secret"))
        self.uid = self.gid = 0
        self.previous = None  # the bytes before this change, None: absent
        self.previous_meta = None  # {mode, uid, gid} before, None: absent
        self.was_owned = None  # the ownership record before
        self.missing_dirs = []  # parents absent at the check, top first
        self.created_dirs = []  # those this change created
        self.backup = None  # where the bytes before are kept (set with the stamp)
        self.touched = False  # a write or removal was started: the undo looks

    def name_on_node(self):
        return os.path.basename(self.path)

    def where(self):
        return "pod %s, file %s" % (self.pod, self.path)

    def check(self, state, forbidden):
        """Refuse, before any write, what must not be written: a path inside ``forbidden``
        (the manifest directories, spctl's state), an owner unknown here, a parent others
        can write, something not a regular file there, a file not as planned."""
        # By the path as written and as the node resolves it: a parent that is a link into
        # a manifest directory would put the file where the kubelet parses it as a pod.
        real = os.path.join(os.path.realpath(os.path.dirname(self.path)), self.name_on_node())
        for tree in FORBIDDEN_TREES + tuple(forbidden):
            if _inside(self.path, tree) or _inside(real, os.path.realpath(tree)):
                raise AgentError("%s: refusing a path inside %s" % (self.where(), tree))
        if real != self.path:
            raise AgentError(
                "%s: a parent directory is a symbolic link (the path leads to %s); spctl "
                "writes pod files only where the path is the place" % (self.where(), real)
            )
        try:
            self.uid = uid_of(self.owner)
            self.gid = gid_of(self.group)
        except UnknownOwner as exc:
            raise AgentError(
                "%s: %s; create it first or name another" % (self.where(), exc)
            ) from None
        self._check_parents()
        try:
            self.previous, st = read_regular(self.path)
        except NotRegularFile as exc:
            raise AgentError(
                "%s: the node has a %s there, not a regular file; spctl writes regular "
                "files only" % (self.where(), exc.kind)
            ) from None
        except TooLarge:
            raise AgentError(
                "%s: the node's file is over %d bytes, more than spctl reads"
                % (self.where(), MAX_MANIFEST_BYTES)
            ) from None
        except NotADirectoryError:
            raise AgentError("%s: a parent is not a directory" % self.where()) from None
        if st is not None:
            self.previous_meta = {
                "mode": st.st_mode & 0o7777,
                "uid": st.st_uid,
                "gid": st.st_gid,
            }
        self.was_owned = state["files"].get(self.path)
        if self.was_owned and self.was_owned.get("pod") != self.pod:
            raise AgentError(
                "%s: it is pod %s's file; one file belongs to one pod (remove it from that "
                "pod first)" % (self.where(), self.was_owned.get("pod"))
            )
        found = sha256_bytes(self.previous) if self.previous is not None else None
        if self.expect_owned:
            # Rolled back to what spctl kept: the file there must be the one it wrote.
            self.expected = (self.was_owned or {}).get("sha256")
        if found != self.expected and self.expect_owned:
            raise AgentError(
                "%s: the node's file is not the one spctl wrote (it changed on the node); "
                "nothing is rolled back" % self.where()
            )
        if found != self.expected:
            raise AgentError("%s changed on the node since spctl read it; rerun" % self.path)

    def _check_parents(self):
        parent = os.path.dirname(self.path)
        missing = []
        while not os.path.lexists(parent):
            missing.insert(0, parent)
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise AgentError("%s: %s is not a directory" % (self.where(), parent))
        problem = unsafe_directory(parent, self.node.trusted_above, POD_FILE_DIR_RULE)
        if problem:
            raise AgentError("%s: refusing %s" % (self.where(), problem))
        self.missing_dirs = missing

    def unchanged(self):
        """A write of the bytes, mode and owner the node has: nothing to do."""
        return (
            self.action == messages.FILE_WRITE
            and self.previous == self.data
            and self.previous_meta == {"mode": self.mode, "uid": self.uid, "gid": self.gid}
        )

    def backup_entry(self):
        """(path, bytes before, what they were) for ``system.state.backup_files``."""
        meta = dict(self.previous_meta or {})
        meta["secret"] = self.secret
        return self.path, self.previous, meta

    def _still_as_planned(self):
        state = path_state(self.path)
        found = state.get("sha256") if state["exists"] else None
        if (state["exists"] and state["type"] != "file") or found != self.expected:
            raise Changed(self.path)

    def write(self, state):
        """Put the new file in place (its parents first), and record it as spctl's."""
        if self.unchanged():
            state["files"][self.path] = self.record()
            return
        self._still_as_planned()
        self.touched = True
        for directory in self.missing_dirs:
            try:
                self.node.fs.mkdir(directory, 0o755)
            except FileExistsError:
                continue  # another file of this transaction made it
            self.created_dirs.append(directory)
            self.node.fs.fsync_dir(os.path.dirname(directory))
        write_owned(self.path, self.data, self.mode, self.uid, self.gid, self.node.fs)
        state["files"][self.path] = self.record()

    def record(self):
        """The ownership record of the file written: its pod and sha256, and whether it is
        a secret (its text is then never read back for a diff)."""
        record = {"pod": self.pod, "sha256": self.sha256}
        if self.secret:
            record["secret"] = True
        return record

    def remove(self, state):
        """Remove the file (its pod is gone, or runs without it now); kept in the backups."""
        if self.previous is None:
            state["files"].pop(self.path, None)
            return
        self._still_as_planned()
        self.touched = True
        remove(self.path, self.node.fs)
        state["files"].pop(self.path, None)

    def undo(self, state):
        """Put back exactly what was there: bytes, mode, owner, the ownership record; the
        directories this change created go when empty. OSError when it cannot."""
        state["files"].pop(self.path, None)
        if self.was_owned is not None:
            state["files"][self.path] = self.was_owned
        if not self.touched:
            return
        restore(self.node, self.path, self.previous, self.previous_meta)
        remove_stale_temporaries(os.path.dirname(self.path))
        remove_empty_dirs(self.node, self.created_dirs)

    def journal_entry(self):
        """This file for the journal: no bytes (a secret's must not be there), the backup
        they are kept in, what the file was and becomes."""
        meta = self.previous_meta or {}
        return {
            "path": self.path,
            "pod": self.pod,
            "before_sha256": sha256_bytes(self.previous) if self.previous is not None else None,
            "after_sha256": self.sha256 if self.action == messages.FILE_WRITE else None,
            "backup": self.backup if self.previous is not None else None,
            "mode": meta.get("mode"),
            "uid": meta.get("uid"),
            "gid": meta.get("gid"),
            "dirs": list(self.missing_dirs),
            "secret": self.secret,
        }


def restore(node, path, data, meta):
    """``path`` back to ``data`` with ``meta`` ({mode, uid, gid}), or removed when ``data``
    is None; nothing done when it is so already. True when it changed."""
    now = path_state(path)
    if data is None:
        if not now["exists"]:
            return False
        remove(path, node.fs)
        return True
    same = (
        now["exists"]
        and now["type"] == "file"
        and now["sha256"] == sha256_bytes(data)
        and (now["mode"], now["uid"], now["gid"]) == (meta["mode"], meta["uid"], meta["gid"])
    )
    if same:
        return False
    write_owned(path, data, meta["mode"], meta["uid"], meta["gid"], node.fs)
    return True


def remove_empty_dirs(node, directories):
    """Remove the directories a change created, deepest first, when they are empty."""
    for directory in reversed(list(directories)):
        try:
            node.fs.rmdir(directory)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                raise


def from_backup(node, pod, entries):
    """The file changes that bring back a backed-up set (``system.state.file_backup_set``):
    each file as it was, or removed when it was absent; the node's file must be the one
    spctl wrote."""
    changes = []
    for entry in entries:
        path = entry["path"]
        if not entry.get("existed"):
            spec = {"path": path, "action": messages.FILE_REMOVE, "mode": 0o644}
            changes.append(FileChange(node, pod, spec, expect_owned=True))
            continue
        data, _st = read_regular(entry["blob"])
        if data is None or sha256_bytes(data) != entry.get("sha256"):
            raise AgentError(
                "pod %s, file %s: its backup %s is missing or damaged" % (pod, path, entry["blob"])
            )
        spec = {
            "path": path,
            "action": messages.FILE_WRITE,
            "data": data,
            "mode": entry["mode"],
            "owner": str(entry["uid"]),
            "group": str(entry["gid"]),
            "secret": entry.get("secret"),
        }
        changes.append(FileChange(node, pod, spec, expect_owned=True))
    return changes
