#!/usr/bin/python3
"""The CRI, as the spctl lab's kubelet stand-in speaks it: for tests and demos only.

The kubelet talks to containerd (and CRI-O) through the Container Runtime Interface: gRPC on
the runtime's unix socket, services ``runtime.v1.RuntimeService`` and
``runtime.v1.ImageService``. This module carries the few messages the stand-in needs,
encoded by hand with a small protobuf codec (no generated code), and a client over
``grpcio`` (Debian's python3-grpcio on the lab's nodes). Field numbers come from
kubernetes/cri-api ``pkg/apis/runtime/v1/api.proto``; only the fields used are listed, and
the decoder skips every other field, as protobuf decoders do.

Run as a program (``spctl-lab-cri`` on the lab's CRI nodes; crictl is not packaged in
Debian) it prints the runtime's sandboxes and containers as JSON, for the lab's tests.

Nothing here imports spctl's agent or product code: the lab looks at the runtime
independently of what it tests. Standard library (and grpcio, imported only to talk).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

# -- a protobuf codec for the messages below --------------------------------------------------
#
# A schema maps each field name to (number, kind[, sub-schema]). Kinds: "string", "bytes",
# "bool", "uint" (uint32/uint64), "int" (int32/int64: negative values are 10-byte varints),
# "enum", "message", "map" (map<string, string>), "strings" (repeated string) and
# "messages" (repeated message).

Schema = Dict[str, Tuple[Any, ...]]

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # two's complement, as protobuf encodes negative int32/int64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, data: bytes) -> bytes:
    return _key(number, WIRE_LEN) + _varint(len(data)) + data


def encode(schema: Schema, message: Dict[str, Any]) -> bytes:
    """``message`` (a dict with the schema's field names) in protobuf wire format. Fields at
    their default value (0, "", False, empty) are left out, as proto3 does."""
    out = bytearray()
    for name, value in message.items():
        if name not in schema:
            raise KeyError(f"no field {name!r} in this message")
        number, kind = schema[name][0], schema[name][1]
        if kind in ("string", "bytes"):
            if value:
                out += _len_field(number, value.encode() if isinstance(value, str) else value)
        elif kind in ("uint", "int", "enum", "bool"):
            if value:
                out += _key(number, WIRE_VARINT) + _varint(int(value))
        elif kind == "message":
            if value is not None:
                out += _len_field(number, encode(schema[name][2], value))
        elif kind == "messages":
            for item in value:
                out += _len_field(number, encode(schema[name][2], item))
        elif kind == "strings":
            for item in value:
                out += _len_field(number, item.encode())
        elif kind == "map":
            for k in sorted(value):
                entry = _len_field(1, str(k).encode()) + _len_field(2, str(value[k]).encode())
                out += _len_field(number, entry)
        else:
            raise ValueError(f"unknown field kind {kind!r}")
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> List[Tuple[int, int, Any]]:
    """(number, wire type, raw value) for each field in ``data``."""
    out = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == WIRE_LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == WIRE_I64:
            value, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire == WIRE_I32:
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _default(kind: str) -> Any:
    return {
        "string": "",
        "bytes": b"",
        "bool": False,
        "uint": 0,
        "int": 0,
        "enum": 0,
        "message": None,
        "messages": [],
        "strings": [],
        "map": {},
    }[kind]


def decode(schema: Schema, data: bytes) -> Dict[str, Any]:
    """The message in ``data`` as a dict with every field of the schema (defaults filled
    in); fields the schema does not name are skipped."""
    by_number = {spec[0]: (name, spec) for name, spec in schema.items()}
    message: Dict[str, Any] = {name: _default(spec[1]) for name, spec in schema.items()}
    for number, wire, raw in _fields(data):
        if number not in by_number:
            continue
        name, spec = by_number[number]
        kind = spec[1]
        if kind == "string" and wire == WIRE_LEN:
            message[name] = raw.decode("utf-8", "replace")
        elif kind == "bytes" and wire == WIRE_LEN:
            message[name] = bytes(raw)
        elif kind in ("uint", "enum") and wire == WIRE_VARINT:
            message[name] = raw
        elif kind == "int" and wire == WIRE_VARINT:
            message[name] = raw - (1 << 64) if raw >= 1 << 63 else raw
        elif kind == "bool" and wire == WIRE_VARINT:
            message[name] = bool(raw)
        elif kind == "message" and wire == WIRE_LEN:
            message[name] = decode(spec[2], raw)
        elif kind == "messages" and wire == WIRE_LEN:
            message[name] = message[name] + [decode(spec[2], raw)]
        elif kind == "strings" and wire == WIRE_LEN:
            message[name] = message[name] + [raw.decode("utf-8", "replace")]
        elif kind == "map" and wire == WIRE_LEN:
            entry = {n: v for n, _, v in _fields(raw)}
            key = entry.get(1, b"").decode("utf-8", "replace")
            message[name] = {**message[name], key: entry.get(2, b"").decode("utf-8", "replace")}
        else:
            raise ValueError(f"field {name}: unexpected wire type {wire}")
    return message


# -- the messages (kubernetes/cri-api pkg/apis/runtime/v1/api.proto) ---------------------------

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
IMAGE: Schema = {"id": (1, "string"), "repo_tags": (2, "strings")}
IMAGE_STATUS_REQUEST: Schema = {"image": (1, "message", IMAGE_SPEC)}
IMAGE_STATUS_RESPONSE: Schema = {"image": (1, "message", IMAGE)}

RUNTIME_SERVICE = "/runtime.v1.RuntimeService/"
IMAGE_SERVICE = "/runtime.v1.ImageService/"
# method -> (service, request schema, response schema); an empty schema is an empty message
METHODS: Dict[str, Tuple[str, Schema, Schema]] = {
    "Version": (RUNTIME_SERVICE, VERSION_REQUEST, VERSION_RESPONSE),
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

# -- the client ---------------------------------------------------------------------------------


class CRIError(Exception):
    """A failed CRI call: the gRPC status code's name (NOT_FOUND, UNAVAILABLE, ...) and text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"CRI {code}: {message}")
        self.code, self.message = code, message


def socket_path(endpoint: str) -> str:
    """The unix socket an endpoint names: ``unix:///run/x.sock`` or a bare path."""
    if endpoint.startswith("unix://"):
        return endpoint[len("unix://") :]
    if endpoint.startswith("/"):
        return endpoint
    raise CRIError("INVALID_ARGUMENT", f"{endpoint}: only unix sockets are supported")


class CRIClient:
    """RuntimeService and ImageService calls on one runtime socket, through grpcio with raw
    bytes in and out (this module's codec does the messages)."""

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        import grpc  # the node's python3-grpcio; imported here so the codec needs nothing

        self.endpoint = endpoint
        self.path = socket_path(endpoint)
        self.timeout = timeout
        self._grpc = grpc
        self._channel = grpc.insecure_channel(f"unix://{self.path}")
        self._calls: Dict[str, Any] = {}

    def call(self, method: str, request: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        service, request_schema, response_schema = METHODS[method]
        if method not in self._calls:
            self._calls[method] = self._channel.unary_unary(service + method)
        try:
            raw = self._calls[method](
                encode(request_schema, request), timeout=timeout or self.timeout
            )
        except self._grpc.RpcError as exc:
            raise CRIError(exc.code().name, exc.details() or "") from None
        return decode(response_schema, raw)

    def close(self) -> None:
        self._channel.close()

    # the calls, named as in the RuntimeService

    def version(self) -> Dict[str, Any]:
        return self.call("Version", {"version": "v1"})

    def run_pod_sandbox(self, config: Dict[str, Any]) -> str:
        return self.call("RunPodSandbox", {"config": config}, timeout=120)["pod_sandbox_id"]

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("StopPodSandbox", {"pod_sandbox_id": sandbox_id}, timeout=120)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("RemovePodSandbox", {"pod_sandbox_id": sandbox_id}, timeout=120)

    def pod_sandbox_status(self, sandbox_id: str) -> Dict[str, Any]:
        return self.call("PodSandboxStatus", {"pod_sandbox_id": sandbox_id})["status"] or {}

    def list_pod_sandbox(self, labels: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        request = {"filter": {"label_selector": labels}} if labels else {}
        return self.call("ListPodSandbox", request)["items"]

    def create_container(
        self, sandbox_id: str, config: Dict[str, Any], sandbox_config: Dict[str, Any]
    ) -> str:
        request = {"pod_sandbox_id": sandbox_id, "config": config, "sandbox_config": sandbox_config}
        return self.call("CreateContainer", request, timeout=120)["container_id"]

    def start_container(self, container_id: str) -> None:
        self.call("StartContainer", {"container_id": container_id}, timeout=120)

    def stop_container(self, container_id: str, timeout: int) -> None:
        request = {"container_id": container_id, "timeout": timeout}
        self.call("StopContainer", request, timeout=timeout + 60.0)

    def remove_container(self, container_id: str) -> None:
        self.call("RemoveContainer", {"container_id": container_id}, timeout=120)

    def list_containers(self, labels: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        request = {"filter": {"label_selector": labels}} if labels else {}
        return self.call("ListContainers", request)["containers"]

    def container_status(self, container_id: str) -> Dict[str, Any]:
        return self.call("ContainerStatus", {"container_id": container_id})["status"] or {}

    def image_present(self, image: str) -> bool:
        """ImageStatus: a missing image answers with no image, not with an error."""
        found = self.call("ImageStatus", {"image": {"image": image}})["image"]
        return bool(found and found["id"])


# -- a look at the runtime, for the lab's tests -------------------------------------------------


def rfc3339(nanoseconds: int) -> str:
    """A CRI timestamp (ns since the epoch) as RFC 3339, or "" for 0 (never)."""
    if not nanoseconds:
        return ""
    seconds, ns = divmod(nanoseconds, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns:09d}Z"


def snapshot(client: CRIClient) -> Dict[str, Any]:
    """Every sandbox and container, with what ContainerStatus adds (exit code, reason, times)."""
    sandboxes = []
    for s in client.list_pod_sandbox():
        status = client.pod_sandbox_status(s["id"])
        meta = s["metadata"] or {}
        sandboxes.append(
            {
                "id": s["id"],
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "attempt": meta.get("attempt", 0),
                "state": SANDBOX_STATES.get(s["state"], str(s["state"])),
                "created_at": s["created_at"],
                "ip": ((status.get("network") or {}).get("ip", "")),
                "labels": s["labels"],
                "annotations": s["annotations"],
            }
        )
    containers = []
    for c in client.list_containers():
        try:
            status = client.container_status(c["id"])
        except CRIError:
            status = {}  # removed between the two calls
        meta = c["metadata"] or {}
        containers.append(
            {
                "id": c["id"],
                "sandbox_id": c["pod_sandbox_id"],
                "name": meta.get("name", ""),
                "attempt": meta.get("attempt", 0),
                "state": CONTAINER_STATES.get(c["state"], str(c["state"])),
                "image": (c["image"] or {}).get("image", ""),
                "created_at": c["created_at"],
                "started_at": rfc3339(status.get("started_at", 0)),
                "finished_at": rfc3339(status.get("finished_at", 0)),
                "exit_code": status.get("exit_code", 0),
                "reason": status.get("reason", ""),
                "labels": c["labels"],
                "annotations": c["annotations"],
            }
        )
    key = lambda item: item["created_at"]  # noqa: E731
    return {"sandboxes": sorted(sandboxes, key=key), "containers": sorted(containers, key=key)}


DEFAULT_ENDPOINTS = (
    "unix:///run/containerd/containerd.sock",
    "unix:///run/k3s/containerd/containerd.sock",
)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spctl-lab-cri",
        description="spctl lab only: the CRI runtime's sandboxes and containers as JSON "
        "(crictl is not packaged in Debian).",
    )
    parser.add_argument(
        "-r",
        "--runtime-endpoint",
        default=os.environ.get("CONTAINER_RUNTIME_ENDPOINT", ""),
        help="the CRI socket (default: containerd's, else k3s's)",
    )
    parser.add_argument("command", nargs="?", default="ps", choices=["ps", "version"])
    args = parser.parse_args(argv)
    endpoint = args.runtime_endpoint or next(
        (e for e in DEFAULT_ENDPOINTS if os.path.exists(socket_path(e))), DEFAULT_ENDPOINTS[0]
    )
    client = CRIClient(endpoint, timeout=10)
    try:
        result = client.version() if args.command == "version" else snapshot(client)
    except CRIError as exc:
        print(f"spctl-lab-cri: {endpoint}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
