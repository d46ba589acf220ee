"""Running a command on the node."""

from .errors import AgentError


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
