"""Pods as the kubelet sees them, read from the container runtime through the CRI.

Talks to containerd, CRI-O, k3s or rke2 over the socket the kubelet uses, with the agent's own
gRPC client (runtime/grpc.py): no crictl, no library beyond Python's.

Facts come from the kubelet, kubernetes/kubernetes `pkg/kubelet/kuberuntime/`:
- labels.go: the kubelet labels every sandbox and container with io.kubernetes.pod.name,
  .namespace and .uid (newPodLabels, newContainerLabels), containers also with
  io.kubernetes.container.name, and writes the restart count into the container *annotation*
  io.kubernetes.container.restartCount (newContainerAnnotations); a value that does not parse
  reads as 0 (getIntValueFromLabel).
- kuberuntime_sandbox.go / kuberuntime_manager.go: a pod's sandboxes sorted newest first by
  created_at (podSandboxByCreated in helpers.go); the newest one is the pod's sandbox.
- kuberuntime_container.go (getPodContainerStatuses) and helpers.go (containerStatusByCreated):
  a pod's containers newest first, so the newest container of a name is its current state;
  the exit code, reason and message come from ContainerStatus, and so does the path of the
  container's log file (log_path), read by runtime/container_logs.py.

Two versions of the CRI: ``runtime.v1`` (containerd 1.6 and later, CRI-O since it serves v1)
and ``runtime.v1alpha2`` (containerd 1.5 and older, and CRI-O releases before v1; cri-api
removed it in v0.26, kubelet 1.26). A runtime that does not serve v1 answers its calls as
grpc-go answers a service it has no handler for: UNIMPLEMENTED, "unknown service
runtime.v1.RuntimeService" (grpc-go ``server.go`` handleStream). The agent then asks
v1alpha2, once per socket: the version that answered is remembered (``spoken``) and asked
first by every later call in this process. Every message and field number the agent uses
(``proto.MESSAGES``) is the same in cri-api's ``pkg/apis/runtime/v1alpha2/api.proto``
(tag v0.25.0, its last) and ``pkg/apis/runtime/v1/api.proto``, the enums included; only
the package name in the method path differs. The agent uses no ImageService call.
"""

import os

# Where runtimes listen by default, in the order a node is most likely to use them.
DEFAULT_ENDPOINTS = (
    # containerd `defaults/defaults_unix.go` DefaultAddress; also the kubelet's default
    # containerRuntimeEndpoint (`pkg/kubelet/apis/config/v1beta1/defaults_linux.go`) and the
    # first of crictl's defaults (kubernetes-sigs/cri-tools `cmd/crictl/main_unix.go`).
    "unix:///run/containerd/containerd.sock",
    # CRI-O: crictl's default spelling, and CRI-O's own CrioSocketPath
    # (cri-o/cri-o `pkg/config/config_unix.go`); /var/run is usually a link to /run.
    "unix:///run/crio/crio.sock",
    "unix:///var/run/crio/crio.sock",
    # k3s runs its embedded containerd with state /run/k3s/containerd and the socket inside it
    # (k3s-io/k3s `pkg/agent/config/config_linux.go` applyContainerdStateAndAddress); rke2 runs
    # k3s's agent code, so its containerd listens there too.
    "unix:///run/k3s/containerd/containerd.sock",
)

#: The CRI versions the agent speaks, newest first, and the RuntimeService of each.
API_VERSIONS = ("v1", "v1alpha2")
SERVICES = {version: "/runtime.%s.RuntimeService/" % version for version in API_VERSIONS}
SERVICE = SERVICES["v1"]

# {socket path: the CRI version that answered there}: the agent asks it first from then on.
_SPOKEN = {}

POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"

# api.proto enums PodSandboxState and ContainerState.
SANDBOX_STATES = {0: "running", 1: "exited"}  # SANDBOX_READY, SANDBOX_NOTREADY
CONTAINER_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}


class EndpointError(ValueError):
    """A runtime endpoint the agent cannot use."""


