"""Readiness as the kubelet sees it: a pod's startup and readiness probes, run by the agent.

The kubelet's prober, kubernetes/kubernetes ``pkg/kubelet/prober/``:

- worker.go: one worker per container and probe kind. A new container (another id) starts
  with fresh state. The readiness result starts as Failure, the startup result as Unknown.
  No probe runs before ``initialDelaySeconds`` have passed since the container started;
  readiness is not probed until the container has started (the startup probe succeeded, or
  there is none); the startup probe stops once it succeeded. A result changes only after
  ``successThreshold`` equal successes or ``failureThreshold`` equal failures in a row
  (``resultRun``); then the worker waits ``periodSeconds`` for its next probe.
- prober.go: each probe attempt gets ``timeoutSeconds``; an attempt that errors (rather than
  fails) is retried up to three times (``maxProbeRetries``); a Warning counts as Success.
- api defaults (pkg/apis/core/v1/defaults.go): timeoutSeconds 1, periodSeconds 10,
  successThreshold 1, failureThreshold 3.

The kinds, ``pkg/probe/``:

- http/http.go and request.go: GET with User-Agent ``kube-probe/<major>.<minor>``,
  ``Accept: */*`` unless set, the probe's headers (a Host header sets the host); HTTPS
  without verifying the certificate; 200 <= status < 400 is Success; at most 10 KiB of the
  body is read (for the message); redirects are followed (up to 10) only to the same host; a
  redirect elsewhere is not followed and is a Warning, i.e. Success.
- tcp/tcp.go: a TCP connection within the timeout is Success.
- exec/exec.go: exit code 0 is Success; a timeout is Failure (the kubelet runs the command
  through the runtime: Docker's exec API, or the CRI's ExecSync).
- grpc/grpc.go: grpc.health.v1.Health/Check on the pod's IP and port, without TLS; SERVING
  is Success, any other answer or error Failure.

The host of an http probe is ``httpGet.host`` or the pod's IP; tcpSocket and grpc use the pod's
IP (tcpSocket also its ``host``). A hostNetwork pod's IP is the node's (the kubelet reports the
host's IPs for it): the agent uses the node's address toward its default route, else
127.0.0.1. When the container started is taken as when the agent first saw it running (it
polls every half second).
"""

import socket

SUCCESS, FAILURE = "success", "failure"
KUBE_PROBE_VERSION = "1.34"  # the user agent names the kubelet's minor version
MAX_BODY = 10 * 1024  # pkg/probe/http/http.go maxRespBodyLength
MAX_REDIRECTS = 10
MAX_RETRIES = 3  # prober.go maxProbeRetries
DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class ProbeError(Exception):
    """An attempt that could not be made (retried, then Failure)."""


def probe_spec_of(pod):
    """What the agent needs of a parsed pod to probe it: {"hostNetwork", "containers":
    [{"name", "ports", "startupProbe", "readinessProbe"}]}; None when no container has one."""
    spec = (pod or {}).get("spec") or {}
    containers = []
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        entry = {"name": c.get("name"), "ports": c.get("ports") or []}
        for kind in ("startupProbe", "readinessProbe"):
            if isinstance(c.get(kind), dict):
                entry[kind] = c[kind]
        containers.append(entry)
    if not any("startupProbe" in c or "readinessProbe" in c for c in containers):
        return None
    return {"hostNetwork": bool(spec.get("hostNetwork")), "containers": containers}


def resolve_port(port, container):
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ProbeError("port %r is not a number nor one of the container's named ports" % port)


# -- the kinds ------------------------------------------------------------------------------


def http_probe(scheme, host, port, path, headers, timeout):
    """(result, message) of one HTTP(S) GET, as pkg/probe/http/http.go judges it."""
    import http.client
    import ssl

    names = {name.lower(): value for name, value in headers}
    host_header = names.get("host")
    hops = 0
    current = (scheme.lower(), host, port, path or "/")
    while True:
        scheme_, host_, port_, path_ = current
        if scheme_ == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the kubelet's InsecureSkipVerify
            conn = http.client.HTTPSConnection(host_, port_, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host_, port_, timeout=timeout)
        try:
            conn.putrequest("GET", path_, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host_header or _host_port(host_, port_, scheme_))
            conn.putheader(
                "User-Agent", names.get("user-agent", "kube-probe/" + KUBE_PROBE_VERSION)
            )
            conn.putheader("Accept", names.get("accept", "*/*"))
            for name, value in headers:
                if name.lower() not in ("host", "user-agent", "accept"):
                    conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            body = response.read(MAX_BODY)
            status = response.status
            location = response.getheader("Location")
        except (OSError, http.client.HTTPException) as exc:
            raise ProbeError("Get %s: %s" % (_url(current), exc)) from None
        finally:
            conn.close()
        if status in (301, 302, 303, 307, 308) and location:
            target = _redirect(current, location)
            if target[1] != host_ or hops >= MAX_REDIRECTS:
                # request.go: a redirect to another host is not followed: a Warning.
                return SUCCESS, "Probe terminated redirects, Response body: %s" % _text(body)
            hops += 1
            current = target
            continue
        if 200 <= status < 400:
            return SUCCESS, _text(body)
        return FAILURE, "HTTP probe failed with statuscode: %d" % status


