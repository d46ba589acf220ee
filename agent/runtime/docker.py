"""Pods on a Docker node, read from the Docker Engine API as cri-dockerd leaves them.

cri-dockerd (Mirantis/cri-dockerd, formerly the kubelet's dockershim) keeps the CRI's
metadata in Docker's names and labels:

- core/naming.go: a sandbox is named ``k8s_POD_<pod>_<namespace>_<uid>_<attempt>``, a
  container ``k8s_<container>_<pod>_<namespace>_<uid>_<attempt>``; on a name conflict
  ``randomizeName`` appends ``_%08x``, so the last field of a name is not always the attempt.
- core/helpers.go ``makeLabels``: Docker has labels only, so every CRI annotation is stored
  as a label prefixed ``annotation.``; core/sandbox_helpers.go marks sandboxes with
  ``io.kubernetes.docker.type=podsandbox`` (containers: ``container``), and
  core/container_create.go labels a container with its sandbox's id
  (``io.kubernetes.sandbox.id``).
- The kubelet annotates each container with its restart count
  (pkg/kubelet/kuberuntime/labels.go, ``io.kubernetes.container.restartCount``): the count
  is read from that label, never from a name.

Exit codes come from the container's State (Docker's inspect), with the reasons
core/container_status.go gives the kubelet: OOMKilled, else Error or Completed; the
list's Status text ("Exited (3) 2 seconds ago") is the fallback. The records have the
shapes ``runtime.cri`` gives (see ``pods``).
"""

from ..system import AgentError
from ..system.http import get
from ..system.jsonfast import loads

ANNOTATION_PREFIX = "annotation."
RESTART_COUNT = ANNOTATION_PREFIX + "io.kubernetes.container.restartCount"
TYPE_LABEL = "io.kubernetes.docker.type"
SANDBOX_TYPE = "podsandbox"
SANDBOX_ID_LABEL = "io.kubernetes.sandbox.id"
_EXITED = r"Exited \((-?\d+)\)"
_STATES = {"running": "running", "created": "created", "exited": "exited", "dead": "exited"}


def read_pods(socket_path, timeout=10.0):
    """The kubelet's pods on the Docker Engine at ``socket_path``."""
    query = "%7B%22label%22%3A%5B%22io.kubernetes.pod.name%22%5D%7D"  # {"label":[...pod.name]}
    status, body = get(socket_path, "/containers/json?all=1&filters=" + query, timeout)
    if status != 200:
        raise AgentError("docker API answered %d: %s" % (status, body[:200]))

    def inspect(container_id):
        status, body = get(socket_path, "/containers/%s/json" % container_id, timeout)
        return loads(body.decode("utf-8", "replace")) if status == 200 else None

    return group(loads(body.decode("utf-8", "replace")), inspect)


def _exited(status):
    """re.search(_EXITED, status): re is imported only for a status that may match."""
    if "Exited (" not in status:
        return None
    import re

    return re.search(_EXITED, status)


def attempt_of(name):
    """The CRI attempt from a cri-dockerd name (field 5, random suffix or not), else 0."""
    parts = name.lstrip("/").split("_")
    if len(parts) in (6, 7) and parts[0] == "k8s" and parts[5].isdigit():
        return int(parts[5])
    return 0


