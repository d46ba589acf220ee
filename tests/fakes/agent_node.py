"""Stand-ins for what the agent touches on a node: systemd, the clock, the runtime, and a
file system whose steps fail on cue. Each records what was asked of it."""

from __future__ import annotations

import os

from spctl_agent.node import Node, Paths
from spctl_agent.system.files import TEMP_MARK, FileSystem, is_temporary


class FakeClock:
    """Time that passes only when the agent sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeSystemd:
    """A kubelet unit: restarts bump its pid; ``restart_fails`` makes restart raise."""

    def __init__(self, cmdline=("kubelet",)) -> None:
        self.cmdline = list(cmdline)
        self.pid = 100
        self.active = True
        self.restarts: list[str] = []
        self.restart_fails = 0  # how many restarts fail before they work again
        self.stops: list[str] = []

    def show(self, units):
        return {
            u: {
                "LoadState": "loaded",
                "ActiveState": "active" if self.active else "failed",
                "MainPID": str(self.pid),
                "cmdline": list(self.cmdline),
            }
            for u in units
        }

    def is_active(self, unit):
        return self.active

    def restart(self, unit, daemon_reload=False):
        self.restarts.append(unit)
        if self.restart_fails:
            self.restart_fails -= 1
            from spctl_agent.system import AgentError

            raise AgentError(f"systemctl restart {unit}.service failed: Job failed")
        self.pid += 1
        self.active = True

    def stop(self, unit):
        self.stops.append(unit)
        self.active = False


class FakeRuntime:
    """Answers with ``self.pods`` (summaries), or with what ``script`` returns."""

    def __init__(self, pods=None, script=None) -> None:
        self.pods = list(pods or [])
        self.script = script
        self.reads = 0
        self.outputs: dict = {}  # container id -> (lines, cut): what container_output answers

    def read(self):
        self.reads += 1
        pods = self.script(self.reads) if self.script else self.pods
        return {"runtime": "fake", "endpoint": None, "error": None, "pods": pods}

    def container_output(self, container):
        return self.outputs.get(container.get("id"))


class FailingFileSystem(FileSystem):
    """Fails the ``n``-th call (1-based) of one step for one file: the file whose live path
    is ``where`` (its temporary's too), or with ``anywhere``, any path containing ``where``."""

    def __init__(self, step: str, where: str, n: int = 1, anywhere: bool = False) -> None:
        self.step = step
        self.where = where
        self.n = n
        self.anywhere = anywhere
        self.calls: dict[str, int] = {}
        self._fd_paths: dict[int, str] = {}

    def _matches(self, path: str) -> bool:
        if self.anywhere:
            return self.where in path
        directory, name = os.path.split(path)
        if is_temporary(name):
            name = name[1:].split(TEMP_MARK)[0]
        return os.path.join(directory, name) == self.where

    def _hit(self, step: str, path: str) -> None:
        if step != self.step or not self._matches(path):
            return
        self.calls[step] = self.calls.get(step, 0) + 1
        if self.calls[step] == self.n:
            raise OSError(28, f"No space left on device (injected at {step})", path)

    def create(self, path, mode):
        self._hit("create", path)
        fd = super().create(path, mode)
        self._fd_paths[fd] = path
        return fd

    def write(self, fd, data):
        self._hit("write", self._fd_paths.get(fd, ""))
        super().write(fd, data)

    def fsync(self, fd):
        self._hit("fsync", self._fd_paths.get(fd, ""))
        super().fsync(fd)

    def fchown(self, fd, uid, gid):
        self._hit("fchown", self._fd_paths.get(fd, ""))
        super().fchown(fd, uid, gid)

    def rename(self, src, dst):
        self._hit("rename", dst)
        super().rename(src, dst)

    def unlink(self, path):
        self._hit("unlink", path)
        super().unlink(path)

    def mkdir(self, path, mode=0o755):
        self._hit("mkdir", path)
        super().mkdir(path, mode)


def pod(name="static-web-n1", uid="u1", phase="Running", restarts=0, source="file", **extra):
    """A pod summary as runtime.pods.summarize gives it: by default its one container runs
    (ready); ``state`` another state of that container (``exited`` with ``exit_code``: it
    crashed, and a Running pod waits for its restart)."""
    state = extra.get("state") or ("running" if phase == "Running" else "exited")
    summary = {
        "pod": name,
        "namespace": "default",
        "uid": uid,
        "phase": phase,
        "ready": phase == "Running" and state == "running",
        "restarts": restarts,
        "created": 1,
        "sandbox_ready": True,
        "annotations": {"kubernetes.io/config.source": source},
        "containers": [
            {
                "name": "web",
                "id": uid + "-web",
                "state": state,
                "restarts": restarts,
                "exit_code": extra.get("exit_code"),
                "reason": extra.get("reason"),
                "last_exit_code": extra.get("last_exit_code"),
                "last_reason": None,
                "stale": False,
            }
        ],
    }
    return summary


def quiet_kubelet_log(since):
    """A kubelet whose journal has nothing to say."""
    from spctl_agent.system.kubelet_log import Journal, KubeletLog

    return KubeletLog(Journal(["kubelet"], since, run=lambda args: (b"", None)), dict)


def make_node(tmp_path, **kwargs) -> Node:
    kwargs.setdefault("paths", Paths(str(tmp_path / "state")))
    kwargs.setdefault("systemd", FakeSystemd())
    kwargs.setdefault("clock", FakeClock())
    kwargs.setdefault("runtime", FakeRuntime())
    kwargs.setdefault("healthz", lambda url: True)
    kwargs.setdefault("kubelet_log", lambda since: quiet_kubelet_log(since))
    # The tree lives under /tmp (mode 1777), which the agent refuses for manifests: only
    # the tree itself is checked.
    kwargs.setdefault("trusted_above", str(tmp_path))
    node = Node(**kwargs)
    node.process_start = lambda pid: 0.0
    return node


def tree(root) -> dict[str, bytes]:
    """Every file under ``root``: {relative path: bytes}."""
    found = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as fh:
                found[os.path.relpath(path, root)] = fh.read()
    return found