def _host_port(host, port, scheme):
    default = 443 if scheme == "https" else 80
    shown = "[%s]" % host if ":" in host else host
    return shown if port == default else "%s:%d" % (shown, port)


def _url(current):
    scheme, host, port, path = current
    return "%s://%s%s" % (scheme, _host_port(host, port, scheme), path)


def _redirect(current, location):
    try:
        from urllib.parse import urlsplit
    except ImportError:  # pragma: no cover
        raise
    scheme, host, port, path = current
    parts = urlsplit(location)
    if not parts.scheme:
        target = location if location.startswith("/") else "/" + location
        return (scheme, host, port, target)
    new_scheme = parts.scheme.lower()
    new_port = parts.port or (443 if new_scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return (new_scheme, parts.hostname or "", new_port, target)


def _text(body):
    return body.decode("utf-8", "replace")


def tcp_probe(host, port, timeout):
    """pkg/probe/tcp/tcp.go: Success when a connection opens within the timeout."""
    try:
        sock = socket.create_connection((host, port), timeout)
    except OSError as exc:
        return FAILURE, "dial tcp %s:%d: %s" % (host, port, exc)
    sock.close()
    return SUCCESS, ""


def grpc_probe(host, port, service, timeout):
    """pkg/probe/grpc/grpc.go: grpc.health.v1.Health/Check; SERVING is Success."""
    from .runtime import grpc
    from .runtime.proto import encode_varint

    request = b""
    if service:
        data = service.encode()
        request = b"\x0a" + encode_varint(len(data)) + data
    try:
        conn = grpc.Connection((host, port), timeout)
    except grpc.GrpcError:
        return FAILURE, "timeout: failed to connect service %s:%d within %gs" % (
            host,
            port,
            timeout,
        )
    try:
        answer = conn.call(HEALTH_CHECK, request, timeout)
    except grpc.GrpcError as exc:
        if exc.status == "UNIMPLEMENTED":
            return FAILURE, (
                "this server does not implement the grpc health protocol "
                "(grpc.health.v1.Health): %s" % exc.message
            )
        return FAILURE, "rpc error: code = %s desc = %s" % (exc.status, exc.message)
    finally:
        conn.close()
    status = SERVING_STATUS.get(_health_status(answer), "UNKNOWN")
    if status == "SERVING":
        return SUCCESS, ""
    return FAILURE, "service unhealthy (responded with %r)" % status


def _health_status(message):
    """Field 1 (status, an enum) of a HealthCheckResponse; 0 when absent."""
    from .runtime.proto import ProtoError, iter_fields

    try:
        for number, wire, value in iter_fields(message):
            if number == 1 and wire == 0:
                return value
    except ProtoError as exc:
        raise ProbeError("malformed health answer: %s" % exc) from None
    return 0


# -- the node's side: pod IPs and exec -----------------------------------------------------


def host_ip():
    """The node's address toward its default route (no packet is sent), else 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("10.255.255.255", 1))
        return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()


class NodeRunner:
    """Pod IPs and exec through the runtime the node's pods were read from."""

    def __init__(self, node):
        self.node = node

    def _source(self):
        runtime = self.node.runtime()
        sources = getattr(runtime, "sources", None)
        return sources[0] if sources else None

    def pod_ip(self, pod, host_network):
        if host_network:
            return host_ip()
        source = self._source()
        if source is None or not pod.get("sandbox_id"):
            return None
        if source.kind == "cri":
            from .runtime import cri

            return cri.sandbox_status(source.path, pod["sandbox_id"], 5.0)["ip"] or None
        from .runtime import docker

        return docker.sandbox_ip(source.path, pod["sandbox_id"])

    def exec(self, container_id, command, timeout):
        """(exit code or None on timeout, output bytes)"""
        source = self._source()
        if source is None:
            raise ProbeError("no container runtime to run the command in")
        if source.kind == "cri":
            from .runtime import cri, grpc

            try:
                answer = cri.exec_sync(source.path, container_id, command, timeout)
            except grpc.GrpcError as exc:
                if exc.status == "DEADLINE_EXCEEDED":
                    return None, b""
                raise ProbeError(str(exc)) from None
            return answer.get("exit_code", 0), (answer.get("stdout") or b"") + (
                answer.get("stderr") or b""
            )
        from .runtime import docker

        return docker.exec_run(source.path, container_id, command, timeout)


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

    def __init__(self, spec, runner, clock):
        self.spec = spec or {"containers": []}
        self.runner = runner
        self.clock = clock
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
        result, message = FAILURE, ""
        for _ in range(MAX_RETRIES):
            try:
                result, message = self.run_once(worker.spec, pod, container, cid, worker.timeout)
                break
            except ProbeError as exc:
                result, message = FAILURE, str(exc)
            except Exception as exc:  # a probe that breaks is a failed probe, not a crash
                result, message = FAILURE, "%s: %s" % (type(exc).__name__, exc)
                break
        # The next period counts from the end of this attempt, as the worker's ticker would.
        end = self.clock.monotonic() if self.clock is not None else now
        worker.record(result, message or result, max(now, end))

    def _pod_ip(self, pod):
        if self._ip is None:
            self._ip = self.runner.pod_ip(pod, self.spec.get("hostNetwork"))
        if not self._ip:
            raise ProbeError("the pod has no IP yet")
        return self._ip

    def run_once(self, probe, pod, container, cid, timeout):
        """One attempt of one probe: (result, message)."""
        if "httpGet" in probe:
            http = probe["httpGet"] or {}
            host = http.get("host") or self._pod_ip(pod)
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
            host = tcp.get("host") or self._pod_ip(pod)
            return tcp_probe(host, resolve_port(tcp.get("port"), container), timeout)
        if "grpc" in probe:
            grpc_ = probe["grpc"] or {}
            return grpc_probe(
                self._pod_ip(pod), int(grpc_.get("port")), grpc_.get("service") or "", timeout
            )
        if "exec" in probe:
            command = (probe["exec"] or {}).get("command") or []
            code, output = self.runner.exec(cid, command, timeout)
            text = output[:MAX_BODY].decode("utf-8", "replace")
            if code is None:
                return FAILURE, "command %r timed out" % (command,)
            if code == 0:
                return SUCCESS, text
            return FAILURE, "command %r exited with %d: %s" % (command, code, text.strip())
        raise ProbeError("probe has no handler (httpGet, tcpSocket, grpc or exec)")


def quick_ready(spec, pod, runner, timeout=1.0):
    """Status's READY: one attempt of each container's readiness probe, now. (True, "") when
    all pass, (False, why) when one does not, (None, "") when no container has one. (The
    kubelet's READY also waits for the thresholds; a status call has one moment to look.)"""
    if not spec:
        return None, ""
    prober = PodProber(spec, runner, None)
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
        try:
            result, message = prober.run_once(probe, pod, container, state.get("id") or "", timeout)
        except ProbeError as exc:
            return False, "%s: readiness probe: %s" % (name, exc)
        if result != SUCCESS:
            return False, "%s: readiness probe: %s" % (name, message or "failed")
    return (True, "") if seen else (None, "")


def mark_ready(pods, specs, runner, names=(), timeout=1.0):
    """Set ``ready`` of each running static pod in ``pods`` (summaries) that has readiness
    probes in ``specs`` ({pod name: probe_spec_of(...)}, the kubelet's name being
    ``<pod name>-<node name>``) from one attempt of its probes, and ``not_ready`` to why.
    ``names``: every pod name asked about, so that "web-x-node1" is known as pod web-x's
    even when only web has probes."""
    candidates = set(specs) | set(names)
    for pod in pods:
        if pod.get("phase") != "Running" or pod.get("source") not in ("file", "http"):
            continue
        name = pod.get("pod") or ""
        matches = [p for p in candidates if name.startswith(p + "-")]
        if not matches:
            continue
        spec = specs.get(max(matches, key=len))  # the longest: web-x's, not web's
        if spec is None:
            continue
        ready, why = quick_ready(spec, pod, runner, timeout)
        if ready is not None:
            pod["ready"] = ready
            if why:
                pod["not_ready"] = why
