"""The kubelet's crash-loop back-off (standin/restarts.py), on a simulated clock."""

from __future__ import annotations

import pytest
from spctl_lab.standin.restarts import RestartBackoff


class CrashingContainer:
    """A container that dies `runtime` seconds after each start, on a simulated clock."""

    def __init__(self, backoff) -> None:
        self.backoff, self.now = backoff, 0.0

    def crash(self, times: int, runtime: float = 0.1) -> list[float]:
        """How long each restart waits."""
        waits = []
        for _ in range(times):
            exited = self.now + runtime
            wait = self.backoff.remaining("web", exited, exited)
            waits.append(round(wait, 6))
            self.now = exited + wait
            self.backoff.restarted("web", exited, self.now)
        return waits


def test_backoff_schedule_is_the_kubelets() -> None:
    waits = CrashingContainer(RestartBackoff()).crash(9)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_backoff_base_for_tests() -> None:
    assert CrashingContainer(RestartBackoff(initial=1)).crash(5) == [0, 1, 2, 4, 8]


@pytest.mark.parametrize("runtime, waits", [(599, [160, 300]), (601, [0, 10])])
def test_backoff_resets_after_ten_minutes_of_running(runtime, waits) -> None:
    container = CrashingContainer(RestartBackoff())
    assert container.crash(5) == [0, 10, 20, 40, 80]
    assert container.crash(1, runtime=runtime) + container.crash(1) == waits


def test_backoff_counts_from_the_exit() -> None:
    backoff = RestartBackoff()
    backoff.restarted("web", 0.0, 0.0)  # first restart, immediate: next waits 10 s
    assert backoff.remaining("web", exited_at=5.0, now=5.0) == 10.0
    assert backoff.remaining("web", exited_at=5.0, now=12.0) == 3.0
    assert backoff.remaining("web", exited_at=5.0, now=15.0) == 0.0


def test_back_off_is_written_as_go_writes_a_duration() -> None:
    # doBackOff formats backOff.Get(key), a time.Duration: 10s, 1m20s, 5m0s.
    from spctl_lab.standin.restarts import go_duration

    assert [go_duration(s) for s in (10, 20, 80, 160, 300)] == [
        "10s",
        "20s",
        "1m20s",
        "2m40s",
        "5m0s",
    ]
