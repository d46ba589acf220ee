"""A pod's manifest backups: the bytes a change replaced, kept under the state directory,
newest first, the last KEEP_BACKUPS of them (a rollback takes the newest that differs)."""

import os

from ..protocol import MANIFEST_SUFFIX
from ..system.files import atomic_write

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
