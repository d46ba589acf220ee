"""The prober (agent/probes/prober.py): timing follows pkg/kubelet/prober/worker.go
(initialDelaySeconds, periodSeconds, the success/failure thresholds, readiness waiting for
the startup probe) and prober.go (each attempt's timeout, errors retried); probe specs and
named ports; exec through the runner."""

from __future__ import annotations

from typing import Any

import pytest
from spctl_agent.probes.kinds import ProbeError
from spctl_agent.probes.prober import EXEC_MARGIN, PodProber, resolve_port
from spctl_agent.protocol.probe_spec import probe_spec_of

from tests.fakes.agent_node import FakeClock


class ScriptedProber(PodProber):
    """Each attempt's result comes from ``script`` (a list of results, by probe kind)."""

    def __init__(self, spec: dict[str, Any], clock: FakeClock, script: dict[str, list[str]]):
        super().__init__(spec, None, clock)
        self.script = script
        self.attempts: list[tuple[str, float]] = []

    def run_once(self, probe, pod, container, cid, timeout):
        kind = probe["kind"]
        self.attempts.append((kind, self.clock.monotonic()))
        results = self.script[kind]
        return (results.pop(0) if len(results) > 1 else results[0]), kind


def spec_with(**kinds: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "ports": []}
    for kind, fields in kinds.items():
        container[kind] = dict(fields, kind=kind, exec={"command": ["true"]})
    return {"hostNetwork": False, "containers": [container]}


POD = {"containers": [{"name": "app", "id": "c1", "state": "running"}]}


def run_until(prober: ScriptedProber, clock: FakeClock, seconds: float) -> list[tuple[float, bool]]:
    """ready() every half second, as the agent's wait polls; (time, ready) at each change."""
    changes: list[tuple[float, bool]] = []
    start = clock.monotonic()
    while clock.monotonic() - start <= seconds:
        ready = prober.ready(POD, clock.monotonic())
        if not changes or changes[-1][1] != ready:
            changes.append((clock.monotonic() - start, ready))
        clock.sleep(0.5)
    return changes


def test_initial_delay_and_period() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"initialDelaySeconds": 5, "periodSeconds": 3})
    prober = ScriptedProber(spec, clock, {"readinessProbe": ["success"]})
    changes = run_until(prober, clock, 12)
    assert changes == [(0.0, False), (5.0, True)]
    assert [t for _, t in prober.attempts] == [5.0, 8.0, 11.0]


def test_failure_threshold_turns_ready_off_only_after_that_many_failures() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"periodSeconds": 2, "failureThreshold": 3})
    script = {"readinessProbe": ["success", "failure", "failure", "failure"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 10)
    # Ready at once; failures at 2, 4 and 6: not ready from the third.
    assert changes == [(0.0, True), (6.0, False)]


def test_success_threshold_needs_that_many_successes_in_a_row() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"periodSeconds": 1, "successThreshold": 3})
    script = {"readinessProbe": ["success", "failure", "success", "success", "success"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 6)
    assert changes == [(0.0, False), (4.0, True)]


def test_defaults_period_ten_seconds() -> None:
    clock = FakeClock(0.0)
    prober = ScriptedProber(spec_with(readinessProbe={}), clock, {"readinessProbe": ["failure"]})
    run_until(prober, clock, 25)
    assert [t for _, t in prober.attempts] == [0.0, 10.0, 20.0]
    assert "readiness probe" in prober.why


def test_readiness_waits_for_the_startup_probe() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(
        startupProbe={"periodSeconds": 2, "failureThreshold": 30},
        readinessProbe={"periodSeconds": 5},
    )
    script = {"startupProbe": ["failure", "failure", "success"], "readinessProbe": ["success"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 12)
    assert changes == [(0.0, False), (4.0, True)]
    kinds = [(k, t) for k, t in prober.attempts]
    # The startup probe stops once it succeeded; readiness starts then, every 5 s.
    assert kinds == [
        ("startupProbe", 0.0),
        ("startupProbe", 2.0),
        ("startupProbe", 4.0),
        ("readinessProbe", 4.0),
        ("readinessProbe", 9.0),
    ]


def test_a_new_container_starts_over() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"initialDelaySeconds": 3, "periodSeconds": 1})
    prober = ScriptedProber(spec, clock, {"readinessProbe": ["success"]})
    assert run_until(prober, clock, 4)[-1][1] is True
    restarted = {"containers": [{"name": "app", "id": "c2", "state": "running"}]}
    assert prober.ready(restarted, clock.monotonic()) is False  # initialDelay again
    clock.sleep(3)
    assert prober.ready(restarted, clock.monotonic()) is True


