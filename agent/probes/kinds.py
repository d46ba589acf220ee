"""The probe kinds, one attempt each, as the kubelet's ``pkg/probe/`` runs them: http (and
https), tcp and grpc; each returns (result, message) within one deadline for all of it.

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
"""

import io
import socket
import threading
import time

SUCCESS, FAILURE = "success", "failure"
KUBE_PROBE_VERSION = "1.34"  # the user agent names the kubelet's minor version
MAX_BODY = 10 * 1024  # pkg/probe/http/http.go maxRespBodyLength
MAX_REDIRECTS = 10
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class ProbeError(Exception):
    """An attempt that could not be made (retried, then Failure)."""


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
    from ..runtime import grpc
    from ..runtime.proto import encode_varint

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
    from ..runtime.proto import ProtoError, iter_fields

    try:
        for number, wire, value in iter_fields(message):
            if number == 1 and wire == 0:
                return SERVING_STATUS.get(value, "UNKNOWN")
    except ProtoError:
        return "MALFORMED"
    return "UNKNOWN"
