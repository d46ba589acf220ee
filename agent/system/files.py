"""Reading and writing files on the node, as root, so that no reader ever sees half a
change and no other user of the node can steer a read or a write.

Every write goes through a :class:`FileSystem` (the steps a test can make fail one by one);
the paths come from the caller, named by their role (see ``node.Paths``).

Reads are careful because the agent runs as root in directories others may reach: a name
is looked at with lstat(2) first and opened only when it is a regular file, with
O_NOFOLLOW (a symlink swapped in between fails the open) and O_NONBLOCK (a FIFO swapped in
never blocks the open), checked again with fstat(2), and read up to MAX_READ bytes only,
so that ``x -> /dev/zero`` or ``manifest_dir: /dev`` costs nothing.
"""

import errno
import os
import stat

from ..protocol import MAX_MANIFEST_BYTES

TEMP_MARK = ".spctl-"
TEMP_SUFFIX = ".tmp"

#: The most the agent reads of any one file: one byte over the kubelet's limit, enough to
#: tell that a file is over it.
MAX_READ = MAX_MANIFEST_BYTES + 1

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def file_type(mode):
    """The name facts use for a file's type (from an lstat mode)."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "char-device"
    if stat.S_ISBLK(mode):
        return "block-device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


class NotRegularFile(OSError):
    """The path is not a regular file (a symlink, a FIFO, a device ...); never opened."""

    def __init__(self, path, kind):
        OSError.__init__(self, "%s is a %s, not a regular file" % (path, kind))
        self.filename = path
        self.kind = kind
        self.strerror = "a %s, not a regular file" % kind


class TooLarge(OSError):
    def __init__(self, path):
        OSError.__init__(self, "%s is over %d bytes" % (path, MAX_MANIFEST_BYTES))
        self.filename = path
        self.strerror = "over %d bytes (the kubelet's limit)" % MAX_MANIFEST_BYTES


def open_regular(path, follow=False):
    """A read-only descriptor of ``path`` and its fstat, only when it is a regular file.

    ``follow``: a symlink is followed to a regular file (for files like /etc/os-release
    that are symlinks by design); without it, a symlink is refused as one."""
    st = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, file_type(st.st_mode))
    flags = os.O_RDONLY | os.O_NONBLOCK | _O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink swapped in since the lstat
            raise NotRegularFile(path, "symlink") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(path, file_type(st.st_mode))
    return fd, st


def read_capped(fd, limit=MAX_READ):
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_file(path, follow=False, limit=MAX_READ):
    """(bytes, mode) of a regular file, at most ``limit`` bytes; (None, None) when it does
    not exist. NotRegularFile for anything else; TooLarge past the kubelet's limit."""
    try:
        fd, st = open_regular(path, follow)
    except FileNotFoundError:
        return None, None
    try:
        data = read_capped(fd, limit)
    finally:
        os.close(fd)
    if len(data) > MAX_MANIFEST_BYTES:
        raise TooLarge(path)
    return data, st.st_mode & 0o7777


class FileSystem:
    """The system calls of a file transaction, one method per step. Tests subclass it to
    make one step fail, as kubeadm's staticpods_test.go swaps its path manager's MoveFile."""

    def create(self, path, mode):
        # O_EXCL|O_NOFOLLOW: never through a symlink or into a file someone else made.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
        return os.open(path, flags, mode)

    def write(self, fd, data):
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd):
        os.fsync(fd)

    def fchmod(self, fd, mode):
        os.fchmod(fd, mode)

    def fchown(self, fd, uid, gid):
        os.fchown(fd, uid, gid)

    def close(self, fd):
        os.close(fd)

    def rename(self, src, dst):
        os.rename(src, dst)

    def unlink(self, path):
        os.unlink(path)

    def makedirs(self, path, mode=0o755):
        os.makedirs(path, mode=mode, exist_ok=True)

    def mkdir(self, path, mode=0o755):
        """One directory, ``mode`` exactly (not narrowed by the umask: a pod reads it)."""
        os.mkdir(path, mode)
        os.chmod(path, mode)

    def rmdir(self, path):
        os.rmdir(path)

    def fsync_dir(self, directory):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


REAL = FileSystem()


def _sha256():
    # CPython's own SHA-256 (_sha256 up to 3.11, _sha2 since 3.12) rather than hashlib,
    # which loads OpenSSL's libcrypto first: the same digest for a tenth of the start-up.
    try:
        from _sha256 import sha256
    except ImportError:
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256()


def sha256_bytes(data):
    digest = _sha256()
    digest.update(data)
    return digest.hexdigest()


def read_text(path, follow=True, errors="replace"):
    """The regular file as text, or None when it is absent or cannot be read (not a
    regular file, over the limit). ``errors="surrogateescape"`` keeps every byte: JSON
    carries the undecodable ones as lone surrogates and ``encode_text`` gets them back."""
    try:
        data = read_file(path, follow)[0]
    except OSError:
        return None
    return None if data is None else data.decode("utf-8", errors)


