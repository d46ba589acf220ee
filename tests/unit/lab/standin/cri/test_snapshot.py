"""spctl-lab-cri's snapshot: a sandbox or container removed between the list and its status
call (the kubelet's garbage collector runs meanwhile) is not an error; other errors are."""

from __future__ import annotations

import pytest
from spctl_lab.standin.cri.client import CRIError
from spctl_lab.standin.cri.snapshot import snapshot


class Runtime:
    """A CRI client whose status calls fail for the ids in ``gone`` with ``code``."""

    def __init__(self, gone: set[str], code: str = "NOT_FOUND") -> None:
        self.gone, self.code = gone, code

    def _check(self, id: str) -> None:
        if id in self.gone:
            raise CRIError(self.code, f"an error occurred when try to find {id}: not found")

    def list_pod_sandbox(self):
        return [
            {"id": i, "metadata": {"name": i}, "state": 0, "created_at": n, "labels": {},
             "annotations": {}}
            for n, i in enumerate(("s1", "s2"))
        ]  # fmt: skip

    def pod_sandbox_status(self, id):
        self._check(id)
        return {"network": {"ip": "10.88.0.2"}}

    def list_containers(self):
        return [
            {"id": i, "pod_sandbox_id": "s1", "metadata": {"name": i}, "state": 1,
             "image": {"image": "pod:1.0"}, "created_at": n, "labels": {}, "annotations": {}}
            for n, i in enumerate(("c1", "c2"))
        ]  # fmt: skip

    def container_status(self, id):
        self._check(id)
        return {"exit_code": 0, "started_at": 0, "finished_at": 0}


def test_a_sandbox_removed_meanwhile_is_left_out_and_a_container_kept_without_status() -> None:
    seen = snapshot(Runtime({"s2", "c2"}))  # type: ignore[arg-type]
    assert [s["id"] for s in seen["sandboxes"]] == ["s1"]
    assert [(c["id"], c["reason"]) for c in seen["containers"]] == [("c1", ""), ("c2", "")]


@pytest.mark.parametrize("gone", ["s1", "c1"])
def test_other_runtime_errors_are_raised(gone: str) -> None:
    with pytest.raises(CRIError, match="UNAVAILABLE"):
        snapshot(Runtime({gone}, code="UNAVAILABLE"))  # type: ignore[arg-type]
