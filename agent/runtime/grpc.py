"""A minimal gRPC client: unary calls over HTTP/2 with prior knowledge (h2c) on a unix socket.

Enough of RFC 9113 for a client that sends one request at a time: the connection preface,
SETTINGS (ours and an ACK of the server's), PING answers, flow control (we open large receive
windows; we track the send window a request needs), HEADERS and CONTINUATION decoded with
HPACK, DATA, RST_STREAM and GOAWAY. gRPC framing follows grpc/grpc `doc/PROTOCOL-HTTP2.md`:
a 5-byte prefix (compressed flag, big-endian length) per message, status in the trailers.

Every read has a deadline, so a runtime that accepts and never answers costs at most the
timeout. Any failure is a GrpcError; after one the connection is closed and not reused.
"""

import struct

try:
    import _socket as socket  # the socket module imports enum and selectors: not needed here
except ImportError:  # pragma: no cover
    import socket
import time

from . import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

(
    DATA,
    HEADERS,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    PUSH_PROMISE,
    PING,
    GOAWAY,
    WINDOW_UPDATE,
    CONTINUATION,
) = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
(
    SETTINGS_HEADER_TABLE_SIZE,
    SETTINGS_ENABLE_PUSH,
    SETTINGS_INITIAL_WINDOW_SIZE,
    SETTINGS_MAX_FRAME_SIZE,
) = 1, 2, 4, 5

DEFAULT_WINDOW = 65535
DEFAULT_MAX_FRAME = 16384
# The receive window we open, per stream and for the connection: answers never wait for us.
# The kubelet's limit on a CRI message (maxMsgSize, pkg/kubelet/cri/remote/utils.go): an
# answer past it is refused, so a broken or hostile runtime socket cannot make the agent
# hold gigabytes. The receive window is just big enough for one such answer.
MAX_MESSAGE = 16 << 20
MAX_HEADER_BLOCK = 64 << 10  # a gRPC answer's headers or trailers are a few hundred bytes
RECEIVE_WINDOW = MAX_MESSAGE + (1 << 20)

# grpc/grpc doc/statuscodes.md
STATUS_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
# RFC 9113 section 7, and how doc/PROTOCOL-HTTP2.md maps a reset stream to a gRPC status.
H2_ERRORS = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)
_RST_STATUS = {
    "REFUSED_STREAM": "UNAVAILABLE",
    "CANCEL": "CANCELLED",
    "ENHANCE_YOUR_CALM": "RESOURCE_EXHAUSTED",
    "INADEQUATE_SECURITY": "PERMISSION_DENIED",
}


class GrpcError(Exception):
    """A call that failed: `status` is the gRPC status name, `message` the server's or ours."""

    def __init__(self, status, message, method="", from_server=False):
        Exception.__init__(self, status, message, method)
        self.status = status
        self.message = message
        self.method = method
        # True when the server ended the call's stream with this status: the connection is
        # still good. False for transport failures, after which it is closed.
        self.from_server = from_server

    @property
    def code(self):
        return STATUS_NAMES.index(self.status) if self.status in STATUS_NAMES else 2

    def __str__(self):
        where = ("%s: " % self.method) if self.method else ""
        return "%s%s: %s" % (where, self.status, self.message)


