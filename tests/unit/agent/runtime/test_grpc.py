"""The gRPC client against a scripted HTTP/2 peer on a unix socket: the frames containerd's Go
server may send (SETTINGS, PING, CONTINUATION, padding, Huffman-coded and indexed trailers) and
the ways a call can fail (RST_STREAM, GOAWAY, a connection closed early)."""

import os
import socket
import struct
import threading

import pytest
from spctl_agent.runtime import grpc, hpack

METHOD = "/runtime.v1.RuntimeService/Version"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream) + payload


def literal_indexed_huffman(name, value):
    """A literal header field with incremental indexing, new name, both strings Huffman-coded."""
    out = bytearray([0x40])
    for text in (name, value):
        coded = hpack.huffman_encode(text.encode())
        out += hpack.encode_integer(len(coded), 7, 0x80) + coded
    return bytes(out)


class Peer:
    """Accepts one connection, reads the client's request, then runs `answer(peer, stream)`."""

    def __init__(self, tmp_path, answer, calls=1, on_data=None):
        self.path = os.path.join(str(tmp_path), "peer.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.frames = []  # (type, flags, stream, payload) the client sent
        self.answer = answer
        self.calls = calls
        self.on_data = on_data
        self.buffer = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self, size):
        while len(self.buffer) < size:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_frame(self):
        head = self._read(9)
        length = struct.unpack(">I", b"\0" + head[:3])[0]
        got = (head[3], head[4], struct.unpack(">I", head[5:9])[0], self._read(length))
        self.frames.append(got)
        return got

    def send(self, data):
        self.conn.sendall(data)

    def _run(self):
        self.conn, _ = self.server.accept()
        try:
            assert self._read(24) == grpc.PREFACE
            for _ in range(self.calls):
                while True:
                    ftype, flags, stream, payload = self.read_frame()
                    if ftype == grpc.DATA and flags & grpc.END_STREAM:
                        break
                    if ftype == grpc.DATA and self.on_data:
                        self.on_data(self, stream, payload)
                self.answer(self, stream)
            while True:  # the acknowledgements and window updates that follow
                self.read_frame()
        except (EOFError, OSError):
            pass
        finally:
            self.conn.close()

    def sent(self, ftype):
        return [f for f in self.frames if f[0] == ftype]

    def close(self):
        self.server.close()
        self.thread.join(5)


def ok_answer(message):
    def answer(peer, stream):
        head = hpack.encode([(":status", "200"), ("content-type", "application/grpc")])
        body = struct.pack(">BI", 0, len(message)) + message
        trailers = literal_indexed_huffman("grpc-status", "0")
        peer.send(
            frame(grpc.HEADERS, grpc.END_HEADERS, stream, head)
            + frame(grpc.DATA, 0, stream, body)
            + frame(grpc.HEADERS, grpc.END_HEADERS | grpc.END_STREAM, stream, trailers)
        )

    return answer


def test_request_shape_settings_ping_continuation_and_padding(tmp_path):
    def answer(peer, stream):
        peer.send(
            frame(grpc.SETTINGS, 0, 0, struct.pack(">HI", grpc.SETTINGS_MAX_FRAME_SIZE, 20000))
            + frame(grpc.PING, 0, 0, b"12345678")
        )
        head = hpack.encode([(":status", "200"), ("content-type", "application/grpc")])
        padded = bytes([3]) + head[:5] + b"\0\0\0"  # PADDED: pad length, fragment, padding
        body = struct.pack(">BI", 0, 6) + b"answer"
        trailers = literal_indexed_huffman("grpc-status", "0") + literal_indexed_huffman(
            "grpc-message", ""
        )
        peer.send(
            frame(grpc.HEADERS, grpc.PADDED, stream, padded)
            + frame(grpc.CONTINUATION, grpc.END_HEADERS, stream, head[5:])
            + frame(grpc.DATA, grpc.PADDED, stream, bytes([2]) + body[:4] + b"\0\0")
            + frame(grpc.DATA, 0, stream, body[4:])
            + frame(grpc.HEADERS, grpc.END_HEADERS | grpc.END_STREAM, stream, trailers)
        )

    peer = Peer(tmp_path, answer)
    try:
        with grpc.Connection(peer.path, timeout=5) as conn:
            assert conn.call(METHOD, b"\x0a\x02v1", timeout=3) == b"answer"
            assert conn.peer_max_frame == 20000
    finally:
        peer.close()
    settings = [f for f in peer.sent(grpc.SETTINGS) if not f[1] & grpc.ACK][0][3]
    assert struct.pack(">HI", grpc.SETTINGS_INITIAL_WINDOW_SIZE, grpc.RECEIVE_WINDOW) in settings
    assert peer.sent(grpc.WINDOW_UPDATE)[0][2:] == (
        0,
        struct.pack(">I", grpc.RECEIVE_WINDOW - 65535),
    )
    assert [f for f in peer.sent(grpc.SETTINGS) if f[1] & grpc.ACK]
    assert (grpc.PING, grpc.ACK, 0, b"12345678") in peer.frames
    ((_, flags, stream, block),) = peer.sent(grpc.HEADERS)
    assert stream == 1 and flags & grpc.END_HEADERS
    headers = dict(hpack.Decoder().decode(block))
    assert headers == {
        ":method": "POST",
        ":scheme": "http",
        ":path": METHOD,
        ":authority": "localhost",
        "content-type": "application/grpc",
        "te": "trailers",
        "grpc-timeout": "3000m",
    }
    ((_, flags, _, data),) = peer.sent(grpc.DATA)
    assert flags & grpc.END_STREAM and data == b"\0\0\0\0\x04\x0a\x02v1"


