"""``plan.restart``: a restart writes the node's manifest with spctl's restart annotation (a
new pod, nothing else changed); a later deploy keeps the annotation, so it changes nothing
and restarts nothing; pods spctl did not deploy, files gone or changed on the node, and a
directory the kubelet does not watch are refused, naming node, file and what to do."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.pod_identity import same_pod
from spctl.desired.render import DesiredPod
from spctl.desired.restart_annotation import RESTARTED_AT, restarted_at
from spctl.plan.directory import plan_deploy
from spctl.plan.model import PlanError
from spctl.plan.restart import plan_restart
from spctl.plan.status import node_status
from tests.fakes.node_facts import facts_from_case

NODE = Node(name="my-node1", address="127.0.0.1", ssh=SSHSettings())
DIR = "/etc/kubernetes/manifests"
PATH = f"{DIR}/static-web.yaml"
# What deploy writes for static-web: the canonical YAML the inventory renders.
WROTE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n"
    "  - name: web\n    image: nginx:1.27\n"
)
AT = datetime(2026, 12, 7, 23, 30, 5, 123456, tzinfo=timezone.utc)
RESTARTED = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  annotations:\n"
    f"    {RESTARTED_AT}: '2026-12-07T23:30:05Z'\nspec:\n  containers:\n"
    "  - name: web\n    image: nginx:1.27\n"
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def facts(on_node: str | None = WROTE, wrote: str | None = None, watched: str = DIR):
    """A kubeadm node whose kubelet watches ``watched``; spctl wrote ``wrote`` (default:
    ``on_node``) at PATH, which holds ``on_node`` (None: no file, none spctl owns)."""
    spec: dict = {}
    if on_node is not None:
        spec["static-web.yaml"] = on_node
        spec["written"] = {"static-web.yaml": wrote if wrote is not None else on_node}
    case = {
        "units": {
            "kubelet": {"DropInPaths": "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"}
        },
        "files": {"/var/lib/kubelet/config.yaml": f"staticPodPath: {watched}\n"},
        "dirs": {DIR: spec},
    }
    return facts_from_case(case)


def rendered(content: str = WROTE) -> DesiredPod:
    return DesiredPod("static-web", "templates/static-web.yaml.j2", content)


def test_restart_writes_the_node_manifest_with_the_annotation_and_nothing_else():
    plan = plan_restart(NODE, ["static-web"], facts(), AT)
    (step,) = plan.pods
    assert step.action == "update"  # the agent waits for another UID, rolls back on failure
    assert step.content == RESTARTED
    assert step.expected_sha256 == sha(WROTE)  # refused if the file changed since the facts
    assert plan.kubelet is None and plan.manifest_dir == DIR and plan.changed
    assert f"+    {RESTARTED_AT}: '2026-12-07T23:30:05Z'" in step.diff
    # Another pod to the kubelet (the annotation is part of the hashed pod), nothing else.
    assert not same_pod(WROTE, step.content)
    assert same_pod(
        WROTE,
        step.content.replace(f"  annotations:\n    {RESTARTED_AT}: '2026-12-07T23:30:05Z'\n", ""),
    )


def test_a_second_restart_replaces_the_annotation_and_never_writes_the_same_bytes():
    later = datetime(2026, 12, 8, 1, 0, 0, tzinfo=timezone.utc)
    (step,) = plan_restart(NODE, ["static-web"], facts(RESTARTED), later).pods
    assert restarted_at(step.content) == "2026-12-08T01:00:00Z"
    assert step.content.count(RESTARTED_AT) == 1
    # Restarted within the same second: to the microsecond, so that the pod still changes.
    (again,) = plan_restart(NODE, ["static-web"], facts(RESTARTED), AT).pods
    assert restarted_at(again.content) == "2026-12-07T23:30:05.123456Z"
    assert again.content != RESTARTED


def test_a_later_deploy_of_the_same_rendering_changes_nothing():
    after = facts(RESTARTED)  # what the agent wrote and recorded as spctl's
    plan = plan_deploy(NODE, [rendered()], after)
    (step,) = plan.pods
    assert step.action == "unchanged", step.reason
    assert not plan.changed
    status = node_status(NODE, after, [rendered()], ["static-web"])
    assert [p.manifest for p in status.pods] == ["in-sync"]
    assert status.warnings == []


def test_a_real_change_after_a_restart_keeps_the_annotation():
    # One rule for every write: the node's annotation is kept (the change restarts anyway).
    new = rendered(WROTE.replace("nginx:1.27", "nginx:1.28"))
    (step,) = plan_deploy(NODE, [new], facts(RESTARTED)).pods
    assert step.action == "update"
    assert restarted_at(step.content) == "2026-12-07T23:30:05Z"
    assert "image: nginx:1.28" in step.content
    assert "-    image: nginx:1.27\n+    image: nginx:1.28" in step.diff
    assert RESTARTED_AT not in "".join(
        line for line in step.diff.splitlines(keepends=True) if line.startswith(("+", "-"))
    )


def test_the_same_pod_in_other_bytes_is_adopted_with_the_annotation():
    # Another spelling of the restarted pod: rewritten as rendered plus the annotation, the
    # same pod to the kubelet, so nothing restarts.
    respelled = RESTARTED.replace(
        "  containers:\n  - name: web\n    image: nginx:1.27\n",
        "  containers:\n  - image: nginx:1.27\n    name: web\n",
    )
    (step,) = plan_deploy(NODE, [rendered()], facts(respelled)).pods
    assert step.action == "adopt", step.reason
    assert step.content == RESTARTED


def test_a_pod_not_deployed_on_the_node_is_refused():
    with pytest.raises(PlanError) as raised:
        plan_restart(NODE, ["static-web"], facts(None), AT)
    assert str(raised.value) == (
        f"node my-node1: pod 'static-web' is not deployed on this node ({PATH} does not "
        "exist): nothing to restart; `spctl deploy static-web --node my-node1` deploys it"
    )


def test_a_file_spctl_did_not_write_is_refused():
    foreign = facts_from_case(
        {
            "units": {
                "kubelet": {"DropInPaths": "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"}
            },
            "files": {"/var/lib/kubelet/config.yaml": f"staticPodPath: {DIR}\n"},
            "dirs": {DIR: {"static-web.yaml": WROTE}},
        }
    )
    with pytest.raises(PlanError) as raised:
        plan_restart(NODE, ["static-web"], foreign, AT)
    text = str(raised.value)
    assert text.startswith(f"node my-node1: {PATH} was not written by spctl"), text
    assert "spctl restarts only pods it deployed" in text


def test_a_file_spctl_wrote_that_is_gone_is_refused():
    with pytest.raises(PlanError) as raised:
        gone = replace(facts(None), owned={PATH: {"pod": "static-web", "sha256": sha(WROTE)}})
        plan_restart(NODE, ["static-web"], gone, AT)
    assert f"{PATH} is gone (spctl wrote it; someone removed it)" in str(raised.value)
    assert "`spctl deploy static-web --node my-node1` writes it again" in str(raised.value)


def test_a_file_changed_on_node_is_refused_as_deploy_refuses_it():
    edited = WROTE.replace("nginx:1.27", "nginx:1.28")
    with pytest.raises(PlanError) as raised:
        plan_restart(NODE, ["static-web"], facts(edited, wrote=WROTE), AT)
    text = str(raised.value)
    assert text.startswith(f"node my-node1: {PATH} changed on node since spctl wrote it"), text
    assert "spctl will not rewrite it to restart the pod" in text
    assert "`spctl import static-web --force`" in text
    assert "`spctl deploy static-web --node my-node1 --force` puts spctl's version back" in text


def test_a_directory_the_kubelet_does_not_watch_is_refused():
    with pytest.raises(PlanError) as raised:
        plan_restart(NODE, ["static-web"], facts(watched="/etc/kubelet.d"), AT)
    text = str(raised.value)
    assert text.startswith(f"node my-node1: the kubelet watches /etc/kubelet.d, not {DIR}"), text
    assert "no pod of it runs to restart" in text
