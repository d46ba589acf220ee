"""A pod's file on the node against the inventory's (``plan.files``): its state as status
shows it, and who counts as the same owner."""

from __future__ import annotations

import hashlib

import pytest

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredFile, DesiredPod
from spctl.plan.files import file_state, same_id
from spctl.verbs.source import DirectorySource
from tests.fakes.node_facts import facts_from_case

FEDORA = {
    "units": {"kubelet": {"EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)"}},
    "files": {"/etc/kubernetes/kubelet": 'KUBELET_ARGS="--pod-manifest-path=/etc/kubelet.d"\n'},
}
WANT = DesiredFile("/etc/web/site.conf", b"listen 80;\n", mode=0o640)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "on_node, written, state",
    [
        (None, None, "missing"),
        ({"content": "listen 80;\n", "mode": 0o640}, "listen 80;\n", "in-sync"),
        ({"content": "listen 80;\n", "mode": 0o644}, "listen 80;\n", "drifted"),
        ({"content": "listen 81;\n", "mode": 0o640}, "listen 81;\n", "drifted"),
        ({"content": "listen 81;\n", "mode": 0o640}, None, "drifted"),  # not spctl's
        ({"content": "listen 82;\n", "mode": 0o640}, "listen 81;\n", "changed-on-node"),
    ],
)
def test_the_state_of_a_file(on_node, written, state):
    case = {"pod_files": {WANT.path: on_node}}
    if written is not None:
        case["owned_files"] = {WANT.path: {"pod": "web", "written": written}}
    assert file_state(WANT, facts_from_case(case)) == state


def test_same_owner():
    assert same_id(None, "root") and same_id("0", "root") and same_id("root", "0")
    assert not same_id("haproxy", "root") and not same_id(None, "haproxy")
    assert same_id("haproxy", "haproxy") and not same_id("haproxy", "nobody")
    assert same_id("1000", "ubuntu")  # a number and a name, and no number from the node
    # The node gives the number too: a number is compared with it, a name with the name.
    assert same_id("65534", "nobody", 65534) and not same_id("65534", "www-data", 33)
    assert same_id("www-data", "www-data", 33) and not same_id("root", "haproxy", 107)
    assert same_id(None, "root", 0) and same_id("0", "root", 0)


def test_status_rows_carry_each_files_state_and_warn_of_a_changed_one():
    case = {
        **FEDORA,
        "dirs": {"/etc/kubelet.d": {"owned": ["web.yaml"], "web.yaml": "metadata: {name: web}\n"}},
        "pod_files": {WANT.path: {"content": "edited\n", "mode": 0o640}},
        "owned_files": {WANT.path: {"pod": "web", "written": "listen 80;\n"}},
    }
    node = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())
    pod = DesiredPod("web", "web.yaml.j2", "metadata: {name: web}\n", files=(WANT,))
    status = DirectorySource(None).status(node, facts_from_case(case), [pod], ["web"])
    (row,) = status.pods
    assert row.as_dict()["files"] == [{"path": WANT.path, "state": "changed-on-node"}]
    assert any(
        f"{WANT.path} (a file of pod web) changed on node since spctl wrote it" in w
        and "spctl deploy web --node my-node1 --force" in w
        for w in status.warnings
    )
