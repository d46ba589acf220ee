"""The transaction journal: what an apply is about to change, written before its first
write, so that a run killed at any point (SIGKILL, OOM, a reboot) is finished or undone by
the next one.

One JSON file, ``<state dir>/journal.json``, written atomically and fsynced (the file and
its directory) at each phase::

    {"version": 1, "id", "holder", "pid", "started", "phase",
     "node_name", "timeout", "stable_for",
     "files": [{"path", "role": "manifest" | "kubelet", "pod", "mode",
                "before": base64 | null, "before_sha256": sha | null,
                "after_sha256": sha | null}],          # null: absent before / removed
     "owned_before": {manifest path: state entry | null},
     "kubelet": null | {"unit", "healthz_url", "daemon_reload", "cmdline_before",
                        "dir_before", "dir_after"},
     "pods_before": [{"name", "pod", "namespace", "uid"}]}

Phases, in order: begun, kubelet-written, kubelet-restarted, manifests-written, succeeded.

The rule for an unfinished transaction found by a later run (apply, facts, status), under
the node lock: one whose phase is ``succeeded`` had its pods run and stay up, so it is
completed (the ownership state is brought to its "after" and the journal removed); any
other phase is rolled back: every file goes back to its "before" bytes, the ownership
state to ``owned_before``, the kubelet is restarted when its running command line is not
the one it had before (or it is not running), and the run then waits until every pod of
``pods_before`` runs again with its UID, or says that it does not.
"""

import base64
import json
import os

from .system.errors import AgentError
from .system.files import atomic_write, read_file, remove, sha256_bytes

VERSION = 1
PHASES = ("begun", "kubelet-written", "kubelet-restarted", "manifests-written", "succeeded")


def file_entry(path, role, before, mode, after, pod=None):
    """One file of a transaction: its bytes before (None: absent), the sha it gets."""
    return {
        "path": path,
        "role": role,
        "pod": pod,
        "mode": mode,
        "before": base64.b64encode(before).decode() if before is not None else None,
        "before_sha256": sha256_bytes(before) if before is not None else None,
        "after_sha256": sha256_bytes(after) if after is not None else None,
    }


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
    # state directory (lock.check_state_dir): what the journal names is put back as root.
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


def _restore_file(node, entry):
    """Put one file back to its bytes before the transaction; True when it changed."""
    path = entry["path"]
    current = read_file(path)[0]
    current_sha = sha256_bytes(current) if current is not None else None
    if current_sha == entry["before_sha256"]:
        return False
    if entry["before"] is None:
        remove(path, node.fs)
    else:
        node.fs.makedirs(os.path.dirname(path))
        atomic_write(path, base64.b64decode(entry["before"]), entry.get("mode") or 0o644, node.fs)
    return True


def restore_files(node, record, roles=("manifest", "kubelet")):
    """Every file of ``roles`` back to its bytes before; a list of problems."""
    problems = []
    for entry in record["files"]:
        if entry["role"] not in roles:
            continue
        try:
            _restore_file(node, entry)
        except OSError as exc:
            problems.append("could not restore %s: %s" % (entry["path"], exc.strerror or exc))
    return problems


def restore_kubelet(node, record):
    """The kubelet's files as before and, when the running kubelet is not the one from
    before (another command line, or not running), a restart and a wait for health.
    Returns (restarted, problems)."""
    from .system.kubelet import wait_healthy

    kubelet = record.get("kubelet")
    if not kubelet:
        return False, []
    problems = restore_files(node, record, ("kubelet",))
    unit = kubelet["unit"]
    props = node.systemd.show([unit]).get(unit, {})
    running = props.get("cmdline") or None
    if running == (kubelet.get("cmdline_before") or None) and node.systemd.is_active(unit):
        return False, problems
    try:
        node.systemd.restart(unit, bool(kubelet.get("daemon_reload")))
        node.forget_runtime()
        if not wait_healthy(node, unit, kubelet["healthz_url"], float(record.get("timeout", 90))):
            problems.append("the kubelet is not healthy after its configuration was restored")
    except Exception as exc:
        problems.append("restarting the kubelet failed: %s" % exc)
    return True, problems