def test_one_connection_serves_calls_on_odd_streams(tmp_path):
    peer = Peer(tmp_path, ok_answer(b"x"), calls=3)
    try:
        with grpc.Connection(peer.path, timeout=5) as conn:
            assert [conn.call(METHOD, b"") for _ in range(3)] == [b"x"] * 3
    finally:
        peer.close()
    assert [f[2] for f in peer.sent(grpc.HEADERS)] == [1, 3, 5]
    # Each answer's bytes are given back to the connection window.
    assert [f[3] for f in peer.sent(grpc.WINDOW_UPDATE)][1:] == [struct.pack(">I", 6)] * 3


def test_error_status_with_percent_encoded_message(tmp_path):
    def answer(peer, stream):
        # Trailers-only, as Go servers answer an error: one HEADERS with END_STREAM.
        block = hpack.encode([(":status", "200"), ("content-type", "application/grpc")])
        block += literal_indexed_huffman("grpc-status", "5")
        block += hpack.encode([("grpc-message", "caf%C3%A9 50%25 %zz done")])
        peer.send(frame(grpc.HEADERS, grpc.END_HEADERS | grpc.END_STREAM, stream, block))

    peer = Peer(tmp_path, answer)
    try:
        with pytest.raises(grpc.GrpcError) as raised:
            grpc.unary(peer.path, METHOD, b"", timeout=5)
    finally:
        peer.close()
    assert (raised.value.status, raised.value.code) == ("NOT_FOUND", 5)
    assert raised.value.message == "café 50% %zz done"
    assert str(raised.value) == METHOD + ": NOT_FOUND: café 50% %zz done"


@pytest.mark.parametrize(
    "script, status, text",
    [
        (
            lambda stream: frame(grpc.RST_STREAM, 0, stream, struct.pack(">I", 7)),
            "UNAVAILABLE",
            "RST_STREAM REFUSED_STREAM",
        ),
        (
            lambda stream: frame(grpc.RST_STREAM, 0, stream, struct.pack(">I", 2)),
            "INTERNAL",
            "RST_STREAM INTERNAL_ERROR",
        ),
        (
            lambda stream: frame(grpc.GOAWAY, 0, 0, struct.pack(">II", 0, 11) + b"too many pings"),
            "UNAVAILABLE",
            "GOAWAY ENHANCE_YOUR_CALM: too many pings",
        ),
        (
            lambda stream: (
                frame(grpc.HEADERS, grpc.END_HEADERS, stream, hpack.encode([(":status", "200")]))
                + frame(grpc.DATA, 0, stream, b"\0\0\0\0\x09abc")
            ),
            "UNAVAILABLE",
            "closed the connection before the answer ended",
        ),
        (
            lambda stream: frame(
                grpc.HEADERS,
                grpc.END_HEADERS | grpc.END_STREAM,
                stream,
                hpack.encode([(":status", "503")]),
            ),
            "UNAVAILABLE",
            "HTTP status 503",
        ),
        (
            lambda stream: frame(
                grpc.HEADERS,
                grpc.END_HEADERS | grpc.END_STREAM,
                stream,
                hpack.encode([(":status", "200")]),
            ),
            "INTERNAL",
            "without a grpc-status",
        ),
    ],
    ids=["refused", "reset", "goaway", "closed early", "http 503", "no status"],
)
def test_failures_are_grpc_errors(tmp_path, script, status, text):
    def answer(peer, stream):
        peer.send(script(stream))
        if status == "UNAVAILABLE" and "closed" in text:
            peer.conn.shutdown(socket.SHUT_RDWR)

    peer = Peer(tmp_path, answer)
    try:
        conn = grpc.Connection(peer.path, timeout=5)
        with pytest.raises(grpc.GrpcError) as raised:
            conn.call(METHOD, b"")
        # A transport failure closes the connection; a status that ended its stream does not.
        assert (conn.sock is None) == (text.startswith(("RST", "GOAWAY", "closed")))
        conn.close()
    finally:
        peer.close()
    assert raised.value.status == status
    assert text in str(raised.value)


