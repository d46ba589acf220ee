"""FakeContainerd: the CRI calls the kubelet stand-in makes, answered in memory as containerd
answers them."""

from __future__ import annotations

import time

from spctl_lab.standin.cri.api import (
    CONTAINER_CONFIG,
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    POD_SANDBOX_CONFIG,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
)
from spctl_lab.standin.cri.protobuf import decode, encode


class FakeContainerd:
    """In memory: the CRI calls the stand-in makes, answered as containerd answers them."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}
        self.status: dict[str, dict] = {}
        self.images = {"spctl-lab/pod:1.0"}
        self.made = 0
        # Status's conditions; containerd's words without a CNI config (pkg/cri/server/status.go)
        self.network_ready = True

    def _id(self) -> str:
        self.made += 1
        return f"id{self.made}"

    def runtime_conditions(self) -> list[dict]:
        network = {"type": "NetworkReady", "status": self.network_ready}
        if not self.network_ready:
            network["reason"] = "NetworkPluginNotReady"
            network["message"] = "Network plugin returns error: cni plugin not initialized"
        return [{"type": "RuntimeReady", "status": True}, network]

    def run_pod_sandbox(self, config: dict) -> str:
        wire = decode(POD_SANDBOX_CONFIG, encode(POD_SANDBOX_CONFIG, config))
        sid = self._id()
        self.sandboxes[sid] = {
            "id": sid,
            "metadata": wire["metadata"],
            "state": SANDBOX_READY,
            "created_at": self.made,
            "labels": wire["labels"],
            "annotations": wire["annotations"],
        }
        return sid

    def list_pod_sandbox(self) -> list[dict]:
        return list(self.sandboxes.values())

    def pod_sandbox_status(self, sid: str) -> dict:
        return {"network": {"ip": "10.88.0.9"}}

    def stop_pod_sandbox(self, sid: str) -> None:
        if sid in self.sandboxes:
            self.sandboxes[sid]["state"] = SANDBOX_NOTREADY

    def remove_pod_sandbox(self, sid: str) -> None:
        self.sandboxes.pop(sid, None)
        for cid in [c for c, v in self.containers.items() if v["pod_sandbox_id"] == sid]:
            self.remove_container(cid)

    def image_present(self, image: str) -> bool:
        return image in self.images

    def create_container(self, sid: str, config: dict, sandbox_config: dict) -> str:
        assert sid in self.sandboxes
        wire = decode(CONTAINER_CONFIG, encode(CONTAINER_CONFIG, config))
        cid = self._id()
        self.containers[cid] = {
            "id": cid,
            "pod_sandbox_id": sid,
            "metadata": wire["metadata"],
            "state": CONTAINER_CREATED,
            "created_at": self.made,
            "labels": wire["labels"],
            "annotations": wire["annotations"],
        }
        self.status[cid] = {"state": CONTAINER_CREATED}
        return cid

    def start_container(self, cid: str) -> None:
        self.containers[cid]["state"] = CONTAINER_RUNNING
        self.status[cid] = {"state": CONTAINER_RUNNING, "started_at": time.time_ns()}

    def exit(self, cid: str, code: int) -> None:
        """The container's task ends (as `ctr tasks kill` makes it)."""
        self.containers[cid]["state"] = CONTAINER_EXITED
        self.status[cid] = {
            "state": CONTAINER_EXITED,
            "started_at": self.status[cid].get("started_at", 0),
            "finished_at": time.time_ns(),
            "exit_code": code,
            "reason": "Error" if code else "Completed",
        }

    def stop_container(self, cid: str, timeout: int) -> None:
        if self.containers[cid]["state"] == CONTAINER_RUNNING:
            self.exit(cid, 137)

    def remove_container(self, cid: str) -> None:
        self.containers.pop(cid, None)

    def list_containers(self) -> list[dict]:
        return list(self.containers.values())

    def container_status(self, cid: str) -> dict:
        return self.status[cid]

    def web(self) -> list[tuple[str, str, int, int]]:
        """(id, sandbox, attempt, state) of the web containers, oldest first."""
        return [
            (c["id"], c["pod_sandbox_id"], c["metadata"]["attempt"], c["state"])
            for c in self.containers.values()
        ]