def socket_path(endpoint):
    """The unix socket path of a CRI endpoint ("unix:///run/x.sock" or "/run/x.sock")."""
    endpoint = endpoint.strip()
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
    elif "://" in endpoint:
        raise EndpointError(
            "container runtime endpoint %r: only unix sockets are supported (unix:///path)"
            % endpoint
        )
    else:
        path = endpoint
    if not path.startswith("/"):
        raise EndpointError(
            "container runtime endpoint %r: the socket path must be absolute" % endpoint
        )
    return path


def find_socket(endpoints=DEFAULT_ENDPOINTS):
    """The first endpoint whose socket exists, as a path; None when none does."""
    import stat

    for endpoint in endpoints:
        path = socket_path(endpoint)
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return path
        except OSError:
            continue
    return None


def spoken(path):
    """The CRI version the runtime at ``path`` answered in ("v1", "v1alpha2"); None before
    any call there succeeded."""
    return _SPOKEN.get(path)


def _unknown_service(error):
    """True when ``error`` is the runtime saying it does not serve that CRI version: the
    server ended the call with UNIMPLEMENTED (grpc-go's "unknown service ..."; an HTTP 404,
    which doc/http-grpc-status-mapping.md maps to UNIMPLEMENTED, from a proxy in between)."""
    return error.from_server and error.status == "UNIMPLEMENTED"


class _Client:
    """One connection, one deadline for all the calls of a read, in the CRI version the
    runtime serves (v1, else v1alpha2; see the module's docstring)."""

    def __init__(self, path, timeout):
        import time

        from . import grpc

        self._time = time
        self.path = path
        self.deadline = time.monotonic() + timeout
        self.conn = grpc.Connection(path, timeout)

    def call(self, method, request_type, request, response_type):
        from . import grpc, proto

        body = proto.encode(request_type, request)
        known = _SPOKEN.get(self.path)
        versions = (known,) if known else API_VERSIONS
        refused = []  # (version, error) of each version that answered UNIMPLEMENTED
        for version in versions:
            left = max(0.001, self.deadline - self._time.monotonic())
            try:
                answer = self.conn.call(SERVICES[version] + method, body, left)
            except grpc.GrpcError as e:
                if known or not _unknown_service(e):
                    raise
                refused.append((version, e))
                continue
            _SPOKEN[self.path] = version
            return proto.decode(response_type, answer)
        first = refused[0][1]
        if first.message.startswith("unknown method"):
            raise first  # v1 is there, without this method: v1alpha2 is no answer to that
        # Name both services and what each answered: one of them may be there without the
        # method ("unknown method"), which v1's "unknown service" alone would hide.
        lacking = any(e.message.startswith("unknown method") for _, e in refused)
        raise grpc.GrpcError(
            "UNIMPLEMENTED",
            "the runtime serves neither CRI %s%s: %s"
            % (
                " nor ".join("runtime." + v for v in API_VERSIONS),
                " with " + method if lacking else "",
                ", ".join(
                    "%s answered %r" % (SERVICES[v].strip("/"), e.message) for v, e in refused
                ),
            ),
            method,
            from_server=True,
        )

    def close(self):
        self.conn.close()


def version(path, timeout=10.0):
    """{"runtime_name", "runtime_version", "runtime_api_version"} of the runtime at path
    (the runtime_api_version is the CRI version it answered in: "v1" or "v1alpha2")."""
    client = _Client(path, timeout)
    try:
        # The request's version is informational: the kubelet sends its own API version
        # (pkg/kubelet/kuberuntime kubeRuntimeAPIVersion, "0.1.0"); runtimes answer with theirs.
        answer = client.call("Version", "VersionRequest", {"version": "0.1.0"}, "VersionResponse")
    finally:
        client.close()
    return {key: answer[key] for key in ("runtime_name", "runtime_version", "runtime_api_version")}