def test_a_request_larger_than_the_window_waits_for_window_updates(tmp_path):
    window = [65535]  # what the client may still send; below zero is a flow-control error
    lowest = [65535]

    def grant(peer, stream, payload):
        # A stingy server: it opens the windows again only once the client has used them up.
        window[0] -= len(payload)
        lowest[0] = min(lowest[0], window[0])
        if window[0] <= 0:
            size = struct.pack(">I", 65535 - window[0])
            window[0] = 65535
            peer.send(
                frame(grpc.WINDOW_UPDATE, 0, 0, size) + frame(grpc.WINDOW_UPDATE, 0, stream, size)
            )

    peer = Peer(tmp_path, ok_answer(b"done"), on_data=grant)
    request = bytes(range(256)) * 400  # 102400 bytes: more than the default 65535 window
    try:
        assert grpc.unary(peer.path, METHOD, request, timeout=5) == b"done"
    finally:
        peer.close()
    data = peer.sent(grpc.DATA)
    assert lowest[0] >= 0 and window[0] - len(data[-1][3]) >= 0
    assert max(len(f[3]) for f in data) <= 16384
    assert b"".join(f[3] for f in data) == struct.pack(">BI", 0, len(request)) + request
    assert [f[1] & grpc.END_STREAM for f in data] == [0] * (len(data) - 1) + [grpc.END_STREAM]


def test_an_endless_answer_is_refused_past_the_message_limit(tmp_path):
    # A broken or hostile runtime that sends DATA without end: the agent stops at the
    # kubelet's 16 MiB message limit, long before its deadline, instead of holding it all.
    chunk = b"\0" * (grpc.DEFAULT_MAX_FRAME)

    def answer(peer, stream):
        peer.send(frame(grpc.HEADERS, grpc.END_HEADERS, stream, hpack.encode([(":status", "200")])))
        try:
            for _ in range(grpc.MAX_MESSAGE // len(chunk) + 64):
                peer.send(frame(grpc.DATA, 0, stream, chunk))
        except OSError:
            pass  # the client hung up, as it should

    peer = Peer(tmp_path, answer)
    try:
        with pytest.raises(grpc.GrpcError) as raised:
            grpc.unary(peer.path, METHOD, b"", timeout=30)
    finally:
        peer.close()
    assert raised.value.status == "RESOURCE_EXHAUSTED"
    assert f"over {grpc.MAX_MESSAGE} bytes" in str(raised.value)


def test_an_endless_header_block_is_refused(tmp_path):
    def answer(peer, stream):
        peer.send(frame(grpc.HEADERS, 0, stream, b""))
        try:
            for _ in range(grpc.MAX_HEADER_BLOCK // 1024 + 8):
                peer.send(frame(grpc.CONTINUATION, 0, stream, b"\x00" * 1024))
        except OSError:
            pass

    peer = Peer(tmp_path, answer)
    try:
        with pytest.raises(grpc.GrpcError) as raised:
            grpc.unary(peer.path, METHOD, b"", timeout=30)
    finally:
        peer.close()
    assert raised.value.status == "RESOURCE_EXHAUSTED"
    assert "header block" in str(raised.value)


@pytest.mark.parametrize(
    "ftype, flags, stream_frame, payload, name, rule",
    [
        (grpc.RST_STREAM, 0, True, b"\0\0", "RST_STREAM", "4 bytes"),
        (grpc.GOAWAY, 0, False, b"\0\0\0\0", "GOAWAY", "at least 8 bytes"),
        (grpc.WINDOW_UPDATE, 0, False, b"\0\0", "WINDOW_UPDATE", "4 bytes"),
        (grpc.SETTINGS, 0, False, b"\0\x04\0\0\0", "SETTINGS", "a multiple of 6 bytes"),
        (grpc.SETTINGS, grpc.ACK, False, b"\0" * 6, "SETTINGS", "0 for an ACK"),
        (grpc.PING, 0, False, b"abc", "PING", "8 bytes"),
        (grpc.PRIORITY, 0, True, b"\0", "PRIORITY", "5 bytes"),
    ],
    ids=["rst", "goaway", "window", "settings", "settings-ack", "ping", "priority"],
)
def test_a_control_frame_of_the_wrong_size_is_named(
    tmp_path, ftype, flags, stream_frame, payload, name, rule
):
    """RFC 7540 section 6 fixes these frames' sizes; a short one is a FRAME_SIZE_ERROR that
    says which frame and what HTTP/2 requires, never a struct error from unpacking it."""

    def answer(peer, stream):
        peer.send(frame(ftype, flags, stream if stream_frame else 0, payload))

    peer = Peer(tmp_path, answer)
    try:
        conn = grpc.Connection(peer.path, timeout=5)
        with pytest.raises(grpc.GrpcError) as raised:
            conn.call(METHOD, b"")
        conn.close()
    finally:
        peer.close()
    assert raised.value.status == "INTERNAL"
    text = str(raised.value)
    assert f"sent a {name} frame of {len(payload)} bytes" in text
    assert rule in text
