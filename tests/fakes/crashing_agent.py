"""Runs the agent in its own process against a temporary tree, and SIGKILLs that process at
a named step of a transaction. Test code only: ``python -m tests.fakes.crashing_agent ROOT
[STEP]`` with the request on stdin, the answer on stdout.

Everything the node is lives in files of ROOT, so a killed process leaves a node the next
run can read:

    ROOT/etc/kubelet-flags     the kubelet's configuration (its command line words)
    ROOT/kubelet.json          the running kubelet: {"flags": the words it started with,
                               "pid": bumped at each restart}
    ROOT/manifests, ROOT/new   manifest directories; ROOT/state the agent's state

The fake kubelet watches ``--pod-manifest-path`` of its *running* flags (ROOT/manifests
without one) and runs one static pod per file there: UID the hash of path and bytes (as the
kubelet's own UID covers the file's path and content, pkg/kubelet/config/common.go), Failed
when the bytes hold "crash", else Running.

Steps (where the process dies): journal (the journal is on disk, nothing else changed),
kubelet-edit (the kubelet's file is rewritten), restart (the kubelet restarted on it),
write (a manifest is written), wait (the agent is polling the runtime for the new pods),
succeeded (the journal recorded that the pods ran); with a pod's files under ROOT/etc/app:
pod-file (a pod's file is written, its manifest not yet), undo (the wait failed and the
first pod's file is being put back).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys

from spctl_agent.main import handle
from spctl_agent.node import Node, Paths
from spctl_agent.system.files import FileSystem

from tests.fakes.agent_node import FakeClock


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Tree:
    def __init__(self, root: str) -> None:
        self.root = root
        self.flags_file = os.path.join(root, "etc", "kubelet-flags")
        self.kubelet_file = os.path.join(root, "kubelet.json")

    def kubelet(self) -> dict:
        with open(self.kubelet_file) as fh:
            return json.load(fh)

    def write_kubelet(self, state: dict) -> None:
        tmp = self.kubelet_file + ".new"
        with open(tmp, "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, self.kubelet_file)

    def watched(self) -> str:
        flags = self.kubelet()["flags"]
        for word in flags:
            if word.startswith("--pod-manifest-path="):
                return word.split("=", 1)[1]
        return os.path.join(self.root, "manifests")

    def pods(self, node_name: str = "n1") -> list[dict]:
        directory = self.watched()
        found = []
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)
            with open(path, "rb") as fh:
                data = fh.read()
            phase = "Failed" if b"crash" in data else "Running"
            found.append(
                {
                    "pod": "{}-{}".format(name.rsplit(".", 1)[0], node_name),
                    "namespace": "default",
                    "uid": hashlib.sha256(path.encode() + b"\0" + data).hexdigest()[:12],
                    "phase": phase,
                    "ready": phase == "Running",
                    "sandbox_ready": True,
                    "restarts": 0,
                    "created": 1,
                    "annotations": {"kubernetes.io/config.source": "file"},
                    "containers": [
                        {
                            "name": "c",
                            "state": "running" if phase == "Running" else "exited",
                            "restarts": 0,
                            "exit_code": None if phase == "Running" else 1,
                        }
                    ],
                }
            )
        return found


class FileKubelet:
    """systemd for a kubelet whose state is ROOT/kubelet.json."""

    def __init__(self, tree: Tree, kill_at: str) -> None:
        self.tree = tree
        self.kill_at = kill_at

    def show(self, units):
        state = self.tree.kubelet()
        return {
            u: {
                "LoadState": "loaded",
                "ActiveState": "active",
                "MainPID": str(state["pid"]),
                "cmdline": ["kubelet", *state["flags"]],
            }
            for u in units
        }

    def is_active(self, unit):
        return True

    def restart(self, unit, daemon_reload=False):
        with open(self.tree.flags_file) as fh:
            flags = fh.read().split()
        state = self.tree.kubelet()
        self.tree.write_kubelet({"flags": flags, "pid": state["pid"] + 1})
        if self.kill_at == "restart":
            die()


class FileRuntime:
    def __init__(self, tree: Tree, kill_at: str, journal: str) -> None:
        self.tree = tree
        self.kill_at = kill_at
        self.journal = journal

    def read(self):
        if self.kill_at == "wait" and _phase(self.journal) == "manifests-written":
            die()
        return {"runtime": "fake", "endpoint": None, "error": None, "pods": self.tree.pods()}


def _phase(journal: str):
    try:
        with open(journal) as fh:
            return json.load(fh).get("phase")
    except (OSError, ValueError):
        return None


class KillingFileSystem(FileSystem):
    """The real file system, and death right after the rename that completes a step."""

    def __init__(self, tree: Tree, kill_at: str, journal: str) -> None:
        self.tree = tree
        self.kill_at = kill_at
        self.journal = journal

    def rename(self, src, dst):
        super().rename(src, dst)
        if self.kill_at == "journal" and dst == self.journal and _phase(dst) == "begun":
            die()
        if self.kill_at == "succeeded" and dst == self.journal and _phase(dst) == "succeeded":
            die()
        if self.kill_at == "kubelet-edit" and dst == self.tree.flags_file:
            die()
        manifest_dirs = (
            os.path.join(self.tree.root, "manifests"),
            os.path.join(self.tree.root, "new"),
        )
        if self.kill_at == "write" and os.path.dirname(dst) in manifest_dirs:
            die()
        if os.path.dirname(dst) == os.path.join(self.tree.root, "etc", "app"):
            # Written before the manifests: after them, a rename there is the undo's.
            undoing = _phase(self.journal) == "manifests-written"
            if self.kill_at == ("undo" if undoing else "pod-file"):
                die()


def main() -> int:
    root = sys.argv[1]
    kill_at = sys.argv[2] if len(sys.argv) > 2 else ""
    tree = Tree(root)
    paths = Paths(os.path.join(root, "state"))
    node = Node(
        paths=paths,
        fs=KillingFileSystem(tree, kill_at, paths.journal_file),
        systemd=FileKubelet(tree, kill_at),
        clock=FakeClock(),
        runtime=FileRuntime(tree, kill_at, paths.journal_file),
        healthz=lambda url: True,
        trusted_above=root,
    )
    node.process_start = lambda pid: 0.0
    request = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(handle(request, node)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