def _pod_key(labels, metadata):
    metadata = metadata or {}
    return (
        labels.get(POD_NAMESPACE_LABEL) or metadata.get("namespace", ""),
        labels.get(POD_NAME_LABEL) or metadata.get("name", ""),
        labels.get(POD_UID_LABEL) or metadata.get("uid", ""),
    )


def _newest_first(items):
    return sorted(items, key=lambda item: (item["created_at"], item["id"]), reverse=True)


def _restarts(container):
    # labels.go: the kubelet's own count; attempt only for containers the kubelet did not label.
    value = container["annotations"].get(RESTART_COUNT_ANNOTATION)
    if value is None:
        return (container["metadata"] or {}).get("attempt", 0)
    try:
        return int(value)
    except ValueError:
        return 0


def _sandbox_record(sandbox):
    return {
        "id": sandbox["id"],
        "state": SANDBOX_STATES.get(sandbox["state"], "unknown"),
        "attempt": (sandbox["metadata"] or {}).get("attempt", 0),
        "created": sandbox["created_at"] // 10**9,
        "created_ns": sandbox["created_at"],
    }


def _container_record(container):
    return {
        "id": container["id"],
        "state": CONTAINER_STATES.get(container["state"], "unknown"),
        "attempt": (container["metadata"] or {}).get("attempt", 0),
        "restarts": _restarts(container),
        "created": container["created_at"] // 10**9,
        "created_ns": container["created_at"],
        "exit_code": None,
        "reason": "",
        "message": "",
        "started": None,
        "finished": None,
        "sandbox_id": container["pod_sandbox_id"],
        "log_path": None,
    }


def read_pods(path, timeout=10.0):
    """Every pod the runtime at `path` holds, keyed by (namespace, pod name, pod uid).

    Each value: {"sandboxes": [sandbox records, newest first], "sandbox": the newest or None,
    "containers": {container name: record of its newest container},
    "annotations": and "labels": of the newest sandbox}. One ListPodSandbox, one
    ListContainers, and one ContainerStatus per exited container that is the newest of its
    name, and one for the exited container before a newest one that has not ended (its exit
    code and reason are the record's ``last_exit_code`` and ``last_reason``, None when that
    call fails).
    """
    from . import grpc

    client = _Client(path, timeout)
    try:
        sandboxes = client.call(
            "ListPodSandbox", "ListPodSandboxRequest", {}, "ListPodSandboxResponse"
        )["items"]
        containers = client.call(
            "ListContainers", "ListContainersRequest", {}, "ListContainersResponse"
        )["containers"]
        pods = {}
        sandbox_keys = {}
        for sandbox in _newest_first(sandboxes):
            key = _pod_key(sandbox["labels"], sandbox["metadata"])
            sandbox_keys[sandbox["id"]] = key
            pod = pods.get(key)
            if pod is None:
                pod = pods[key] = {
                    "sandboxes": [],
                    "sandbox": None,
                    "containers": {},
                    "annotations": dict(sandbox["annotations"]),
                    "labels": dict(sandbox["labels"]),
                }
            pod["sandboxes"].append(_sandbox_record(sandbox))
        for pod in pods.values():
            pod["sandbox"] = pod["sandboxes"][0]

        exited = []
        previous = {}  # pod key: {container name: the container before the newest}
        last = []  # (record of the newest, id of the one before it, which exited)
        for container in _newest_first(containers):
            labels = container["labels"]
            if POD_UID_LABEL in labels or POD_NAME_LABEL in labels:
                key = _pod_key(labels, None)
            else:
                key = sandbox_keys.get(container["pod_sandbox_id"])
                if key is None:
                    continue  # not a pod's container
            pod = pods.get(key)
            if pod is None:
                pod = pods[key] = {
                    "sandboxes": [],
                    "sandbox": None,
                    "containers": {},
                    "annotations": {},
                    "labels": {},
                }
            name = labels.get(CONTAINER_NAME_LABEL) or (container["metadata"] or {}).get("name", "")
            newest = pod["containers"].get(name)
            if newest is not None:
                # An older container of this name: the one before the newest is the
                # kubelet's lastState (kuberuntime_container.go getPodContainerStatuses),
                # read when the newest has not ended itself.
                if newest["state"] != "exited" and name not in previous.get(key, {}):
                    previous.setdefault(key, {})[name] = container
                    if CONTAINER_STATES.get(container["state"]) == "exited":
                        last.append((newest, container["id"]))
                continue
            record = pod["containers"][name] = _container_record(container)
            record["last_exit_code"] = record["last_reason"] = None
            if record["state"] == "exited":
                exited.append(record)

        for record in exited:
            try:
                status = client.call(
                    "ContainerStatus",
                    "ContainerStatusRequest",
                    {"container_id": record["id"]},
                    "ContainerStatusResponse",
                )["status"]
            except grpc.GrpcError as e:
                if e.status == "NOT_FOUND":
                    continue  # removed since the list: keep what the list said
                raise
            if status:
                record["exit_code"] = status["exit_code"]
                record["reason"] = status["reason"]
                record["message"] = status["message"]
                record["started"] = status["started_at"] // 10**9 or None
                record["finished"] = status["finished_at"] // 10**9 or None
                # The runtime's log file of this instance (log_directory + log_path).
                record["log_path"] = status["log_path"] or None
        for record, container_id in last:
            try:
                status = client.call(
                    "ContainerStatus",
                    "ContainerStatusRequest",
                    {"container_id": container_id},
                    "ContainerStatusResponse",
                )["status"]
            except grpc.GrpcError:
                # NOT_FOUND: removed by the kubelet's garbage collector since the list. Any
                # other failure: this container's last state is unknown (left None), which
                # must not cost the node the state of every pod read above.
                continue
            if status:
                record["last_exit_code"] = status["exit_code"]
                record["last_reason"] = status["reason"]
        return pods
    finally:
        client.close()


