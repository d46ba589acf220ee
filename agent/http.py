"""The smallest HTTP client the agent needs: the kubelet's healthz and the Docker Engine API.

http.client would double the agent's start-up time (it imports the email package).
HTTP/1.0 keeps answers unchunked; the server closes the connection at the end.
"""

from .errors import AgentError

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


def request(address, method, path, body=None, timeout=10.0):
    """(status, body) of a request, with an optional JSON body (bytes), to a unix socket path
    or a (host, port) pair."""
    try:
        import _socket as socket  # the socket module imports enum and selectors
    except ImportError:  # pragma: no cover
        import socket

    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    head = "%s %s HTTP/1.0\r\nHost: localhost\r\n" % (method, path)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    try:
        sock.connect(address)
        sock.sendall(head.encode() + b"\r\n" + (body or b""))
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, answer = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise AgentError("malformed HTTP answer from %s" % (address,)) from None
    return status, answer
