"""A protobuf wire-format codec driven by schemas: the messages are dicts, no generated code."""

from __future__ import annotations

import struct
from typing import Any, Dict, List, Tuple

# A schema (cri/api.py has the CRI's) maps each field name to (number, kind[, sub-schema]). Kinds: "string", "bytes",
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
