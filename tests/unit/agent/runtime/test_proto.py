"""The agent's protobuf codec: its own round trips, and messages written by the real `protobuf`
library from descriptors typed out of cri-api `pkg/apis/runtime/v1/api.proto`."""

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from spctl_agent.runtime import proto

F = descriptor_pb2.FieldDescriptorProto
TYPES = {
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
    "int64": F.TYPE_INT64,
    "int32": F.TYPE_INT32,
    "uint32": F.TYPE_UINT32,
    "bool": F.TYPE_BOOL,
}

# Written from api.proto independently of proto.MESSAGES, so a wrong field number in either shows.
API = {
    "PodSandboxMetadata": [
        ("name", 1, "string"),
        ("uid", 2, "string"),
        ("namespace", 3, "string"),
        ("attempt", 4, "uint32"),
    ],
    "PodSandbox": [
        ("id", 1, "string"),
        ("metadata", 2, "PodSandboxMetadata"),
        ("state", 3, "int32"),
        ("created_at", 4, "int64"),
        ("labels", 5, "map"),
        ("annotations", 6, "map"),
        ("runtime_handler", 7, "string"),
    ],
    "ListPodSandboxResponse": [("items", 1, "PodSandbox*")],
    "ContainerMetadata": [("name", 1, "string"), ("attempt", 2, "uint32")],
    "ImageSpec": [
        ("image", 1, "string"),
        ("annotations", 2, "map"),
        ("user_specified_image", 18, "string"),
    ],
    "ContainerStatus": [
        ("id", 1, "string"),
        ("metadata", 2, "ContainerMetadata"),
        ("state", 3, "int32"),
        ("created_at", 4, "int64"),
        ("started_at", 5, "int64"),
        ("finished_at", 6, "int64"),
        ("exit_code", 7, "int32"),
        ("image", 8, "ImageSpec"),
        ("image_ref", 9, "string"),
        ("reason", 10, "string"),
        ("message", 11, "string"),
        ("labels", 12, "map"),
        ("annotations", 13, "map"),
        ("log_path", 15, "string"),
        ("image_id", 17, "string"),
    ],
    "ContainerStatusResponse": [("status", 1, "ContainerStatus"), ("info", 2, "map")],
    "ExecSyncRequest": [
        ("container_id", 1, "string"),
        ("cmd", 2, "string*"),
        ("timeout", 3, "int64"),
    ],
    "ExecSyncResponse": [("stdout", 1, "bytes"), ("stderr", 2, "bytes"), ("exit_code", 3, "int32")],
}


