"""Everything the agent touches on a node, behind one seam.

Paths are named by their role, as kubeadm's StaticPodPathManager names its real, temporary
and backup manifest paths (cmd/kubeadm/app/phases/upgrade/staticpods.go): a manifest's
*live* path is where the kubelet reads it, its *temporary* path is where it is staged
before the rename, its *backup* paths are under the state directory. The services the
transactions call (the file system's steps, systemd, the container runtime, the kubelet's
healthz, the clock) are attributes a test replaces, so every step can fail on cue against
a temporary directory tree.
"""

import os

from . import protocol
from .system import files


class Paths:
    """The agent's own files, by role, under one state directory."""

    def __init__(self, state_dir=protocol.STATE_DIR):
        self.state_dir = state_dir
        self.state_file = os.path.join(state_dir, "state.json")
        self.lock_file = os.path.join(state_dir, "lock")
        self.holder_file = self.lock_file + ".holder"
        self.journal_file = os.path.join(state_dir, "journal.json")
        self.backup_dir = os.path.join(state_dir, "backups")

    def manifest_backups(self, pod):
        """The directory of one pod's manifest backups (newest name sorts last)."""
        return os.path.join(self.backup_dir, "manifests", pod)

    def file_backups(self, pod):
        """The directory of one pod's file backups: one directory per change, named as
        the manifest backup the same change made (``system.state.backup_files``)."""
        return os.path.join(self.backup_dir, "files", pod)

    def kubelet_backup(self, stamp, live):
        """Where a kubelet configuration file is kept before a change (its full path
        under a directory named by the time of the change)."""
        return os.path.join(self.backup_dir, "kubelet", stamp + live)

    @staticmethod
    def temporary(live):
        """Where a new version of ``live`` is staged before it is renamed into place."""
        return files.temporary_path(live)


class Clock:
    def time(self):
        import time

        return time.time()

    def monotonic(self):
        import time

        return time.monotonic()

    def sleep(self, seconds):
        import time

        time.sleep(seconds)


class Node:
    """The node as one agent call sees it. Defaults are the real thing."""

    def __init__(
        self,
        paths=None,
        fs=None,
        systemd=None,
        clock=None,
        runtime=None,
        healthz=None,
        trusted_above=None,
        kubelet_log=None,
    ):
        self.paths = paths or Paths()
        # Where the ownership check of manifest directories stops going up (None: at /);
        # tests build their trees under /tmp, which no manifest directory may be under.
        self.trusted_above = trusted_above
        from .system.kubelet import process_start

        self.process_start = process_start  # when a process started (tests replace it)
        self.fs = fs or files.REAL
        if systemd is None:
            from .system.systemd import Systemd

            systemd = Systemd()
        self.systemd = systemd
        self.clock = clock or Clock()
        self._runtime = runtime
        self._runtime_injected = runtime is not None
        if healthz is None:
            from .system.http import url_ok as healthz
        self.healthz = healthz
        # The kubelet's log from an epoch time on: a kubelet_log.KubeletLog (tests replace it).
        self.kubelet_log = kubelet_log or self._kubelet_journal
        # The node IP the control host resolved from files the kubelet's command line does
        # not show (k3s's and rke2's node-ip), for hostNetwork probes; None: found here.
        self.node_ip = None

    def runtime(self):
        """The container runtime the kubelet uses, chosen once per call (from the usual
        kubelet units' command lines unless ``choose_runtime`` was told them)."""
        if self._runtime is None:
            from .system.systemd import kubelet_cmdlines

            self.choose_runtime(kubelet_cmdlines(self.systemd.show(list(protocol.KUBELET_UNITS))))
        return self._runtime

    def choose_runtime(self, cmdlines):
        """Choose the runtime from the kubelet's command lines (an injected one stays)."""
        if not self._runtime_injected:
            from .runtime import Runtime

            self._runtime = Runtime.for_kubelet(cmdlines)

    def forget_runtime(self):
        """Choose again at the next read (the kubelet was restarted with new flags)."""
        if not self._runtime_injected:
            self._runtime = None

    def pods(self):
        """The runtime's answer: {"runtime", "endpoint", "error", "pods": [summary...]}."""
        return self.runtime().read()

    def container_output(self, container):
        """The last lines a container (a pod summary's entry) wrote: (lines, cut) or None."""
        read = getattr(self.runtime(), "container_output", None)
        return read(container) if read is not None else None

    def _kubelet_journal(self, since):
        from .system.kubelet_log import Journal, KubeletLog

        units = list(protocol.KUBELET_UNITS)

        def main_pids():
            return {u: props.get("MainPID") for u, props in self.systemd.show(units).items()}

        return KubeletLog(Journal(units, since), main_pids)
