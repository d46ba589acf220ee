"""Readiness as the kubelet sees it: a pod's startup and readiness probes, run by the agent.

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

The kinds, ``pkg/probe/``:

- http/http.go and request.go: GET with User-Agent ``kube-probe/<major>.<minor>``,
  ``Accept: */*`` unless set, the probe's headers (a Host header sets the host); HTTPS
  without verifying the certificate; 200 <= status < 400 is Success; at most 10 KiB of the
  body is read (for the message); redirects are followed only to the same host name (the
  11th is an error: Failure); a redirect elsewhere is not followed and is a Warning, i.e.
  Success; a Location that does not parse is an error of the request: Failure.
- tcp/tcp.go: a TCP connection within the timeout is Success, any error Failure.
- exec/exec.go: exit code 0 is Success; a timeout is Failure (the kubelet runs the command
  through the runtime: Docker's exec API, or the CRI's ExecSync).
- grpc/grpc.go: grpc.health.v1.Health/Check on the pod's IP and port, without TLS; SERVING
  is Success, any other answer or error Failure.

The host of an http probe is ``httpGet.host`` or the pod's IP; tcpSocket and grpc use the pod's
IP (tcpSocket also its ``host``). A hostNetwork pod's IP is the node's (the kubelet reports the
host's IPs for it, NodeRunner.node_ip): the kubelet's --node-ip, else the node's address
toward its default route, else 127.0.0.1. When the container started is taken as when the
agent first saw it running (it polls every half second).
"""

import io
import socket
import threading
import time

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
# Status's READY (quick_ready): every probe of a node within STATUS_BUDGET seconds, each
# attempt at most ATTEMPT_CAP; less than MIN_ATTEMPT left is not worth an attempt.
STATUS_BUDGET = 10.0
ATTEMPT_CAP = 2.0
MIN_ATTEMPT = 0.05
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


# -- one attempt's deadline -------------------------------------------------------------------
#
# The kubelet gives each attempt one overall timeout: the http prober's client Timeout covers
# dialing, the request, the headers and the body (pkg/probe/http/http.go, net/http's
# Client.Timeout), the tcp prober dials with it (pkg/probe/tcp/tcp.go) and the grpc prober's
# one context covers the dial and the call (pkg/probe/grpc/grpc.go). A Python socket's
# timeout is per operation, so every step here is given the time left before the attempt's
# deadline (a monotonic time), re-armed before each read.


class _Timeout(OSError):
    """The attempt's deadline passed."""


def _left(deadline, doing):
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout("%s: i/o timeout" % doing)
    return left


def _ip_literal(host):
    """AF_INET or AF_INET6 when ``host`` is an IPv4 or IPv6 address, else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None


def _addresses(host, port, deadline):
    """[(family, sockaddr)] of ``host``: an IP at once; a name through the resolver, which can
    block for as long as DNS does, so it runs in a thread the attempt waits for only until its
    deadline (a thread left behind ends when the resolver gives up; it holds no socket of ours)."""
    family = _ip_literal(host)
    if family == socket.AF_INET:
        return [(family, (host, port))]
    if family == socket.AF_INET6:
        return [(family, (host, port, 0, 0))]
    answer = {}

    def lookup():
        try:
            answer["found"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except Exception as exc:  # reported by the waiting side
            answer["error"] = exc

    thread = threading.Thread(target=lookup, name="probe-lookup", daemon=True)
    thread.start()
    thread.join(_left(deadline, "lookup %s" % host))
    if thread.is_alive():
        raise _Timeout("lookup %s: i/o timeout" % host)
    if "error" in answer:
        raise OSError("lookup %s: %s" % (host, answer["error"]))
    return [(family_, sockaddr) for family_, _, _, _, sockaddr in answer["found"]]


def _connect(host, port, deadline):
    """A TCP connection to host:port opened before the deadline."""
    error = OSError("lookup %s: no addresses" % host)
    for family, sockaddr in _addresses(host, port, deadline):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_left(deadline, "dial tcp"))
            sock.connect(sockaddr)
            return sock
        except socket.timeout:
            sock.close()
            raise _Timeout("i/o timeout") from None
        except OSError as exc:
            sock.close()
            error = exc
            if isinstance(exc, _Timeout):
                raise
    raise error


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read given the time left before the deadline (http.client reads
    the status line, headers and body through this)."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            self.sock.settimeout(_left(self.deadline, "reading the answer"))
            return self.sock.recv_into(buffer)
        except (socket.timeout, _Timeout):
            raise _Timeout(
                "context deadline exceeded (Client.Timeout exceeded while reading the answer)"
            ) from None

    def close(self):
        if not self.closed:
            self.sock.close()
        io.RawIOBase.close(self)


class _DeadlineSocket:
    """What http.client.HTTPResponse takes: something with makefile()."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline

    def makefile(self, mode):
        return io.BufferedReader(_DeadlineReader(self.sock, self.deadline))


