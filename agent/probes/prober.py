"""The prober: when each container's startup and readiness probes run and what their results
make of the container, as the kubelet's workers decide it; and status's one-look READY.

The kubelet's prober, kubernetes/kubernetes ``pkg/kubelet/prober/``:

- worker.go: one worker per container and probe kind. A new container (another id) starts
  with fresh state. The readiness result starts as Failure, the startup result as Unknown.
  No probe runs before ``initialDelaySeconds`` have passed since the container started;
  readiness is not probed until the container has started (the startup probe succeeded, or
  there is none); the startup probe stops once it succeeded. A result changes only after
  ``successThreshold`` equal successes or ``failureThreshold`` equal failures in a row
  (``resultRun``); then the worker waits ``periodSeconds`` for its next probe.
- prober.go: each probe attempt gets ``timeoutSeconds``, one deadline for all of it; an
  attempt that errors (rather than fails) is retried up to three times (``maxProbeRetries``,
  runProbeWithRetries retries only ``err != nil``); a Warning counts as Success. The kinds
  turn connection errors and timeouts into a Failure, so what errors is: a port that is not
  the container's, an exec the runtime could not start, an HTTP body that could not be read.
- api defaults (pkg/apis/core/v1/defaults.go): timeoutSeconds 1, periodSeconds 10,
  successThreshold 1, failureThreshold 3.

When the container started is taken as when the agent first saw it running (it polls every
half second).
"""

import time

from .expansion import CommandTooLong, expand_command
from .kinds import FAILURE, MAX_BODY, SUCCESS, ProbeError, grpc_probe, http_probe, tcp_probe

MAX_RETRIES = 3  # prober.go maxProbeRetries
DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
# Status's READY (quick_ready): every probe of a node within STATUS_BUDGET seconds, each
# attempt at most ATTEMPT_CAP; less than MIN_ATTEMPT left is not worth an attempt.
STATUS_BUDGET = 10.0
ATTEMPT_CAP = 2.0
MIN_ATTEMPT = 0.05
# An exec call's time beyond its command's timeout, for the runtime to start the command and
# report its end (the runtime stops the command itself at the timeout).
EXEC_MARGIN = 2.0


def resolve_port(port, container):
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ProbeError("port %r is not a number nor one of the container's named ports" % port)


# -- the workers ----------------------------------------------------------------------------


class Worker:
    """One container's probe of one kind (worker.go)."""

    def __init__(self, kind, spec, started_at):
        self.kind = kind  # "startupProbe" or "readinessProbe"
        self.spec = spec
        value = lambda name: int(spec.get(name) or DEFAULTS[name])  # noqa: E731
        self.initial_delay = int(spec.get("initialDelaySeconds") or 0)
        self.period = max(1, value("periodSeconds"))
        self.timeout = max(1, value("timeoutSeconds"))
        self.success_threshold = max(1, value("successThreshold"))
        self.failure_threshold = max(1, value("failureThreshold"))
        self.started_at = started_at
        self.result = None if kind == "startupProbe" else FAILURE  # Unknown / Failure
        self.last = None
        self.run = 0
        self.next_at = started_at + self.initial_delay
        self.message = "not probed yet"
        self.attempts = 0

    def due(self, now):
        return now >= self.next_at

    def record(self, result, message, now):
        """worker.go doProbe after the attempt: thresholds, then the next period."""
        self.attempts += 1
        self.message = message
        if result == self.last:
            self.run += 1
        else:
            self.last = result
            self.run = 1
        self.next_at = now + self.period
        if result == FAILURE and self.run < self.failure_threshold:
            return
        if result == SUCCESS and self.run < self.success_threshold:
            return
        self.result = result


