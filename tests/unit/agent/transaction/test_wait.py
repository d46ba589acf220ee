"""Waiting for pods (agent/transaction/wait.py): which pod counts for a change (its UID, its
source), the stable window, a crash loop, a failed pod, a rollback's previous UID, a removal.
The runtime's pod list is given as data (tests/fakes/agent_node.py)."""

from __future__ import annotations

import pytest
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import Windows, pod_settled

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
    since = Windows()
    assert pod_settled(c, [pod(uid="old")], since, 5, now=0) is None  # not the new one
    assert pod_settled(c, [pod(uid="old"), pod(uid="new")], since, 5, now=1) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=5.9) is None
    assert pod_settled(c, [pod(uid="new")], since, 5, now=6.1) is True


def test_a_pod_of_the_same_name_from_another_source_is_not_the_static_pod(node):
    c = change(node)
    since = Windows()
    assert pod_settled(c, [pod(uid="api", source="api")], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="api", source="api"), pod(uid="f")], since, 0, now=1) is True


def crashed(uid="new", restarts=0, exit_code=1):
    """The pod while the kubelet restarts its crashed container: Running (getPhase under
    restartPolicy Always), not ready."""
    return pod(uid=uid, restarts=restarts, state="exited", exit_code=exit_code, reason="Error")


def test_a_crash_then_a_stable_window_deploys(node):
    # A container that exits once while a dependency comes up: the kubelet restarts it at
    # once, the stable window starts over, and the change succeeds.
    c = change(node)
    since = Windows()
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0, left=300) is None
    assert pod_settled(c, [crashed()], since, 5, now=1, left=299) is None
    back = pod(uid="new", restarts=1, last_exit_code=1)
    assert pod_settled(c, [back], since, 5, now=2, left=298) is None
    assert pod_settled(c, [back], since, 5, now=6.5, left=293.5) is None  # 4.5 s of 5
    assert pod_settled(c, [back], since, 5, now=7.1, left=292.9) is True


def with_sidecars(summary, restarts):
    """``summary`` with one more running container per count in ``restarts``."""
    for n, count in enumerate(restarts):
        side = dict(summary["containers"][0], name=f"side{n}", state="running")
        side["restarts"] = count
        summary["containers"].append(side)
    summary["restarts"] += sum(restarts)
    return summary


def test_crashes_are_counted_per_container_as_the_kubelet_backs_off_each(node):
    # kuberuntime_manager.go doBackOff keys the back-off by container: three containers
    # that each crashed once while a dependency came up are not a pod that keeps crashing.
    c = change(node)
    since = Windows()
    assert pod_settled(c, [with_sidecars(pod(uid="new"), [0, 0])], since, 5, now=0) is None
    once_each = with_sidecars(pod(uid="new", restarts=1), [1, 1])
    assert pod_settled(c, [once_each], since, 5, now=1, left=299) is None
    assert pod_settled(c, [once_each], since, 5, now=6.5, left=293.5) is True
    # One of them three times is.
    since = Windows()
    assert pod_settled(c, [with_sidecars(pod(uid="new"), [0, 0])], since, 5, now=0) is None
    verdict = pod_settled(
        c, [with_sidecars(pod(uid="new", restarts=1), [3, 0])], since, 5, now=1, left=299
    )
    assert verdict.startswith("the pod keeps crashing: side0 restarted 3 times"), verdict


def test_a_crash_that_keeps_recurring_fails_the_change(node):
    c = change(node)
    since = Windows()
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0, left=300) is None
    assert pod_settled(c, [pod(uid="new", restarts=2)], since, 5, now=1, left=299) is None
    verdict = pod_settled(c, [crashed(restarts=3)], since, 5, now=2, left=298)
    assert verdict.startswith("the pod keeps crashing: web restarted 3 times during the wait")
    assert "exit code 1, Error" in verdict


