"""spctl-lab-cri: every sandbox and container of a CRI runtime as JSON, for the lab's tests."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from .api import CONTAINER_STATES, SANDBOX_STATES, rfc3339
from .client import CRIClient, CRIError, socket_path


def snapshot(client: CRIClient) -> Dict[str, Any]:
    """Every sandbox and container, with what ContainerStatus adds (exit code, reason, times)."""
    sandboxes = []
    for s in client.list_pod_sandbox():
        status = _unless_gone(client.pod_sandbox_status, s["id"])
        if status is None:
            continue
        meta = s["metadata"] or {}
        sandboxes.append(
            {
                "id": s["id"],
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "attempt": meta.get("attempt", 0),
                "state": SANDBOX_STATES.get(s["state"], str(s["state"])),
                "created_at": s["created_at"],
                "ip": ((status.get("network") or {}).get("ip", "")),
                "labels": s["labels"],
                "annotations": s["annotations"],
            }
        )
    containers = []
    for c in client.list_containers():
        status = _unless_gone(client.container_status, c["id"]) or {}
        meta = c["metadata"] or {}
        containers.append(
            {
                "id": c["id"],
                "sandbox_id": c["pod_sandbox_id"],
                "name": meta.get("name", ""),
                "attempt": meta.get("attempt", 0),
                "state": CONTAINER_STATES.get(c["state"], str(c["state"])),
                "image": (c["image"] or {}).get("image", ""),
                "created_at": c["created_at"],
                "started_at": rfc3339(status.get("started_at", 0)),
                "finished_at": rfc3339(status.get("finished_at", 0)),
                "exit_code": status.get("exit_code", 0),
                "reason": status.get("reason", ""),
                "labels": c["labels"],
                "annotations": c["annotations"],
            }
        )
    key = lambda item: item["created_at"]  # noqa: E731
    return {"sandboxes": sorted(sandboxes, key=key), "containers": sorted(containers, key=key)}


def _unless_gone(status_of: Callable[[str], Dict[str, Any]], id: str) -> Optional[Dict[str, Any]]:
    """``status_of(id)``, or None when the runtime no longer has it: removed between its
    list call and this one (the kubelet's garbage collector). Other errors are raised."""
    try:
        return status_of(id)
    except CRIError as exc:
        if exc.code != "NOT_FOUND":
            raise
        return None


DEFAULT_ENDPOINTS = (
    "unix:///run/containerd/containerd.sock",
    "unix:///run/k3s/containerd/containerd.sock",
)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spctl-lab-cri",
        description="spctl lab only: the CRI runtime's sandboxes and containers as JSON "
        "(crictl is not packaged in Debian).",
    )
    parser.add_argument(
        "-r",
        "--runtime-endpoint",
        default=os.environ.get("CONTAINER_RUNTIME_ENDPOINT", ""),
        help="the CRI socket (default: containerd's, else k3s's)",
    )
    parser.add_argument("command", nargs="?", default="ps", choices=["ps", "version"])
    args = parser.parse_args(argv)
    endpoint = args.runtime_endpoint or next(
        (e for e in DEFAULT_ENDPOINTS if os.path.exists(socket_path(e))), DEFAULT_ENDPOINTS[0]
    )
    client = CRIClient(endpoint, timeout=10)
    try:
        result = client.version() if args.command == "version" else snapshot(client)
    except CRIError as exc:
        print(f"spctl-lab-cri: {endpoint}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0