def group(containers, inspect=None):
    """Docker's container list (/containers/json) grouped into pods: the newest sandbox by
    creation time wins, and per container name its newest instance. ``inspect(id)`` (the
    /containers/{id}/json answer) gives exact exit codes for stopped containers."""
    pods = {}
    for c in containers:
        labels = c.get("Labels") or {}
        if "io.kubernetes.pod.name" not in labels:
            continue
        key = (
            labels.get("io.kubernetes.pod.namespace", "default"),
            labels["io.kubernetes.pod.name"],
            labels.get("io.kubernetes.pod.uid", ""),
        )
        pod = pods.setdefault(key, {"sandboxes": [], "sandbox": None, "containers": {}, "_all": {}})
        name = (c.get("Names") or ["?"])[0]
        created = int(c.get("Created") or 0)
        record = {
            "id": c.get("Id", ""),
            "attempt": attempt_of(name),
            "created": created,
            "created_ns": created * 10**9,
        }
        if labels.get(TYPE_LABEL) == SANDBOX_TYPE:
            record["state"] = "running" if c.get("State") == "running" else "exited"
            record["_labels"] = labels
            pod["sandboxes"].append(record)
            continue
        exited = _exited(c.get("Status") or "")
        record.update(
            {
                "state": _STATES.get(c.get("State"), "unknown"),
                "restarts": _int(labels.get(RESTART_COUNT)),
                "exit_code": int(exited.group(1)) if exited else None,
                "reason": None,
                "message": None,
                "started": None,
                "finished": None,
                "sandbox_id": labels.get(SANDBOX_ID_LABEL),
            }
        )
        cname = labels.get("io.kubernetes.container.name", "?")
        pod["_all"].setdefault(cname, []).append(record)
    for pod in pods.values():
        pod["sandboxes"].sort(key=_newest_first)
        newest = pod["sandboxes"][0] if pod["sandboxes"] else None
        labels = newest.pop("_labels") if newest else {}
        for older in pod["sandboxes"][1:]:
            older.pop("_labels", None)
        pod["sandbox"] = newest
        pod["annotations"] = {
            k[len(ANNOTATION_PREFIX) :]: v
            for k, v in labels.items()
            if k.startswith(ANNOTATION_PREFIX)
        }
        pod["labels"] = {k: v for k, v in labels.items() if not k.startswith(ANNOTATION_PREFIX)}
        for cname, records in pod.pop("_all").items():
            records.sort(key=_newest_first)
            record = records[0]
            if record["state"] != "running" and inspect is not None:
                _add_state(record, inspect(record["id"]))
            # The instance before the newest is the kubelet's lastState: its exit code from
            # the list's Status ("Exited (1) 3 seconds ago"), its reason as cri-dockerd
            # gives it (core/container_status.go).
            before = records[1] if len(records) > 1 else None
            code = before["exit_code"] if before and before["state"] == "exited" else None
            record["last_exit_code"] = code
            record["last_reason"] = None if code is None else ("Error" if code else "Completed")
            pod["containers"][cname] = record
    return pods


def _newest_first(record):
    return (-record["created_ns"], -record["attempt"])


def _add_state(record, details):
    """Exit code, reason and times from the container's State (Docker's inspect)."""
    state = (details or {}).get("State") or {}
    if not state:
        return
    if record["state"] == "exited" and state.get("ExitCode") is not None:
        record["exit_code"] = int(state["ExitCode"])
    if state.get("OOMKilled"):
        record["reason"] = "OOMKilled"
    elif record["state"] == "exited":
        record["reason"] = "Error" if record["exit_code"] else "Completed"
    record["message"] = state.get("Error") or None
    record["started"] = state.get("StartedAt")
    record["finished"] = state.get("FinishedAt")


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def sandbox_ip(socket_path, sandbox_id, timeout=5.0):
    """A sandbox container's IP on its network (cri-dockerd's getIPsFromPlugin falls back to
    the container's NetworkSettings), or None."""
    status, body = get(socket_path, "/containers/%s/json" % sandbox_id, timeout)
    if status != 200:
        return None
    settings = loads(body.decode("utf-8", "replace")).get("NetworkSettings") or {}
    if settings.get("IPAddress"):
        return settings["IPAddress"]
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    return None


MAX_EXEC_OUTPUT = 10 * 1024  # pkg/probe/exec/exec.go maxReadLength: the kubelet keeps 10 KiB
STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3  # moby pkg/stdcopy StdType


