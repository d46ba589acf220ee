"""The apply call: a plan made by the control host, carried out under the node lock, as one
journaled transaction (see ``journal``): every check before the first write, the journal
before the first write, and either every change made and its pods running, or every
change undone, the kubelet's configuration included, and the previous pods running again.

The order within it: the kubelet's configuration; then each pod's files and then its
manifest (``manifest_change``: the new pod starts with its files in place); the wait; then
the files the changes remove (a removed pod is gone by then, an updated one runs without
them); the journal's ``succeeded``. A failure anywhere undoes the changes it concerns,
files before manifests, and waits for the previous pods.
"""

import os

from ..protocol import MANIFEST_SUFFIX, STALE_PLAN, messages
from ..system import AgentError
from ..system.files import read_bytes, remove_stale_temporaries, sha256_bytes, unsafe_directory
from ..system.lock import NodeLock
from ..system.state import load_state
from .journal import Journal
from .journal import load as load_journal
from .kubelet_change import apply_kubelet, check_kubelet_files
from .manifest_change import PodChange, undo_all
from .record import journal_record
from .recovery import recover, restore_kubelet, roll_back, wait_previous
from .wait import wait_for


def _check_directories(node, directories):
    for directory in directories:
        problem = unsafe_directory(directory, node.trusted_above)
        if problem:
            raise AgentError("refusing manifest directory %s: %s" % (directory, problem))


def _waits(node, request, directory, node_name):
    """Pods whose file is unchanged but which must run; each file must still hold the
    bytes the plan saw (a run waits only for content it planned from)."""
    waits = []
    for spec in request["wait_running"]:
        name = spec["pod"]
        change = PodChange(
            node,
            {
                "pod": name,
                "action": "unchanged",
                "file": spec["file"] or name + MANIFEST_SUFFIX,
                "sources": spec["sources"],
                "restart_policy": spec["restart_policy"],
            },
            directory,
            node_name,
        )
        if spec["expected_sha256"] is not messages.ANY_CONTENT:
            data = read_bytes(change.path)
            found = sha256_bytes(data) if data is not None else None
            if found != spec["expected_sha256"]:
                raise AgentError(
                    "%s changed on the node since spctl read it (another run changed or "
                    "rolled it back); rerun" % change.path
                )
        waits.append(change)
    return waits


def apply(node, raw):
    head = messages.read_apply_request_head(raw)
    node_name = head["node_name"]
    node.node_ip = head["node_ip"]  # hostNetwork probes (k3s's and rke2's node-ip)
    directory = head["manifest_dir"]
    timeout = head["timeout"]
    stable_for = head["stable_for"]
    answer = {"kubelet_restarted": False, "pods": []}
    if head["changes_pods"] and not directory:
        raise AgentError("no manifest directory given for the pods to change")
    lock = NodeLock(node, head["holder"], head["wait_lock"])
    with lock:
        found = load_journal(node)
        if found is not None:
            answer["recovered"] = recover(node, found)
        if head["planned_while_busy"]:
            # Its facts may show a change that the other run then undid (or finished
            # otherwise): nothing planned from them is sure. Plan again from now.
            raise AgentError(
                "%s: the node was locked by another spctl run while this one read its "
                "facts; rerun (with --wait-lock, spctl plans again by itself)" % STALE_PLAN
            )
        # Every check comes before any write: a plan made from stale facts changes nothing.
        request = messages.read_apply_request(raw)
        specs = request["changes"]
        state = load_state(node)
        changes = [PodChange(node, spec, directory, node_name) for spec in specs]
        retired = [os.path.dirname(s["from_path"]) for s in specs if s["from_path"]]
        if specs:
            _check_directories(node, sorted(set([directory] + retired)))
        kubelet_change = request["kubelet"]
        forbidden = _not_for_pod_files(node, [directory] + retired, kubelet_change)
        _check_one_writer(changes)
        for change in changes:
            change.check(state, forbidden)
        waits = _waits(node, request, directory, node_name)
        if kubelet_change:
            check_kubelet_files(kubelet_change)
        current = node.pods()["pods"]
        _note_running_pods(changes, current)
        if not changes and not kubelet_change:
            _wait_only(node, waits, timeout, stable_for, answer)
            return messages.apply_answer(**answer)
        journal = Journal.begin(
            node, journal_record(request, changes, kubelet_change, node, current, waits)
        )
        try:
            _transaction(node, journal, request, changes, waits, state, answer)
        except BaseException:
            # Whatever broke the transaction half-way, undo it as the next run would.
            if os.path.exists(node.paths.journal_file):
                roll_back(node, journal.record)
                journal.done()
                wait_previous(node, journal.record, timeout)
            raise
    return messages.apply_answer(**answer)


