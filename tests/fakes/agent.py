"""A node agent's answers for nodes served by tests.fakes.ssh_server: a fedora node whose
static pods the test changes between calls (phase, restarts), so that the control host
sees a real facts answer in the agent's format (agent/spctl_agent: op facts)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paramiko

from tests.fakes.ssh_server import FakeNode, client_key, read_stdin


class FakeAgent:
    """The agent of one fedora node named ``hostname``: answers every request with facts
    of its pods; ``set_pod`` changes a pod for the next answers."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.requests: list[dict] = []
        self.pods: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.apply_delay = 0.0  # an apply call takes this long (the agent waiting for pods)
        self.apply_error: str | None = None  # an apply whose pods fail, with this error

    def set_pod(self, name: str, phase: str = "Running", restarts: int = 0) -> None:
        state = "running" if phase == "Running" else "exited"
        with self.lock:
            self.pods[name] = {
                "pod": f"{name}-{self.hostname}",
                "namespace": "default",
                "uid": f"uid-{name}",
                "phase": phase,
                "ready": phase == "Running",
                "restarts": restarts,
                "created": 1_700_000_000.0,
                "annotations": {"kubernetes.io/config.source": "file"},
                "containers": [{"name": "web", "state": state, "restarts": restarts}],
            }

    def facts(self) -> dict:
        with self.lock:
            pods = list(self.pods.values())
        return {
            "ok": True,
            "hostname": self.hostname,
            "os_release": {"ID": "fedora"},
            "files": {
                "/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d"\n'
            },
            "units": {
                "kubelet": {
                    "LoadState": "loaded",
                    "ActiveState": "active",
                    "EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)",
                }
            },
            "dirs": {"/etc/kubelet.d": {"exists": True, "entries": []}},
            "owned": {},
            "runtime": {"runtime": "docker", "endpoint": None, "error": None, "pods": pods},
            "healthz": True,
        }

    def apply(self, request: dict) -> dict:
        """The agent's answer to an apply: every change made (or failed, rolled back)."""
        time.sleep(self.apply_delay)
        pods = []
        for change in request.get("changes", []):
            ok = self.apply_error is None
            if ok:
                self.set_pod(change["pod"])
            pods.append(
                {
                    "name": change["pod"],
                    "action": change["action"],
                    "ok": ok,
                    "error": self.apply_error,
                    "phase": "Running" if ok else "Failed",
                }
            )
        return {"ok": True, "kubelet_restarted": False, "pods": pods, "errors": []}

    def __call__(self, node: FakeNode, command: str, channel: paramiko.Channel) -> None:
        request = json.loads(read_stdin(channel).decode() or "{}")
        with self.lock:
            self.requests.append(request)
        answer = self.apply(request) if request.get("op") == "apply" else self.facts()
        channel.sendall((json.dumps(answer) + "\n").encode())
        channel.send_exit_status(0)


def write_inventory(tmp_path: Path, nodes: dict[str, FakeNode], pods: tuple[str, ...]) -> Path:
    """An inventory of ``nodes`` (name: served node) assigning ``pods`` to each, with a
    template per pod; returns its path."""
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    for pod in pods:
        (templates / f"{pod}.yaml.j2").write_text(
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  containers:\n"
            "  - name: web\n    image: nginx:1.27\n"
        )
    known = tmp_path / "known_hosts"
    known.write_text("".join(n.known_hosts_line() for n in nodes.values()))
    key = client_key(tmp_path)
    lines = ["templates: templates", f"defaults:\n  pods: [{', '.join(pods)}]", "nodes:"]
    for name, node in nodes.items():
        lines.append(
            f"  {name}:\n    address: 127.0.0.1\n"
            f"    ssh: {{port: {node.port}, user: root, key: {key}, known_hosts: {known}}}"
        )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("\n".join(lines) + "\n")
    return inventory
