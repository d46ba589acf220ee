"""A pod's files in the agent's transaction on real nodes, the agent called directly with
requests built by protocol.messages (the control host's side of pod files is not in spctl
yet): the file is written with its owner and mode before the manifest, the kubelet
stand-in restarts the pod on the new manifest, and a pod that crashes puts back the
previous file (bytes, mode, owner) and the previous manifest, and the previous pod runs
again with its UID. On a Docker node and a containerd node.

Each test leaves its node with static-web as the lab's inventory renders it and no file of
its own: its last apply removes the file (after the pod is back to the rendering)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import yaml
from spctl_agent.protocol import messages

from spctl.transport.agent import Agent
from spctl.transport.sudo import Sudo
from tests.fakes.lab import LabSession, spctl_json, wait_until

CONF = "/etc/spctl-lab-files/app.conf"
FAST = ("--timeout", "40", "--stable-for", "1")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def call(lab: LabSession, node: str, request: dict[str, Any]) -> dict[str, Any]:
    with lab.conn(node) as conn:
        return Agent(conn, Sudo(enabled=False), node).call(request, timeout=180)


def manifest_of(lab: LabSession, node: str) -> tuple[str, bytes, str]:
    """The kubelet's directory, static-web's manifest there, and the kubelet's node name
    (static-web's pod is ``static-web-<node name>``), as facts read them."""
    facts = messages.read_facts_answer(
        call(lab, node, messages.facts_request(units=["kubelet"], pods=["static-web"]))
    )
    directory = facts["kubelets"]["kubelet"]["manifest_dir"]
    text = facts["files"][f"{directory}/static-web.yaml"]
    assert text, facts["files"]
    (name,) = [p["pod"] for p in facts["runtime"]["pods"] if p["pod"].startswith("static-web-")]
    return directory, text.encode(), name[len("static-web-") :]


def variant(manifest: bytes, note: str, crash: bool = False) -> bytes:
    """The manifest with an annotation (a new pod, as a change of its files' digest makes
    it), as JSON (the kubelet reads JSON manifests as YAML); ``crash``: its container exits."""
    pod = yaml.safe_load(manifest)
    pod["metadata"].setdefault("annotations", {})["spctl.test/files"] = note
    if crash:
        pod["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", "sleep 1; exit 3"]
    return json.dumps(pod, indent=1).encode() + b"\n"


def change(node_name: str, directory: str, before: bytes, after: bytes, files: list[dict]) -> dict:
    return messages.apply_request(
        node_name=node_name,
        manifest_dir=directory,
        holder="lab test",
        timeout=40,
        stable_for=1,
        changes=[
            messages.pod_change(
                pod="static-web",
                action="update",
                file="static-web.yaml",
                content=after.decode(),
                expected_sha256=digest(before),
                files=files,
            )
        ],
    )


def conf(data: bytes, expected: str | None, mode: int, owner: str | None) -> dict:
    return messages.file_change(
        path=CONF,
        action=messages.FILE_WRITE,
        content_b64=base64.b64encode(data).decode(),
        sha256=digest(data),
        expected_sha256=expected,
        mode=mode,
        owner=owner,
        group=owner,
    )


def on_node(lab: LabSession, node: str) -> str:
    """CONF's mode, owner and bytes on the node ("absent" when it is not there)."""
    return lab.out(node, f"stat -c '%a %u %g' {CONF} 2>/dev/null && cat {CONF} || echo absent")


@pytest.mark.parametrize("node", ["my-node5", "my-node3"], ids=["docker", "containerd"])
def test_a_pods_file_changes_with_it_and_comes_back_with_it(lab: LabSession, node: str) -> None:
    spctl_json("deploy", "--node", node, *FAST)
    lab.out(node, f"rm -rf {CONF.rsplit('/', 1)[0]}")
    directory, rendered, name = manifest_of(lab, node)
    first_uids = sorted(lab.running_pod_uids(node))

    # A file and the manifest, one transaction: the file (new directory, 0640 nobody) first.
    v1 = variant(rendered, "one")
    answer = call(
        lab, node, change(name, directory, rendered, v1, [conf(b"one\n", None, 0o640, "65534")])
    )
    result = messages.read_apply_answer(answer)["pods"][0]
    assert result["ok"], answer
    assert on_node(lab, node) == "640 65534 65534\none\n"
    wait_until(lambda: len(lab.running_pod_uids(node)) == 1, 30, what="one pod")
    one_uids = sorted(lab.running_pod_uids(node))
    assert one_uids != first_uids  # a new pod
    facts = messages.read_facts_answer(call(lab, node, messages.facts_request(pod_files=[CONF])))
    assert facts["pod_files"][CONF]["sha256"] == digest(b"one\n")
    assert facts["owned_files"][CONF] == {"pod": "static-web", "sha256": digest(b"one\n")}

    # A version whose container exits: the file and the manifest go back, the pod too.
    crashing = variant(rendered, "two", crash=True)
    files = [conf(b"two\n", digest(b"one\n"), 0o600, None)]
    answer = call(lab, node, change(name, directory, v1, crashing, files))
    result = messages.read_apply_answer(answer)["pods"][0]
    assert (result["ok"], result["rolled_back"]) == (False, True), answer
    assert "after rollback" not in (result["error"] or ""), result
    assert "errors" not in answer
    assert on_node(lab, node) == "640 65534 65534\none\n"
    assert manifest_of(lab, node)[1] == v1
    wait_until(lambda: sorted(lab.running_pod_uids(node)) == one_uids, 30, what="the pod back")

    # Back to the rendering; the file goes once that pod runs.
    removal = messages.file_change(
        path=CONF, action=messages.FILE_REMOVE, expected_sha256=digest(b"one\n")
    )
    answer = call(lab, node, change(name, directory, v1, rendered, [removal]))
    assert messages.read_apply_answer(answer)["pods"][0]["ok"], answer
    assert on_node(lab, node) == "absent\n"
    assert manifest_of(lab, node)[1] == rendered
    lab.out(node, f"rmdir {CONF.rsplit('/', 1)[0]}")
    assert lab.out(node, "ls /var/lib/spctl/journal.json 2>/dev/null || true") == ""
