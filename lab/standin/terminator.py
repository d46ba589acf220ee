"""Stopping pods and containers in background threads, as the kubelet's pod workers do."""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any, Callable

from .log import log
from .pods import PodContainers, RuntimeContainer, logs_directory
from .runtime import RuntimeCallError

MAX_STOP_GRACE = 120  # cap on `docker stop -t`, so a lab pod never takes ages to go away


class Terminator:
    """Stops pods and containers in background threads, as the kubelet's pod workers do, so
    that one pod's 30 s grace period does not stall the sync loop for all the others."""

    def __init__(self, runtime: Any, root_dir: str) -> None:
        self.runtime, self.root_dir = runtime, root_dir
        self._busy: set = set()
        self._lock = threading.Lock()

    def busy(self, key: str) -> bool:
        with self._lock:
            return key in self._busy

    def _in_background(self, key: str, work: Callable[[], None]) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)

        def run() -> None:
            try:
                work()
            except (RuntimeCallError, OSError) as exc:
                log("E", "pod_workers.go", "Termination failed, will retry", key=key, err=exc)
            finally:
                with self._lock:
                    self._busy.discard(key)

        threading.Thread(target=run, daemon=True).start()

    def kill_container(self, c: RuntimeContainer) -> None:
        self._in_background(c.id, lambda: self._stop(c))

    def kill_pod(self, uid: str, pod: PodContainers) -> None:
        self._in_background(uid, lambda: self._kill_pod(uid, pod))

    def _stop(self, c: RuntimeContainer) -> None:
        grace = max(0, min(c.grace, MAX_STOP_GRACE))
        kv = {"pod": c.full_name, "containerName": c.container, "gracePeriod": grace}
        log("I", "kuberuntime_container.go", "Killing container with a grace period", **kv)
        self.runtime.stop_container(c, grace)

    def _kill_pod(self, uid: str, pod: PodContainers) -> None:
        apps = [c for c in pod.everything() if c.alive and c.container != "POD"]
        stoppers = [threading.Thread(target=self._stop, args=(c,)) for c in apps]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for c in pod.everything():  # containers first, then the sandboxes
            self.runtime.remove(c)
        shutil.rmtree(os.path.join(self.root_dir, "pods", uid), ignore_errors=True)
        namespace, name = pod.full_name.split("/", 1)
        shutil.rmtree(logs_directory(namespace, name, uid), ignore_errors=True)
        log("I", "kubelet.go", "Pod terminated", pod=pod.full_name, podUID=uid)
