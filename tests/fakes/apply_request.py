"""What the agent's apply tests share: a manifest before and after, a kubelet stand-in whose
command line follows its flags file, and the apply request that updates the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.fakes.agent_node import FakeSystemd

OLD_MANIFEST = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n# v1\n"
NEW_MANIFEST = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n# v2\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Kubelet(FakeSystemd):
    """A kubelet whose command line is its flags file, read at each (re)start, and healthy
    unless its flags are in ``sick``; ``ignores_file`` keeps the first flags forever."""

    def __init__(self, flags_file: Path, sick=(), ignores_file=False) -> None:
        super().__init__()
        self.flags_file = flags_file
        self.sick = set(sick)
        self.ignores_file = ignores_file
        self.flags = flags_file.read_bytes()

    def restart(self, unit, daemon_reload=False):
        super().restart(unit, daemon_reload)
        if not self.ignores_file:
            self.flags = self.flags_file.read_bytes()
        self.cmdline = ["kubelet", *self.flags.decode().split()]
        self.active = self.flags not in self.sick

    def healthy(self, url) -> bool:
        return self.active


def request(
    root: Path, kubelet: dict | None = None, changes: list[dict] | None = None, **fields
) -> dict:
    """An apply request for node n1's ROOT/manifests; its changes by default update
    static-web from OLD_MANIFEST to NEW_MANIFEST; ``fields`` are added to it."""
    if changes is None:
        changes = [
            {
                "pod": "static-web",
                "action": "update",
                "file": "static-web.yaml",
                "content": NEW_MANIFEST.decode(),
                "expected_sha256": sha(OLD_MANIFEST),
            }
        ]
    return {
        "op": "apply",
        "node_name": "n1",
        "manifest_dir": str(root / "manifests"),
        "holder": "test",
        "timeout": 30,
        "stable_for": 2,
        "kubelet": kubelet,
        "changes": changes,
        **fields,
    }