# -- the kinds ------------------------------------------------------------------------------


def http_probe(scheme, host, port, path, headers, timeout):
    """(result, message) of one HTTP(S) GET, as pkg/probe/http/http.go judges it, all of it
    (redirects included) within ``timeout`` seconds.

    DoHTTPProbe turns every error of the request into a Failure ("Convert errors into failures
    to catch timeouts"): a refused connection, a timeout, an unresolvable name, a bad redirect.
    Only an error while reading the body is returned as an error (ProbeError here), which
    prober.go retries."""
    deadline = time.monotonic() + timeout
    names = {name.lower(): value for name, value in headers}
    host_header = names.get("host")
    hops = 0
    current = (scheme.lower(), host, port, path or "/")
    while True:
        try:
            response = _http_get(current, headers, host_header, deadline)
        except (OSError, ValueError, UnicodeError, _http_client().HTTPException) as exc:
            return FAILURE, "Get %s: %s" % (_url(current), exc)
        status, location = response.status, response.getheader("Location")
        if status in (301, 302, 303, 307, 308) and location:
            try:
                target, relative = _redirect(current, location)
            except ValueError as exc:  # net/http: a Location that does not parse is an error
                response.close()
                return FAILURE, "Get %s: failed to parse Location header %r: %s" % (
                    _url(current),
                    location,
                    exc,
                )
            if target[1].lower() == current[1].strip("[]").lower():
                # http.go RedirectChecker: the same host name (any port) is followed, at
                # most 10 times; the 11th is an error, i.e. a Failure.
                response.close()
                if hops >= MAX_REDIRECTS:
                    return FAILURE, "Get %s: stopped after 10 redirects" % _url(target)
                if not relative:
                    host_header = None  # net/http keeps a set Host only for a relative Location
                hops += 1
                current = target
                continue
            # Another host: not followed (http.ErrUseLastResponse); this 3xx is the answer.
        try:
            body = response.read(MAX_BODY)
            if len(body) < MAX_BODY and response.length:  # the answer ended early
                raise _http_client().IncompleteRead(body, response.length)
        except (OSError, ValueError, _http_client().HTTPException) as exc:
            raise ProbeError("Get %s: reading the body: %s" % (_url(current), exc)) from None
        finally:
            response.close()
        if 200 <= status < 400:
            if status >= 300:  # a Warning, which prober.go counts as Success
                return SUCCESS, "Probe terminated redirects, Response body: %s" % _text(body)
            return SUCCESS, _text(body)
        # Not the body: pkg/probe/http/http.go keeps it out of the message (issue 99425).
        return FAILURE, "HTTP probe failed with statuscode: %d" % status


def _http_client():
    import http.client

    return http.client


def _http_get(current, headers, host_header, deadline):
    """Send one GET; the response, its status and headers read, its body not yet."""
    scheme, host, port, path = current
    if scheme not in ("http", "https"):
        raise ValueError("unsupported protocol scheme %r" % scheme)
    request = _request(current, headers, host_header)
    sock = _connect(host, port, deadline)
    try:
        if scheme == "https":
            sock = _tls(sock, host, deadline)
        sock.settimeout(_left(deadline, "writing the request"))
        try:
            sock.sendall(request)  # one timeout for all of it (Python 3.5+)
        except socket.timeout:
            raise _Timeout("i/o timeout") from None
        response = _http_client().HTTPResponse(_DeadlineSocket(sock, deadline), method="GET")
        response.begin()
    except BaseException:
        sock.close()
        raise
    return response  # closing it closes the socket


