"""What spctl keeps on the node about the manifests it writes, in its state directory: who
owns each one, {"manifests": {path: {"pod", "sha256"}}} (state.json), and the bytes each
change replaced, a pod's manifest backups (newest first, the last KEEP_BACKUPS of them; a
rollback takes the newest that differs)."""

import os

from ..protocol import MANIFEST_SUFFIX
from .files import atomic_write, read_text
from .jsonfast import loads


def load_state(node):
    text = read_text(node.paths.state_file, follow=False)
    if not text:
        return {"manifests": {}}
    try:
        state = loads(text)
    except ValueError:
        return {"manifests": {}}
    state.setdefault("manifests", {})
    return state


def save_state(node, state):
    import json

    node.fs.makedirs(node.paths.state_dir, 0o700)
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    atomic_write(node.paths.state_file, data, 0o600, node.fs)


KEEP_BACKUPS = 5


def backups_of(node, pod):
    """Backup file names of one pod, newest first."""
    try:
        names = os.listdir(node.paths.manifest_backups(pod))
    except OSError:
        return []
    return sorted((n for n in names if n.endswith(MANIFEST_SUFFIX)), reverse=True)


def backup_manifest(node, pod, content):
    import time

    directory = node.paths.manifest_backups(pod)
    node.fs.makedirs(directory, 0o700)
    now = node.clock.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "%06dZ" % (now % 1 * 1e6)
    path = os.path.join(directory, stamp + MANIFEST_SUFFIX)
    atomic_write(path, content, 0o600, node.fs)
    for old in backups_of(node, pod)[KEEP_BACKUPS:]:
        try:
            os.unlink(os.path.join(directory, old))
        except OSError:
            pass
    return path
