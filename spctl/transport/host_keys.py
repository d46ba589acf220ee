"""Whether to trust a node's host key: what known_hosts says (``known_hosts``), else refused
with its fingerprint, or recorded when the operator chose ``accept-new``; a changed key is
always refused."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import threading
from pathlib import Path

import paramiko

from spctl.transport import known_hosts
from spctl.transport.known_hosts import HostKeyError
from spctl.transport.target import SSHTarget


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_files(target: SSHTarget) -> list[Path]:
    if target.known_hosts:
        return [Path(target.known_hosts).expanduser()]
    return [Path("~/.ssh/known_hosts").expanduser()]


class HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Every host key decision: the client holds no keys of its own, so paramiko asks this
    policy about every node, and :mod:`spctl.transport.known_hosts` decides (known, changed, revoked,
    certified by a listed CA, or unknown)."""

    _append_lock = threading.Lock()

    def __init__(self, target: SSHTarget, entries: list[known_hosts.Entry]) -> None:
        self.target = target
        self.entries = entries
        self.trusted_by = ""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        t = self.target
        try:
            self.trusted_by = known_hosts.verify(self.entries, t.known_hosts_name, t.host, key)
            return
        except known_hosts.Unknown as unknown:
            hint = f" ({unknown.hint})" if unknown.hint else ""
        files = known_hosts_files(t)
        if t.host_key_policy != "accept-new":
            raise HostKeyError(
                f"{t.known_hosts_name}: host key not known "
                f"({key.get_name()} {fingerprint(key)}){hint}; nothing was sent. Check the "
                f"fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_{_short(key)}_key.pub), "
                f"then add it to {files[0]} or rerun with --host-key-policy accept-new"
            )
        self.trusted_by = "recorded (accept-new)"
        append_known_host(files[0], t.known_hosts_name, key)


def append_known_host(path: Path, name: str, key: paramiko.PKey) -> bool:
    """Record ``name``'s key once, even when many connections (threads or spctl processes)
    accept it at the same moment: under an exclusive lock the file is read again, and the
    line is appended only when no line has it yet. Returns whether it was appended."""
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    with HostKeyCheck._append_lock:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                fh.seek(0)
                for existing in fh.read().decode(errors="replace").splitlines():
                    fields = existing.split()
                    if fields[:1] == [name] and fields[2:3] == [key.get_base64()]:
                        return False
                fh.seek(0, 2)
                fh.write(line.encode("ascii"))
                fh.flush()
                return True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _short(key: paramiko.PKey) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key.get_name(), "ecdsa")
