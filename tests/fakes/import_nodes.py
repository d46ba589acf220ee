"""The nodes of an import case (tests/cases/import/): the files in each node's manifest
directory, and the agent of a kubeadm node (deb) whose kubelet reads them, answering facts
requests as the agent does."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from spctl_agent.facts import guess_pod_name

MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_CONFIG = f"""\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: {MANIFESTS}
"""


def node_files(case: dict[str, Any]) -> dict[str, dict[str, str]]:
    """node -> {file name: text} in the manifest directory."""
    pod = case["pod"]
    name = case.get("file_name", f"{pod}.yaml")
    if "manifests" in case:
        texts = dict(case["manifests"])
    else:
        texts = {}
        for node, subs in case["substitute"].items():
            text = case["manifest"]
            for placeholder, value in (subs or {}).items():
                text = text.replace(placeholder, str(value))
            texts[node] = text
    files = {node: {name: text} for node, text in texts.items() if text is not None}
    for node, extra in (case.get("other_files") or {}).items():
        files.setdefault(node, {}).update(extra)
    for node in texts:
        files.setdefault(node, {})
    return files


def fake_agent(hostname: str, files: dict[str, str], written: Optional[dict[str, str]] = None):
    """A kubeadm-deb node's agent: answers `facts` as agent/spctl_agent.py does, for a
    manifest directory holding ``files``; ``written``: {file name: text} of the files spctl
    wrote there (its ownership record holds that text's sha256)."""
    on_disk = {f"{MANIFESTS}/{name}": text for name, text in files.items()}
    on_disk["/var/lib/kubelet/config.yaml"] = KUBELET_CONFIG
    calls: list[dict[str, Any]] = []

    def call(request: dict[str, Any]) -> dict[str, Any]:
        assert request["op"] == "facts"
        calls.append(request)
        dirs = list(dict.fromkeys([*request["manifest_dirs"], MANIFESTS]))
        read = {path: on_disk.get(path) for path in request.get("read") or []}
        for d in dirs:
            for pod in request.get("pods") or []:
                read[f"{d}/{pod}.yaml"] = on_disk.get(f"{d}/{pod}.yaml")
        listing = {
            d: {
                "exists": d == MANIFESTS,
                "entries": [
                    {
                        "name": name,
                        "type": "file",
                        "size": len(text.encode()),
                        "sha256": hashlib.sha256(text.encode()).hexdigest(),
                        "pod_name": guess_pod_name(text.encode()),
                    }
                    for name, text in sorted(files.items())
                ]
                if d == MANIFESTS
                else [],
            }
            for d in dirs
        }
        return {
            "hostname": hostname,
            "os_release": {"ID": "debian"},
            "files": read,
            "units": {
                "kubelet": {
                    "LoadState": "loaded",
                    "ActiveState": "active",
                    "FragmentPath": "/lib/systemd/system/kubelet.service",
                    "DropInPaths": "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
                    "EnvironmentFiles": "/var/lib/kubelet/kubeadm-flags.env (ignore_errors=yes) "
                    "/etc/default/kubelet (ignore_errors=yes)",
                    "cmdline": [
                        "/usr/bin/kubelet",
                        "--config=/var/lib/kubelet/config.yaml",
                    ],
                }
            },
            "dirs": listing,
            "owned": {
                f"{MANIFESTS}/{name}": {
                    "pod": name.rsplit(".", 1)[0],
                    "sha256": hashlib.sha256(text.encode()).hexdigest(),
                }
                for name, text in (written or {}).items()
            },
            "backups": {},
            "runtime": {"runtime": "docker", "pods": []},
            "healthz": True,
        }

    call.calls = calls  # type: ignore[attr-defined]
    return call
