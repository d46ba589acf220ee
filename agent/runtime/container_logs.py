"""The last lines a container wrote, bounded, so a failed pod's result says why it failed.

Two sources, as the kubelet and the runtime keep them:

- CRI runtimes (containerd, CRI-O) write each container's stdout and stderr to the file the
  kubelet named (ContainerStatus.log_path: the sandbox's log_directory
  ``/var/log/pods/<ns>_<pod>_<uid>`` joined with ``<container>/<restart>.log``, from
  BuildPodLogsDirectory and buildContainerLogsPath in pkg/kubelet/kuberuntime/helpers.go).
  Each line is in the CRI log format, ``<RFC3339Nano> <stdout|stderr> <P|F> <text>``, read
  as pkg/kubelet/kuberuntime/logs/logs.go (parseCRILog) reads it: the tag's first part ``P``
  marks a partial line whose text goes on in the next one, ``F`` the full (last) part; a
  line that does not parse is skipped. Docker's JSON log lines (``{"log": ..., "stream":
  ..., "time": ...}``, parseDockerJSONLog) are read too, as logs.go does.
- Docker (cri-dockerd nodes): the Engine's ``GET /containers/{id}/logs?stdout=1&stderr=1
  &tail=N``, in the multiplexed stream format (moby pkg/stdcopy: 8-byte headers), read by
  ``docker.Frames``.

Bounds: the last ``MAX_LINES`` lines, at most ``MAX_BYTES`` bytes of text in all; only the
last ``READ_BYTES`` of a log file are read.
"""

MAX_LINES = 20
MAX_BYTES = 4096
READ_BYTES = 64 * 1024


def cri_lines(data):
    """The text lines of CRI-format (or Docker JSON) log bytes, partial lines joined."""
    lines = []
    pending = []
    for raw in data.split(b"\n"):
        if not raw:
            continue
        parsed = _cri_line(raw)
        if parsed is None:
            parsed = _json_line(raw)
        if parsed is None:
            continue  # logs.go: "Failed when parsing line in log file", and goes on
        partial, text = parsed
        pending.append(text)
        if not partial:
            lines.append(b"".join(pending))
            pending = []
    if pending:  # the container died in the middle of a line
        lines.append(b"".join(pending))
    return [line.decode("utf-8", "replace") for line in lines]


def _cri_line(raw):
    """(partial, text) of one CRI log line, or None when it is not one."""
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0], parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or b"T" not in stamp or not stamp[:4].isdigit():
        return None
    text = parts[3] if len(parts) == 4 else b""
    return tag.split(b":")[0] == b"P", text  # runtimeapi.LogTagDelimiter is ":"


def _json_line(raw):
    if not raw.startswith(b"{"):
        return None
    import json

    try:
        entry = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("log"), str):
        return None
    text = entry["log"]
    # Docker's json-file keeps the line break in "log"; a line without one is partial.
    partial = not text.endswith("\n")
    return partial, text.rstrip("\n").encode("utf-8")


def bounded(lines, max_lines=MAX_LINES, max_bytes=MAX_BYTES):
    """(the last lines within the bounds, whether anything was left out). A line longer
    than what is left of ``max_bytes`` keeps its beginning, marked with "..."."""
    kept = []
    size = 0
    cut = len(lines) > max_lines
    for line in reversed(lines[-max_lines:]):
        room = max_bytes - size
        if room <= 0:
            cut = True
            break
        encoded = line.encode("utf-8", "replace")
        if len(encoded) > room:
            line = encoded[:room].decode("utf-8", "ignore") + "..."
            cut = True
        kept.append(line)
        size += len(encoded) + 1
    kept.reverse()
    return kept, cut


def tail_file(path, limit=READ_BYTES):
    """The last ``limit`` bytes of a regular file, from the first whole line in them; None
    when it cannot be read or is no regular file. Never through a link, never blocking: a
    FIFO or a link put where the log file was (by whatever else can write there) is not
    read, so the agent neither hangs nor reads another file as root."""
    import os
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        size = os.lseek(fd, 0, os.SEEK_END)
        start = max(0, size - limit)
        os.lseek(fd, start, os.SEEK_SET)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
    if start > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data


def cri_output(log_path):
    """The last lines of a CRI container's log file, or None when there is none."""
    if not log_path:
        return None
    data = tail_file(log_path)
    if data is None:
        return None
    return cri_lines(data)


def docker_lines(stream):
    """The text lines of a ``/containers/{id}/logs`` answer (a multiplexed stream)."""
    from .docker import Frames

    frames = Frames(limit=READ_BYTES)
    frames.feed(stream)
    return [
        line.decode("utf-8", "replace")
        for line in bytes(frames.output).split(b"\n")
        if line.strip(b"\r")
    ]


def docker_output(socket_path, container_id, timeout=5.0):
    """The last lines a Docker container wrote, or None when the Engine does not say."""
    from ..system import AgentError
    from ..system.http import get

    path = "/containers/%s/logs?stdout=1&stderr=1&tail=%d" % (container_id, MAX_LINES)
    try:
        status, body = get(socket_path, path, timeout)
    except (OSError, AgentError):
        return None
    if status != 200:
        return None
    try:
        return docker_lines(body)
    except AgentError:  # a TTY container's logs are raw, not multiplexed
        return [line for line in body.decode("utf-8", "replace").splitlines() if line]
