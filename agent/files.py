"""Reading and writing files on the node so that no reader ever sees half a change.

Every write goes through a :class:`FileSystem` (the steps a test can make fail one by one);
the paths come from the caller, named by their role (see ``node.Paths``).
"""

import os

TEMP_MARK = ".spctl-"
TEMP_SUFFIX = ".tmp"


class FileSystem:
    """The system calls of a file transaction, one method per step. Tests subclass it to
    make one step fail, as kubeadm's staticpods_test.go swaps its path manager's MoveFile."""

    def create(self, path, mode):
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def write(self, fd, data):
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd):
        os.fsync(fd)

    def close(self, fd):
        os.close(fd)

    def chmod(self, path, mode):
        os.chmod(path, mode)

    def rename(self, src, dst):
        os.rename(src, dst)

    def unlink(self, path):
        os.unlink(path)

    def makedirs(self, path, mode=0o755):
        os.makedirs(path, mode=mode, exist_ok=True)

    def fsync_dir(self, directory):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


REAL = FileSystem()


def sha256_bytes(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


def read_text(path):
    """The file as text (undecodable bytes replaced), or None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def read_original(path):
    """(bytes, mode) of a file, or (None, 0o644) when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read(), os.fstat(fh.fileno()).st_mode & 0o7777
    except FileNotFoundError:
        return None, 0o644


def temporary_path(path):
    """Where ``path`` is staged before the rename: dot-prefixed in the same directory (the
    kubelet ignores names starting with a dot, and rename(2) within one filesystem is
    atomic)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, ".%s%s%d%s" % (name, TEMP_MARK, os.getpid(), TEMP_SUFFIX))


def is_temporary(name):
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def atomic_write(path, data, mode=0o644, fs=REAL):
    """Write ``path`` so that no reader ever sees a partial file. On any failure the
    temporary file is removed and the old file is untouched."""
    tmp = temporary_path(path)
    try:
        fd = fs.create(tmp, mode)
        try:
            fs.write(fd, data)
            fs.fsync(fd)
        finally:
            fs.close(fd)
        fs.chmod(tmp, mode)
        fs.rename(tmp, path)
        fs.fsync_dir(os.path.dirname(path) or ".")
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove(path, fs=REAL):
    """Remove ``path`` and make the removal durable."""
    fs.unlink(path)
    fs.fsync_dir(os.path.dirname(path) or ".")


def remove_stale_temporaries(directory):
    """Remove our temporary files left by an agent that was killed mid-write."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if is_temporary(name):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass
