"""The transaction journal: what an apply is about to change, written before its first
write, so that a run killed at any point (SIGKILL, OOM, a reboot) is finished or undone by
the next one.

One JSON file, ``<state dir>/journal.json``, written atomically and fsynced (the file and
its directory) at each phase::

    {"version": 1, "id", "holder", "pid", "started", "phase",
     "node_name", "timeout", "stable_for", "switch",
     "files": [{"path", "role": "manifest" | "kubelet", "pod", "mode",
                "before": base64 | null, "before_sha256": sha | null,
                "after_sha256": sha | null,            # null: absent before / removed
                "owned_sha256": sha}],  # optional: the ownership record's sha, when it is
                                        # not after_sha256 (a moved file: manifest_change)
     "owned_before": {manifest path: state entry | null},
     "pod_files": [{"path", "pod", "before_sha256": sha | null, "after_sha256": sha | null,
                    "backup": path | null,    # where the bytes before are kept (never
                                              # the bytes: a secret's must not be here)
                    "mode", "uid", "gid",     # of the file before (null: absent)
                    "dirs": [path],           # parents absent before, made by the change
                    "secret": bool}],         # optional, as owned_files_before
     "owned_files_before": {pod file path: state entry | null},
     "kubelet": null | {"unit", "healthz_url", "daemon_reload", "cmdline_before",
                        "dir_before", "dir_after"},
     "pods_before": [{"name", "pod", "namespace", "uid"}]}

Phases, in order: begun, kubelet-written, kubelet-restarted, manifests-written, succeeded.
"""

import base64
import json
import os

from ..system import AgentError
from ..system.files import atomic_write, read_file, remove, sha256_bytes

VERSION = 1
PHASES = ("begun", "kubelet-written", "kubelet-restarted", "manifests-written", "succeeded")


def file_entry(path, role, before, mode, after, pod=None, owned_sha256=None):
    """One file of a transaction: its bytes before (None: absent), the sha it gets, and
    the sha its ownership record gets when that is another (``owned_sha256``)."""
    entry = {
        "path": path,
        "role": role,
        "pod": pod,
        "mode": mode,
        "before": base64.b64encode(before).decode() if before is not None else None,
        "before_sha256": sha256_bytes(before) if before is not None else None,
        "after_sha256": sha256_bytes(after) if after is not None else None,
    }
    if owned_sha256 is not None and owned_sha256 != entry["after_sha256"]:
        entry["owned_sha256"] = owned_sha256
    return entry


class Journal:
    def __init__(self, node, record):
        self.node = node
        self.record = record

    @classmethod
    def begin(cls, node, record):
        import time

        record = dict(record)
        record.update(
            {
                "version": VERSION,
                "id": base64.b16encode(os.urandom(6)).decode().lower(),
                "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(node.clock.time())),
                "phase": PHASES[0],
            }
        )
        journal = cls(node, record)
        journal._save()
        return journal

    def phase(self, name):
        self.record["phase"] = name
        self._save()

    def _save(self):
        paths = self.node.paths
        self.node.fs.makedirs(paths.state_dir, 0o700)
        data = json.dumps(self.record, sort_keys=True).encode()
        atomic_write(paths.journal_file, data, 0o600, self.node.fs)

    def done(self):
        """The transaction is over (done or undone): forget it, durably."""
        try:
            remove(self.node.paths.journal_file, self.node.fs)
        except FileNotFoundError:
            pass


def load(node):
    """The unfinished transaction's journal, or None (one lstat when there is none)."""
    try:
        data = read_file(node.paths.journal_file)[0]
    except OSError as exc:
        raise AgentError(
            "cannot read the journal %s: %s" % (node.paths.journal_file, exc.strerror or exc)
        ) from None
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("version") != VERSION:
        raise AgentError(
            "%s is not a journal this agent can read; inspect the node and remove it by hand"
            % node.paths.journal_file
        )
    # Recovery runs under the node lock, whose taking checked that only root can write the
    # state directory (system.lock.check_state_dir): what the journal names is put back as root.
    problem = record_problem(record)
    if problem:
        raise AgentError(
            "the journal %s of an unfinished change (by %s at %s) cannot be used: %s; the "
            "node may be half-changed: compare its files with the journal, put them right, "
            "then remove the journal by hand"
            % (node.paths.journal_file, record.get("holder"), record.get("started"), problem)
        )
    return Journal(node, record)