class PodProber:
    """The probes of one pod's containers, run when due; ``ready(pod, now)`` says whether
    every container is ready as the kubelet would set it."""

    def __init__(self, spec, runner, clock, deadline=None):
        self.spec = spec or {"containers": []}
        self.runner = runner
        self.clock = clock
        # When the caller must answer (the clock's monotonic time): no attempt runs past it.
        self.deadline = deadline
        self.workers = {}  # container name: (container id, {kind: Worker})
        self.why = ""
        self._ip = None

    def ready(self, pod, now):
        running = {c["name"]: c for c in pod.get("containers") or []}
        reasons = []
        for container in self.spec.get("containers") or []:
            name = container.get("name")
            state = running.get(name)
            if state is None or state.get("state") != "running":
                reasons.append("%s: not running" % name)
                continue
            cid = state.get("id") or ""
            known = self.workers.get(name)
            if known is None or known[0] != cid:
                kinds = {}
                for kind in ("startupProbe", "readinessProbe"):
                    if kind in container:
                        kinds[kind] = Worker(kind, container[kind], now)
                known = self.workers[name] = (cid, kinds)
                self._ip = None  # a new container may mean a new sandbox
            ok, why = self._container_ready(pod, container, cid, known[1], now)
            if not ok:
                reasons.append("%s: %s" % (name, why))
        self.why = "; ".join(reasons)
        return not reasons

    def _container_ready(self, pod, container, cid, kinds, now):
        startup = kinds.get("startupProbe")
        if startup is not None and startup.result != SUCCESS:
            if startup.due(now):
                self._attempt(startup, pod, container, cid, now)
            if startup.result != SUCCESS:
                return False, "startup probe: %s" % startup.message
            # Started: readiness begins now (worker.go skips it until the container started).
            readiness = kinds.get("readinessProbe")
            if readiness is not None:
                readiness.next_at = max(readiness.next_at, now)
        readiness = kinds.get("readinessProbe")
        if readiness is None:
            return True, ""
        if readiness.due(now):
            self._attempt(readiness, pod, container, cid, now)
        if readiness.result != SUCCESS:
            return False, "readiness probe: %s" % readiness.message
        return True, ""

    def _attempt(self, worker, pod, container, cid, now):
        """prober.go runProbeWithRetries: an attempt that errors (ProbeError: a port that is
        not the container's, an exec the runtime could not run, a body that could not be
        read) is tried again, up to three times; a Failure is not. Each try gets
        timeoutSeconds, or what is left before the deadline when that is less."""
        result, message = None, ""
        for _ in range(MAX_RETRIES):
            timeout = float(worker.timeout)
            if self.deadline is not None:
                left = self.deadline - self.clock.monotonic()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            try:
                result, message = self.run_once(worker.spec, pod, container, cid, timeout)
                break
            except ProbeError as exc:
                result, message = FAILURE, str(exc)
            except Exception as exc:  # a probe that breaks is a failed probe, not a crash
                result, message = FAILURE, "%s: %s" % (type(exc).__name__, exc)
                break
        if result is None:
            return  # no time left to try: the wait is over, the last result stands
        # The next period counts from the end of this attempt, as the worker's ticker would.
        end = self.clock.monotonic() if self.clock is not None else now
        worker.record(result, message or result, max(now, end))

    def _call_time(self, timeout):
        """The seconds an exec call may take in all: its timeout and a margin for the runtime
        to answer (EXEC_MARGIN), never past the caller's deadline."""
        allowed = timeout + EXEC_MARGIN
        if self.deadline is not None:
            now = self.clock.monotonic() if self.clock is not None else time.monotonic()
            allowed = min(allowed, max(0.001, self.deadline - now))
        return allowed

    def _pod_ip(self, pod, timeout):
        if self._ip is None:
            self._ip = self.runner.pod_ip(pod, self.spec.get("hostNetwork"), min(5.0, timeout))
        if not self._ip:
            raise ProbeError("the pod has no IP yet")
        return self._ip

    def _target(self, host, pod, timeout):
        """(host, seconds left of the attempt): the probe's host, else the pod's IP, found
        (once) within the attempt's time."""
        if host:
            return host, timeout
        start = time.monotonic()
        ip = self._pod_ip(pod, timeout)
        return ip, max(0.001, timeout - (time.monotonic() - start))

    def run_once(self, probe, pod, container, cid, timeout):
        """One attempt of one probe within ``timeout`` seconds: (result, message). Finding
        the pod's IP (once) counts against the attempt's time."""
        if "httpGet" in probe:
            http = probe["httpGet"] or {}
            host, timeout = self._target(http.get("host"), pod, timeout)
            headers = [
                (h.get("name", ""), h.get("value", "")) for h in http.get("httpHeaders") or []
            ]
            return http_probe(
                http.get("scheme") or "HTTP",
                host,
                resolve_port(http.get("port"), container),
                http.get("path") or "/",
                headers,
                timeout,
            )
        if "tcpSocket" in probe:
            tcp = probe["tcpSocket"] or {}
            host, timeout = self._target(tcp.get("host"), pod, timeout)
            return tcp_probe(host, resolve_port(tcp.get("port"), container), timeout)
        if "grpc" in probe:
            grpc_ = probe["grpc"] or {}
            host, timeout = self._target(None, pod, timeout)
            return grpc_probe(host, int(grpc_.get("port")), grpc_.get("service") or "", timeout)
        if "exec" in probe:
            # prober.go: the command with $(VAR) expanded from the container's static env.
            try:
                command = expand_command((probe["exec"] or {}).get("command"), container.get("env"))
            except CommandTooLong as exc:
                raise ProbeError(str(exc)) from None
            code, output = self.runner.exec(cid, command, timeout, self._call_time(timeout))
            text = output[:MAX_BODY].decode("utf-8", "replace")
            if code is None:
                return FAILURE, "command %r timed out" % (command,)
            if code == 0:
                return SUCCESS, text
            return FAILURE, "command %r exited with %d: %s" % (command, code, text.strip())
        raise ProbeError("probe has no handler (httpGet, tcpSocket, grpc or exec)")


