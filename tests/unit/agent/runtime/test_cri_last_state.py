"""A container's last state read through ContainerStatus (agent/runtime/cri.py read_pods):
when the runtime fails that one call, only that container's last state is unknown; every
other pod and container of the node is still read (tests/fakes/cri_peer.py)."""

from __future__ import annotations

import tempfile

import pytest
from spctl_agent.runtime import cri

from tests.fakes.cri_peer import CRIPeer, Status


def _pod(name: str) -> dict:
    labels = {
        cri.POD_NAME_LABEL: name,
        cri.POD_NAMESPACE_LABEL: "default",
        cri.POD_UID_LABEL: "uid-" + name,
    }
    return {
        "id": "sb-" + name,
        "metadata": {"name": name, "uid": "uid-" + name, "namespace": "default", "attempt": 0},
        "state": 0,
        "created_at": 1_700_000_000 * 10**9,
        "labels": labels,
        "annotations": {},
    }


def _container(pod: dict, cid: str, attempt: int, state: int) -> dict:
    return {
        "id": cid,
        "pod_sandbox_id": pod["id"],
        "metadata": {"name": "web", "attempt": attempt},
        "state": state,
        "created_at": (1_700_000_001 + attempt) * 10**9,
        "labels": {**pod["labels"], cri.CONTAINER_NAME_LABEL: "web"},
        "annotations": {cri.RESTART_COUNT_ANNOTATION: str(attempt)},
    }


@pytest.fixture
def peer():
    peer = CRIPeer(tempfile.mkdtemp(prefix="spctl-cri-"), ("v1",))
    yield peer
    peer.close()


def test_a_failed_last_state_read_leaves_that_one_unknown_and_reads_the_rest(peer):
    a, b = _pod("a-node1"), _pod("b-node1")
    # Each pod: a running container (attempt 1) after one that exited (attempt 0).
    containers = [
        _container(a, "a1", 1, 1),
        _container(a, "a0", 0, 2),
        _container(b, "b1", 1, 1),
        _container(b, "b0", 0, 2),
    ]
    peer.answers["ListPodSandbox"] = ("ListPodSandboxResponse", {"items": [a, b]})
    peer.answers["ListContainers"] = ("ListContainersResponse", {"containers": containers})

    def status(request):
        if request["container_id"] == "a0":
            # Any failure but NOT_FOUND (which was already "removed since the list").
            raise Status(13, 'failed to read the status of container "a0": input/output error')
        return (
            "ContainerStatusResponse",
            {"status": {"id": "b0", "exit_code": 3, "reason": "Error", "state": 2}},
        )

    peer.answers["ContainerStatus"] = status
    pods = cri.read_pods(peer.path)

    web_a = pods[("default", "a-node1", "uid-a-node1")]["containers"]["web"]
    web_b = pods[("default", "b-node1", "uid-b-node1")]["containers"]["web"]
    assert (web_a["id"], web_a["state"], web_a["restarts"]) == ("a1", "running", 1)
    assert (web_a["last_exit_code"], web_a["last_reason"]) == (None, None)  # unknown
    assert (web_b["last_exit_code"], web_b["last_reason"]) == (3, "Error")
    asked = [c[1]["container_id"] for c in peer.calls if c[0].endswith("/ContainerStatus")]
    assert sorted(asked) == ["a0", "b0"]