def test_restarts_from_before_the_wait_do_not_count(node):
    c = change(node, action="unchanged")
    since = Windows()
    assert pod_settled(c, [pod(uid="u1", restarts=40)], since, 0, now=0, left=300) is True


def test_a_back_off_longer_than_what_is_left_fails_with_crashloopbackoff(node):
    c = change(node)
    since = Windows()
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0, left=30) is None
    # The kubelet's own back-off, from its log (kubelet_log.crash_loop): 40 s, 25 s left.
    loop = ("web", 40.0, 'failed to "StartContainer" for "web" with CrashLoopBackOff: "..."')
    verdict = pod_settled(c, [crashed(restarts=2)], since, 5, now=5, left=25, crash_loop=loop)
    assert verdict.startswith("the pod is in CrashLoopBackOff: the kubelet restarts web only")
    assert "back-off of 40s, and 25s of the wait are left" in verdict
    assert "the kubelet: failed to" in verdict
    # Without the log: the least back-off the kubelet waits after the restarts seen
    # (10 s once restarted once, then 20 s).
    since = Windows()
    assert pod_settled(c, [pod(uid="new")], since, 5, now=0, left=30) is None
    assert pod_settled(c, [crashed(restarts=1)], since, 5, now=1, left=29) is None  # 10+5 < 29
    assert pod_settled(c, [crashed(restarts=2)], since, 5, now=2, left=28) is None  # 20+5 < 28
    verdict = pod_settled(c, [crashed(restarts=2)], since, 5, now=20, left=10)
    assert "back-off of 20s, and 10s of the wait are left" in verdict


def test_a_first_crash_is_restarted_at_once_so_only_the_timeout_ends_it(node):
    verdict = pod_settled(change(node), [crashed()], Windows(), 5, now=0, left=1)
    assert verdict is None  # the kubelet restarts it now: the wait's own timeout decides


def test_the_kubelets_back_off_schedule():
    from spctl_agent.transaction.wait import next_backoff

    assert [next_backoff(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]
    assert next_backoff(12) == 300


def test_restart_policy_never_keeps_failing_at_the_first_failure(node):
    c = change(node)
    c.restart_policy = "Never"
    verdict = pod_settled(c, [crashed(exit_code=3)], Windows(), 5, now=0, left=300)
    assert verdict.startswith("the pod failed") and "exit code 3" in verdict
    # Always (the default): the same runtime view is a pod being restarted.
    c.restart_policy = "Always"
    assert pod_settled(c, [crashed(exit_code=3)], Windows(), 5, now=0, left=300) is None


def test_a_failed_pod_fails_the_change_with_its_exit_code(node):
    verdict = pod_settled(
        change(node), [pod(uid="x", phase="Failed", exit_code=3)], Windows(), 5, now=0
    )
    assert verdict.startswith("the pod failed") and "exit code 3" in verdict


def test_rollback_waits_for_the_previous_uid(node):
    c = change(node, action="restore")
    c.want_uid = "old"
    since = Windows()
    assert pod_settled(c, [pod(uid="crashing", restarts=3)], since, 0, now=0) is None
    assert pod_settled(c, [pod(uid="old")], since, 0, now=1) is True


def test_remove_waits_until_no_pod_has_the_name(node):
    c = change(node, action="remove")
    assert pod_settled(c, [pod()], Windows(), 0, now=0) is None
    assert pod_settled(c, [pod(name="other-n1")], Windows(), 0, now=0) is True


def test_an_adopt_is_done_as_soon_as_its_pod_runs_with_no_stable_window(node):
    c = change(node, action="adopt")
    c.want_uid = "same"
    since = Windows()
    assert pod_settled(c, [pod(uid="same", phase="Pending")], since, 5, now=0) is None
    assert pod_settled(c, [pod(uid="other")], since, 5, now=0) is None  # not the kept pod
    assert pod_settled(c, [pod(uid="same")], since, 5, now=0) is True