def _not_for_pod_files(node, directories, kubelet_change):
    """Where no pod's file may be: the manifest directories (the kubelet would read it as
    a pod), spctl's state, the kubelet's own files and directories."""
    places = [d for d in directories if d] + [node.paths.state_dir]
    if kubelet_change:
        places += [f["path"] for f in kubelet_change["files"]]
        places += [d for d in (kubelet_change["dir_before"], kubelet_change["expect_dir"]) if d]
    return sorted(set(places))


def _check_one_writer(changes):
    """No two pods' changes name one file: each would undo the other."""
    seen = {}
    for change in changes:
        for f in change.files:
            if f.path in seen:
                raise AgentError(
                    "%s is a file of both pod %s and pod %s; one file belongs to one pod"
                    % (f.path, seen[f.path], change.name)
                )
            seen[f.path] = change.name


def _undone(problems, done="nothing was changed"):
    """What an undo left: ``done`` when it put everything back, else what it could not;
    never "nothing was changed" for a node that kept part of the change."""
    if not problems:
        return done
    return "the change was undone except: " + "; ".join(problems)


def _remove_files(changes, outcome, state):
    """The files the settled changes drop (their pods are gone, or run without them); a
    removal that fails fails its change, which is then undone with the others."""
    for change in changes:
        if outcome.get(change.name) is True and change.removals():
            try:
                change.remove_files(state)
            except OSError as exc:
                outcome[change.name] = "cannot remove %s: %s" % (
                    change.writing,
                    exc.strerror or exc,
                )


def _note_running_pods(changes, current):
    """Which pod each change replaces or keeps, from the pods running before any write."""
    for change in changes:
        pod = change.find(current)
        change.original_uid = pod["uid"] if pod else None
        if change.action in ("update", "rollback", "move") or change.from_path:
            # The new pod is the one with another UID; until then the old one may
            # still be running and must not be taken for it.
            change.before_uid = change.original_uid
        elif change.action == "adopt":
            # Same pod: the kubelet hashes the decoded, defaulted pod, so its UID stays (the
            # plan adopts only then); waiting for that UID shows it did.
            change.want_uid = change.original_uid


def _wait_only(node, waits, timeout, stable_for, answer):
    outcome = wait_for(node, waits, timeout, stable_for) if waits else {}
    for change in waits:
        _report_wait(change, outcome, answer)


def _report_wait(change, outcome, answer):
    verdict = outcome.get(change.name)
    answer["pods"].append(
        messages.pod_result(
            name=change.name,
            action="unchanged",
            ok=verdict is True,
            phase=change.result["phase"],
            error=None if verdict is True else verdict,
        )
    )


