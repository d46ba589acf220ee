"""Recovery: finishing or undoing the unfinished transaction a killed run left (see
``journal``), file by file, the ownership state and the kubelet included.

The rule for an unfinished transaction found by a later run (apply, facts, status), under
the node lock: one whose phase is ``succeeded`` had its pods run and stay up, so it is
completed (the ownership state is brought to its "after" and the journal removed); any
other phase is rolled back: every file goes back to its "before" bytes, the ownership
state to ``owned_before``, the kubelet is restarted when its running command line is not
the one it had before (or it is not running), and the run then waits until every pod of
``pods_before`` runs again with its UID, or says that it does not.

A pod's files go back before the manifests (the previous pod starts on its previous
files), from the backups the journal names: bytes, mode and owner; a file the transaction
created is removed, and so are the directories it created, when empty. A file whose backup
is missing or damaged is a problem of the recovery, named, never passed over.
"""

import base64
import os

from ..system.files import (
    atomic_write,
    path_state,
    read_file,
    read_regular,
    remove,
    remove_stale_temporaries,
    sha256_bytes,
)
from ..system.kubelet import wait_healthy
from ..system.state import load_state, save_state
from .file_change import remove_empty_dirs, restore
from .manifest_change import PodChange
from .wait import wait_for


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


def _restore_pod_file(node, entry):
    path = entry["path"]
    before = entry["before_sha256"]
    if before is None:
        restore(node, path, None, None)
    else:
        meta = {"mode": entry["mode"], "uid": entry["uid"], "gid": entry["gid"]}
        now = path_state(path)
        as_before = now["exists"] and now.get("sha256") == before
        if not (as_before and all(now[k] == meta[k] for k in meta)):
            data = read_regular(entry["backup"])[0]
            if data is None or sha256_bytes(data) != before:
                raise OSError("its backup %s is missing or damaged" % entry["backup"])
            restore(node, path, data, meta)
    remove_stale_temporaries(os.path.dirname(path))
    remove_empty_dirs(node, entry["dirs"])


def restore_pod_files(node, record):
    """Every pod's file back as it was, the last written first; a list of problems."""
    problems = []
    for entry in reversed(record.get("pod_files") or []):
        try:
            _restore_pod_file(node, entry)
        except OSError as exc:
            problems.append("could not restore %s: %s" % (entry["path"], exc.strerror or exc))
    return problems


def restore_kubelet(node, record):
    """The kubelet's files as before and, when the running kubelet is not the one from
    before (another command line, or not running), a restart and a wait for health.
    Returns (restarted, problems)."""
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
    state = load_state(node)
    for entry in record["files"]:
        if entry["role"] != "manifest":
            continue
        if entry["after_sha256"] is None:
            state["manifests"].pop(entry["path"], None)
        else:
            state["manifests"][entry["path"]] = {
                "pod": entry["pod"],
                "sha256": entry.get("owned_sha256") or entry["after_sha256"],
            }
    for entry in record.get("pod_files") or []:
        if entry["after_sha256"] is None:
            state["files"].pop(entry["path"], None)
        else:
            state["files"][entry["path"]] = {"pod": entry["pod"], "sha256": entry["after_sha256"]}
    save_state(node, state)


def _restore_state(node, record):
    state = load_state(node)
    for path, owned in (record.get("owned_before") or {}).items():
        if owned is None:
            state["manifests"].pop(path, None)
        else:
            state["manifests"][path] = owned
    for path, owned in (record.get("owned_files_before") or {}).items():
        if owned is None:
            state["files"].pop(path, None)
        else:
            state["files"][path] = owned
    save_state(node, state)


def roll_back(node, record):
    """Undo a whole transaction: manifests, ownership, the kubelet; then wait for the
    previous pods. Returns a list of problems (empty: the node is as before)."""
    if record.get("switch") and record.get("kubelet"):
        # A change of source: put the files back with the kubelet stopped, so that it never
        # sees one pod from both the directory and the URL (restore_kubelet starts it).
        try:
            node.systemd.stop(record["kubelet"]["unit"])
        except Exception:  # noqa: S110 - restore_kubelet below reports a kubelet that is not back
            pass
    # The pods' files first: a previous pod the manifests bring back starts on its files.
    problems = restore_pod_files(node, record)
    problems += restore_files(node, record, ("manifest",))
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
        "pods": sorted(
            {e["pod"] for e in record["files"] + (record.get("pod_files") or []) if e.get("pod")}
        ),
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
