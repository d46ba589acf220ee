"""One spctl run at a time per node."""

import errno
import os

from . import AgentError
from .files import atomic_write, read_text, unsafe_directory
from .jsonfast import dumps, loads


def check_state_dir(node):
    """Refuse a state directory anyone but root could have written.

    The journal in it names files the agent puts back as root and the kubelet unit it
    restarts; the ownership state decides which manifests spctl may replace. Both are only
    as trustworthy as the directory: it must be a real directory (not a symlink) owned by the
    agent's user (root) and not writable by group or others, and its parents writable by root
    only. A missing directory is fine (the agent creates it 0700)."""
    import stat

    directory = node.paths.state_dir
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        st = None
    if st is not None and (
        not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022
    ):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a directory"
        raise AgentError(
            "the state directory %s is %s owned by uid %d with mode %04o: spctl keeps its "
            "journal and ownership records there and trusts them only in a directory owned by "
            "root and writable by root only; check who changed it, then fix it (chown root:root %s && "
            "chmod 0700 %s) or move it away"
            % (directory, kind, st.st_uid, st.st_mode & 0o7777, directory, directory)
        )
    why = unsafe_directory(
        os.path.dirname(directory),
        node.trusted_above,
        "the state directory's parents must be owned by root and writable by root only "
        "(anyone who can write there can replace spctl's journal)",
    )
    if why:
        raise AgentError("cannot trust the state directory %s: %s" % (directory, why))


def lock_holder(node):
    """Who holds the node lock, or None. Only reads: taking the lock to test it would make
    a concurrent deploy fail for no reason."""
    text = read_text(node.paths.holder_file, follow=False)
    if not text:
        return None
    try:
        holder = loads(text)
    except ValueError:
        return {"holder": text.strip()}
    pid = holder.get("pid") if isinstance(holder, dict) else None
    if isinstance(pid, int) and not os.path.exists("/proc/%d" % pid):
        return None  # left by an agent that was killed; the kernel released its flock
    return holder


class Locked(AgentError):
    """Another run holds the node lock."""


class NodeLock:
    """flock(2) on a file, released by the kernel when the agent exits, however it exits;
    a side file names the holder for the others."""

    def __init__(self, node, holder, wait):
        self.node = node
        self.holder = holder
        self.wait = wait
        self.fd = -1
        self.waited = False  # another run held the lock when this one asked for it

    def __enter__(self):
        import fcntl

        paths, clock = self.node.paths, self.node.clock
        check_state_dir(self.node)
        os.makedirs(paths.state_dir, mode=0o700, exist_ok=True)
        # O_NOFOLLOW: the lock file is opened as root in a directory checked above; a symlink
        # planted there is refused rather than followed (ELOOP).
        try:
            self.fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise AgentError(
                "cannot open the lock file %s: %s; it must be a regular file that only root "
                "writes: check who put it there, then remove it"
                % (paths.lock_file, "it is a symlink" if exc.errno == errno.ELOOP else exc)
            ) from None
        deadline = clock.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                self.waited = True
                if clock.monotonic() >= deadline:
                    os.close(self.fd)
                    other = lock_holder(self.node) or {"holder": "another spctl run"}
                    raise Locked(
                        "node is locked by %s (since %s); wait for it to finish or rerun with "
                        "--wait-lock SECONDS" % (other.get("holder"), other.get("since", "?"))
                    ) from None
                clock.sleep(0.2)
        import time

        holder = {
            "holder": self.holder,
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.time())),
        }
        atomic_write(paths.holder_file, dumps(holder).encode(), 0o600)
        return self

    def try_enter(self):
        """Take the lock if it is free; False (and nothing held) when another run has it."""
        self.wait = 0
        try:
            self.__enter__()
        except Locked:  # any other refusal (an untrusted state directory) is the caller's
            return False
        return True

    def __exit__(self, *exc):
        import fcntl

        try:
            os.unlink(self.node.paths.holder_file)
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