class Frames:
    """Docker's multiplexed stream, as moby's pkg/stdcopy writes and reads it (StdCopy): each
    frame is an 8-byte header, the stream's type (1 stdout, 2 stderr, 3 the daemon's own
    error; 0 stdin is never written), three zero bytes and the payload's size as a big-endian
    uint32, then the payload. ``feed`` takes bytes as they arrive (a header or a payload may
    be split across reads) and keeps stdout and stderr payloads together, in the order they
    came, up to ``limit`` bytes: the kubelet's exec prober (pkg/probe/exec/exec.go) gives
    both streams to one writer limited to 10 KiB."""

    def __init__(self, limit=MAX_EXEC_OUTPUT):
        self.limit = limit
        self.output = bytearray()
        self.full = False  # the limit is reached: the rest would be dropped
        self._header = b""
        self._kind = None
        self._left = 0  # payload bytes of the current frame not yet seen
        self._error = bytearray()

    def feed(self, data):
        """Take the next bytes of the stream; True once ``limit`` bytes are kept."""
        view = memoryview(data)
        while view and not self.full:
            if self._left == 0:
                need = 8 - len(self._header)
                self._header += bytes(view[:need])
                view = view[need:]
                if len(self._header) < 8:
                    break
                header, self._header = self._header, b""
                self._kind = header[0]
                if self._kind not in (STDOUT, STDERR, SYSTEMERR) or header[1:4] != b"\0\0\0":
                    raise AgentError("docker exec: unrecognized stream header %r" % header)
                self._left = int.from_bytes(header[4:8], "big")
                continue
            payload = view[: self._left]
            view = view[len(payload) :]
            self._left -= len(payload)
            if self._kind == SYSTEMERR:
                self._error += payload
                if self._left == 0:
                    # StdCopy returns the daemon's error as an error, not as output.
                    raise AgentError(
                        "docker exec: %s" % bytes(self._error).decode("utf-8", "replace")
                    )
                continue
            room = self.limit - len(self.output)
            self.output += payload[:room]
            self.full = len(payload) >= room
        return self.full

    @property
    def truncated(self):
        """True when the stream stopped within a frame (its header or its payload)."""
        return bool(self._header) or self._left > 0


def exec_run(socket_path, container_id, command, timeout):
    """Run ``command`` in a container through the Engine's exec API, as cri-dockerd's ExecSync
    does (core/exec.go ``ExecInContainer``): create the exec with stdout and stderr attached,
    start it attached (``Detach: false``; libdocker's ``StartExec`` reads the hijacked
    connection with stdcopy until the daemon closes it when the command ends), then read the
    exit code from the exec's inspect, asked again while it still says Running.

    (exit code, output bytes), or (None, the output so far) when the command did not end
    within ``timeout``. Output is stdout and stderr as they came, up to the kubelet's 10 KiB
    (pkg/probe/exec/exec.go maxReadLength); the rest is read and dropped, as the kubelet's
    LimitWriter drops it, until the command ends or the timeout: closing the connection
    early would not stop the command, and Docker would then report the exec's exit code as
    126 ("exec attach failed", daemon/exec.go), not the command's."""
    import json
    import time

    from ..system.http import Stream, TimedOut, request

    deadline = time.monotonic() + timeout
    create = json.dumps(
        {"Cmd": list(command), "AttachStdout": True, "AttachStderr": True, "Tty": False}
    )
    status, body = request(
        socket_path, "POST", "/containers/%s/exec" % container_id, create.encode(), timeout
    )
    if status != 201:
        raise AgentError("docker exec answered %d: %s" % (status, body[:200]))
    exec_id = loads(body.decode("utf-8", "replace"))["Id"]
    frames = Frames()
    # Without Tty the body is the multiplexed stream, whichever Content-Type names it
    # (application/vnd.docker.raw-stream before API 1.42, .multiplexed-stream since).
    try:
        stream = Stream(
            socket_path,
            "POST",
            "/exec/%s/start" % exec_id,
            b'{"Detach": false, "Tty": false}',
            max(deadline - time.monotonic(), 0.001),
        )
    except TimedOut:
        return None, b""
    try:
        if stream.status != 200:
            answer = b""
            try:
                while len(answer) < 4096:
                    chunk = stream.read()
                    if not chunk:
                        break
                    answer += chunk
            except TimedOut:
                pass
            raise AgentError("docker exec start answered %d: %s" % (stream.status, answer[:200]))
        while True:
            chunk = stream.read()
            if not chunk:
                break
            if not frames.full:
                frames.feed(chunk)
    except TimedOut:
        return None, bytes(frames.output)
    finally:
        stream.close()
    output = bytes(frames.output)
    while True:
        left = deadline - time.monotonic()
        status, body = get(socket_path, "/exec/%s/json" % exec_id, max(left, 1.0))
        info = loads(body.decode("utf-8", "replace")) if status == 200 else {}
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"]), output
        if time.monotonic() >= deadline:
            return None, output
        time.sleep(0.05)
