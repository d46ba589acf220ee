"""What spctl keeps on the node about the manifests it writes, in its state directory: who
owns each one, {"manifests": {path: {"pod", "sha256"}}} (state.json), and the bytes each
change replaced, a pod's manifest backups (newest first, the last KEEP_BACKUPS of them; a
rollback takes the newest that differs), and apart from them the versions adopts kept."""

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


#: The suffix of a backup an adopt kept: the same pod in other bytes (a hand edit that kept
#: the pod, kubeadm's spelling). Kept for the operator, never a rollback's previous version.
KEPT_SUFFIX = ".kept" + MANIFEST_SUFFIX


def backups_of(node, pod, kept=False):
    """Backup file names of one pod, newest first: the versions a rollback may bring back,
    or (``kept``) the ones adopts kept."""
    try:
        names = os.listdir(node.paths.manifest_backups(pod))
    except OSError:
        return []
    ours = [n for n in names if n.endswith(MANIFEST_SUFFIX) and n.endswith(KEPT_SUFFIX) == kept]
    return sorted(ours, reverse=True)


def backup_manifest(node, pod, content, kept=False):
    import time

    directory = node.paths.manifest_backups(pod)
    node.fs.makedirs(directory, 0o700)
    now = node.clock.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "%06dZ" % (now % 1 * 1e6)
    path = os.path.join(directory, stamp + (KEPT_SUFFIX if kept else MANIFEST_SUFFIX))
    atomic_write(path, content, 0o600, node.fs)
    for old in backups_of(node, pod, kept)[KEEP_BACKUPS:]:
        try:
            os.unlink(os.path.join(directory, old))
        except OSError:
            pass
    return path
