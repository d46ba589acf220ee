"""A CRI client over grpcio: RuntimeService and ImageService calls on one runtime socket."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .api import METHODS
from .protobuf import decode, encode


class CRIError(Exception):
    """A failed CRI call: the gRPC status code's name (NOT_FOUND, UNAVAILABLE, ...) and text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"CRI {code}: {message}")
        self.code, self.message = code, message


def socket_path(endpoint: str) -> str:
    """The unix socket an endpoint names: ``unix:///run/x.sock`` or a bare path."""
    if endpoint.startswith("unix://"):
        return endpoint[len("unix://") :]
    if endpoint.startswith("/"):
        return endpoint
    raise CRIError("INVALID_ARGUMENT", f"{endpoint}: only unix sockets are supported")


class CRIClient:
    """RuntimeService and ImageService calls on one runtime socket, through grpcio with raw
    bytes in and out (this module's codec does the messages)."""

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        import grpc  # the node's python3-grpcio; imported here so the codec needs nothing

        self.endpoint = endpoint
        self.path = socket_path(endpoint)
        self.timeout = timeout
        self._grpc = grpc
        self._channel = grpc.insecure_channel(f"unix://{self.path}")
        self._calls: Dict[str, Any] = {}

    def call(self, method: str, request: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        service, request_schema, response_schema = METHODS[method]
        if method not in self._calls:
            self._calls[method] = self._channel.unary_unary(service + method)
        try:
            raw = self._calls[method](
                encode(request_schema, request), timeout=timeout or self.timeout
            )
        except self._grpc.RpcError as exc:
            raise CRIError(exc.code().name, exc.details() or "") from None
        return decode(response_schema, raw)

    def close(self) -> None:
        self._channel.close()

    # the calls, named as in the RuntimeService

    def version(self) -> Dict[str, Any]:
        return self.call("Version", {"version": "v1"})

    def runtime_conditions(self) -> List[Dict[str, Any]]:
        """The runtime's conditions (RuntimeReady, NetworkReady)."""
        return (self.call("Status", {})["status"] or {}).get("conditions") or []

    def run_pod_sandbox(self, config: Dict[str, Any]) -> str:
        return self.call("RunPodSandbox", {"config": config}, timeout=120)["pod_sandbox_id"]

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("StopPodSandbox", {"pod_sandbox_id": sandbox_id}, timeout=120)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("RemovePodSandbox", {"pod_sandbox_id": sandbox_id}, timeout=120)

    def pod_sandbox_status(self, sandbox_id: str) -> Dict[str, Any]:
        return self.call("PodSandboxStatus", {"pod_sandbox_id": sandbox_id})["status"] or {}

    def list_pod_sandbox(self, labels: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        request = {"filter": {"label_selector": labels}} if labels else {}
        return self.call("ListPodSandbox", request)["items"]

    def create_container(
        self, sandbox_id: str, config: Dict[str, Any], sandbox_config: Dict[str, Any]
    ) -> str:
        request = {"pod_sandbox_id": sandbox_id, "config": config, "sandbox_config": sandbox_config}
        return self.call("CreateContainer", request, timeout=120)["container_id"]

    def start_container(self, container_id: str) -> None:
        self.call("StartContainer", {"container_id": container_id}, timeout=120)

    def stop_container(self, container_id: str, timeout: int) -> None:
        request = {"container_id": container_id, "timeout": timeout}
        self.call("StopContainer", request, timeout=timeout + 60.0)

    def remove_container(self, container_id: str) -> None:
        self.call("RemoveContainer", {"container_id": container_id}, timeout=120)

    def list_containers(self, labels: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        request = {"filter": {"label_selector": labels}} if labels else {}
        return self.call("ListContainers", request)["containers"]

    def container_status(self, container_id: str) -> Dict[str, Any]:
        return self.call("ContainerStatus", {"container_id": container_id})["status"] or {}

    def image_present(self, image: str) -> bool:
        """ImageStatus: a missing image answers with no image, not with an error."""
        found = self.call("ImageStatus", {"image": {"image": image}})["image"]
        return bool(found and found["id"])
