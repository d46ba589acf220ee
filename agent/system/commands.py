"""Running a command on the node."""

from . import AgentError


def run_command(argv, timeout):
    """stdout of argv, or an AgentError that names the command and says what went wrong."""
    import subprocess

    try:
        proc = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise AgentError("%s did not finish within %ds" % (" ".join(argv), timeout)) from None
    if proc.returncode != 0:
        raise AgentError("%s failed: %s" % (" ".join(argv), proc.stderr.strip()))
    return proc.stdout


def capture(argv, timeout):
    """stdout of argv as text (its exit status and stderr ignored, as ``systemctl show``'s
    are), without importing subprocess: it imports threading, selectors, signal and
    locale, which cost a facts call more CPU than the command it runs. AgentError when
    it cannot start or does not finish within ``timeout`` seconds."""
    import os
    import select
    import time

    out_r, out_w = os.pipe()  # not inherited (PEP 446) except as the child's 0, 1 and 2
    null = os.open(os.devnull, os.O_RDWR)
    try:
        spawn = getattr(os, "posix_spawnp", None)  # 3.8+: no copy of this process
        if spawn is not None:
            dup2 = os.POSIX_SPAWN_DUP2  # novermin
            actions = [(dup2, null, 0), (dup2, out_w, 1), (dup2, null, 2)]
            pid = spawn(argv[0], argv, os.environ, file_actions=actions)  # novermin
        else:
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child of fork
            try:
                os.dup2(null, 0)
                os.dup2(out_w, 1)
                os.dup2(null, 2)
                os.execvp(argv[0], argv)  # noqa: S606 - argv, as subprocess runs it
            finally:
                os._exit(127)
    finally:
        os.close(out_w)
        os.close(null)
    deadline = time.monotonic() + timeout
    chunks = []
    try:
        poller = select.poll()
        poller.register(out_r, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                os.kill(pid, 9)
                raise AgentError("%s did not finish within %ds" % (" ".join(argv), timeout))
            chunk = os.read(out_r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(out_r)
        os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines


def succeeds(argv):
    """True when argv exits 0 (its output is discarded)."""
    import subprocess

    return subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def which(name):
    """The path of an executable on PATH (shutil.which without importing shutil)."""
    import os

    for directory in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(os.pathsep):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None
