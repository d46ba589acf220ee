"""A pod's phase from its container statuses (standin/status.py), as the kubelet's getPhase."""

from __future__ import annotations

from typing import Any

import pytest
from spctl_lab.standin.status import pod_phase


def state(kind: str, exit_code: int = 0, last: bool = False) -> dict[str, Any]:
    if kind == "terminated":
        return {"state": {"terminated": {"exitCode": exit_code}}, "lastState": {}}
    if kind == "crashloop":
        return {
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": exit_code}},
        }
    return {"state": {kind: {}}, "lastState": {}}


@pytest.mark.parametrize(
    "policy, statuses, phase",
    [
        ("Always", [state("running")], "Running"),
        ("Always", [state("waiting")], "Pending"),
        ("Always", [state("running"), state("waiting")], "Pending"),
        ("Always", [state("running"), state("crashloop", 1)], "Running"),
        ("Always", [state("terminated", 0)], "Running"),  # about to be restarted
        ("Never", [state("terminated", 0)], "Succeeded"),
        ("Never", [state("terminated", 0), state("terminated", 2)], "Failed"),
        ("OnFailure", [state("terminated", 0), state("terminated", 0)], "Succeeded"),
        ("OnFailure", [state("terminated", 1)], "Running"),  # will be restarted
        ("Never", [state("running"), state("terminated", 1)], "Running"),
        ("Always", [], "Pending"),
    ],
)
def test_pod_phase(policy, statuses, phase) -> None:
    assert pod_phase(policy, statuses) == phase
