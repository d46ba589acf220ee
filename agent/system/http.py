"""The smallest HTTP client the agent needs: the kubelet's healthz and the Docker Engine API.

http.client would double the agent's start-up time (it imports the email package).
HTTP/1.0 keeps answers unchunked; the server closes the connection at the end.
"""

from . import AgentError

_URL = r"http://([^/:]+)(?::(\d+))?(/.*)?$"


def get(address, path, timeout=10.0):
    """(status, body) of a GET to a unix socket path or a (host, port) pair."""
    return request(address, "GET", path, None, timeout)


def _parse_url(url):
    """``(host, port, path)`` as ``re.match(_URL, url).groups()`` gives them, or None. The
    usual URL (http://HOST[:PORT][/PATH]) is cut here without importing re."""
    if url.startswith("http://") and "\n" not in url:
        rest = url[7:]
        slash = rest.find("/")
        hostport, path = (rest, None) if slash < 0 else (rest[:slash], rest[slash:])
        host, colon, port = hostport.partition(":")
        if host and (not colon or (port and all(c in "0123456789" for c in port))):
            return host, port or None, path
    import re

    match = re.match(_URL, url)
    return match.groups() if match else None


def url_ok(url, timeout=2.0):
    """True when ``url`` (http://HOST:PORT/PATH) answers 200."""
    parts = _parse_url(url)
    if not parts:
        return False
    host, port, path = parts[0], int(parts[1] or 80), parts[2] or "/"
    try:
        return get((host, port), path, timeout=timeout)[0] == 200
    except (OSError, AgentError):
        return False


def _socket():
    try:
        import _socket as socket  # the socket module imports enum and selectors
    except ImportError:  # pragma: no cover
        import socket
    return socket


def _connect(address, method, path, body, timeout):
    """A socket to a unix socket path or a (host, port) pair, the request sent on it."""
    socket = _socket()
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    head = "%s %s HTTP/1.0\r\nHost: localhost\r\n" % (method, path)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    try:
        sock.connect(address)
        sock.sendall(head.encode() + b"\r\n" + (body or b""))
    except BaseException:
        sock.close()
        raise
    return sock


def _status(head, address):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise AgentError("malformed HTTP answer from %s" % (address,)) from None


def request(address, method, path, body=None, timeout=10.0):
    """(status, body) of a request, with an optional JSON body (bytes), to a unix socket path
    or a (host, port) pair."""
    sock = _connect(address, method, path, body, timeout)
    try:
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, answer = b"".join(chunks).partition(b"\r\n\r\n")
    return _status(head, address), answer


MAX_HEAD = 64 * 1024


class Stream:
    """An answer read as it comes, within one deadline: Docker's hijacked streams (exec
    start with ``Detach: false``), where the daemon writes the answer's head, then the
    command's output until the command ends and the daemon closes the connection.

    ``status`` and ``head`` (bytes, the status line and headers) are read on opening;
    ``read()`` gives the body's next bytes, b"" at its end, and raises ``TimedOut`` once
    the deadline (``timeout`` seconds after opening) has passed. Always ``close()`` it."""

    def __init__(self, address, method, path, body=None, timeout=10.0):
        import time

        self._monotonic = time.monotonic
        self._timeout = _socket().timeout
        self.deadline = time.monotonic() + timeout
        self._sock = _connect(address, method, path, body, timeout)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self._recv()
                if not chunk or len(data) > MAX_HEAD:
                    raise AgentError("malformed HTTP answer from %s" % (address,))
                data += chunk
            self.head, _, self._pending = data.partition(b"\r\n\r\n")
            self.status = _status(self.head, address)
        except BaseException:
            self.close()
            raise

    def _recv(self):
        left = self.deadline - self._monotonic()
        if left <= 0:
            raise TimedOut()
        self._sock.settimeout(left)
        try:
            return self._sock.recv(65536)
        except self._timeout:
            raise TimedOut() from None

    def read(self):
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._recv()

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class TimedOut(Exception):
    """A stream's deadline passed before its end."""
