"""Protocol buffers wire format, for the few CRI messages the agent exchanges.

A message is described by a small schema: field number -> (name, kind[, REPEATED]). A kind is a
scalar ("string", "bytes", "int64", "int32", "uint32", "bool", "enum"), "map" (map<string, string>,
which the wire carries as repeated key=1/value=2 entries), or the name of another message.

Field numbers and types are those of kubernetes/cri-api `pkg/apis/runtime/v1/api.proto`
(package runtime.v1). Decoding skips fields a schema does not name, so a newer runtime's
additions do no harm; absent fields read as proto3 defaults ("" / 0 / False / [] / {}), and an
absent message reads as None.
"""

REPEATED = "repeated"

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_VARINT_KINDS = ("int64", "int32", "uint32", "bool", "enum")
_DEFAULTS = {
    "string": "",
    "bytes": b"",
    "int64": 0,
    "int32": 0,
    "uint32": 0,
    "bool": False,
    "enum": 0,
}


class ProtoError(ValueError):
    """Bytes that are not a valid encoding of the expected message."""


# api.proto: the messages of RuntimeService calls Version, ListPodSandbox, PodSandboxStatus,
# ListContainers, ContainerStatus and ExecSync, reduced to the fields the agent uses.
MESSAGES = {
    "VersionRequest": {1: ("version", "string")},
    "VersionResponse": {
        1: ("version", "string"),
        2: ("runtime_name", "string"),
        3: ("runtime_version", "string"),
        4: ("runtime_api_version", "string"),
    },
    "PodSandboxMetadata": {
        1: ("name", "string"),
        2: ("uid", "string"),
        3: ("namespace", "string"),
        4: ("attempt", "uint32"),
    },
    # PodSandboxState: SANDBOX_READY = 0, SANDBOX_NOTREADY = 1.
    "PodSandbox": {
        1: ("id", "string"),
        2: ("metadata", "PodSandboxMetadata"),
        3: ("state", "enum"),
        4: ("created_at", "int64"),
        5: ("labels", "map"),
        6: ("annotations", "map"),
        7: ("runtime_handler", "string"),
    },
    "PodSandboxStateValue": {1: ("state", "enum")},
    "PodSandboxFilter": {
        1: ("id", "string"),
        2: ("state", "PodSandboxStateValue"),
        3: ("label_selector", "map"),
    },
    "ListPodSandboxRequest": {1: ("filter", "PodSandboxFilter")},
    "ListPodSandboxResponse": {1: ("items", "PodSandbox", REPEATED)},
    "PodSandboxStatusRequest": {1: ("pod_sandbox_id", "string"), 2: ("verbose", "bool")},
    "PodIP": {1: ("ip", "string")},
    "PodSandboxNetworkStatus": {1: ("ip", "string"), 2: ("additional_ips", "PodIP", REPEATED)},
    "PodSandboxStatus": {
        1: ("id", "string"),
        2: ("metadata", "PodSandboxMetadata"),
        3: ("state", "enum"),
        4: ("created_at", "int64"),
        5: ("network", "PodSandboxNetworkStatus"),
        7: ("labels", "map"),
        8: ("annotations", "map"),
        9: ("runtime_handler", "string"),
    },
    "PodSandboxStatusResponse": {1: ("status", "PodSandboxStatus"), 2: ("info", "map")},
    "ContainerMetadata": {1: ("name", "string"), 2: ("attempt", "uint32")},
    "ImageSpec": {1: ("image", "string"), 2: ("annotations", "map")},
    # ContainerState: CONTAINER_CREATED = 0, CONTAINER_RUNNING = 1, CONTAINER_EXITED = 2,
    # CONTAINER_UNKNOWN = 3.
    "ContainerStateValue": {1: ("state", "enum")},
    "ContainerFilter": {
        1: ("id", "string"),
        2: ("state", "ContainerStateValue"),
        3: ("pod_sandbox_id", "string"),
        4: ("label_selector", "map"),
    },
    "Container": {
        1: ("id", "string"),
        2: ("pod_sandbox_id", "string"),
        3: ("metadata", "ContainerMetadata"),
        4: ("image", "ImageSpec"),
        5: ("image_ref", "string"),
        6: ("state", "enum"),
        7: ("created_at", "int64"),
        8: ("labels", "map"),
        9: ("annotations", "map"),
    },
    "ListContainersRequest": {1: ("filter", "ContainerFilter")},
    "ListContainersResponse": {1: ("containers", "Container", REPEATED)},
    "ContainerStatusRequest": {1: ("container_id", "string"), 2: ("verbose", "bool")},
    "ContainerStatus": {
        1: ("id", "string"),
        2: ("metadata", "ContainerMetadata"),
        3: ("state", "enum"),
        4: ("created_at", "int64"),
        5: ("started_at", "int64"),
        6: ("finished_at", "int64"),
        7: ("exit_code", "int32"),
        8: ("image", "ImageSpec"),
        9: ("image_ref", "string"),
        10: ("reason", "string"),
        11: ("message", "string"),
        12: ("labels", "map"),
        13: ("annotations", "map"),
        15: ("log_path", "string"),
    },
    "ContainerStatusResponse": {1: ("status", "ContainerStatus"), 2: ("info", "map")},
    "ExecSyncRequest": {
        1: ("container_id", "string"),
        2: ("cmd", "string", REPEATED),
        3: ("timeout", "int64"),
    },
    "ExecSyncResponse": {1: ("stdout", "bytes"), 2: ("stderr", "bytes"), 3: ("exit_code", "int32")},
}


