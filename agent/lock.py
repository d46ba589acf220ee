"""One spctl run at a time per node."""

import os

from .errors import AgentError
from .files import atomic_write, read_text
from .jsonfast import dumps, loads


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
        os.makedirs(paths.state_dir, mode=0o700, exist_ok=True)
        self.fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
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
                    raise AgentError(
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
        except AgentError:
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
