"""A pod's files travel in its change of the apply request (``messages.file_change``), as
the agent reads them (``messages.read_apply_request``); remove takes a pod's files with it;
the facts request asks for the state of the pods' files and reads back those that are no
secret, and once more for files spctl wrote that the inventory no longer names."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from spctl_agent.protocol import messages

from spctl.desired.inventory import FileRef, Node, PodRef, SSHSettings
from spctl.desired.render import DesiredFile, DesiredPod
from spctl.plan.directory import plan_deploy, plan_remove, plan_rollback
from spctl.plan.model import PlanError
from spctl.verbs.apply import execute
from spctl.verbs.read import read_facts
from spctl.verbs.settings import Settings
from tests.fakes.node_facts import facts_from_case

FEDORA = {
    "units": {"kubelet": {"EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)"}},
    "files": {"/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d"\n'},
}
NODE = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())
MANIFEST = "metadata: {name: haproxy}\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RecordingAgent:
    """Answers every apply with each change done, and records the requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def call(self, request: dict[str, Any], timeout: float = 0) -> dict[str, Any]:
        self.requests.append(request)
        pods = [
            messages.pod_result(name=c["pod"], action=c["action"], ok=True, phase="Running")
            for c in request["changes"]
        ]
        return messages.ok_answer(messages.apply_answer(pods=pods))


def test_written_files_travel_in_the_pods_change():
    facts = facts_from_case({**FEDORA, "pod_files": {"/etc/haproxy/haproxy.cfg": None}})
    key = DesiredFile("/etc/haproxy/key.pem", b"\x00secret", mode=0o600, secret=True)
    cfg = DesiredFile("/etc/haproxy/haproxy.cfg", b"global\n", mode=0o640, owner="haproxy")
    pod = DesiredPod("haproxy", "haproxy.yaml.j2", MANIFEST, files=(cfg, key))
    plan = plan_deploy(NODE, [pod], facts)
    agent = RecordingAgent()
    outcome = execute(agent, facts, plan, Settings(), [])  # type: ignore[arg-type]
    assert outcome.ok
    (request,) = agent.requests
    (change,) = messages.read_apply_request(request)["changes"]  # as the agent reads it
    assert change["action"] == "create"
    by_path = {f["path"]: f for f in change["files"]}
    assert by_path["/etc/haproxy/haproxy.cfg"] == {
        "path": "/etc/haproxy/haproxy.cfg",
        "action": "write",
        "content_b64": base64.b64encode(b"global\n").decode(),
        "sha256": sha(b"global\n"),
        "expected_sha256": None,
        "mode": 0o640,
        "owner": "haproxy",
        "group": None,
        "secret": False,
    }
    assert by_path["/etc/haproxy/key.pem"]["secret"] is True
    assert base64.b64decode(by_path["/etc/haproxy/key.pem"]["content_b64"]) == b"\x00secret"
    # The secret's bytes are in the request only: not in what the run shows.
    assert "secret" not in "".join(p.diff for p in outcome.pods).replace("secret changed", "")


def test_an_unchanged_file_is_not_sent():
    case = {
        **FEDORA,
        "dirs": {"/etc/kubelet.d": {"owned": ["haproxy.yaml"], "haproxy.yaml": "old: 1\n"}},
        "pod_files": {"/etc/haproxy/haproxy.cfg": {"content": "global\n"}},
        "owned_files": {"/etc/haproxy/haproxy.cfg": {"pod": "haproxy"}},
    }
    facts = facts_from_case(case)
    cfg = DesiredFile("/etc/haproxy/haproxy.cfg", b"global\n")
    plan = plan_deploy(NODE, [DesiredPod("haproxy", "t", MANIFEST, files=(cfg,))], facts)
    agent = RecordingAgent()
    execute(agent, facts, plan, Settings(), [])  # type: ignore[arg-type]
    (change,) = agent.requests[0]["changes"]
    assert change["action"] == "update" and "files" not in change


REMOVE_CASE = {
    **FEDORA,
    "dirs": {"/etc/kubelet.d": {"owned": ["haproxy.yaml"], "haproxy.yaml": MANIFEST}},
    "pod_files": {
        "/etc/haproxy/haproxy.cfg": {"content": "global\n"},
        "/etc/haproxy/gone.map": None,
    },
    "owned_files": {
        "/etc/haproxy/haproxy.cfg": {"pod": "haproxy"},
        "/etc/haproxy/gone.map": {"pod": "haproxy", "written": "x"},
        "/etc/other/other.cfg": {"pod": "other", "written": "y"},
    },
}


