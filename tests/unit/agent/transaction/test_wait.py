"""Waiting for pods (agent/transaction/wait.py): which pod counts for a change (its UID, its
source), the stable window, a crash loop, a failed pod, a rollback's previous UID, a removal.
The runtime's pod list is given as data (tests/fakes/agent_node.py)."""

from __future__ import annotations

import pytest
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import pod_settled

from tests.fakes.agent_node import make_node, pod


@pytest.fixture
def node(tmp_path):
    return make_node(tmp_path)


def change(node, action="update", directory="/tmp"):
    return PodChange(
        node,
        {
            "pod": "static-web",
            "file": "static-web.yaml",
            "action": action,
            "content": "x",
            "expected_sha256": None,
        },
        directory,
        "n1",
    )


def test_update_waits_for_a_new_uid_then_a_stable_window(node):
    c = change(node)
    c.before_uid = "old"
    since: dict = {}
    assert pod_settled(c, [pod(uid="old")], since, 5, now=0) is None  # not the new one
    assert pod_settled(c, [pod(uid="old"), pod(uid="new")], since, 5, now=1) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=5.9) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=6.1) is True


def test_a_pod_of_the_same_name_from_another_source_is_not_the_static_pod(node):
    c = change(node)
    since: dict = {}
    assert pod_settled(c, [pod(uid="api", source="api")], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="api", source="api"), pod(uid="f")], since, 0, now=1) is True


def test_a_restart_in_the_stable_window_is_a_crash_loop(node):
    c = change(node)
    since: dict = {}
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0) is None
    verdict = pod_settled(c, [pod(uid="new", restarts=1)], since, 5, now=2)
    assert isinstance(verdict, str) and "keep restarting" in verdict
    pending = pod_settled(change(node), [pod(uid="x", phase="Pending", restarts=2)], {}, 5, now=0)
    assert "keep restarting" in pending


def test_a_failed_pod_fails_the_change_with_its_exit_code(node):
    verdict = pod_settled(change(node), [pod(uid="x", phase="Failed", exit_code=3)], {}, 5, now=0)
    assert verdict.startswith("the pod failed") and "exit code 3" in verdict


def test_rollback_waits_for_the_previous_uid(node):
    c = change(node, action="restore")
    c.want_uid = "old"
    since: dict = {}
    assert pod_settled(c, [pod(uid="crashing", restarts=3)], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="old")], since, 0, now=1) is True


def test_remove_waits_until_no_pod_has_the_name(node):
    c = change(node, action="remove")
    assert pod_settled(c, [pod()], {}, 0, now=0) is None
    assert pod_settled(c, [pod(name="other-n1")], {}, 0, now=0) is True


def test_an_adopt_is_done_as_soon_as_its_pod_runs_with_no_stable_window(node):
    c = change(node, action="adopt")
    c.want_uid = "same"
    since: dict = {}
    assert pod_settled(c, [pod(uid="same", phase="Pending")], since, 5, now=0) is None
    assert pod_settled(c, [pod(uid="other")], since, 5, now=0) is None  # not the kept pod
    assert pod_settled(c, [pod(uid="same")], since, 5, now=0) is True
