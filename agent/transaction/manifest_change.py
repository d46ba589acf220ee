"""One pod's change as a transaction: check, back up, write, and undo, its manifest and
its files (``file_change``).

Read as kubeadm's upgrade of one static pod (cmd/kubeadm/app/phases/upgrade/
staticpods.go): every check comes before any write; the live file is replaced by a rename
from its temporary path; after every step that can fail, the previous bytes go back.

The order: the pod's files are backed up and written first, then its manifest, so that the
new pod starts with its files in place; files the change removes go only once the pod
is gone or runs without them (``remove_files``, called after the wait); an undo puts the
files back first, then the manifest, so the previous pod starts on its previous files. A
change's manifest backup and its files' backup share one stamp, and a rollback to a
manifest brings back the files kept with it.
"""

import os

from ..protocol import MANIFEST_SUFFIX, SOURCE_FILE, messages
from ..runtime import pods as podlib
from ..system import AgentError
from ..system.files import atomic_write, read_bytes, read_original, remove, sha256_bytes
from ..system.state import (
    backup_files,
    backup_manifest,
    backups_of,
    file_backup_dir,
    file_backup_set,
    new_stamp,
    save_state,
)
from .file_change import FileChange, from_backup
from .journal import file_entry


class PodChange:
    """One manifest's transaction: the file, what was there, and how to undo it.

    Actions: create, update, remove, rollback (the newest backup that differs goes back),
    and adopt (the file already holds this pod in other bytes, or was not written by
    spctl: it is rewritten as rendered and owned from now on; the pod does not change;
    bytes spctl did not write are backed up first).
    """

    def __init__(self, node, spec, directory, node_name):
        self.node = node
        self.name = spec["pod"]
        self.action = spec["action"]
        self.path = os.path.join(directory, spec["file"])  # the live path
        self.content = spec.get("content", "").encode()
        self.expected = spec.get("expected_sha256")
        # A manifest directory move: this pod's file in the old directory, which the change
        # retires (for "move", its bytes are the new file's content).
        self.from_path = spec.get("from_path")
        self.from_expected = spec.get("from_sha256")
        self.from_previous = None
        self.from_owned = None
        self.namespace = spec.get("namespace")  # None: any namespace
        # The new pod's probes, as protocol.probe_spec.probe_spec_of gives them (None: no probes).
        self.probes = spec.get("probes")
        # The kubelet sources whose pods count ("file"; "http" for a manifest URL).
        self.sources = tuple(spec.get("sources") or (SOURCE_FILE,))
        # The pod's restartPolicy (None: not known), for its phase (runtime.pods.pod_phase).
        self.restart_policy = spec.get("restart_policy")
        self.kept_backup = bool(spec.get("kept_backup"))
        self.kubelet_name = "%s-%s" % (self.name, node_name)
        self.previous = None  # bytes of the file before this change, None if absent
        self.was_owned = None  # the state entry before this change
        self.before_uid = None  # the pod being replaced: the new one has another UID
        self.want_uid = None  # the pod that must (still) run: after adopt, after a rollback
        self.original_uid = None
        # The pod's files (file_change.FileChange), written before the manifest.
        self.files = [FileChange(node, self.name, f) for f in spec.get("files") or ()]
        self.stamp = None  # the backups' stamp of this change
        self.writing = self.path  # the file a failed write was at
        self.result = {
            "name": self.name,
            "action": self.action,
            "ok": False,
            "phase": None,
            "error": None,
        }

    def find(self, pods):
        return podlib.find(pods, self.kubelet_name, self.namespace, self.sources)

    def check(self, state, forbidden=()):
        """Read what is there now and refuse when it is not what the plan was made from;
        ``forbidden``: where none of the pod's files may be (manifest directories, spctl's
        state)."""
        self.previous = read_bytes(self.path)
        self.previous_mode = _mode_of(self.path) if self.previous is not None else None
        self.was_owned = state["manifests"].get(self.path)
        current = sha256_bytes(self.previous) if self.previous is not None else None
        if current != self.expected:
            raise AgentError("%s changed on the node since spctl read it; rerun" % self.path)
        if self.from_path:
            self.from_previous = read_bytes(self.from_path)
            self.from_mode = _mode_of(self.from_path)
            self.from_owned = state["manifests"].get(self.from_path)
            found = sha256_bytes(self.from_previous) if self.from_previous is not None else None
            if found != self.from_expected:
                raise AgentError(
                    "%s changed on the node since spctl read it; rerun" % self.from_path
                )
            if self.action == "move":
                self.content = self.from_previous
        if self.action == "rollback":
            directory = self.node.paths.manifest_backups(self.name)
            candidates = []
            for name in backups_of(self.node, self.name):
                data = read_bytes(os.path.join(directory, name))
                if data is not None and data != self.previous:
                    candidates.append((name, data))
            if not candidates:
                raise AgentError("%s: no earlier version backed up on this node" % self.name)
            name, self.content = candidates[0]
            kept = file_backup_set(self.node, self.name, name[: -len(MANIFEST_SUFFIX)])
            if kept and not self.files:
                # The files that went with that manifest come back with it.
                self.files = from_backup(self.node, self.name, kept)
        if self.files:
            self.stamp = new_stamp(self.node, self.name)
            backups = file_backup_dir(self.node, self.name, self.stamp)
            for n, f in enumerate(self.files):
                f.check(state, forbidden)
                f.backup = os.path.join(backups, str(n))

    def owned_sha256(self):
        """The sha256 the ownership record of the written file gets: that of the bytes
        spctl wrote. A move writes the bytes it finds in the old directory, which are
        spctl's only when they are the ones it recorded: it carries the old record's sha,
        so a file that changed on the node since spctl wrote it stays "changed on node" at
        its new place instead of being taken for spctl's own."""
        if self.action == "move" and (self.from_owned or {}).get("sha256"):
            return self.from_owned["sha256"]
        return sha256_bytes(self.content)

    def written_mode(self):
        """The mode of the file this change writes: the one the file had (kubeadm writes
        its manifests 0600, phases/controlplane via WriteStaticPodToDisk), a moved file's
        own, else 0644. An undo puts the old one back with it."""
        if self.action == "move" and self.from_mode:
            return self.from_mode
        return self.previous_mode or 0o644

    def _keeps_previous(self):
        """Whether the bytes this change replaces go to the backups: always, but for an
        adopt of spctl's own bytes (the ones it recorded writing) or of the rendering
        itself, which lose nothing. An adopt of a file someone else wrote or edited (a hand
        edit that kept the pod, kubeadm's spelling) keeps that version."""
        if self.previous is None:
            return False
        if self.action != "adopt":
            return True
        if self.previous == self.content:
            return False
        return (self.was_owned or {}).get("sha256") != sha256_bytes(self.previous)

    def write(self, state):
        """The files this change writes, then the manifest (files it removes wait for
        ``remove_files``); OSError at the first step that fails (``writing`` names its
        file), the rest left to ``undo``."""
        fs = self.node.fs
        if self.files:
            self.writing = self.node.paths.file_backups(self.name)
            backup_files(self.node, self.name, self.stamp, [f.backup_entry() for f in self.files])
            try:
                for f in self.files:
                    if f.action == messages.FILE_WRITE:
                        self.writing = f.path
                        f.write(state)
            finally:
                save_state(self.node, state)
        self.writing = self.path
        if self._keeps_previous():
            # An adopt's are kept apart: the same pod in other bytes, which a rollback
            # (waiting for another pod) must never take for the previous version.
            kept = self.action == "adopt" or self.kept_backup
            backup_manifest(self.node, self.name, self.previous, self.stamp, kept=kept)
        if self.action == "remove":
            remove(self.path, fs)
            state["manifests"].pop(self.path, None)
        else:
            atomic_write(self.path, self.content, self.written_mode(), fs)
            state["manifests"][self.path] = {"pod": self.name, "sha256": self.owned_sha256()}
        if self.from_path and self.from_previous is not None:
            if self.action != "move":
                # Retired for another file (the rendering in the new directory): the version
                # it held is kept like any replaced one (a --force over a change made on the
                # node promises it). A move carries its bytes: nothing to keep.
                backup_manifest(self.node, self.name, self.from_previous)
            remove(self.from_path, fs)
            state["manifests"].pop(self.from_path, None)
        save_state(self.node, state)

    def removals(self):
        return [f for f in self.files if f.action == messages.FILE_REMOVE]

    def remove_files(self, state):
        """Remove the files the change drops, once its pod is gone (or runs without them)."""
        try:
            for f in self.removals():
                self.writing = f.path
                f.remove(state)
        finally:
            save_state(self.node, state)

    def undo(self, state):
        """Put back exactly what was there, ownership included: the files first (each on
        its own: one that cannot be restored does not keep the others or the manifest
        from being), then the manifest. Returns the problems with the files; OSError when
        the manifest cannot be put back."""
        problems = []
        for f in reversed(self.files):
            try:
                f.undo(state)
            except OSError as exc:
                problems.append("could not restore %s: %s" % (f.path, exc.strerror or exc))
        try:
            self._undo_manifest(state)
        finally:
            save_state(self.node, state)
        return problems

    def _undo_manifest(self, state):
        if self.previous is None:
            if os.path.lexists(self.path):
                remove(self.path, self.node.fs)
        elif read_original(self.path)[0] != self.previous:
            atomic_write(self.path, self.previous, self.previous_mode or 0o644, self.node.fs)
        if self.was_owned is None:
            state["manifests"].pop(self.path, None)
        else:
            state["manifests"][self.path] = self.was_owned
        if self.from_path and self.from_previous is not None:
            if read_original(self.from_path)[0] != self.from_previous:
                mode = self.from_mode or 0o644
                atomic_write(self.from_path, self.from_previous, mode, self.node.fs)
            if self.from_owned is not None:
                state["manifests"][self.from_path] = self.from_owned

    def journal_files(self):
        """This change's files for the journal: (path, before, after) each."""
        after = None if self.action == "remove" else self.content
        owned = self.owned_sha256() if after is not None else None
        entries = [
            file_entry(
                self.path, "manifest", self.previous, self.written_mode(), after, self.name, owned
            )
        ]
        if self.from_path:
            mode = self.from_mode or 0o644
            entries.append(
                file_entry(self.from_path, "manifest", self.from_previous, mode, None, self.name)
            )
        return entries


def journal_pod_files(changes):
    """The pods' files of ``changes`` for the journal (``FileChange.journal_entry``)."""
    return [f.journal_entry() for change in changes for f in change.files]


def undo_all(changes, state):
    """Undo each change; one that cannot be undone does not stop the others."""
    problems = []
    for change in changes:
        try:
            problems += change.undo(state)
        except OSError as exc:
            problems.append("could not restore %s: %s" % (change.path, exc.strerror or exc))
    return problems


def _mode_of(path):
    """The permission bits of ``path`` (not followed through a link), None when absent."""
    try:
        return os.lstat(path).st_mode & 0o7777
    except OSError:
        return None