@pytest.fixture(scope="module")
def real():
    """Message classes of the real protobuf library, package runtime.v1."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="spctl_test_api.proto", package="runtime.v1", syntax="proto3"
    )
    for name, fields in API.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, kind in fields:
            field = msg.field.add(name=fname, number=number, label=F.LABEL_OPTIONAL)
            if kind.endswith("*"):
                field.label = F.LABEL_REPEATED
                kind = kind[:-1]
            if kind == "map":
                entry = msg.nested_type.add(name=fname.title().replace("_", "") + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
                field.label = F.LABEL_REPEATED
                field.type = F.TYPE_MESSAGE
                field.type_name = f".runtime.v1.{name}.{entry.name}"
            elif kind in TYPES:
                field.type = TYPES[kind]
            else:
                field.type = F.TYPE_MESSAGE
                field.type_name = ".runtime.v1." + kind
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName("runtime.v1." + name))
        for name in API
    }


def test_pod_sandbox_list_written_by_protobuf(real):
    msg = real["ListPodSandboxResponse"]()
    for i, state in enumerate([1, 0]):
        item = msg.items.add(
            id=f"sb{i}", state=state, created_at=1700000000123456789 + i, runtime_handler="runc"
        )
        item.metadata.name = "web-n1"
        item.metadata.uid = "uid-1"
        item.metadata.namespace = "kube-system"
        item.metadata.attempt = i
        item.labels["io.kubernetes.pod.name"] = "web-n1"
        item.annotations["kubernetes.io/config.source"] = "file"
    got = proto.decode("ListPodSandboxResponse", msg.SerializeToString())
    assert [s["id"] for s in got["items"]] == ["sb0", "sb1"]
    first = got["items"][0]
    assert first == {
        "id": "sb0",
        "state": 1,
        "created_at": 1700000000123456789,
        "runtime_handler": "runc",
        "metadata": {"name": "web-n1", "uid": "uid-1", "namespace": "kube-system", "attempt": 0},
        "labels": {"io.kubernetes.pod.name": "web-n1"},
        "annotations": {"kubernetes.io/config.source": "file"},
    }
    assert got["items"][1]["metadata"]["attempt"] == 1
    assert got["items"][1]["state"] == 0


def test_container_status_with_negative_exit_code_and_unknown_fields(real):
    msg = real["ContainerStatusResponse"]()
    st = msg.status
    st.id, st.state, st.exit_code, st.reason = "c1", 2, -1, "Error"
    st.created_at, st.started_at, st.finished_at = 1, 2, 3
    st.metadata.name, st.metadata.attempt = "app", 4
    st.image.image = "busybox:local"
    st.image.user_specified_image = "busybox"  # field 18: not in our schema, skipped
    st.log_path = "/var/log/pods/x/app/4.log"  # field 15: skipped
    st.image_id = "sha256:abc"  # field 17: skipped
    st.annotations["io.kubernetes.container.restartCount"] = "4"
    msg.info["info"] = "{}"
    got = proto.decode("ContainerStatusResponse", msg.SerializeToString())
    status = got["status"]
    assert status["exit_code"] == -1
    assert (status["state"], status["reason"], status["metadata"]) == (
        2,
        "Error",
        {"name": "app", "attempt": 4},
    )
    assert (status["created_at"], status["started_at"], status["finished_at"]) == (1, 2, 3)
    assert status["image"] == {"image": "busybox:local", "annotations": {}}
    assert status["annotations"] == {"io.kubernetes.container.restartCount": "4"}
    assert got["info"] == {"info": "{}"}


def test_our_encoding_parses_in_protobuf(real):
    request = {"container_id": "c1", "cmd": ["sh", "-c", ""], "timeout": 5}
    msg = real["ExecSyncRequest"].FromString(proto.encode("ExecSyncRequest", request))
    assert (msg.container_id, list(msg.cmd), msg.timeout) == ("c1", ["sh", "-c", ""], 5)
    sandbox = {
        "id": "x",
        "state": 1,
        "created_at": -5,
        "labels": {"a": "1", "b": "2"},
        "metadata": {"name": "n", "uid": "u", "namespace": "ns", "attempt": 3},
    }
    msg = real["PodSandbox"].FromString(proto.encode("PodSandbox", sandbox))
    assert (msg.id, msg.state, msg.created_at, dict(msg.labels)) == (
        "x",
        1,
        -5,
        {"a": "1", "b": "2"},
    )
    assert (msg.metadata.namespace, msg.metadata.attempt) == ("ns", 3)


def test_exec_sync_response_bytes(real):
    wire = real["ExecSyncResponse"](stdout=b"ok\n\xff", stderr=b"", exit_code=3).SerializeToString()
    assert proto.decode("ExecSyncResponse", wire) == {
        "stdout": b"ok\n\xff",
        "stderr": b"",
        "exit_code": 3,
    }


def test_defaults_when_fields_are_absent():
    got = proto.decode("Container", b"")
    assert got["id"] == "" and got["state"] == 0 and got["created_at"] == 0
    assert got["labels"] == {} and got["metadata"] is None


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    wire = proto.encode_varint(value)
    assert proto.decode_varint(wire, 0) == (value, len(wire))


def test_negative_int64_takes_ten_bytes_and_comes_back():
    assert len(proto.encode_varint(-1)) == 10
    assert (
        proto.decode("PodSandbox", proto.encode("PodSandbox", {"created_at": -1}))["created_at"]
        == -1
    )


def test_fixed_width_fields_are_skipped():
    # field 20 fixed64, field 21 fixed32, then id = "a"
    key = proto.encode_varint
    wire = key(20 << 3 | 1) + b"\0" * 8 + key(21 << 3 | 5) + b"\0" * 4 + b"\x0a\x01a"
    assert proto.decode("PodSandbox", wire)["id"] == "a"


@pytest.mark.parametrize(
    "wire",
    [b"\x0a\x05ab", b"\x08", b"\x08\xff", b"\x0b", b"\x00"],
    ids=["short string", "no varint", "truncated varint", "group", "field 0"],
)
def test_broken_input_is_a_proto_error(wire):
    with pytest.raises(proto.ProtoError):
        proto.decode("PodSandbox", wire)


def test_wrong_wire_type_for_a_known_field_is_an_error():
    with pytest.raises(proto.ProtoError, match="PodSandbox.id"):
        proto.decode("PodSandbox", b"\x08\x01")
