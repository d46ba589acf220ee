"""The few Docker Engine API calls the stand-in makes, over the engine's unix socket."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any, Dict, List, Mapping

from .config import ConfigError
from .runtime import RuntimeCallError


class DockerError(RuntimeCallError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message, f"docker API {status}: {message}")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class DockerClient:
    """The few Engine API calls needed, over the unix socket. Not the docker CLI: 50 nodes
    forking it every second would burn the lab machine's two cores."""

    def __init__(self, env: Mapping[str, str]) -> None:
        host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if not host.startswith("unix://"):
            raise ConfigError(f"DOCKER_HOST={host}: only unix:// sockets are supported")
        self.socket_path = host[len("unix://") :]

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except OSError as exc:
            where = f"unix://{self.socket_path}"
            raise DockerError(0, f"cannot talk to the Docker engine at {where}: {exc}") from None
        finally:
            conn.close()
        if response.status >= 400:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")
            raise DockerError(response.status, message)
        return json.loads(data) if data else None

    def list_pod_containers(self) -> List[Dict[str, Any]]:
        query = urllib.parse.quote(json.dumps({"label": ["io.kubernetes.pod.uid"]}))
        return self.call("GET", f"/containers/json?all=1&filters={query}")

    def create(self, name: str, config: Dict[str, Any]) -> str:
        return self.call("POST", f"/containers/create?name={name}", config)["Id"]

    def start(self, cid: str) -> None:
        self.call("POST", f"/containers/{cid}/start")

    def stop(self, cid: str, grace: int) -> None:
        self.call("POST", f"/containers/{cid}/stop?t={grace}", timeout=grace + 30.0)

    def remove(self, cid: str) -> None:
        try:
            self.call("DELETE", f"/containers/{cid}?force=1&v=1")
        except DockerError as exc:
            if exc.status != 404:
                raise