def _is_sha(value):
    return value is None or (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def record_problem(record):
    """What makes a journal unusable for recovery (a field missing or of the wrong kind, a
    path that is not absolute and normal), or None. Every field recovery reads is checked
    here, so that recovery itself never stops half-way on a KeyError."""
    if record.get("phase") not in PHASES:
        return "phase %r is not one of %s" % (record.get("phase"), ", ".join(PHASES))
    files = record.get("files")
    if not isinstance(files, list):
        return "files is missing or not a list"
    for i, entry in enumerate(files):
        where = "files[%d]" % i
        if not isinstance(entry, dict):
            return "%s is not an object" % where
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("/") or os.path.normpath(path) != path:
            return "%s.path %r is not an absolute, normalized path" % (where, path)
        if entry.get("role") not in ("manifest", "kubelet"):
            return "%s.role %r is not manifest or kubelet" % (where, entry.get("role"))
        if entry.get("pod") is not None and not isinstance(entry.get("pod"), str):
            return "%s.pod is not a name" % where
        mode = entry.get("mode")
        if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= 0o7777):
            return "%s.mode %r is not a file mode" % (where, mode)
        for key in ("before_sha256", "after_sha256"):
            if key not in entry or not _is_sha(entry[key]):
                return "%s.%s is missing or not a sha256" % (where, key)
        if "owned_sha256" in entry and (
            entry["owned_sha256"] is None or not _is_sha(entry["owned_sha256"])
        ):
            return "%s.owned_sha256 is not a sha256" % where
        if "before" not in entry:
            return "%s.before is missing" % where
        before = entry["before"]
        if before is not None:
            try:
                data = base64.b64decode(before, validate=True)
            except (TypeError, ValueError):
                return "%s.before is not base64" % where
            if sha256_bytes(data) != entry["before_sha256"]:
                return "%s.before does not match its before_sha256" % where
        elif entry["before_sha256"] is not None:
            return "%s.before is empty but before_sha256 is set" % where
    owned = record.get("owned_before")
    if owned is not None and not isinstance(owned, dict):
        return "owned_before is not an object"
    problem = _pod_files_problem(record)
    if problem:
        return problem
    kubelet = record.get("kubelet")
    if kubelet is not None and (
        not isinstance(kubelet, dict) or not isinstance(kubelet.get("unit"), str)
    ):
        return "kubelet is not an object naming its unit"
    if kubelet is not None and "healthz_url" not in kubelet:
        return "kubelet.healthz_url is missing"
    for key in ("timeout", "stable_for"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return "%s %r is not a number of seconds" % (key, value)
    pods = record.get("pods_before")
    if pods is not None and (
        not isinstance(pods, list) or not all(isinstance(p, dict) and "name" in p for p in pods)
    ):
        return "pods_before is not a list of pods"
    if pods and not isinstance(record.get("node_name"), str):
        return "node_name is missing"
    return None


def _is_path(value):
    return isinstance(value, str) and value.startswith("/") and os.path.normpath(value) == value


def _pod_files_problem(record):
    files = record.get("pod_files")
    if files is None:
        return None
    if not isinstance(files, list):
        return "pod_files is not a list"
    for i, entry in enumerate(files):
        where = "pod_files[%d]" % i
        if not isinstance(entry, dict):
            return "%s is not an object" % where
        if not _is_path(entry.get("path")):
            return "%s.path %r is not an absolute, normalized path" % (where, entry.get("path"))
        if not isinstance(entry.get("pod"), str):
            return "%s.pod is not a name" % where
        for key in ("before_sha256", "after_sha256"):
            if key not in entry or not _is_sha(entry[key]):
                return "%s.%s is missing or not a sha256" % (where, key)
        dirs = entry.get("dirs")
        if not isinstance(dirs, list) or not all(_is_path(d) for d in dirs):
            return "%s.dirs is not a list of absolute paths" % where
        if entry["before_sha256"] is None:
            continue
        if not _is_path(entry.get("backup")):
            return "%s.backup is not the absolute path of the file's backup" % where
        for key, top in (("mode", 0o7777), ("uid", 1 << 32), ("gid", 1 << 32)):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                return "%s.%s %r is not a file's %s" % (where, key, value, key)
    owned = record.get("owned_files_before")
    if owned is not None and not isinstance(owned, dict):
        return "owned_files_before is not an object"
    return None