def percent_decode(text):
    """grpc-message is percent-encoded UTF-8 (doc/PROTOCOL-HTTP2.md)."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i : i + 1] == b"%" and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(two):
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in bytearray(two))


def _status_name(code):
    try:
        code = int(code)
    except ValueError:
        return "UNKNOWN"
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else "UNKNOWN"


class Connection:
    """One HTTP/2 connection to a gRPC server on a unix socket, or over TCP when ``path`` is a
    (host, port) pair (a gRPC probe: plain h2c, as the kubelet's prober dials it without TLS,
    pkg/probe/grpc/grpc.go); calls run one after another."""

    def __init__(self, path, timeout=10.0, authority="localhost"):
        self.path = path
        self.timeout = timeout
        self.authority = authority
        self.sock = None
        self.buffer = b""
        self.decoder = hpack.Decoder()
        self.next_stream = 1
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self.peer_initial_window = DEFAULT_WINDOW
        self.send_window = DEFAULT_WINDOW  # the connection's; a new stream's is the initial one
        self.goaway = None
        deadline = time.monotonic() + timeout
        family = socket.AF_UNIX if isinstance(path, str) else socket.AF_INET
        if family == socket.AF_INET and ":" in path[0]:
            family = socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except socket.timeout:
            sock.close()
            raise GrpcError(
                "UNAVAILABLE", "connecting to %s took longer than %gs" % (path, timeout)
            ) from None
        except OSError as e:
            sock.close()
            raise GrpcError(
                "UNAVAILABLE", "cannot connect to %s: %s" % (path, e.strerror or e)
            ) from None
        self.sock = sock
        settings = struct.pack(
            ">HIHIHI",
            SETTINGS_ENABLE_PUSH,
            0,
            SETTINGS_INITIAL_WINDOW_SIZE,
            RECEIVE_WINDOW,
            SETTINGS_HEADER_TABLE_SIZE,
            self.decoder.max_allowed,
        )
        try:
            self._send(
                PREFACE
                + _frame(SETTINGS, 0, 0, settings)
                + _frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", RECEIVE_WINDOW - DEFAULT_WINDOW)),
                deadline,
            )
        except GrpcError:
            self.close()
            raise

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- bytes ---------------------------------------------------------------------------------

    def _send(self, data, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GrpcError("DEADLINE_EXCEEDED", "no time left to write to %s" % self.path)
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise GrpcError(
                "DEADLINE_EXCEEDED",
                "%s did not take our request within %gs" % (self.path, self.timeout),
            ) from None
        except OSError as e:
            raise GrpcError("UNAVAILABLE", "writing to %s failed: %s" % (self.path, e)) from None

    def _recv_exact(self, size, deadline):
        chunks = [self.buffer]
        have = len(self.buffer)
        while have < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GrpcError(
                    "DEADLINE_EXCEEDED", "%s did not answer within %gs" % (self.path, self.timeout)
                )
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise GrpcError(
                    "DEADLINE_EXCEEDED", "%s did not answer within %gs" % (self.path, self.timeout)
                ) from None
            except OSError as e:
                raise GrpcError(
                    "UNAVAILABLE", "reading from %s failed: %s" % (self.path, e)
                ) from None
            if not chunk:
                raise GrpcError(
                    "UNAVAILABLE", "%s closed the connection before the answer ended" % self.path
                )
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        self.buffer = data[size:]
        return data[:size]

    def _read_frame(self, deadline):
        head = self._recv_exact(9, deadline)
        length = struct.unpack(">I", b"\0" + head[:3])[0]
        ftype, flags = bytearray(head[3:5])
        stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
        if length > DEFAULT_MAX_FRAME:  # we never raise our SETTINGS_MAX_FRAME_SIZE
            raise GrpcError("INTERNAL", "frame of %d bytes above the 16384 we allow" % length)
        rule = _FRAME_SIZES.get(ftype)
        if rule is not None and not rule[1](length, flags):
            # RFC 7540 section 6: a control frame of the wrong size is a FRAME_SIZE_ERROR.
            raise GrpcError(
                "INTERNAL",
                "%s sent a %s frame of %d bytes where HTTP/2 requires %s: not an HTTP/2 "
                "(gRPC) server, or a broken one" % (self.path, rule[0], length, rule[2]),
            )
        return ftype, flags, stream, self._recv_exact(length, deadline)

    # --- frames --------------------------------------------------------------------------------

    def _connection_frame(self, ftype, flags, payload, deadline):
        """Handle a frame on stream 0, or a frame type that is the connection's business."""
        if ftype == SETTINGS:
            if flags & ACK:
                return
            for i in range(0, len(payload) - len(payload) % 6, 6):
                ident, value = struct.unpack(">HI", payload[i : i + 6])
                if ident == SETTINGS_MAX_FRAME_SIZE:
                    self.peer_max_frame = value
                elif ident == SETTINGS_INITIAL_WINDOW_SIZE:
                    self.peer_initial_window = value
            self._send(_frame(SETTINGS, ACK, 0, b""), deadline)
        elif ftype == PING:
            if not flags & ACK:
                self._send(_frame(PING, ACK, 0, payload), deadline)
        elif ftype == WINDOW_UPDATE:
            self.send_window += struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:].decode("utf-8", "replace"))

    def _goaway_error(self, method):
        last, code, debug = self.goaway
        name = H2_ERRORS[code] if code < len(H2_ERRORS) else str(code)
        return GrpcError(
            "UNAVAILABLE",
            "%s closed the connection (GOAWAY %s%s)"
            % (self.path, name, (": " + debug) if debug else ""),
            method,
        )

    def call(self, method, request, timeout=None):
        """Send one request message to `method` ("/pkg.Service/Method"); return the answer bytes."""
        if self.sock is None:
            raise GrpcError("UNAVAILABLE", "connection to %s is closed" % self.path, method)
        if self.goaway is not None:
            raise self._goaway_error(method)
        timeout = self.timeout if timeout is None else timeout
        try:
            return self._call(method, request, timeout, time.monotonic() + timeout)
        except GrpcError as e:
            e.method = method
            if not e.from_server:
                self.close()  # the connection's state is unknown after a transport failure
            raise

    def _call(self, method, request, timeout, deadline):
        stream = self.next_stream
        self.next_stream += 2
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", self.authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", "%dm" % min(99999999, max(1, int(timeout * 1000)))),
        ]
        self._send_headers(stream, hpack.encode(headers), deadline)
        body = struct.pack(">BI", 0, len(request)) + request
        self._send_data(stream, body, deadline)

        blocks = []  # decoded header blocks of our stream: response headers, then trailers
        fragment = None  # (stream, bytes so far, END_STREAM) of a block awaiting CONTINUATION
        data = []
        received = 0
        ended = False
        while not ended:
            ftype, flags, sid, payload = self._read_frame(deadline)
            if fragment is not None and ftype != CONTINUATION:
                raise GrpcError("INTERNAL", "header block interrupted by frame type %d" % ftype)
            if ftype in (HEADERS, CONTINUATION):
                if ftype == HEADERS:
                    payload = _unpad(flags, payload)
                    if flags & PRIORITY_FLAG:
                        payload = payload[5:]
                    fragment = (sid, payload, bool(flags & END_STREAM))
                else:
                    if fragment is None or fragment[0] != sid:
                        raise GrpcError("INTERNAL", "CONTINUATION without HEADERS")
                    fragment = (sid, fragment[1] + payload, fragment[2])
                if len(fragment[1]) > MAX_HEADER_BLOCK:
                    raise GrpcError(
                        "RESOURCE_EXHAUSTED",
                        "header block from %s over %d bytes" % (self.path, MAX_HEADER_BLOCK),
                    )
                if flags & END_HEADERS:
                    try:
                        # Every block goes through the decoder: its table is per connection.
                        decoded = self.decoder.decode(fragment[1])
                    except hpack.HpackError as e:
                        raise GrpcError(
                            "INTERNAL", "bad header block from %s: %s" % (self.path, e)
                        ) from None
                    if fragment[0] == stream:
                        blocks.append(decoded)
                        ended = fragment[2]
                    fragment = None
            elif ftype == DATA:
                received += len(payload)
                if sid == stream:
                    data.append(_unpad(flags, payload))
                    ended = bool(flags & END_STREAM)
                if received > MAX_MESSAGE + 5:  # the 5-byte gRPC message prefix
                    raise GrpcError(
                        "RESOURCE_EXHAUSTED",
                        "answer from %s over %d bytes" % (self.path, MAX_MESSAGE),
                    )
            elif ftype == RST_STREAM:
                if sid == stream:
                    code = struct.unpack(">I", payload[:4])[0]
                    name = H2_ERRORS[code] if code < len(H2_ERRORS) else str(code)
                    raise GrpcError(
                        _RST_STATUS.get(name, "INTERNAL"),
                        "%s reset the stream (RST_STREAM %s)" % (self.path, name),
                    )
            elif sid == 0:  # stream-level WINDOW_UPDATE and PRIORITY need nothing from us
                self._connection_frame(ftype, flags, payload, deadline)
                if self.goaway is not None and (self.goaway[0] < stream or self.goaway[1]):
                    raise self._goaway_error(method)
        if received:
            # Give the connection window back, so the next call starts with all of it.
            self._send(_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", received)), deadline)
        return _answer(blocks, b"".join(data), method)

    def _send_headers(self, stream, block, deadline):
        size = self.peer_max_frame
        parts = [block[i : i + size] for i in range(0, len(block), size)] or [b""]
        frames = []
        for i, part in enumerate(parts):
            flags = END_HEADERS if i == len(parts) - 1 else 0
            frames.append(_frame(HEADERS if i == 0 else CONTINUATION, flags, stream, part))
        self._send(b"".join(frames), deadline)

    def _send_data(self, stream, body, deadline):
        stream_window = self.peer_initial_window
        pos = 0
        while True:
            # Wait for window updates only when a request exceeds the windows (requests are small).
            room = min(self.send_window, stream_window, self.peer_max_frame)
            if room <= 0 and pos < len(body):
                ftype, flags, sid, payload = self._read_frame(deadline)
                if ftype == WINDOW_UPDATE and sid == stream:
                    stream_window += struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
                elif sid == 0:
                    self._connection_frame(ftype, flags, payload, deadline)
                    if self.goaway is not None:
                        raise self._goaway_error("")
                elif ftype in (HEADERS, CONTINUATION, DATA, RST_STREAM):
                    # Answering before taking the whole request means failing it; a unary
                    # client has no use for the rest of that answer.
                    raise GrpcError(
                        "INTERNAL", "%s answered before taking the whole request" % self.path
                    )
                continue
            chunk = body[pos : pos + room]
            pos += len(chunk)
            self.send_window -= len(chunk)
            stream_window -= len(chunk)
            last = pos >= len(body)
            self._send(_frame(DATA, END_STREAM if last else 0, stream, chunk), deadline)
            if last:
                return


# The sizes RFC 7540 section 6 requires of control frames: (name, check(length, flags), rule).
_FRAME_SIZES = {
    PRIORITY: ("PRIORITY", lambda n, f: n == 5, "5 bytes"),
    RST_STREAM: ("RST_STREAM", lambda n, f: n == 4, "4 bytes"),
    SETTINGS: (
        "SETTINGS",
        lambda n, f: n == 0 if f & ACK else n % 6 == 0,
        "a multiple of 6 bytes (0 for an ACK)",
    ),
    PING: ("PING", lambda n, f: n == 8, "8 bytes"),
    GOAWAY: ("GOAWAY", lambda n, f: n >= 8, "at least 8 bytes"),
    WINDOW_UPDATE: ("WINDOW_UPDATE", lambda n, f: n == 4, "4 bytes"),
}


def _frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream) + payload


