"""The kubelet's configuration change (agent/transaction/kubelet_change.py): bytes of a
configuration file survive the trip to the control host and back."""

from __future__ import annotations

import hashlib
import json

from spctl_agent.main import handle

from spctl.verbs.apply import file_sha256
from tests.fakes.agent_node import make_node


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_non_utf8_byte_in_an_environment_file_survives_the_round_trip(tmp_path):
    env = tmp_path / "kubelet-env"
    raw = b"# caf\xe9 (latin-1)\nKUBELET_EXTRA_ARGS=--a=1\n"
    env.write_bytes(raw)
    facts = handle({"op": "facts", "read": [str(env)]}, make_node(tmp_path))
    text = json.loads(json.dumps(facts))["files"][str(env)]  # as the control host gets it
    assert file_sha256(text) == sha(raw)  # so the expected sha matches the node's file
    new_text = text.replace("--a=1", "--a=1 --pod-manifest-path=/x")
    request = json.loads(
        json.dumps(
            {
                "op": "apply",
                "node_name": "n1",
                "kubelet": {
                    "unit": "kubelet",
                    "timeout": 10,
                    "files": [
                        {
                            "path": str(env),
                            "content": new_text,
                            "expected_sha256": file_sha256(text),
                        }
                    ],
                },
            }
        )
    )
    answer = handle(request, make_node(tmp_path))
    assert answer["ok"], answer
    assert env.read_bytes() == raw.replace(b"--a=1", b"--a=1 --pod-manifest-path=/x")
