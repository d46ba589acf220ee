"""Pods as the kubelet sees them (agent/runtime/pods.py): a pod's phase and restarts from its
records, and which pod is the static pod of a name."""

from __future__ import annotations

import pytest
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
    "sandbox_state, containers, phase",
    [
        ("running", {"a": container(), "b": container()}, "Running"),
        ("running", {"a": container(), "b": container("created")}, "Pending"),
        ("exited", {"a": container()}, "Pending"),  # the sandbox is being replaced
        # A crash in the running pod fails it, restart or not.
        ("running", {"a": container(), "b": container("exited", 1)}, "Failed"),
        # A container stopped with its previous sandbox is one not created yet in the
        # new sandbox: a pod coming back after a rollback is Pending, not Failed.
        ("running", {"a": container("exited", 137, sandbox_id="s1")}, "Pending"),
        ("running", {"a": container("exited", 0), "b": container()}, "Pending"),
        ("exited", {"a": container("exited", 2)}, "Failed"),
        ("exited", {"a": container("exited", 0), "b": container("exited", 0)}, "Succeeded"),
        ("running", {}, "Pending"),
    ],
)
def test_phase(sandbox_state, containers, phase):
    record = {"sandbox": sandbox(sandbox_state), "containers": containers, "annotations": {}}
    assert podlib.summarize("default", "p", "u", record)["phase"] == phase


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