def wait_previous(node, record, timeout=None):
    """Wait until every pod of ``pods_before`` runs with its UID; {name: True | error}."""
    from .manifests import PodChange, wait_for

    waits = []
    for before in record.get("pods_before") or []:
        change = PodChange(
            node,
            {"pod": before["name"], "action": "restore", "file": before["name"]},
            "",
            record["node_name"],
        )
        change.namespace = before.get("namespace")
        change.want_uid = before["uid"]
        waits.append(change)
    if not waits:
        return {}
    if timeout is None:
        timeout = float(record.get("timeout", 300))
    return wait_for(node, waits, timeout, float(record.get("stable_for", 5)))


def _complete(node, record):
    from .system.state import load_state, save_state

    state = load_state(node)
    for entry in record["files"]:
        if entry["role"] != "manifest":
            continue
        if entry["after_sha256"] is None:
            state["manifests"].pop(entry["path"], None)
        else:
            state["manifests"][entry["path"]] = {
                "pod": entry["pod"],
                "sha256": entry["after_sha256"],
            }
    save_state(node, state)


def _restore_state(node, record):
    from .system.state import load_state, save_state

    state = load_state(node)
    for path, owned in (record.get("owned_before") or {}).items():
        if owned is None:
            state["manifests"].pop(path, None)
        else:
            state["manifests"][path] = owned
    save_state(node, state)


def roll_back(node, record):
    """Undo a whole transaction: manifests, ownership, the kubelet; then wait for the
    previous pods. Returns a list of problems (empty: the node is as before)."""
    from .system.files import remove_stale_temporaries

    if record.get("switch") and record.get("kubelet"):
        # A change of source: put the files back with the kubelet stopped, so that it never
        # sees one pod from both the directory and the URL (restore_kubelet starts it).
        try:
            node.systemd.stop(record["kubelet"]["unit"])
        except Exception:  # noqa: S110 - restore_kubelet below reports a kubelet that is not back
            pass
    problems = restore_files(node, record, ("manifest",))
    for directory in {os.path.dirname(e["path"]) for e in record["files"]}:
        remove_stale_temporaries(directory)
    try:
        _restore_state(node, record)
    except OSError as exc:
        problems.append("could not restore the ownership state: %s" % (exc.strerror or exc))
    problems += restore_kubelet(node, record)[1]
    return problems


def recover(node, journal, wait=None):
    """Finish or undo the unfinished transaction of ``journal`` (the caller holds the node
    lock); ``wait``: the most to wait for the previous pods (default: the transaction's
    own timeout). Returns the answer's "recovered" field."""
    record = journal.record
    summary = {
        "transaction": record.get("id"),
        "holder": record.get("holder"),
        "started": record.get("started"),
        "phase": record.get("phase"),
        "pods": sorted({e["pod"] for e in record["files"] if e.get("pod")}),
        "kubelet": bool(record.get("kubelet")),
    }
    if record.get("phase") == "succeeded":
        _complete(node, record)
        journal.done()
        summary.update({"action": "completed", "ok": True, "problems": []})
        return summary
    problems = roll_back(node, record)
    if not problems:
        # Files and kubelet are back: the transaction is undone even if a pod is slow.
        journal.done()
    outcome = wait_previous(node, record, wait)
    for name, verdict in sorted(outcome.items()):
        if verdict is not True:
            problems.append("previous pod %s does not run again: %s" % (name, verdict))
    summary.update({"action": "rolled back", "ok": not problems, "problems": problems})
    return summary


def describe(recovered):
    """One line for the operator."""
    text = "an unfinished transaction (%s, phase %s, by %s at %s) was %s" % (
        recovered.get("transaction"),
        recovered.get("phase"),
        recovered.get("holder"),
        recovered.get("started"),
        recovered.get("action"),
    )
    if recovered.get("problems"):
        text += ": " + "; ".join(recovered["problems"])
    return text
