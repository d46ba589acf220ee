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

from ..errors import AgentError
from ..http import get
from ..jsonfast import loads

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


def exec_run(socket_path, container_id, command, timeout):
    """Run ``command`` in a container through the Engine's exec API, as cri-dockerd's ExecSync
    does (core/exec.go): create, start detached, and poll until it ends. (exit code or None
    when it did not end within ``timeout``, b"": a detached exec's output is not kept)."""
    import json
    import time

    from ..http import request

    create = json.dumps({"Cmd": list(command), "AttachStdout": False, "AttachStderr": False})
    status, body = request(
        socket_path, "POST", "/containers/%s/exec" % container_id, create.encode(), timeout
    )
    if status != 201:
        raise AgentError("docker exec answered %d: %s" % (status, body[:200]))
    exec_id = loads(body.decode("utf-8", "replace"))["Id"]
    status, body = request(
        socket_path, "POST", "/exec/%s/start" % exec_id, b'{"Detach": true}', timeout
    )
    if status != 200:
        raise AgentError("docker exec start answered %d: %s" % (status, body[:200]))
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(socket_path, "/exec/%s/json" % exec_id, timeout)
        info = loads(body.decode("utf-8", "replace")) if status == 200 else {}
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"]), b""
        if time.monotonic() >= deadline:
            return None, b""
        time.sleep(0.05)