def quick_ready(spec, pod, runner, timeout=ATTEMPT_CAP, deadline=None):
    """Status's READY: one attempt of each container's readiness probe, now. (True, "") when
    all pass, (False, why) when one does not, (None, "") when no container has one. (The
    kubelet's READY also waits for the thresholds; a status call has one moment to look.)

    Each attempt gets the probe's timeoutSeconds, at most ``timeout`` and what is left before
    ``deadline`` (time.monotonic()); a probe there is no time left for is not ready, and says
    so. Whatever goes wrong in one attempt (a bad redirect, a header that cannot be sent, a
    runtime that does not answer for the pod's IP) is that probe failing, never the call's."""
    if not spec:
        return None, ""
    prober = PodProber(spec, runner, None, deadline)
    running = {c["name"]: c for c in pod.get("containers") or []}
    seen = False
    for container in spec.get("containers") or []:
        probe = container.get("readinessProbe")
        if probe is None:
            continue
        seen = True
        name = container.get("name")
        state = running.get(name)
        if state is None or state.get("state") != "running":
            return False, "%s: not running" % name
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left < MIN_ATTEMPT:
            return False, (
                "%s: readiness probe: not probed: the status call's time for probes ran out" % name
            )
        try:
            budget = min(float(Worker("readinessProbe", probe, 0).timeout), timeout)
            budget = budget if left is None else min(budget, left)
            result, message = prober.run_once(probe, pod, container, state.get("id") or "", budget)
        except ProbeError as exc:
            return False, "%s: readiness probe: %s" % (name, exc)
        except Exception as exc:  # one pod's probe must not fail the node's facts
            return False, "%s: readiness probe: %s: %s" % (name, type(exc).__name__, exc)
        if result != SUCCESS:
            return False, "%s: readiness probe: %s" % (name, message or "failed")
    return (True, "") if seen else (None, "")


def mark_ready(pods, specs, runner, names=(), timeout=ATTEMPT_CAP, budget=STATUS_BUDGET):
    """Set ``ready`` of each running static pod in ``pods`` (summaries) that has readiness
    probes in ``specs`` ({pod name: probe_spec_of(...)}, the kubelet's name being
    ``<pod name>-<node name>``) from one attempt of its probes, and ``not_ready`` to why.
    ``names``: every pod name asked about, so that "web-x-node1" is known as pod web-x's
    even when only web has probes. All the attempts together take at most ``budget``
    seconds (plus one small margin), each at most ``timeout``: a status call answers in
    time however many pods are slow."""
    from ..runtime import pods as podlib

    deadline = time.monotonic() + budget
    candidates = set(specs) | set(names)
    for pod in pods:
        if not podlib.containers_up(pod) or pod.get("source") not in ("file", "http"):
            continue
        name = pod.get("pod") or ""
        pod_name = podlib.pod_name_of(name, candidates)  # web-x's, not web's
        spec = specs.get(pod_name) if pod_name is not None else None
        if spec is None:
            continue
        try:
            ready, why = quick_ready(spec, pod, runner, timeout, deadline)
        except Exception as exc:  # a spec this agent cannot read: that pod's, not the node's
            ready, why = False, "readiness probes: %s: %s" % (type(exc).__name__, exc)
        if ready is not None:
            pod["ready"] = ready
            if why:
                pod["not_ready"] = why
