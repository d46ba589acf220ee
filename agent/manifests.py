"""Changing static pod manifests as transactions: check, back up, write, wait for the pod,
and put the previous file back when the pod does not come up.

Read as kubeadm's upgrade of one static pod (cmd/kubeadm/app/phases/upgrade/
staticpods.go): every check comes before any write; the live file is replaced by a rename
from its temporary path; after every step that can fail, the previous bytes go back.
"""

import os

from .protocol import MANIFEST_SUFFIX, SOURCE_FILE
from .runtime import pods as podlib
from .system.errors import AgentError
from .system.files import atomic_write, read_bytes, read_original, remove, sha256_bytes
from .system.state import save_state

KEEP_BACKUPS = 5


def backups_of(node, pod):
    """Backup file names of one pod, newest first."""
    try:
        names = os.listdir(node.paths.manifest_backups(pod))
    except OSError:
        return []
    return sorted((n for n in names if n.endswith(MANIFEST_SUFFIX)), reverse=True)


def backup_manifest(node, pod, content):
    import time

    directory = node.paths.manifest_backups(pod)
    node.fs.makedirs(directory, 0o700)
    now = node.clock.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "%06dZ" % (now % 1 * 1e6)
    path = os.path.join(directory, stamp + MANIFEST_SUFFIX)
    atomic_write(path, content, 0o600, node.fs)
    for old in backups_of(node, pod)[KEEP_BACKUPS:]:
        try:
            os.unlink(os.path.join(directory, old))
        except OSError:
            pass
    return path


class PodChange:
    """One manifest's transaction: the file, what was there, and how to undo it.

    Actions: create, update, remove, rollback (the newest backup that differs goes back),
    and adopt (the file already holds this pod in other bytes, or was not written by
    spctl: it is rewritten as rendered and owned from now on; the pod does not change).
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
        self.kubelet_name = "%s-%s" % (self.name, node_name)
        self.previous = None  # bytes of the file before this change, None if absent
        self.was_owned = None  # the state entry before this change
        self.before_uid = None  # the pod being replaced: the new one has another UID
        self.want_uid = None  # the pod that must (still) run: after adopt, after a rollback
        self.original_uid = None
        self.result = {
            "name": self.name,
            "action": self.action,
            "ok": False,
            "phase": None,
            "error": None,
        }

    def find(self, pods):
        return podlib.find(pods, self.kubelet_name, self.namespace, self.sources)

    def check(self, state):
        """Read what is there now and refuse when it is not what the plan was made from."""
        self.previous = read_bytes(self.path)
        self.was_owned = state["manifests"].get(self.path)
        current = sha256_bytes(self.previous) if self.previous is not None else None
        if current != self.expected:
            raise AgentError("%s changed on the node since spctl read it; rerun" % self.path)
        if self.from_path:
            self.from_previous = read_bytes(self.from_path)
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
                    candidates.append(data)
            if not candidates:
                raise AgentError("%s: no earlier version backed up on this node" % self.name)
            self.content = candidates[0]

    def write(self, state):
        fs = self.node.fs
        if self.previous is not None and self.action != "adopt":
            backup_manifest(self.node, self.name, self.previous)
        if self.action == "remove":
            remove(self.path, fs)
            state["manifests"].pop(self.path, None)
        else:
            atomic_write(self.path, self.content, 0o644, fs)
            state["manifests"][self.path] = {"pod": self.name, "sha256": sha256_bytes(self.content)}
        if self.from_path and self.from_previous is not None:
            remove(self.from_path, fs)
            state["manifests"].pop(self.from_path, None)
        save_state(self.node, state)

    def undo(self, state):
        """Put back exactly what was there, ownership included."""
        if self.previous is None:
            if os.path.lexists(self.path):
                remove(self.path, self.node.fs)
        elif read_original(self.path)[0] != self.previous:
            atomic_write(self.path, self.previous, 0o644, self.node.fs)
        if self.was_owned is None:
            state["manifests"].pop(self.path, None)
        else:
            state["manifests"][self.path] = self.was_owned
        if self.from_path and self.from_previous is not None:
            if read_original(self.from_path)[0] != self.from_previous:
                atomic_write(self.from_path, self.from_previous, 0o644, self.node.fs)
            if self.from_owned is not None:
                state["manifests"][self.from_path] = self.from_owned
        save_state(self.node, state)

    def journal_files(self):
        """This change's files for the journal: (path, before, after) each."""
        from .journal import file_entry

        after = None if self.action == "remove" else self.content
        entries = [file_entry(self.path, "manifest", self.previous, 0o644, after, self.name)]
        if self.from_path:
            entries.append(
                file_entry(self.from_path, "manifest", self.from_previous, 0o644, None, self.name)
            )
        return entries


