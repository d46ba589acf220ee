"""What the lab tests use to drive and look at the lab (tests/lab/): the paths of its state,
spctl run against its inventory, the session's nodes with shell access, waiting, the rows of
spctl's JSON, and the lab's inventory with changes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from spctl_lab.cluster import Lab, LabNode
from spctl_lab.layouts import CRI_SOCKETS, RUNTIMES

from spctl.transport.ssh import Completed, Connection
from tests.fakes.cli import SPCTL
from tests.fakes.paths import REPO

STATE = REPO / ".spctl-lab"
INVENTORY = STATE / "inventory.yaml"
PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm", "k3s", "fedora", "kubeadm-deb", "rke2")
# `spctl lab up` arguments that give each node of the suite its profile above.
PROFILE_ARGS = tuple(arg for p in PROFILES for arg in ("--profile", p))


@dataclass
class LabSession:
    lab: Lab
    nodes: dict[str, LabNode]
    first_ids: dict[str, str]  # container ids after the 3-node `lab up`
    second_ids: dict[str, str]  # after reconciling to seven nodes
    first_up: subprocess.CompletedProcess

    def conn(self, node: str, user: str = "root") -> Connection:
        return Connection(self.lab.target(self.nodes[node], user=user))

    def sh(self, node: str, script: str, user: str = "root", timeout: float = 60) -> Completed:
        with self.conn(node, user) as conn:
            return conn.run(["sh", "-c", script], timeout=timeout)

    def out(self, node: str, script: str) -> str:
        done = self.sh(node, script)
        assert done.exit_code == 0, f"{node}: {script}: {done.stderr.decode()}"
        return done.stdout.decode()

    def runtime(self, node: str) -> str:
        """docker, containerd or k3s (k3s's embedded containerd)."""
        return RUNTIMES[self.nodes[node].profile]

    def cri_socket(self, node: str) -> str:
        return CRI_SOCKETS[self.runtime(node)]

    def containers(self, node: str) -> list[dict[str, Any]]:
        """`docker ps -a` on a Docker node, as the seed walkthrough looks at it."""
        assert self.runtime(node) == "docker", f"{node} runs {self.runtime(node)}: use cri()"
        text = self.out(node, "docker ps -a --no-trunc --format '{{json .}}'")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def cri(self, node: str) -> dict[str, Any]:
        """The CRI runtime's sandboxes and containers on the node (`spctl-lab-cri`)."""
        socket = self.cri_socket(node)
        return json.loads(self.out(node, f"spctl-lab-cri -r unix://{socket}"))

    def ctr(self, node: str, args: str) -> str:
        """`ctr` in containerd's k8s.io namespace (where the CRI keeps pods), on the node."""
        return self.out(node, f"ctr --address {self.cri_socket(node)} --namespace k8s.io {args}")

    def running_pod_uids(self, node: str, container: str = "web") -> list[str]:
        """Pod UIDs of the running containers with this name, from the node's runtime."""
        if self.runtime(node) == "docker":
            text = self.out(
                node,
                f"docker ps --filter label=io.kubernetes.container.name={container} "
                "--format '{{.Label \"io.kubernetes.pod.uid\"}}'",
            )
            return text.split()
        return [
            c["labels"]["io.kubernetes.pod.uid"]
            for c in self.cri(node)["containers"]
            if c["name"] == container and c["state"] == "CONTAINER_RUNNING"
        ]

    def kill_container(self, node: str, container: str = "web") -> None:
        """Stop the running container of this name behind the kubelet's back: `docker stop`
        on Docker nodes, its task killed with `ctr` on containerd nodes."""
        if self.runtime(node) == "docker":
            cid = self.out(
                node, f"docker ps -q --filter label=io.kubernetes.container.name={container}"
            ).strip()
            self.out(node, f"docker stop -t 1 {cid}")
            return
        running = [
            c
            for c in self.cri(node)["containers"]
            if c["name"] == container and c["state"] == "CONTAINER_RUNNING"
        ]
        assert len(running) == 1, running
        self.ctr(node, f"tasks kill --signal KILL {running[0]['id']}")


def spctl(
    *args: str, inventory: Path | None = INVENTORY, timeout: float = 600
) -> subprocess.CompletedProcess:
    argv = [SPCTL]
    if inventory is not None:
        argv += ["-i", str(inventory)]
    return subprocess.run(
        argv + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def spctl_json(*args: str, inventory: Path | None = INVENTORY, ok: bool = True) -> dict[str, Any]:
    done = spctl(*args, "-o", "json", inventory=inventory)
    if ok:
        assert done.returncode == 0, (
            f"spctl {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return json.loads(done.stdout)


def wait_until(
    check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


def pod_row(status: dict, node: str, pod: str) -> dict:
    for n in status["nodes"]:
        if n["name"] == node:
            for p in n["pods"]:
                if p["name"] == pod:
                    return p
    raise AssertionError(f"no row for {node}/{pod} in {status}")


def node_row(result: dict, node: str) -> dict:
    return next(n for n in result["nodes"] if n["name"] == node)


WEB = (REPO / "templates" / "static-web.yaml.j2").read_text()


def inventory(
    tmp_path: Path,
    name: str,
    nodes: dict | None = None,
    templates: dict[str, str] | None = None,
    pods: list[str] | None = None,
) -> Path:
    """The lab's inventory with changes (node fields, templates, the pod list), in its own
    directory; read when called, so it carries the nodes' current SSH ports."""
    directory = tmp_path / name
    directory.mkdir()
    data = yaml.safe_load(INVENTORY.read_text())
    data["defaults"]["ssh"]["key"] = str(STATE / "id_ed25519")
    data["defaults"]["ssh"]["known_hosts"] = str(STATE / "known_hosts")
    for node, fields in (nodes or {}).items():
        data["nodes"][node].update(fields)
    if pods is not None:
        data["defaults"]["pods"] = pods
    if templates is not None:
        (directory / "templates").mkdir()
        for pod, text in {"static-web": WEB, **templates}.items():
            (directory / "templates" / f"{pod}.yaml.j2").write_text(text)
        data["templates"] = "templates"
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def sha(lab: LabSession, node: str, path: str) -> str:
    return lab.out(node, f"sha256sum {path} | cut -d' ' -f1").strip()


RELEASE_DROPIN = "/etc/systemd/system/kubelet.service.d/91-spctl-lab-release.conf"


def restart_kubelet(lab: LabSession, node: str) -> None:
    """Restart the node's kubelet (its unit files reloaded) and wait until it answers."""
    lab.out(node, "systemctl daemon-reload && systemctl restart kubelet")
    wait_until(
        lambda: lab.sh(node, "curl -fsS http://127.0.0.1:10248/healthz").exit_code == 0,
        what=f"the kubelet on {node} to answer again",
    )


def release_dropin(release: str) -> str:
    """The shell command that makes the node's stand-in model ``release`` from its next
    start (the kubelet unit's drop-in)."""
    return (
        f"printf '[Service]\\nEnvironment=KUBELET_STANDIN_RELEASE={release}\\n' > {RELEASE_DROPIN}"
    )


def set_kubelet_release(lab: LabSession, node: str, release: str | None) -> None:
    """Make the node's stand-in model an older kubelet release (None: back to 1.34)."""
    if release:
        lab.out(node, release_dropin(release))
    else:
        lab.out(node, f"rm -f {RELEASE_DROPIN}")
    restart_kubelet(lab, node)


def deploy_json(
    path: Path, node: str | tuple[str, ...], timeout: int
) -> tuple[int, dict[str, Any], str, float]:
    """``spctl deploy`` of ``path`` on the node(s) with ``--timeout`` and a 1 s stable
    window: (exit code, the JSON result, stderr, seconds it took)."""
    start = time.monotonic()
    nodes = [node] if isinstance(node, str) else list(node)
    done = spctl(
        "deploy",
        *[arg for n in nodes for arg in ("--node", n)],
        "-o",
        "json",
        "--timeout",
        str(timeout),
        "--stable-for",
        "1",
        inventory=path,
    )
    return done.returncode, json.loads(done.stdout), done.stderr, time.monotonic() - start