def _tls(sock, host, deadline):
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the kubelet's InsecureSkipVerify
    name = None if _ip_literal(host) else host
    tls = context.wrap_socket(sock, server_hostname=name, do_handshake_on_connect=False)
    # ssl's do_handshake keeps one deadline of the socket's timeout over all its reads.
    tls.settimeout(_left(deadline, "TLS handshake"))
    try:
        tls.do_handshake()
    except socket.timeout:
        tls.close()
        raise _Timeout("TLS handshake timeout") from None
    except BaseException:
        tls.close()
        raise
    return tls


def _request(current, headers, host_header):
    """The request's bytes: the kubelet's headers (request.go), then the probe's; header values
    go out as UTF-8 bytes, as Go's net/http writes them; a name that is not a token or a value
    with control characters is an error (net/http's checks)."""
    scheme, host, port, path = current
    names = {name.lower(): value for name, value in headers}
    lines = [
        ("Host", host_header or _host_port(host, port, scheme)),
        ("User-Agent", names.get("user-agent", "kube-probe/" + KUBE_PROBE_VERSION)),
        ("Accept", names.get("accept", "*/*")),
    ]
    for name, value in headers:
        if name.lower() not in ("host", "user-agent", "accept"):
            lines.append((name, value))
    lines.append(("Connection", "close"))  # the prober's transport: DisableKeepAlives
    out = ["GET %s HTTP/1.1" % _request_target(path)]
    for name, value in lines:
        name, value = str(name), str(value)
        if not name or any(c not in _TOKEN for c in name):
            raise ValueError("invalid header field name %r" % name)
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise ValueError("invalid header field value for %r" % name)
        out.append("%s: %s" % (name, value))
    return ("\r\n".join(out) + "\r\n\r\n").encode("utf-8")


_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _request_target(path):
    """The path as it goes on the request line: bytes a URL may not hold are escaped."""
    from urllib.parse import quote

    target = path if path.startswith("/") else "/" + path
    return quote(target, safe="/%?&=+:@;,!$'()*~-._[]")


def _host_port(host, port, scheme):
    default = 443 if scheme == "https" else 80
    shown = "[%s]" % host if ":" in host else host
    return shown if port == default else "%s:%d" % (shown, port)


def _url(current):
    scheme, host, port, path = current
    return "%s://%s%s" % (scheme, _host_port(host, port, scheme), path)


def _redirect(current, location):
    """((scheme, host, port, path), whether Location was relative); ValueError when Location is
    not a URL (a bad port, a malformed IPv6 host)."""
    from urllib.parse import urljoin, urlsplit

    parts = urlsplit(urljoin(_url(current), location))
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)  # .port raises on a bad port
    host = parts.hostname or ""
    if not host:
        raise ValueError("no host")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return (scheme, host, port, target), not urlsplit(location).scheme


def _text(body):
    return body.decode("utf-8", "replace")


def tcp_probe(host, port, timeout):
    """pkg/probe/tcp/tcp.go: Success when a connection opens within the timeout; any error
    (the name's lookup included) is a Failure."""
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(host, port, deadline)
    except (OSError, ValueError, UnicodeError) as exc:
        return FAILURE, "dial tcp %s:%d: %s" % (host, port, exc)
    sock.close()
    return SUCCESS, ""


