"""The protobuf codec of the stand-in's CRI messages (standin/cri/protobuf.py)."""

from __future__ import annotations

import pytest
from spctl_lab.standin.cri.api import (
    CONTAINER_CONFIG,
    CONTAINER_STATUS,
    POD_SANDBOX_FILTER,
    POD_SANDBOX_METADATA,
    STOP_CONTAINER_REQUEST,
)
from spctl_lab.standin.cri.protobuf import decode, encode


def test_codec_writes_protobuf_wire_format() -> None:
    # PodSandboxMetadata{name: "a", attempt: 1}: field 1 length-delimited, field 4 varint.
    assert encode(POD_SANDBOX_METADATA, {"name": "a", "attempt": 1}) == b"\x0a\x01a\x20\x01"
    # Defaults are left out, as proto3 does.
    assert encode(POD_SANDBOX_METADATA, {"name": "", "attempt": 0}) == b""
    # A map<string, string> is repeated entries {1: key, 2: value}; 300 is a two-byte varint.
    assert encode(POD_SANDBOX_FILTER, {"label_selector": {"k": "v"}}) == (
        b"\x1a\x06\x0a\x01k\x12\x01v"
    )
    assert encode(STOP_CONTAINER_REQUEST, {"timeout": 300}) == b"\x10\xac\x02"
    # A negative int64 is ten bytes of two's complement.
    assert encode(STOP_CONTAINER_REQUEST, {"timeout": -1}) == b"\x10" + b"\xff" * 9 + b"\x01"
    with pytest.raises(KeyError):
        encode(POD_SANDBOX_METADATA, {"nmae": "typo"})


def test_codec_reads_what_it_writes_and_skips_unknown_fields() -> None:
    config = {
        "metadata": {"name": "web", "attempt": 3},
        "image": {"image": "spctl-lab/pod:1.0"},
        "command": ["/bin/sh", "-c"],
        "envs": [{"key": "A", "value": "1"}],
        "labels": {"io.kubernetes.pod.uid": "u1"},
        "linux": {"security_context": {"namespace_options": {"network": 2, "pid": 1}}},
    }
    back = decode(CONTAINER_CONFIG, encode(CONTAINER_CONFIG, config))
    assert back["metadata"] == {"name": "web", "attempt": 3}
    assert back["command"] == ["/bin/sh", "-c"] and back["args"] == []
    assert back["envs"] == [{"key": "A", "value": b"1"}]
    assert back["labels"] == {"io.kubernetes.pod.uid": "u1"}
    assert back["linux"]["security_context"]["namespace_options"] == {
        "network": 2,
        "pid": 1,
        "ipc": 0,
    }
    # Fields this schema does not know (here 99, a string, and 98, a fixed64) are skipped.
    extra = b"\x9a\x06\x02hi" + b"\x91\x06" + b"\x00" * 8
    status = decode(CONTAINER_STATUS, extra + b"\x38\x01")
    assert status["exit_code"] == 1 and status["reason"] == ""
    negative = decode(CONTAINER_STATUS, b"\x38" + b"\xff" * 9 + b"\x01")
    assert negative["exit_code"] == -1


def test_codec_refuses_truncated_messages() -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode(POD_SANDBOX_METADATA, b"\x0a\x05ab")