# --- primitives --------------------------------------------------------------------------------


def encode_varint(value):
    """Unsigned LEB128; a negative int64/int32 is sent as its 64-bit two's complement (10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data, pos):
    """Return (value, new position) of the varint at data[pos]."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint longer than 10 bytes")


def _signed64(value):
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar_from_varint(kind, value):
    if kind == "bool":
        return bool(value)
    if kind == "uint32":
        return value & 0xFFFFFFFF
    if kind == "int32":
        # An int32 is sign-extended to 64 bits on the wire; keep its low 32 bits' meaning.
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >= 1 << 31 else value
    return _signed64(value)  # int64, enum


def iter_fields(data):
    """Yield (field number, wire type, value) for each field of an encoded message.

    value is an int for varints, bytes for length-delimited fields; fixed32/64 are skipped.
    """
    data = memoryview(bytes(data)) if not isinstance(data, memoryview) else data
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire == LENGTH:
            size, pos = decode_varint(data, pos)
            if pos + size > end:
                raise ProtoError("truncated length-delimited field %d" % number)
            value = data[pos : pos + size].tobytes()
            pos += size
        elif wire == FIXED64:
            pos += 8
            continue
        elif wire == FIXED32:
            pos += 4
            continue
        else:
            raise ProtoError("unsupported wire type %d (field %d)" % (wire, number))
        if pos > end:
            raise ProtoError("truncated field %d" % number)
        yield number, wire, value


# --- messages ----------------------------------------------------------------------------------


def decode(name, data, messages=None):
    """Decode bytes as message `name` into a dict keyed by field name."""
    messages = MESSAGES if messages is None else messages
    schema = messages[name]
    out = {}
    for spec in schema.values():
        fname, kind = spec[0], spec[1]
        if len(spec) > 2:
            out[fname] = []
        elif kind == "map":
            out[fname] = {}
        else:
            out[fname] = _DEFAULTS.get(kind)
    for number, wire, value in iter_fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        fname, kind, repeated = spec[0], spec[1], len(spec) > 2
        if kind == "map":
            entry = {1: "", 2: ""}
            for n, w, v in iter_fields(value):
                if w == LENGTH and n in entry:
                    entry[n] = v.decode("utf-8", "replace")
            out[fname][entry[1]] = entry[2]
            continue
        if kind in _VARINT_KINDS:
            if wire == LENGTH and repeated:  # packed repeated scalars
                pos, values = 0, []
                while pos < len(value):
                    v, pos = decode_varint(value, pos)
                    values.append(_scalar_from_varint(kind, v))
                out[fname].extend(values)
                continue
            if wire != VARINT:
                raise ProtoError("%s.%s: expected a varint" % (name, fname))
            item = _scalar_from_varint(kind, value)
        else:
            if wire != LENGTH:
                raise ProtoError("%s.%s: expected a length-delimited field" % (name, fname))
            if kind == "string":
                item = value.decode("utf-8", "replace")
            elif kind == "bytes":
                item = value
            else:
                item = decode(kind, value, messages)
        if repeated:
            out[fname].append(item)
        else:
            out[fname] = item
    return out


def _key(number, wire):
    return encode_varint(number << 3 | wire)


def _length_delimited(number, payload):
    return _key(number, LENGTH) + encode_varint(len(payload)) + payload


def encode(name, value, messages=None):
    """Encode a dict (field name -> value) as message `name`; proto3 defaults are left out."""
    messages = MESSAGES if messages is None else messages
    out = bytearray()
    for number in sorted(messages[name]):
        spec = messages[name][number]
        fname, kind, repeated = spec[0], spec[1], len(spec) > 2
        item = value.get(fname)
        if item is None:
            continue
        if kind == "map":
            for k in sorted(item):
                entry = _length_delimited(1, k.encode("utf-8")) + _length_delimited(
                    2, item[k].encode("utf-8")
                )
                out += _length_delimited(number, entry)
            continue
        for one in item if repeated else [item]:
            if kind in _VARINT_KINDS:
                if one or repeated:
                    out += _key(number, VARINT) + encode_varint(int(one))
            elif kind == "string":
                if one or repeated:
                    out += _length_delimited(number, one.encode("utf-8"))
            elif kind == "bytes":
                if one or repeated:
                    out += _length_delimited(number, bytes(one))
            else:
                out += _length_delimited(number, encode(kind, one, messages))
    return bytes(out)
