"""CRIPeer: a gRPC server over h2c on a unix socket that serves the CRI RuntimeService in the
versions it is given, as an older runtime does (containerd 1.5 serves only runtime.v1alpha2).

A call to a service it does not serve is answered as grpc-go answers one (google.golang.org/
grpc ``server.go`` handleStream): status 12 UNIMPLEMENTED, message "unknown service
runtime.v1.RuntimeService", in a trailers-only response (HEADERS with END_STREAM, as
``http2Server.WriteStatus`` writes it when no header was sent yet). A method the peer has no
answer for is "unknown method M for service S", the same code. Answers are messages of the
agent's schema (``proto.MESSAGES``), identical in both versions; each call is recorded with
its path, its decoded request and its headers. A callable answer may raise :class:`Status` to
end the call with that gRPC status instead."""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Any, Callable, Union

from spctl_agent.runtime import grpc, hpack, proto

#: What a method answers: (response message name, fields), or a callable of the request.
Answer = Union[tuple[str, dict[str, Any]], Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]]

#: The request message of each RuntimeService method the agent calls.
REQUESTS = {
    "Version": "VersionRequest",
    "ListPodSandbox": "ListPodSandboxRequest",
    "PodSandboxStatus": "PodSandboxStatusRequest",
    "ListContainers": "ListContainersRequest",
    "ContainerStatus": "ContainerStatusRequest",
    "ExecSync": "ExecSyncRequest",
}


class Status(Exception):
    """Raised by a callable answer: the call ends with this gRPC status code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def _frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream) + payload


class CRIPeer:
    def __init__(self, directory: str, versions: tuple[str, ...] = ("v1alpha2",)) -> None:
        self.path = os.path.join(directory, "cri.sock")
        self.versions = versions
        self.answers: dict[str, Answer] = {
            "Version": (
                "VersionResponse",
                {
                    "version": "0.1.0",
                    "runtime_name": "containerd",
                    "runtime_version": "v1.5.18",
                    "runtime_api_version": versions[0],
                },
            ),
            "ListPodSandbox": ("ListPodSandboxResponse", {"items": []}),
            "ListContainers": ("ListContainersResponse", {"containers": []}),
        }
        #: (path, request fields or None for an unknown method, headers) of every call.
        self.calls: list[tuple[str, Any, dict[str, str]]] = []
        self.connections = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()

    # -- the server -----------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""

        def read(size: int) -> bytes:
            nonlocal buffer
            while len(buffer) < size:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buffer += chunk
            data, buffer = buffer[:size], buffer[size:]
            return data

        decoder = hpack.Decoder()
        streams: dict[int, dict[str, Any]] = {}
        try:
            if read(24) != grpc.PREFACE:
                return
            conn.sendall(_frame(grpc.SETTINGS, 0, 0))
            while True:
                head = read(9)
                length = struct.unpack(">I", b"\0" + head[:3])[0]
                ftype, flags = head[3], head[4]
                stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
                payload = read(length)
                if ftype == grpc.SETTINGS and not flags & grpc.ACK:
                    conn.sendall(_frame(grpc.SETTINGS, grpc.ACK, 0))
                elif ftype == grpc.PING and not flags & grpc.ACK:
                    conn.sendall(_frame(grpc.PING, grpc.ACK, 0, payload))
                elif ftype == grpc.HEADERS:
                    # The agent sends one HEADERS frame with END_HEADERS, unpadded.
                    streams[stream] = {"headers": dict(decoder.decode(payload)), "data": b""}
                elif ftype == grpc.DATA:
                    streams[stream]["data"] += payload
                    if flags & grpc.END_STREAM:
                        conn.sendall(self._answer(stream, streams.pop(stream)))
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def _answer(self, stream: int, call: dict[str, Any]) -> bytes:
        headers = call["headers"]
        path = headers.get(":path", "")
        _, service, method = path.split("/", 2) if path.count("/") == 2 else ("", "", "")
        package = service[: -len(".RuntimeService")] if service.endswith(".RuntimeService") else ""
        if package not in ("runtime." + v for v in self.versions):
            self.calls.append((path, None, headers))
            return self._status(stream, 12, f"unknown service {service}")
        answer = self.answers.get(method)
        if answer is None or method not in REQUESTS:
            self.calls.append((path, None, headers))
            return self._status(stream, 12, f"unknown method {method} for service {service}")
        request = proto.decode(REQUESTS[method], call["data"][5:])
        self.calls.append((path, request, headers))
        try:
            name, fields = answer(request) if callable(answer) else answer
        except Status as status:
            return self._status(stream, status.code, status.message)
        body = proto.encode(name, fields)
        head = hpack.encode([(":status", "200"), ("content-type", "application/grpc")])
        trailers = hpack.encode([("grpc-status", "0"), ("grpc-message", "")])
        return (
            _frame(grpc.HEADERS, grpc.END_HEADERS, stream, head)
            + _frame(grpc.DATA, 0, stream, struct.pack(">BI", 0, len(body)) + body)
            + _frame(grpc.HEADERS, grpc.END_HEADERS | grpc.END_STREAM, stream, trailers)
        )

    def _status(self, stream: int, code: int, message: str) -> bytes:
        block = hpack.encode(
            [
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", str(code)),
                ("grpc-message", message),
            ]
        )
        return _frame(grpc.HEADERS, grpc.END_HEADERS | grpc.END_STREAM, stream, block)

    def paths(self) -> list[str]:
        return [c[0] for c in self.calls]