def test_remove_takes_the_pods_files_with_it():
    facts = facts_from_case(REMOVE_CASE)
    plan = plan_remove(NODE, ["haproxy"], facts)
    (step,) = plan.pods
    assert step.action == "remove"
    assert [(f.path, f.action) for f in step.files] == [("/etc/haproxy/haproxy.cfg", "remove")]
    assert "then its files (/etc/haproxy/haproxy.cfg)" in step.reason
    agent = RecordingAgent()
    execute(agent, facts, plan, Settings(), [])  # type: ignore[arg-type]
    (change,) = messages.read_apply_request(agent.requests[0])["changes"]
    (removed,) = change["files"]
    assert removed["action"] == "remove"
    assert removed["expected_sha256"] == sha(b"global\n")
    assert removed["content_b64"] is None


def test_remove_refuses_a_file_changed_on_node_unless_forced():
    case = {
        **REMOVE_CASE,
        "owned_files": {"/etc/haproxy/haproxy.cfg": {"pod": "haproxy", "written": "before\n"}},
    }
    facts = facts_from_case(case)
    with pytest.raises(PlanError) as raised:
        plan_remove(NODE, ["haproxy"], facts)
    assert "/etc/haproxy/haproxy.cfg (a file of pod haproxy) changed on node" in str(raised.value)
    assert "spctl remove haproxy --node my-node1 --force" in str(raised.value)
    (step,) = plan_remove(NODE, ["haproxy"], facts, force=True).pods
    assert [f.action for f in step.files] == ["remove"]


class FactsAgent:
    """Answers facts requests with the files it was given; records the requests."""

    def __init__(self, owned_files: dict[str, Any]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.owned_files = owned_files

    def call(self, request: dict[str, Any], timeout: float = 0) -> dict[str, Any]:
        self.requests.append(request)
        asked = messages.read_facts_request(request)["pod_files"]
        return messages.ok_answer(
            messages.facts_answer(
                hostname="my-node1",
                python="3.6.9",
                os_release={},
                files={},
                units={},
                globs={},
                dirs={},
                kubelets={},
                owned={},
                backups={},
                runtime=messages.runtime_state(runtime=None, endpoint=None),
                healthz=True,
                lock=None,
                journal=None,
                recovered=None,
                pod_files={p: messages.file_state(exists=False) for p in asked},
                owned_files=self.owned_files,
            )
        )


def test_the_facts_ask_for_the_pods_files_and_read_back_those_no_secret():
    node = Node(
        name="my-node1",
        address="127.0.0.1",
        ssh=SSHSettings(),
        pods=(
            PodRef(
                "haproxy",
                Path("haproxy.yaml.j2"),
                (
                    FileRef("/etc/haproxy/haproxy.cfg", "template", Path("cfg.j2")),
                    FileRef("/etc/haproxy/key.pem", "secret", secret={"env": "KEY"}),
                ),
            ),
            PodRef("other", Path("other.yaml.j2"), (FileRef("/etc/o", "source", Path("o")),)),
        ),
    )
    agent = FactsAgent({"/etc/haproxy/old.map": {"pod": "haproxy", "sha256": "x"}})
    facts = read_facts(agent, node, ["haproxy"])  # type: ignore[arg-type]
    first, second = agent.requests
    assert first["pod_files"] == ["/etc/haproxy/haproxy.cfg", "/etc/haproxy/key.pem"]
    assert "/etc/haproxy/haproxy.cfg" in first["read"]
    assert "/etc/haproxy/key.pem" not in first["read"]  # a secret never travels back
    assert "/etc/o" not in first["pod_files"]  # another pod's
    # A file spctl wrote for the pod that the inventory no longer names: asked once more.
    assert second["pod_files"][-1] == "/etc/haproxy/old.map"
    assert "/etc/haproxy/old.map" in facts.pod_files


def test_remove_of_an_absent_pod_names_the_files_it_leaves():
    case = {
        **FEDORA,
        "dirs": {"/etc/kubelet.d": {"owned": ["other.yaml"], "other.yaml": MANIFEST}},
        "pod_files": {"/etc/haproxy/haproxy.cfg": {"content": "edited\n"}},
        "owned_files": {"/etc/haproxy/haproxy.cfg": {"pod": "haproxy", "written": "x\n"}},
    }
    (step,) = plan_remove(NODE, ["haproxy"], facts_from_case(case)).pods
    assert step.action == "unchanged" and step.files == ()
    assert "its files spctl wrote are left on the node (/etc/haproxy/haproxy.cfg)" in step.reason


def test_rollback_refuses_a_file_changed_on_node_unless_forced():
    case = {
        **REMOVE_CASE,
        "owned_files": {"/etc/haproxy/haproxy.cfg": {"pod": "haproxy", "written": "before\n"}},
    }
    facts = facts_from_case(case)
    facts = replace(facts, backups={"haproxy": ("haproxy.yaml.1",)})
    with pytest.raises(PlanError) as raised:
        plan_rollback(NODE, ["haproxy"], facts)
    assert "/etc/haproxy/haproxy.cfg (a file of pod haproxy) changed on node" in str(raised.value)
    assert "spctl rollback haproxy --node my-node1 --force" in str(raised.value)
    (step,) = plan_rollback(NODE, ["haproxy"], facts, force=True).pods
    assert step.action == "rollback"