def pod_settled(change, pods, stable_since, stable_for, now, prober=None):
    """None while waiting, True when done, or an error string when the pod failed.

    With a ``prober`` (probes.prober.PodProber), a running pod is up only while its startup and
    readiness probes pass; the stable time counts from when they last started passing.

    While one pod replaces another both can exist under the same name for a moment; the
    one that counts is the pod with the expected UID (a rollback puts the old content back
    at the same path, so the old pod's UID returns), or else any UID but the replaced one.
    """
    same_name = [
        p
        for p in pods
        if podlib.is_static(p, change.kubelet_name, change.namespace, change.sources)
    ]
    if change.action == "remove":
        return True if not same_name else None
    if change.want_uid:
        candidates = [p for p in same_name if p["uid"] == change.want_uid]
    else:
        candidates = [p for p in same_name if p["uid"] != change.before_uid]
    if not candidates:
        stable_since.pop(change.name, None)
        return None
    pod = max(candidates, key=lambda p: p["phase"] == "Running")
    if pod["phase"] == "Failed":
        return "the pod failed (%s)" % podlib.container_summary(pod)
    if pod["phase"] != "Running":
        stable_since.pop(change.name, None)
        if pod["restarts"] >= 2:
            return "containers keep restarting (%s)" % podlib.container_summary(pod)
        return None
    if prober is not None and not prober.ready(pod, now):
        stable_since.pop(change.name, None)
        return None
    first = stable_since.setdefault(change.name, (now, pod["uid"], pod["restarts"]))
    if first[1] != pod["uid"]:
        stable_since[change.name] = (now, pod["uid"], pod["restarts"])
        return None
    if pod["restarts"] != first[2]:
        return "containers keep restarting (%s)" % podlib.container_summary(pod)
    return True if now - first[0] >= stable_for else None


def wait_for(node, changes, timeout, stable_for):
    """Poll the runtime until every change settles; return {pod name: True | error}."""
    from .probes.prober import PodProber
    from .probes.runner import NodeRunner

    clock = node.clock
    deadline = clock.monotonic() + timeout
    stable_since = {}
    outcome = {}
    # Probes are the new pod's: a rolled-back pod (restore) is waited for by today's rule.
    # No attempt runs past the deadline (a probe's timeoutSeconds may be longer than the
    # wait): the agent answers in time, within the control host's budget for the call.
    runner = NodeRunner(node)
    probers = {
        c.name: PodProber(c.probes, runner, clock, deadline)
        for c in changes
        if c.probes and c.action not in ("remove", "restore")
    }
    kubelet_log = node.kubelet_log(clock.time() - 1)
    log_every = 2.0
    next_log = clock.monotonic() + 1.0
    while True:
        pods = node.pods()["pods"]
        now = clock.monotonic()
        if now >= next_log:
            next_log = now + log_every
            kubelet_log.poll()  # reads on from the last poll (kubelet_log.Journal.read)
        for change in changes:
            if change.name in outcome:
                continue
            if change.action not in ("remove", "restore", "unchanged"):
                # The kubelet said it will not run this file or pod: no point waiting.
                reason = kubelet_log.failure(
                    change.path, change.kubelet_name, change.namespace, change.before_uid
                )
                if reason:
                    outcome[change.name] = reason
                    change.result["phase"] = (change.find(pods) or {}).get("phase", "Absent")
                    continue
            prober = probers.get(change.name)
            verdict = pod_settled(change, pods, stable_since, stable_for, now, prober)
            if verdict is not None:
                outcome[change.name] = verdict
                change.result["phase"] = (change.find(pods) or {}).get("phase", "Absent")
        if len(outcome) == len(changes):
            return outcome
        # The clock again: the probes above may have used the rest of the time.
        if now >= deadline or (probers and clock.monotonic() >= deadline):
            for change in changes:
                if change.name not in outcome:
                    pod = change.find(pods)
                    change.result["phase"] = pod["phase"] if pod else "Absent"
                    outcome[change.name] = "not settled within %ds (%s)" % (
                        timeout,
                        "pod %s" % pod["phase"] if pod else "no pod seen",
                    )
                    prober = probers.get(change.name)
                    if pod and prober is not None and prober.why:
                        outcome[change.name] += ": not ready: %s" % prober.why
                    if kubelet_log.journal.problem:  # no reason could be read from it
                        outcome[change.name] += "; the kubelet's journal could not be read: %s" % (
                            kubelet_log.journal.problem
                        )
            return outcome
        clock.sleep(0.5)


def undo_all(changes, state):
    """Undo each change; one that cannot be undone does not stop the others."""
    problems = []
    for change in changes:
        try:
            change.undo(state)
        except OSError as exc:
            problems.append("could not restore %s: %s" % (change.path, exc.strerror or exc))
    return problems