def test_probe_errors_are_retried_then_fail() -> None:
    clock = FakeClock(0.0)
    calls = []

    class Erring(PodProber):
        def run_once(self, probe, pod, container, cid, timeout):
            calls.append(timeout)
            raise ProbeError("connection refused")

    prober = Erring(spec_with(readinessProbe={"timeoutSeconds": 4}), None, clock)
    assert prober.ready(POD, 0.0) is False
    assert calls == [4, 4, 4]  # prober.go maxProbeRetries, each with timeoutSeconds
    assert "connection refused" in prober.why


def test_probe_spec_of_and_named_ports() -> None:
    pod = {
        "spec": {
            "hostNetwork": True,
            "containers": [
                {
                    "name": "web",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"port": "http"}},
                    "livenessProbe": {"tcpSocket": {"port": 1}},
                },
                {"name": "side"},
            ],
        }
    }
    spec = probe_spec_of(pod)
    assert spec is not None and spec["hostNetwork"] is True
    web = spec["containers"][0]
    assert "livenessProbe" not in web and resolve_port("http", web) == 8080
    assert resolve_port(81, web) == 81 and resolve_port("81", web) == 81
    with pytest.raises(ProbeError):
        resolve_port("nope", web)
    assert probe_spec_of({"spec": {"containers": [{"name": "a"}]}}) is None


def test_exec_probe_through_the_runner() -> None:
    class Runner:
        def __init__(self, answer):
            self.answer, self.calls = answer, []

        def exec(self, cid, command, timeout, deadline=None):
            self.calls.append((cid, command, timeout))
            return self.answer

    spec = {"containers": [{"name": "app", "readinessProbe": {"exec": {"command": ["cat", "/x"]}}}]}
    container = spec["containers"][0]
    for answer, result in (
        ((0, b"ok"), "success"),
        ((1, b"no"), "failure"),
        ((None, b""), "failure"),
    ):
        runner = Runner(answer)
        prober = PodProber(spec, runner, None)
        got = prober.run_once(container["readinessProbe"], POD, container, "c1", 2)
        assert got[0] == result
        assert runner.calls == [("c1", ["cat", "/x"], 2)]


def test_an_exec_attempt_never_outlives_the_wait() -> None:
    class Runner:
        def __init__(self):
            self.calls = []

        def exec(self, cid, command, timeout, deadline=None):
            self.calls.append((timeout, deadline))
            return 0, b""

    spec = {
        "containers": [
            {"name": "app", "readinessProbe": {"exec": {"command": ["true"]}, "timeoutSeconds": 3}}
        ]
    }
    clock = FakeClock(100.0)
    runner = Runner()
    # The wait ends at 101.5: the command gets what is left, and so does the call.
    PodProber(spec, runner, clock, deadline=101.5).ready(POD, clock.monotonic())
    assert runner.calls == [(1.5, 1.5)]
    # Time enough: the command gets its timeoutSeconds, the call a margin to report its end.
    runner.calls.clear()
    PodProber(spec, runner, clock, deadline=200.0).ready(POD, clock.monotonic())
    assert runner.calls == [(3.0, 3.0 + EXEC_MARGIN)]