def _unpad(flags, payload):
    if flags & PADDED:
        pad = bytearray(payload[:1])[0] if payload else 0
        if pad >= len(payload):
            raise GrpcError("INTERNAL", "padding longer than the frame")
        return payload[1 : len(payload) - pad]
    return payload


def _answer(blocks, data, method):
    if not blocks:
        raise GrpcError("INTERNAL", "the answer carried no headers")
    head = dict(blocks[0])
    status = head.get(":status", "")
    trailers = dict(blocks[-1])
    if status != "200":
        # doc/http-grpc-status-mapping.md
        grpc_status = {
            "400": "INTERNAL",
            "401": "UNAUTHENTICATED",
            "403": "PERMISSION_DENIED",
            "404": "UNIMPLEMENTED",
            "429": "UNAVAILABLE",
            "502": "UNAVAILABLE",
            "503": "UNAVAILABLE",
            "504": "UNAVAILABLE",
        }.get(status, "UNKNOWN")
        raise _server_error(grpc_status, "HTTP status %s" % (status or "missing"))
    if "grpc-status" not in trailers:
        raise _server_error("INTERNAL", "the answer ended without a grpc-status")
    name = _status_name(trailers["grpc-status"])
    if name != "OK":
        raise _server_error(name, percent_decode(trailers.get("grpc-message", "")))
    if len(data) < 5:
        raise _server_error("INTERNAL", "the answer carried no message")
    compressed, length = struct.unpack(">BI", data[:5])
    if compressed:
        raise _server_error("INTERNAL", "compressed answer, though we asked for none")
    if len(data) != 5 + length:
        raise _server_error(
            "INTERNAL", "answer of %d bytes, its prefix says %d" % (len(data) - 5, length)
        )
    return data[5:]


def _server_error(status, message):
    return GrpcError(status, message, from_server=True)


def unary(path, method, request, timeout=10.0):
    """One call on a fresh connection."""
    with Connection(path, timeout) as conn:
        return conn.call(method, request, timeout)
