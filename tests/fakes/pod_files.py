"""A node with one pod and its files, for the tests of a pod's files in a transaction: the
pod ``web`` (ROOT/manifests/web.yaml) reads ROOT/etc/app/app.conf, which spctl wrote; a
runtime whose pod follows the manifest on disk and remembers what the pod's file held when
each pod started; a snapshot of everything a change may touch."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from spctl_agent.protocol import messages

OLD_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# files abc\n"
NEW_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# files def\n"
CRASHING_WEB = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n# files def crash\n"
OLD_CONF = b"listen 80\n"
NEW_CONF = b"listen 8080\n"
SECRET = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END PRIVATE KEY-----\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tree(root: Path) -> None:
    """ROOT/manifests/web.yaml and ROOT/etc/app/app.conf (0640 root:daemon), both spctl's."""
    (root / "manifests").mkdir(mode=0o755)
    (root / "manifests" / "web.yaml").write_bytes(OLD_WEB)
    (root / "etc" / "app").mkdir(parents=True, mode=0o755)
    conf = root / "etc" / "app" / "app.conf"
    conf.write_bytes(OLD_CONF)
    os.chown(conf, 0, 1)
    os.chmod(conf, 0o640)
    (root / "state").mkdir(mode=0o700, exist_ok=True)
    state = {
        "manifests": {str(root / "manifests" / "web.yaml"): {"pod": "web", "sha256": sha(OLD_WEB)}},
        "files": {str(conf): {"pod": "web", "sha256": sha(OLD_CONF)}},
    }
    (root / "state" / "state.json").write_text(json.dumps(state))


def conf_path(root: Path) -> str:
    return str(root / "etc" / "app" / "app.conf")


def key_path(root: Path) -> str:
    """A secret in a directory that does not exist yet."""
    return str(root / "etc" / "app" / "tls.d" / "tls.key")


def write(path: str, data: bytes, expected: str | None, **fields) -> dict:
    return messages.file_change(
        path=path,
        action=messages.FILE_WRITE,
        content_b64=base64.b64encode(data).decode(),
        sha256=sha(data),
        expected_sha256=expected,
        **fields,
    )


def removal(path: str, expected: str | None) -> dict:
    return messages.file_change(path=path, action=messages.FILE_REMOVE, expected_sha256=expected)


def update(root: Path, files: list[dict], web: bytes = NEW_WEB) -> dict:
    """The apply request that updates web to ``web`` with ``files``."""
    change = messages.pod_change(
        pod="web",
        action="update",
        file="web.yaml",
        content=web.decode(),
        expected_sha256=sha(OLD_WEB),
        files=files,
    )
    return apply(root, [change])


def apply(root: Path, changes: list[dict]) -> dict:
    return messages.apply_request(
        node_name="n1",
        manifest_dir=str(root / "manifests"),
        holder="test",
        timeout=30,
        stable_for=2,
        changes=changes,
    )


def the_usual_files(root: Path) -> list[dict]:
    """app.conf changed (mode 0600, owner daemon:nogroup) and a new secret key file."""
    return [
        write(conf_path(root), NEW_CONF, sha(OLD_CONF), mode=0o600, owner="daemon", group="65534"),
        write(key_path(root), SECRET, None, mode=0o400, group="daemon", secret=True),
    ]


class PodRuntime:
    """The kubelet's pod for the manifest on disk: UID from its bytes, Failed when they say
    "crash"; ``started`` keeps what app.conf held when each UID was first seen."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: dict[str, bytes | None] = {}
        self.reads = 0

    def read(self):
        self.reads += 1
        manifest = self.root / "manifests" / "web.yaml"
        pods = []
        if manifest.exists():
            data = manifest.read_bytes()
            uid = sha(data)[:8]
            if uid not in self.started:
                conf = Path(conf_path(self.root))
                self.started[uid] = conf.read_bytes() if conf.exists() else None
            failed = b"crash" in data
            pods.append(
                {
                    "pod": "web-n1",
                    "namespace": "default",
                    "uid": uid,
                    "phase": "Failed" if failed else "Running",
                    "ready": not failed,
                    "sandbox_ready": True,
                    "restarts": 0,
                    "created": 1,
                    "annotations": {"kubernetes.io/config.source": "file"},
                    "containers": [
                        {
                            "name": "web",
                            "id": uid + "-web",
                            "state": "exited" if failed else "running",
                            "restarts": 0,
                            "exit_code": 1 if failed else None,
                        }
                    ],
                }
            )
        return {"runtime": "fake", "endpoint": None, "error": None, "pods": pods}


def snapshot(root: Path) -> dict:
    """Everything a change may touch: each path outside the state directory with its type,
    bytes, mode and owner, and the ownership records."""
    found: dict = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) != str(root / "state")]
        for name in dirs + names:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            data = Path(path).read_bytes() if os.path.isfile(path) else None
            found[os.path.relpath(path, root)] = (data, st.st_mode, st.st_uid, st.st_gid)
    state = json.loads((root / "state" / "state.json").read_text())
    found["ownership"] = (state.get("manifests"), state.get("files") or {})
    return found