def grpc_probe(host, port, service, timeout):
    """pkg/probe/grpc/grpc.go: grpc.health.v1.Health/Check; SERVING is Success. One deadline
    covers the dial and the call; every error is a Failure ("err is always nil")."""
    from .runtime import grpc
    from .runtime.proto import encode_varint

    deadline = time.monotonic() + timeout
    request = b""
    if service:
        data = service.encode()
        request = b"\x0a" + encode_varint(len(data)) + data
    address = "%s:%d" % (host, port)
    try:
        _, sockaddr = _addresses(host, port, deadline)[0]
        conn = grpc.Connection(sockaddr[:2], _left(deadline, "dial"))
    except (OSError, ValueError, UnicodeError, IndexError, grpc.GrpcError) as exc:
        if time.monotonic() >= deadline:
            return FAILURE, "timeout: failed to connect service %r within %gs: %s" % (
                address,
                timeout,
                exc,
            )
        return FAILURE, "error: failed to connect service at %r: %s" % (address, exc)
    try:
        answer = conn.call(HEALTH_CHECK, request, max(0.001, deadline - time.monotonic()))
    except grpc.GrpcError as exc:
        if exc.status == "UNIMPLEMENTED":
            return FAILURE, (
                "error: this server does not implement the grpc health protocol "
                "(grpc.health.v1.Health): %s" % exc.message
            )
        if exc.status == "DEADLINE_EXCEEDED":
            return FAILURE, "timeout: health rpc did not complete within %gs" % timeout
        return FAILURE, "error: health rpc probe failed: rpc error: code = %s desc = %s" % (
            exc.status,
            exc.message,
        )
    finally:
        conn.close()
    status = _health_status(answer)
    if status == "SERVING":
        return SUCCESS, ""
    return FAILURE, "service unhealthy (responded with %r)" % status


def _health_status(message):
    """The name of field 1 (status, an enum) of a HealthCheckResponse; UNKNOWN when absent,
    MALFORMED when the answer does not parse (grpc-go would fail the call: a Failure)."""
    from .runtime.proto import ProtoError, iter_fields

    try:
        for number, wire, value in iter_fields(message):
            if number == 1 and wire == 0:
                return SERVING_STATUS.get(value, "UNKNOWN")
    except ProtoError:
        return "MALFORMED"
    return "UNKNOWN"


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
    """Pod IPs and exec through the runtime the node's pods were read from.

    ``cmdlines``: the running kubelets' command lines when the caller has read them (None:
    read from the usual kubelet units when a hostNetwork pod needs the node's IP)."""

    def __init__(self, node, cmdlines=None):
        self.node = node
        self.cmdlines = cmdlines

    def _source(self):
        runtime = self.node.runtime()
        sources = getattr(runtime, "sources", None)
        return sources[0] if sources else None

    def node_ip(self):
        """A hostNetwork pod's IP as the kubelet reports it: pkg/kubelet/kubelet_pods.go gives
        such a pod the node's host IPs (nodeutil.GetNodeHostIPs: its first InternalIP), which
        pkg/kubelet/nodestatus/setters.go NodeAddress takes from --node-ip when set, else
        from an IP given as --hostname-override, else from the node name's DNS answer, else
        from the interface of the default route. The first two come from the kubelet's
        command line; for the others the agent takes its address toward the default route."""
        from .system.kubelet import kubelet_node_ip

        if self.cmdlines is None:
            from . import protocol
            from .system.systemd import kubelet_cmdlines

            units = self.node.systemd.show(list(protocol.KUBELET_UNITS))
            self.cmdlines = kubelet_cmdlines(units)
        return kubelet_node_ip(self.cmdlines) or host_ip()

    def pod_ip(self, pod, host_network, timeout=5.0):
        if host_network:
            return self.node_ip()
        source = self._source()
        if source is None or not pod.get("sandbox_id"):
            return None
        if source.kind == "cri":
            from .runtime import cri

            return cri.sandbox_status(source.path, pod["sandbox_id"], timeout)["ip"] or None
        from .runtime import docker

        return docker.sandbox_ip(source.path, pod["sandbox_id"], timeout)

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
            command = (probe["exec"] or {}).get("command") or []
            code, output = self.runner.exec(cid, command, timeout)
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
    deadline = time.monotonic() + budget
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
        try:
            ready, why = quick_ready(spec, pod, runner, timeout, deadline)
        except Exception as exc:  # a spec this agent cannot read: that pod's, not the node's
            ready, why = False, "readiness probes: %s: %s" % (type(exc).__name__, exc)
        if ready is not None:
            pod["ready"] = ready
            if why:
                pod["not_ready"] = why