def encode_text(text):
    """The bytes of a text made by ``read_text(..., errors="surrogateescape")``."""
    return text.encode("utf-8", "surrogateescape")


def read_bytes(path):
    """The regular file's bytes, or None when it does not exist (NotRegularFile, TooLarge
    and other OSErrors for the rest)."""
    return read_file(path)[0]


def read_original(path):
    """(bytes, mode) of a regular file, or (None, 0o644) when it does not exist."""
    data, mode = read_file(path)
    return (None, 0o644) if data is None else (data, mode)


def temporary_path(path):
    """Where ``path`` is staged before the rename: dot-prefixed in the same directory (the
    kubelet ignores names starting with a dot, and rename(2) within one filesystem is
    atomic), with a random part nobody can guess in advance."""
    import binascii

    directory, name = os.path.split(path)
    token = binascii.hexlify(os.urandom(8)).decode()
    return os.path.join(directory, ".%s%s%s%s" % (name, TEMP_MARK, token, TEMP_SUFFIX))


def is_temporary(name):
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def atomic_write(path, data, mode=0o644, fs=REAL, owner=None):
    """Write ``path`` so that no reader ever sees a partial file. On any failure the
    temporary file is removed and the old file is untouched.

    ``owner`` (uid, gid): the file is created 0600 (a secret is never readable by others,
    not even for a moment), chowned, then given its mode (after the chown, which clears
    set-id bits), so it appears with its bytes, owner and mode at once."""
    tmp = temporary_path(path)
    try:
        fd = fs.create(tmp, mode if owner is None else 0o600)
        try:
            fs.write(fd, data)
            if owner is not None:
                fs.fchown(fd, owner[0], owner[1])
            fs.fchmod(fd, mode)
            fs.fsync(fd)
        finally:
            fs.close(fd)
        fs.rename(tmp, path)
        fs.fsync_dir(os.path.dirname(path) or ".")
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_owned(path, data, mode, uid, gid, fs=REAL):
    """``atomic_write`` of a file with its owner (see there)."""
    atomic_write(path, data, mode, fs, owner=(uid, gid))


def read_regular(path):
    """(bytes, lstat) of a regular file, never through a symlink; (None, None) when nothing
    is there. NotRegularFile for anything else; TooLarge past the kubelet's limit."""
    try:
        fd, st = open_regular(path)
    except FileNotFoundError:
        return None, None
    try:
        data = read_capped(fd)
    finally:
        os.close(fd)
    if len(data) > MAX_MANIFEST_BYTES:
        raise TooLarge(path)
    return data, st


def path_state(path):
    """What is at ``path``, never followed through a symlink: {exists, type, sha256 (a
    regular file's), size, mode (permission bits), uid, gid}; {"exists": False} when there
    is nothing (or a parent is not a directory)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False}
    state = {
        "exists": True,
        "type": file_type(st.st_mode),
        "sha256": None,
        "size": st.st_size,
        "mode": st.st_mode & 0o7777,
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if state["type"] == "file":
        try:
            fd, st = open_regular(path)
        except NotRegularFile as exc:  # swapped since the lstat
            state["type"] = exc.kind
            return state
        except OSError:
            return state
        try:
            state["sha256"] = _sha256_of(fd)
        finally:
            os.close(fd)
    return state


def _sha256_of(fd):
    """The sha256 of everything a descriptor reads, a MiB at a time (any size)."""
    digest = _sha256()
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)


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


def _owner(uid):
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return "uid %d" % uid


MANIFEST_DIR_RULE = (
    "a manifest directory and its parents must be owned by root and writable by root only "
    "(anyone who can write there runs privileged pods)"
)


def unsafe_directory(directory, trusted_above=None, rule=MANIFEST_DIR_RULE):
    """Why root must not write pods into ``directory``, or None.

    Whoever can write a directory the kubelet reads static pods from runs privileged pods,
    and can swap names under the agent: the directory and every parent (of the path as
    given and of where it resolves) must be owned by root and not writable by group or
    others; the sticky bit of /tmp does not make it safe. Missing parts are skipped (the
    agent creates them 0755). ``trusted_above``: a directory whose own parents are not
    checked (tests build their trees under /tmp)."""
    checked = set()
    for start in (os.path.abspath(directory), os.path.realpath(directory)):
        path = start
        while True:
            if path not in checked:
                checked.add(path)
                if trusted_above is not None and not (path + "/").startswith(
                    trusted_above.rstrip("/") + "/"
                ):
                    break
                try:
                    st = os.lstat(path)
                except OSError:
                    st = None
                unsafe = st is not None and (st.st_uid != 0 or st.st_mode & 0o022)
                if unsafe and not stat.S_ISLNK(st.st_mode):
                    return "%s is owned by %s with mode %04o: %s" % (
                        path,
                        _owner(st.st_uid),
                        st.st_mode & 0o7777,
                        rule,
                    )
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return None