def _transaction(node, journal, request, changes, waits, state, answer):
    directory = request["manifest_dir"]
    timeout = request["timeout"]
    stable_for = request["stable_for"]
    kubelet_change = request["kubelet"]
    if kubelet_change and request["switch"]:
        _switch(node, journal, kubelet_change, changes, state, directory, answer)
    elif kubelet_change:
        try:
            answer["kubelet_restarted"] = apply_kubelet(
                node,
                kubelet_change,
                on_written=lambda: journal.phase("kubelet-written"),
                on_restarted=lambda: journal.phase("kubelet-restarted"),
            )["restarted"]
        except AgentError:
            journal.done()  # apply_kubelet put the previous configuration back itself
            raise
    if directory:
        node.fs.makedirs(directory)
        remove_stale_temporaries(directory)
    written = []
    try:
        for change in changes if not journal.record.get("switch") else ():
            written.append(change)
            change.write(state)
    except OSError as exc:
        # A full disk or a read-only directory: undo what was written, keep the old pods.
        change = written[-1]
        problems = undo_all(reversed(written), state)
        remove_stale_temporaries(directory)
        done = "nothing was changed"
        if kubelet_change:
            restarted, kubelet_problems = restore_kubelet(node, journal.record)
            problems += kubelet_problems
            done = (
                "the kubelet's previous configuration was restored%s and no manifest "
                % (" (and the kubelet restarted)" if restarted else "")
                + "was changed"
            )
        journal.done()
        raise AgentError(
            "cannot write %s: %s; %s"
            % (change.writing, exc.strerror or exc, _undone(problems, done))
        ) from None
    journal.phase("manifests-written")
    outcome = _wait_all(node, changes, waits, timeout, stable_for)
    _remove_files(changes, outcome, state)
    failed = [c for c in changes if outcome.get(c.name) is not True]
    if not failed:
        journal.phase("succeeded")
        journal.done()
    else:
        # With the kubelet pointed elsewhere, a failure anywhere undoes everything: the
        # kubelet goes back to its previous directory, so every change must go back with it.
        undo = list(changes) if kubelet_change else failed
        if journal.record.get("switch"):
            # No moment with both sources: the files go back while the kubelet is stopped.
            node.systemd.stop(kubelet_change["unit"])
        for change in undo:
            if change not in failed:
                change.result["error"] = "undone with the rest of the transaction"
            else:
                change.result["error"] = outcome[change.name]
            change.result["rolled_back"] = True
        for problem in undo_all(undo, state):
            answer.setdefault("errors", []).append(problem)
        if kubelet_change:
            restarted, problems = restore_kubelet(node, journal.record)
            answer["kubelet_restored"] = True
            answer["kubelet_restarted"] = answer["kubelet_restarted"] or restarted
            answer.setdefault("errors", []).extend(problems)
            if not answer["errors"]:
                del answer["errors"]
        journal.done()
        # The previous version is back at the same path, so it gets its old UID: wait
        # until that pod runs again before reporting.
        for change in undo:
            change.before_uid = None
            change.want_uid = change.original_uid
            # A created file that retired the pod's file of the previous directory: that
            # pod comes back, so it is waited for, not the absence of the name.
            gone = change.previous is None and change.from_previous is None
            change.action = "remove" if gone else "restore"
        back = [c for c in undo if c.action == "remove" or c.want_uid]
        restored = wait_for(node, back, timeout, stable_for) if back else {}
        for change in back:
            if restored.get(change.name) is not True:
                change.result["error"] += "; after rollback: %s" % restored[change.name]
        if kubelet_change:
            outcome = {c.name: False for c in undo}
    for change in changes:
        change.result["ok"] = outcome.get(change.name) is True
        answer["pods"].append(messages.pod_result(**change.result))
    for change in waits:
        _report_wait(change, outcome, answer)


def _switch(node, journal, kubelet_change, changes, state, directory, answer):
    """A change of source (directory <-> URL, see docs/url-mode.md): stop the kubelet,
    remove or write the pods' files, change its configuration, start it. No running
    kubelet ever sees one pod from both sources; the pods' containers keep running while
    it is stopped, so they are lost for no longer than this one restart. On failure the
    files go back (with the kubelet stopped again) and so does its configuration."""
    unit = kubelet_change["unit"]
    node.systemd.stop(unit)
    journal.phase("kubelet-stopped")
    written = []

    def undo_files():
        return undo_all(reversed(written), state)

    try:
        if directory:
            node.fs.makedirs(directory)
            remove_stale_temporaries(directory)
        for change in changes:
            written.append(change)
            change.write(state)
    except OSError as exc:
        problems = undo_files()
        problems += restore_kubelet(node, journal.record)[1]
        journal.done()
        raise AgentError(
            "cannot write %s: %s; %s"
            % (
                written[-1].writing,
                exc.strerror or exc,
                _undone(problems, "nothing was changed and the kubelet runs again as before"),
            )
        ) from None
    journal.phase("manifests-written")
    try:
        answer["kubelet_restarted"] = apply_kubelet(
            node,
            kubelet_change,
            on_written=lambda: journal.phase("kubelet-written"),
            on_restarted=lambda: journal.phase("kubelet-restarted"),
            on_failure=lambda: (node.systemd.stop(unit), undo_files()),
        )["restarted"]
    except AgentError:
        journal.done()  # the files and the kubelet's configuration are as before
        raise


def _wait_all(node, changes, waits, timeout, stable_for):
    """{pod name: True | error} for the changes and the waits. A wait for a pod of another
    source under a changed pod's name (a switch to the URL removes the file pod, then waits
    for the http pod) comes after that change settles, and its verdict is the pod's."""
    names = set(c.name for c in changes)
    later = [w for w in waits if w.name in names]
    first = list(changes) + [w for w in waits if w.name not in names]
    outcome = wait_for(node, first, timeout, stable_for) if first else {}
    if later:
        for name, verdict in wait_for(node, later, timeout, stable_for).items():
            if outcome.get(name) is True:
                outcome[name] = verdict
    return outcome
