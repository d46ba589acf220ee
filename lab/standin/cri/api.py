"""The CRI's messages and methods (kubernetes/cri-api pkg/apis/runtime/v1/api.proto), as
schemas for the codec: only the fields the stand-in uses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, Tuple

from .protobuf import Schema

# enum PodSandboxState, ContainerState, NamespaceMode
SANDBOX_READY, SANDBOX_NOTREADY = 0, 1
CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_UNKNOWN = 0, 1, 2, 3
SANDBOX_STATES = {SANDBOX_READY: "SANDBOX_READY", SANDBOX_NOTREADY: "SANDBOX_NOTREADY"}
CONTAINER_STATES = {
    CONTAINER_CREATED: "CONTAINER_CREATED",
    CONTAINER_RUNNING: "CONTAINER_RUNNING",
    CONTAINER_EXITED: "CONTAINER_EXITED",
    CONTAINER_UNKNOWN: "CONTAINER_UNKNOWN",
}
NAMESPACE_POD, NAMESPACE_CONTAINER, NAMESPACE_NODE = 0, 1, 2

POD_SANDBOX_METADATA: Schema = {
    "name": (1, "string"),
    "uid": (2, "string"),
    "namespace": (3, "string"),
    "attempt": (4, "uint"),
}
NAMESPACE_OPTION: Schema = {"network": (1, "enum"), "pid": (2, "enum"), "ipc": (3, "enum")}
LINUX_SANDBOX_SECURITY_CONTEXT: Schema = {
    "namespace_options": (1, "message", NAMESPACE_OPTION),
    "privileged": (6, "bool"),
}
LINUX_POD_SANDBOX_CONFIG: Schema = {
    "cgroup_parent": (1, "string"),
    "security_context": (2, "message", LINUX_SANDBOX_SECURITY_CONTEXT),
}
POD_SANDBOX_CONFIG: Schema = {
    "metadata": (1, "message", POD_SANDBOX_METADATA),
    "hostname": (2, "string"),
    "log_directory": (3, "string"),
    "labels": (6, "map"),
    "annotations": (7, "map"),
    "linux": (8, "message", LINUX_POD_SANDBOX_CONFIG),
}
RUN_POD_SANDBOX_REQUEST: Schema = {
    "config": (1, "message", POD_SANDBOX_CONFIG),
    "runtime_handler": (2, "string"),
}
RUN_POD_SANDBOX_RESPONSE: Schema = {"pod_sandbox_id": (1, "string")}
POD_SANDBOX_ID_REQUEST: Schema = {"pod_sandbox_id": (1, "string")}  # Stop/RemovePodSandbox
POD_SANDBOX_STATE_VALUE: Schema = {"state": (1, "enum")}
POD_SANDBOX_FILTER: Schema = {
    "id": (1, "string"),
    "state": (2, "message", POD_SANDBOX_STATE_VALUE),
    "label_selector": (3, "map"),
}
LIST_POD_SANDBOX_REQUEST: Schema = {"filter": (1, "message", POD_SANDBOX_FILTER)}
POD_SANDBOX: Schema = {
    "id": (1, "string"),
    "metadata": (2, "message", POD_SANDBOX_METADATA),
    "state": (3, "enum"),
    "created_at": (4, "int"),
    "labels": (5, "map"),
    "annotations": (6, "map"),
    "runtime_handler": (7, "string"),
}
LIST_POD_SANDBOX_RESPONSE: Schema = {"items": (1, "messages", POD_SANDBOX)}
POD_SANDBOX_STATUS_REQUEST: Schema = {"pod_sandbox_id": (1, "string"), "verbose": (2, "bool")}
POD_SANDBOX_NETWORK_STATUS: Schema = {"ip": (1, "string")}
POD_SANDBOX_STATUS: Schema = {
    "id": (1, "string"),
    "metadata": (2, "message", POD_SANDBOX_METADATA),
    "state": (3, "enum"),
    "created_at": (4, "int"),
    "network": (5, "message", POD_SANDBOX_NETWORK_STATUS),
    "labels": (7, "map"),
    "annotations": (8, "map"),
}
POD_SANDBOX_STATUS_RESPONSE: Schema = {"status": (1, "message", POD_SANDBOX_STATUS)}

CONTAINER_METADATA: Schema = {"name": (1, "string"), "attempt": (2, "uint")}
IMAGE_SPEC: Schema = {"image": (1, "string")}
KEY_VALUE: Schema = {"key": (1, "string"), "value": (2, "bytes")}
MOUNT: Schema = {
    "container_path": (1, "string"),
    "host_path": (2, "string"),
    "readonly": (3, "bool"),
}
LINUX_CONTAINER_SECURITY_CONTEXT: Schema = {
    "privileged": (2, "bool"),
    "namespace_options": (3, "message", NAMESPACE_OPTION),
}
LINUX_CONTAINER_CONFIG: Schema = {
    "security_context": (2, "message", LINUX_CONTAINER_SECURITY_CONTEXT),
}
CONTAINER_CONFIG: Schema = {
    "metadata": (1, "message", CONTAINER_METADATA),
    "image": (2, "message", IMAGE_SPEC),
    "command": (3, "strings"),
    "args": (4, "strings"),
    "working_dir": (5, "string"),
    "envs": (6, "messages", KEY_VALUE),
    "mounts": (7, "messages", MOUNT),
    "labels": (9, "map"),
    "annotations": (10, "map"),
    "log_path": (11, "string"),
    "linux": (15, "message", LINUX_CONTAINER_CONFIG),
}
CREATE_CONTAINER_REQUEST: Schema = {
    "pod_sandbox_id": (1, "string"),
    "config": (2, "message", CONTAINER_CONFIG),
    "sandbox_config": (3, "message", POD_SANDBOX_CONFIG),
}
CREATE_CONTAINER_RESPONSE: Schema = {"container_id": (1, "string")}
CONTAINER_ID_REQUEST: Schema = {"container_id": (1, "string")}  # Start/RemoveContainer
STOP_CONTAINER_REQUEST: Schema = {"container_id": (1, "string"), "timeout": (2, "int")}
CONTAINER_STATE_VALUE: Schema = {"state": (1, "enum")}
CONTAINER_FILTER: Schema = {
    "id": (1, "string"),
    "state": (2, "message", CONTAINER_STATE_VALUE),
    "pod_sandbox_id": (3, "string"),
    "label_selector": (4, "map"),
}
LIST_CONTAINERS_REQUEST: Schema = {"filter": (1, "message", CONTAINER_FILTER)}
CONTAINER: Schema = {
    "id": (1, "string"),
    "pod_sandbox_id": (2, "string"),
    "metadata": (3, "message", CONTAINER_METADATA),
    "image": (4, "message", IMAGE_SPEC),
    "image_ref": (5, "string"),
    "state": (6, "enum"),
    "created_at": (7, "int"),
    "labels": (8, "map"),
    "annotations": (9, "map"),
}
LIST_CONTAINERS_RESPONSE: Schema = {"containers": (1, "messages", CONTAINER)}
CONTAINER_STATUS_REQUEST: Schema = {"container_id": (1, "string"), "verbose": (2, "bool")}
CONTAINER_STATUS: Schema = {
    "id": (1, "string"),
    "metadata": (2, "message", CONTAINER_METADATA),
    "state": (3, "enum"),
    "created_at": (4, "int"),
    "started_at": (5, "int"),
    "finished_at": (6, "int"),
    "exit_code": (7, "int"),
    "image": (8, "message", IMAGE_SPEC),
    "image_ref": (9, "string"),
    "reason": (10, "string"),
    "message": (11, "string"),
    "labels": (12, "map"),
    "annotations": (13, "map"),
    "log_path": (15, "string"),
}
CONTAINER_STATUS_RESPONSE: Schema = {"status": (1, "message", CONTAINER_STATUS)}
VERSION_REQUEST: Schema = {"version": (1, "string")}
VERSION_RESPONSE: Schema = {
    "version": (1, "string"),
    "runtime_name": (2, "string"),
    "runtime_version": (3, "string"),
    "runtime_api_version": (4, "string"),
}
STATUS_REQUEST: Schema = {"verbose": (1, "bool")}
RUNTIME_CONDITION: Schema = {
    "type": (1, "string"),
    "status": (2, "bool"),
    "reason": (3, "string"),
    "message": (4, "string"),
}
RUNTIME_STATUS: Schema = {"conditions": (1, "messages", RUNTIME_CONDITION)}
STATUS_RESPONSE: Schema = {"status": (1, "message", RUNTIME_STATUS)}
IMAGE: Schema = {"id": (1, "string"), "repo_tags": (2, "strings")}
IMAGE_STATUS_REQUEST: Schema = {"image": (1, "message", IMAGE_SPEC)}
IMAGE_STATUS_RESPONSE: Schema = {"image": (1, "message", IMAGE)}

RUNTIME_SERVICE = "/runtime.v1.RuntimeService/"
IMAGE_SERVICE = "/runtime.v1.ImageService/"
# method -> (service, request schema, response schema); an empty schema is an empty message
METHODS: Dict[str, Tuple[str, Schema, Schema]] = {
    "Version": (RUNTIME_SERVICE, VERSION_REQUEST, VERSION_RESPONSE),
    "Status": (RUNTIME_SERVICE, STATUS_REQUEST, STATUS_RESPONSE),
    "RunPodSandbox": (RUNTIME_SERVICE, RUN_POD_SANDBOX_REQUEST, RUN_POD_SANDBOX_RESPONSE),
    "StopPodSandbox": (RUNTIME_SERVICE, POD_SANDBOX_ID_REQUEST, {}),
    "RemovePodSandbox": (RUNTIME_SERVICE, POD_SANDBOX_ID_REQUEST, {}),
    "PodSandboxStatus": (RUNTIME_SERVICE, POD_SANDBOX_STATUS_REQUEST, POD_SANDBOX_STATUS_RESPONSE),
    "ListPodSandbox": (RUNTIME_SERVICE, LIST_POD_SANDBOX_REQUEST, LIST_POD_SANDBOX_RESPONSE),
    "CreateContainer": (RUNTIME_SERVICE, CREATE_CONTAINER_REQUEST, CREATE_CONTAINER_RESPONSE),
    "StartContainer": (RUNTIME_SERVICE, CONTAINER_ID_REQUEST, {}),
    "StopContainer": (RUNTIME_SERVICE, STOP_CONTAINER_REQUEST, {}),
    "RemoveContainer": (RUNTIME_SERVICE, CONTAINER_ID_REQUEST, {}),
    "ListContainers": (RUNTIME_SERVICE, LIST_CONTAINERS_REQUEST, LIST_CONTAINERS_RESPONSE),
    "ContainerStatus": (RUNTIME_SERVICE, CONTAINER_STATUS_REQUEST, CONTAINER_STATUS_RESPONSE),
    "ImageStatus": (IMAGE_SERVICE, IMAGE_STATUS_REQUEST, IMAGE_STATUS_RESPONSE),
}


def rfc3339(nanoseconds: int) -> str:
    """A CRI timestamp (ns since the epoch) as RFC 3339, or "" for 0 (never)."""
    if not nanoseconds:
        return ""
    seconds, ns = divmod(nanoseconds, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns:09d}Z"
