"""The lab's images, built here with no registry.

- base: a Debian rootfs made with debootstrap (systemd, sshd, python3, docker.io), imported
  with ``docker import``. Slow (about a minute and a half), so cached by the hash of its
  recipe: a second ``lab up`` builds nothing.
- node: the base plus what every lab node shares (the kubelet stand-in's package and its two
  programs, ``/usr/bin/kubelet`` and the ``spctl-lab-cri`` inspection tool; sshd settings,
  the ``ops`` user, the pod and pause images to load at boot), committed as a thin layer.
  Cached the same way, by the hash of those files.
- pod: busybox-static serving HTTP with ``httpd``, imported from a tarball made in memory.
- pause: the same files, running only ``sleep``: the pod sandboxes' image (containerd's
  ``sandbox_image``; on Docker nodes the stand-in gives the sandbox that command itself).
Both are loaded at boot into each node's runtime: its own dockerd, or containerd's
``k8s.io`` namespace (``ctr images import``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from spctl.errors import SpctlError

from .layouts import NodeFile

HERE = Path(__file__).resolve().parent
STANDIN_PACKAGE = HERE / "standin"
STANDIN_DIR = "/usr/lib/spctl-lab"
# The stand-in's two programs: the package beside them does the work. Their names are the
# paths /usr/bin/kubelet and /usr/local/bin/spctl-lab-cri link to.
STANDIN_PROGRAMS = {
    "kubelet_standin.py": ("main", "the kubelet stand-in, installed as /usr/bin/kubelet"),
    "standin_cri.py": ("cri.snapshot", "spctl-lab-cri, the CRI runtime's pods as JSON"),
}
STANDIN_PROGRAM = '''\
#!/usr/bin/python3
"""spctl lab, for tests and demos only: {what}.
This is NOT a kubelet but a stand-in for one: the package standin/ beside this file."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from standin.{module} import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
'''

BASE_REPO = "spctl-lab/base"
NODE_REPO = "spctl-lab/node"
POD_IMAGE = "spctl-lab/pod:1.0"
PAUSE_IMAGE = "spctl-lab/pause:latest"
BUSYBOX = Path("/bin/busybox")
RECIPE_LABEL = "spctl-lab.recipe"
# busybox httpd ignores SIGTERM; as PID 1 it would make every pod stop take the whole grace
# period. A shell that traps TERM runs it instead, so pods stop at once, as nginx does.
POD_CHANGES = ('CMD ["/bin/sh", "-c", "trap \'exit 0\' TERM; /bin/httpd -f -p 80 -h /www & wait"]',)
# The sandbox holds the pod's namespaces and does nothing else, as registry.k8s.io/pause does.
PAUSE_CHANGES = ('CMD ["/bin/sleep", "2147483647"]',)

BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-yaml",
    "docker.io",
    "containerd",
    "containernetworking-plugins",
    "python3-grpcio",
    "python3-protobuf",
    "sudo",
    "iproute2",
    "iptables",
    "procps",
    "ca-certificates",
    "curl",
)

# Runs once inside the base image when the node image is built (no systemd running yet).
NODE_SETUP = """\
set -eu
rm -f /etc/ssh/ssh_host_*
id ops >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --uid 1000 ops
usermod -p '*' ops          # no password, but not locked: key logins work
printf 'ops ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
install -d -m 0700 /root/.ssh
install -d -m 0700 -o ops -g ops /home/ops/.ssh
install -d /var/lib/kubelet /etc/kubernetes
chmod 0755 /usr/bin/kubelet /usr/local/bin/spctl-lab-cri
python3 -m compileall -q /usr/lib/spctl-lab
systemctl enable ssh.service docker.service containerd.service spctl-lab-images.service
systemctl mask getty@tty1.service console-getty.service serial-getty@.service \
    apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
    systemd-logind.service 2>/dev/null || true
: > /etc/machine-id
"""

SSHD_CONFIG = """\
# spctl lab: keys only, the node's own ed25519 host key.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
MaxStartups 200:30:400
MaxSessions 64
"""

IMAGES_UNIT = """\
[Unit]
Description=spctl lab: load the lab's pod and pause images into this node's Docker engine
After=docker.service
Requires=docker.service
Before=kubelet.service k3s.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'docker image inspect spctl-lab/pod:1.0 >/dev/null 2>&1 || docker load -i /usr/share/spctl-lab/pod-image.tar'
ExecStart=/bin/sh -c 'docker image inspect spctl-lab/pause:latest >/dev/null 2>&1 || docker load -i /usr/share/spctl-lab/pause-image.tar'

[Install]
WantedBy=multi-user.target
"""  # noqa: E501

Progress = Callable[[str], None]


class LabError(SpctlError):
    """The lab could not be built, started or reached."""


def tar_of(files: dict[str, NodeFile], owners: dict[str, tuple[int, int]] | None = None) -> bytes:
    """A tar archive of ``files`` (absolute paths), deterministic for the same input."""
    owners = owners or {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(files):
            spec = files[path]
            info = tarfile.TarInfo(path.lstrip("/"))
            info.mtime = 0
            info.mode = spec.mode
            info.uid, info.gid = owners.get(path, (0, 0))
            if spec.symlink is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = spec.symlink
                tar.addfile(info)
            elif spec.directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = spec.content.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def standin_files() -> dict[str, NodeFile]:
    """The kubelet stand-in as node files: its package copied under STANDIN_DIR, and the two
    programs that run it. The node image's tag hashes these files, so a changed stand-in
    builds a new image."""
    files: dict[str, NodeFile] = {}
    for path in sorted(STANDIN_PACKAGE.rglob("*.py")):
        relative = path.relative_to(HERE)
        for parent in reversed(list(relative.parents)[:-1]):
            files[f"{STANDIN_DIR}/{parent.as_posix()}"] = NodeFile(mode=0o755, directory=True)
        files[f"{STANDIN_DIR}/{relative.as_posix()}"] = NodeFile(path.read_text())
    for name, (module, what) in STANDIN_PROGRAMS.items():
        files[f"{STANDIN_DIR}/{name}"] = NodeFile(
            STANDIN_PROGRAM.format(module=module, what=what), 0o755
        )
    return files


def pod_image_tar() -> bytes:
    """The root filesystem of the lab's pod image: static busybox and a page to serve."""
    if not BUSYBOX.exists():
        raise LabError(f"{BUSYBOX} not found: install Debian's busybox-static (make deps)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("bin", "www", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = (
                tarfile.DIRTYPE,
                0o1777 if name == "tmp" else 0o755,
                0,
            )
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox", filter=_zero_mtime)
        for applet in ("sh", "sleep", "httpd", "cat", "ls", "wget", "false", "true", "echo"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "busybox", 0
            tar.addfile(info)
        page = b"<h1>spctl lab pod</h1>\n"
        info = tarfile.TarInfo("www/index.html")
        info.size, info.mtime = len(page), 0
        tar.addfile(info, io.BytesIO(page))
    return buf.getvalue()


def _zero_mtime(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def connect_engine() -> docker.DockerClient:
    """The local Docker engine (DOCKER_HOST honoured), or a LabError that says how to get one."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise LabError(
            f"no Docker engine answers at {where} ({exc.__class__.__name__}). Start one: "
            "`make docker` installs Debian's docker.io and starts dockerd, or run `dockerd &` "
            "as root; or point DOCKER_HOST at a running engine"
        ) from None
    return client


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def host_suite_and_mirror() -> tuple[str, str]:
    """Debian suite and mirror that this machine's own apt sources name."""
    suite = "bookworm"
    release = Path("/etc/os-release")
    if release.exists():
        match = re.search(r"^VERSION_CODENAME=(\S+)", release.read_text(), re.M)
        if match:
            suite = match.group(1).strip('"')
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        if not path.exists():
            continue
        text = path.read_text()
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s", text, re.M
        ):
            if "security" not in uri and "debian" in uri:
                return suite, uri
    return suite, "http://deb.debian.org/debian"


class ImageBuilder:
    def __init__(self, client: docker.DockerClient, progress: Progress) -> None:
        self.client = client
        self.progress = progress

    def ensure(self) -> str:
        """Build what is missing; return the node image's tag."""
        pod_tar = self._ensure_image(POD_IMAGE, POD_CHANGES, "the pod image (busybox httpd)")
        pause_tar = self._ensure_image(PAUSE_IMAGE, PAUSE_CHANGES, "the pause image")
        base = self._ensure_base()
        return self._ensure_node(base, pod_tar, pause_tar)

    def _label(self, ref: str, label: str) -> str | None:
        try:
            return (self.client.images.get(ref).labels or {}).get(label)
        except docker.errors.ImageNotFound:
            return None

    def _exists(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def _ensure_image(self, ref: str, changes: tuple[str, ...], what: str) -> bytes:
        """The busybox image ``ref`` with these Dockerfile changes, as a `docker save` tar."""
        rootfs = pod_image_tar()
        recipe = _digest(rootfs, *changes)
        if self._label(ref, RECIPE_LABEL) != recipe:
            self.progress(f"building {what}")
            repository, tag = ref.split(":")
            self.client.api.import_image_from_data(
                rootfs,
                repository=repository,
                tag=tag,
                changes=[*changes, f"LABEL {RECIPE_LABEL}={recipe}"],
            )
        return b"".join(self.client.images.get(ref).save(named=ref))

    def _ensure_base(self) -> str:
        suite, mirror = host_suite_and_mirror()
        tag = f"{BASE_REPO}:{_digest(suite, *BASE_PACKAGES)}"
        if self._exists(tag):
            return tag
        if shutil.which("debootstrap") is None:
            raise LabError(
                "debootstrap not found: install it (make deps) to build the lab's node image"
            )
        self.progress(
            f"building the base image with debootstrap ({suite}, {mirror}); about 90 s, once"
        )
        with tempfile.TemporaryDirectory(prefix="spctl-lab-rootfs-", dir="/var/tmp") as tmp:
            rootfs = Path(tmp) / "rootfs"
            cmd = [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(BASE_PACKAGES),
                suite,
                str(rootfs),
                mirror,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
                raise LabError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
            archive = Path(tmp) / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
            repo, version = tag.split(":")
            self.client.api.import_image_from_file(str(archive), repository=repo, tag=version)
        return tag

    def _ensure_node(self, base: str, pod_tar: bytes, pause_tar: bytes) -> str:
        files = {
            **standin_files(),
            "/usr/bin/kubelet": NodeFile(symlink=f"{STANDIN_DIR}/kubelet_standin.py"),
            "/usr/local/bin/spctl-lab-cri": NodeFile(symlink=f"{STANDIN_DIR}/standin_cri.py"),
            "/etc/ssh/sshd_config.d/spctl-lab.conf": NodeFile(SSHD_CONFIG),
            "/etc/systemd/system/spctl-lab-images.service": NodeFile(IMAGES_UNIT),
            "/usr/share/spctl-lab/setup.sh": NodeFile(NODE_SETUP, 0o755),
        }
        overlay = tar_of(files)
        images = hashlib.sha256(pod_tar + pause_tar).hexdigest()
        tag = f"{NODE_REPO}:{_digest(base, overlay, images)}"
        if self._exists(tag):
            return tag
        self.progress("building the node image")
        container = self.client.containers.create(
            base, command=["/bin/sh", "/usr/share/spctl-lab/setup.sh"]
        )
        try:
            container.put_archive("/", overlay)
            for name, data in (("pod-image.tar", pod_tar), ("pause-image.tar", pause_tar)):
                container.put_archive("/usr/share/spctl-lab", _single_file_tar(name, data))
            container.start()
            result = container.wait(timeout=300)
            if result.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")
                raise LabError(f"node image setup failed:\n{logs}")
            repo, version = tag.split(":")
            container.commit(
                repository=repo,
                tag=version,
                changes=['CMD ["/sbin/init"]', "ENV container=docker"],
            )
        finally:
            container.remove(force=True)
        return tag


def _single_file_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