def sandbox_status(path, sandbox_id, timeout=10.0):
    """{"id", "state", "ip", "created_ns", "labels", "annotations"} of one sandbox."""
    client = _Client(path, timeout)
    try:
        status = client.call(
            "PodSandboxStatus",
            "PodSandboxStatusRequest",
            {"pod_sandbox_id": sandbox_id},
            "PodSandboxStatusResponse",
        )["status"]
    finally:
        client.close()
    status = status or {}
    return {
        "id": status.get("id", sandbox_id),
        "state": SANDBOX_STATES.get(status.get("state"), "unknown"),
        "ip": (status.get("network") or {}).get("ip", ""),
        "created_ns": status.get("created_at", 0),
        "labels": status.get("labels", {}),
        "annotations": status.get("annotations", {}),
    }


def exec_timeout(seconds):
    """ExecSyncRequest.timeout for a command given ``seconds``: whole seconds, rounded up,
    at least 1. api.proto: "Timeout in seconds to stop the command. Default: 0 (run
    forever)", so 0.4 s truncated to 0 would let the command run with no end."""
    whole = int(seconds)
    return max(1, whole + 1 if whole < seconds else whole)


def exec_sync(path, container_id, cmd, timeout=10.0, deadline=None):
    """Run cmd in a container; {"stdout", "stderr" (bytes), "exit_code"}.

    The runtime stops the command after ``timeout`` (``exec_timeout``). ``deadline``: the
    seconds the whole call may take (what is left of the caller's wait), default ``timeout``;
    past it the call fails with DEADLINE_EXCEEDED, so an attempt never outlives the wait. (The
    kubelet's remote_runtime.go ExecSync gives the call timeout plus its 2-minute runtime
    timeout; a probe attempt here must end within its probe's time.)"""
    client = _Client(path, timeout if deadline is None else deadline)
    try:
        return client.call(
            "ExecSync",
            "ExecSyncRequest",
            {"container_id": container_id, "cmd": list(cmd), "timeout": exec_timeout(timeout)},
            "ExecSyncResponse",
        )
    finally:
        client.close()
