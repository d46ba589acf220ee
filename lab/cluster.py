"""`spctl lab up | down | status`: several real nodes on one machine.

Each node is a container named ``<lab>-<node>`` running systemd as PID 1, sshd, its own
container runtime (dockerd on fedora nodes; containerd with its CRI plugin on kubeadm nodes,
k3s's embedded containerd on k3s nodes) and the kubelet stand-in, laid out like the
distribution of its profile. The lab's name is ``spctl-lab`` unless ``SPCTL_LAB_NAME`` says
otherwise; labs of different names share the engine. SSH is published on 127.0.0.1. ``lab up`` writes, in ``.spctl-lab/`` of the directory it runs
from, the lab's client key, the nodes' host keys in ``known_hosts``, and ``inventory.yaml``:
an ordinary spctl inventory, so spctl verifies host keys in the lab as it does anywhere.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import docker
import docker.errors
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from spctl.errors import SpctlError
from spctl.transport.ssh import Connection
from spctl.transport.target import SSHTarget

from .images import ImageBuilder, LabError, Progress, connect_engine, tar_of
from .layouts import (
    CRI_SOCKETS,
    PAUSE_IMAGE_REF,
    POD_IMAGE_REF,
    PROFILES,
    RUNTIMES,
    NodeFile,
    node_files,
    runtime_state_dir,
)

LABEL = "spctl-lab"
INSTANCE_LABEL = f"{LABEL}.instance"
DEFAULT_INSTANCE = "spctl-lab"
_INSTANCE = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
DEFAULT_PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm")
READY_TIMEOUT = 180.0
HEALTHZ = "curl -fsS --max-time 2 http://127.0.0.1:10248/healthz >/dev/null"


def _cri_images_present(socket: str) -> str:
    listing = f"ctr --address {socket} --namespace k8s.io images ls -q"
    return " && ".join(f"{listing} | grep -qxF {ref}" for ref in (POD_IMAGE_REF, PAUSE_IMAGE_REF))


# Ready: the kubelet stand-in answers healthz and the pod and pause images are in the node's
# runtime: its Docker engine, or containerd's k8s.io namespace (where the CRI looks).
READY_PROBES = {
    "docker": [
        "sh",
        "-c",
        f"{HEALTHZ} && docker image inspect spctl-lab/pod:1.0 spctl-lab/pause:latest >/dev/null",
    ],
    **{
        runtime: ["sh", "-c", f"{HEALTHZ} && {_cri_images_present(socket)}"]
        for runtime, socket in CRI_SOCKETS.items()
    },
}


def instance_name(name: str | None = None) -> str:
    """The lab's name: ``name``, else ``$SPCTL_LAB_NAME``, else ``spctl-lab``. Containers,
    volumes and the network are named after it, so labs of different names live side by
    side on one engine (each in its own directory's ``.spctl-lab/``)."""
    chosen = name or os.environ.get("SPCTL_LAB_NAME") or DEFAULT_INSTANCE
    if not _INSTANCE.fullmatch(chosen):
        raise LabError(
            f"lab name {chosen!r} (SPCTL_LAB_NAME): use lower-case letters, digits and '-'"
        )
    return chosen


def ready_probe(profile: str) -> list[str]:
    return READY_PROBES[RUNTIMES[profile]]


#: The example pod templates: the repository's templates/ (lab/templates links to it, so
#: that they ship with the package and a wheel's lab finds them too).
TEMPLATES = Path(str(resources.files("spctl_lab") / "templates"))


@dataclass(frozen=True)
class LabNode:
    name: str
    profile: str
    port: int | None
    state: str  # the container's state: running, exited, paused, ...
    image: str = ""
    lab: str = DEFAULT_INSTANCE

    @property
    def container(self) -> str:
        return f"{self.lab}-{self.name}"


def node_name(index: int) -> str:
    return f"my-node{index}"


def profiles_for(count: int, chosen: tuple[str, ...] = ()) -> list[str]:
    """The profile of each node: ``chosen`` (or fedora, kubeadm-deb, kubeadm-rpm) repeated."""
    cycle = chosen or DEFAULT_PROFILES
    for profile in cycle:
        if profile not in PROFILES:
            raise LabError(f"unknown lab profile {profile!r}; choose from {', '.join(PROFILES)}")
    return [cycle[i % len(cycle)] for i in range(count)]


class Lab:
    def __init__(
        self,
        state_dir: Path | str = ".spctl-lab",
        progress: Progress | None = None,
        name: str | None = None,
    ) -> None:
        self.name = instance_name(name)
        self.state_dir = Path(state_dir).resolve()
        self.progress: Progress = progress or (lambda _msg: None)
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect_engine()
        return self._client

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yaml"

    # -- reading --------------------------------------------------------------------------

    def nodes(self) -> list[LabNode]:
        found = []
        for c in self.client.containers.list(all=True, filters={"label": self._mine}):
            ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
            binding = ports.get("22/tcp") or []
            found.append(
                LabNode(
                    name=c.labels.get(f"{LABEL}.node", c.name),
                    profile=c.labels.get(f"{LABEL}.profile", "?"),
                    port=int(binding[0]["HostPort"]) if binding else None,
                    state=c.status,
                    image=c.labels.get(f"{LABEL}.image", ""),
                    lab=self.name,
                )
            )
        return sorted(found, key=lambda n: _index(n.name))

    # -- up ---------------------------------------------------------------------------------

    def up(self, count: int | None = None, profiles: tuple[str, ...] = ()) -> list[LabNode]:
        """Make the lab exactly ``count`` nodes with these profiles, and wait until ready."""
        existing = {n.name: n for n in self.nodes()}
        if count is None:
            count = len(existing) or len(DEFAULT_PROFILES)
        if count < 1:
            raise LabError("--nodes must be at least 1")
        wanted = dict(zip((node_name(i + 1) for i in range(count)), profiles_for(count, profiles)))

        self.state_dir.mkdir(parents=True, exist_ok=True)
        user_key = self._user_key()
        image = ImageBuilder(self.client, self.progress).ensure()
        self._ensure_network()

        for name, node in existing.items():
            if name not in wanted or wanted[name] != node.profile or node.image != image:
                why = "not wanted" if name not in wanted else "profile or image changed"
                self.progress(f"removing {node.container} ({why})")
                self._remove_node(name)
        current = {n.name: n for n in self.nodes()}
        to_create = [n for n in wanted if n not in current]
        if to_create:
            self.progress(f"starting {len(to_create)} node(s) with the kubelet stand-in")

        def start(name: str) -> None:
            node = current.get(name)
            if node is None:
                self._create_node(name, wanted[name], image, user_key)
            elif node.state == "paused":
                self.client.containers.get(node.container).unpause()
            elif node.state != "running":
                self.client.containers.get(node.container).start()

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(start, n) for n in wanted]:
                future.result()

        nodes = [n for n in self.nodes() if n.name in wanted]
        self._write_known_hosts(nodes)
        self._write_inventory(nodes)
        self.progress("waiting for sshd and the kubelet stand-in on every node")
        self.wait_ready(nodes)
        return nodes

    def _user_key(self) -> str:
        path = self.state_dir / "id_ed25519"
        if not path.exists():
            key = ed25519.Ed25519PrivateKey.generate()
            _write_private(path, key)
            public = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            (self.state_dir / "id_ed25519.pub").write_text(public.decode() + " spctl-lab\n")
        return (self.state_dir / "id_ed25519.pub").read_text()

    def _host_key(self, name: str) -> tuple[str, str]:
        """The node's host key pair (private PEM, public line), kept across re-creation."""
        keys = self.state_dir / "hostkeys"
        keys.mkdir(mode=0o700, exist_ok=True)
        path = keys / f"{name}_ed25519"
        if not path.exists():
            _write_private(path, ed25519.Ed25519PrivateKey.generate())
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return path.read_text(), public.decode()

    @property
    def _mine(self) -> str:
        """The label filter that selects this lab's containers, volumes and network."""
        return f"{INSTANCE_LABEL}={self.name}"

    def container_name(self, node: str) -> str:
        return f"{self.name}-{node}"

    def _networks(self) -> list[docker.models.networks.Network]:
        """The networks named exactly as the lab: Docker's name filter also matches a part of
        a name, so lab ``spctl-lab`` would otherwise find the network of ``spctl-lab-x``."""
        return [n for n in self.client.networks.list(names=[self.name]) if n.name == self.name]

    def _ensure_network(self) -> None:
        if not self._networks():
            self.client.networks.create(
                self.name, driver="bridge", labels={LABEL: "1", INSTANCE_LABEL: self.name}
            )

    def _create_node(self, name: str, profile: str, image: str, user_key: str) -> None:
        volume = f"{self.container_name(name)}-runtime"
        self.client.volumes.create(volume, labels={LABEL: "1", INSTANCE_LABEL: self.name})
        container = self.client.containers.create(
            image,
            name=self.container_name(name),
            hostname=name,
            detach=True,
            labels={
                LABEL: "1",
                INSTANCE_LABEL: self.name,
                f"{LABEL}.node": name,
                f"{LABEL}.profile": profile,
                f"{LABEL}.image": image,
            },
            cap_add=["SYS_ADMIN", "NET_ADMIN"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            cgroupns="host",
            volumes={
                "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                # the runtime's state on a volume: overlayfs on the node's overlay root fails
                volume: {"bind": runtime_state_dir(profile), "mode": "rw"},
            },
            tmpfs={"/run": "", "/run/lock": ""},
            ports={"22/tcp": ("127.0.0.1", None)},
            network=self.name,
            environment={"container": "docker"},
            stop_signal="SIGRTMIN+3",  # how systemd as PID 1 wants to be asked to shut down
        )
        private, public = self._host_key(name)
        files = node_files(profile, name)
        files.update(
            {
                "/etc/ssh/ssh_host_ed25519_key": NodeFile(private, 0o600),
                "/etc/ssh/ssh_host_ed25519_key.pub": NodeFile(public + "\n"),
                "/root/.ssh/authorized_keys": NodeFile(user_key, 0o600),
                "/home/ops/.ssh/authorized_keys": NodeFile(user_key, 0o600),
            }
        )
        owners = {"/home/ops/.ssh/authorized_keys": (1000, 1000)}
        container.put_archive("/", tar_of(files, owners))
        container.start()

    def _write_known_hosts(self, nodes: list[LabNode]) -> None:
        lines = []
        for node in nodes:
            _, public = self._host_key(node.name)
            lines.append(f"[127.0.0.1]:{node.port} {public}\n")
        _atomic_write(self.state_dir / "known_hosts", "".join(lines))

    def _write_inventory(self, nodes: list[LabNode]) -> None:
        inventory = {
            "templates": str(TEMPLATES),
            "defaults": {
                # As real fleets log in: a user with passwordless sudo (`sudo -n`); most
                # distributions refuse root logins over SSH. Tests needing root connect
                # as root themselves (LabSession.sh).
                "ssh": {
                    "user": "ops",
                    "sudo": True,
                    "key": "id_ed25519",
                    "known_hosts": "known_hosts",
                },
                "vars": {"image": "spctl-lab/pod:1.0"},
                "pods": ["static-web"],
            },
            "groups": {
                profile: {"members": [n.name for n in nodes if n.profile == profile]}
                for profile in PROFILES
                if any(n.profile == profile for n in nodes)
            },
            "nodes": {
                n.name: {
                    "address": "127.0.0.1",
                    "ssh": {"port": n.port},
                    "labels": {"lab": "spctl", "profile": n.profile},
                }
                for n in nodes
            },
        }
        header = (
            "# Written by `spctl lab up`: the lab's nodes, an ordinary spctl inventory.\n"
            "# Their kubelet is the lab's kubelet stand-in. Paths are relative to this file.\n"
        )
        _atomic_write(self.inventory_path, header + yaml.safe_dump(inventory, sort_keys=False))

    def target(self, node: LabNode, user: str = "root") -> SSHTarget:
        return SSHTarget(
            host="127.0.0.1",
            port=node.port or 22,
            user=user,
            key_file=str(self.state_dir / "id_ed25519"),
            known_hosts=str(self.state_dir / "known_hosts"),
        )

    def wait_ready(self, nodes: list[LabNode], timeout: float = READY_TIMEOUT) -> None:
        """Return once every node's sshd accepts the lab key (host key verified) and its
        kubelet stand-in answers healthz."""
        deadline = time.monotonic() + timeout

        def ready(node: LabNode) -> None:
            last = ""
            while time.monotonic() < deadline:
                try:
                    with Connection(self.target(node)) as conn:
                        while time.monotonic() < deadline:
                            if conn.run(ready_probe(node.profile), timeout=10).exit_code == 0:
                                return
                            last = (
                                "kubelet stand-in healthz not answering, "
                                "or the pod and pause images not loaded"
                            )
                            time.sleep(0.5)
                except SpctlError as exc:
                    last = str(exc)
                time.sleep(0.5)
            raise LabError(f"{node.name}: not ready after {timeout:.0f}s: {last}")

        workers = min(16, max(1, len(nodes)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            errors = []
            for future in [pool.submit(ready, n) for n in nodes]:
                try:
                    future.result()
                except LabError as exc:
                    errors.append(str(exc))
        if errors:
            raise LabError("\n".join(errors))

    # -- down -------------------------------------------------------------------------------

    def _remove_node(self, name: str) -> None:
        try:
            self.client.containers.get(self.container_name(name)).remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        try:
            self.client.volumes.get(f"{self.container_name(name)}-runtime").remove(force=True)
        except docker.errors.NotFound:
            pass

    def down(self) -> int:
        """Remove every container, volume and network the lab made; keep the cached images."""
        containers = self.client.containers.list(all=True, filters={"label": self._mine})

        def remove(c: docker.models.containers.Container) -> None:
            c.remove(force=True, v=True)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, containers))
        for volume in self.client.volumes.list(filters={"label": self._mine}):
            volume.remove(force=True)
        for network in self._networks():
            if network.attrs.get("Labels", {}).get(INSTANCE_LABEL) == self.name:
                network.remove()
        for name in ("inventory.yaml", "known_hosts"):
            (self.state_dir / name).unlink(missing_ok=True)
        return len(containers)


def _index(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def _write_private(path: Path, key: ed25519.Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
