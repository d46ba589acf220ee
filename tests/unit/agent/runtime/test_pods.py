"""Pods as the kubelet sees them (agent/runtime/pods.py): a pod's phase and restarts from its
records, and which pod is the static pod of a name."""

from __future__ import annotations

import pytest
from spctl_agent.protocol.pod_summary import last_exit
from spctl_agent.runtime import pods as podlib


def sandbox(state="running", created=1):
    return {"id": "s2", "state": state, "attempt": 1, "created": created, "created_ns": created}


def container(state="running", exit_code=None, restarts=0, sandbox_id="s2"):
    return {
        "id": "c",
        "state": state,
        "exit_code": exit_code,
        "restarts": restarts,
        "created": 1,
        "sandbox_id": sandbox_id,
    }


@pytest.mark.parametrize(
    "sandbox_state, policy, containers, phase",
    [
        ("running", "Always", {"a": container(), "b": container()}, "Running"),
        # Never started (no earlier instance): waiting, so Pending.
        ("running", "Always", {"a": container(), "b": container("created")}, "Pending"),
        # Created again after a crash: its earlier instance ended, so stopped, not waiting.
        ("running", "Always", {"a": container(), "b": container("created", restarts=1)}, "Running"),
        # getPhase: a crash of a restartPolicy Always pod leaves it Running (restarting).
        ("running", "Always", {"a": container(), "b": container("exited", 1)}, "Running"),
        ("running", "Always", {"a": container("exited", 1, restarts=3)}, "Running"),
        ("exited", "Always", {"a": container("exited", 2)}, "Running"),
        # OnFailure: a failure is restarted (Running), success ends the pod.
        ("running", "OnFailure", {"a": container("exited", 1)}, "Running"),
        ("running", "OnFailure", {"a": container("exited", 0)}, "Succeeded"),
        # Never: failed once every container stopped and one failed; running keeps it Running.
        ("running", "Never", {"a": container("exited", 1)}, "Failed"),
        ("running", "Never", {"a": container(), "b": container("exited", 1)}, "Running"),
        (
            "exited",
            "Never",
            {"a": container("exited", 0), "b": container("exited", 0)},
            "Succeeded",
        ),
        # A container stopped with its previous sandbox is one not created yet in the
        # new sandbox: a pod coming back after a rollback is Pending, not Failed.
        ("running", "Never", {"a": container("exited", 137, sandbox_id="s1")}, "Pending"),
        (
            "running",
            "Always",
            {"a": container("exited", 137, restarts=2, sandbox_id="s1")},
            "Pending",
        ),
        # Policy not known: an up sandbox reads as Always; a down one with nothing running
        # as a pod the kubelet finished with.
        ("running", None, {"a": container("exited", 1)}, "Running"),
        ("exited", None, {"a": container()}, "Running"),
        ("exited", None, {"a": container("exited", 2)}, "Failed"),
        ("exited", None, {"a": container("exited", 0), "b": container("exited", 0)}, "Succeeded"),
        ("running", "Always", {}, "Pending"),
    ],
)
def test_phase_is_the_kubelets_getphase(sandbox_state, policy, containers, phase):
    record = {"sandbox": sandbox(sandbox_state), "containers": containers, "annotations": {}}
    assert podlib.summarize("default", "p", "u", record, policy)["phase"] == phase


def test_ready_needs_the_sandbox_and_every_container_running():
    up = {"sandbox": sandbox(), "containers": {"a": container(), "b": container()}}
    crashed = {"sandbox": sandbox(), "containers": {"a": container(), "b": container("exited", 1)}}
    down = {"sandbox": sandbox("exited"), "containers": {"a": container()}}
    assert podlib.summarize("default", "p", "u", up)["ready"] is True
    assert podlib.summarize("default", "p", "u", crashed, "Always")["ready"] is False
    assert podlib.summarize("default", "p", "u", down, "Always")["ready"] is False
    assert podlib.containers_up(podlib.summarize("default", "p", "u", up))


def test_a_policy_named_later_recomputes_the_phase():
    record = {"sandbox": sandbox("exited"), "containers": {"a": container("exited", 1)}}
    summary = podlib.summarize("default", "web-n1", "u", record)
    assert summary["phase"] == "Failed" and summary["restart_policy"] is None
    podlib.with_policy(summary, "Always")
    assert summary["phase"] == "Running" and summary["restart_policy"] == "Always"
    podlib.with_policy(summary, None)  # not known: left as it is
    assert summary["phase"] == "Running"


def test_policies_are_matched_by_the_longest_pod_name():
    policies = {"web": "Always", "web-x": "Never"}
    assert podlib.policy_for("web-x-node1", policies) == "Never"
    assert podlib.policy_for("web-node1", policies) == "Always"
    assert podlib.policy_for("api-node1", policies) is None


def test_the_last_exit_is_the_containers_own_or_the_one_before():
    running = dict(container(restarts=1), last_exit_code=1, last_reason="Error")
    record = {"sandbox": sandbox(), "containers": {"a": running}}
    summary = podlib.summarize("default", "p", "u", record, "Always")
    (c,) = summary["containers"]
    assert (c["last_exit_code"], c["last_reason"]) == (1, "Error")
    assert last_exit(c) == (1, "Error")
    assert "a: running, 1 restarts, last exit code 1, Error" in podlib.container_summary(summary)
    exited = dict(container("exited", 2), reason="Error", last_exit_code=1)
    assert last_exit(exited) == (2, "Error")


def test_restarts_are_the_sum_of_the_containers():
    record = {
        "sandbox": sandbox(),
        "containers": {"a": container(restarts=2), "b": container(restarts=3)},
    }
    assert podlib.summarize("default", "p", "u", record)["restarts"] == 5


def summary(name="web-n1", namespace="default", source="file", phase="Running", created=1):
    annotations = {"kubernetes.io/config.source": source} if source else {}
    return {
        "pod": name,
        "namespace": namespace,
        "phase": phase,
        "created": created,
        "annotations": annotations,
    }


def test_a_static_pod_is_matched_by_namespace_name_and_source():
    assert podlib.is_static(summary(), "web-n1")
    assert podlib.is_static(summary(), "web-n1", namespace="default")
    assert not podlib.is_static(summary(), "web-n1", namespace="kube-system")
    assert not podlib.is_static(summary(source="api"), "web-n1")
    assert not podlib.is_static(summary(source=None), "web-n1")
    assert not podlib.is_static(summary(source="http"), "web-n1")
    assert podlib.is_static(summary(source="http"), "web-n1", sources=("file", "http"))
    pods = [summary(phase="Pending", created=5), summary(created=2), summary(source="api")]
    assert podlib.find(pods, "web-n1")["created"] == 2  # the running one
