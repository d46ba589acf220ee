"""Pods and manifest files for the kubelet stand-in's unit tests: the seed walkthrough's pod,
written to a directory and listed as the stand-in's file source would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from spctl_lab.standin.manifests import read_manifest_file
from spctl_lab.standin.sources import FileSource

NODE = "my-node1"


SEED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "static-web", "labels": {"role": "myrole"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "spctl-lab/pod:1.0",
                "ports": [{"name": "web", "containerPort": 80, "protocol": "TCP"}],
            }
        ]
    },
}


def seed(**spec: Any) -> dict[str, Any]:
    """The seed walkthrough's pod, with spec fields added or replaced."""
    pod = json.loads(json.dumps(SEED))
    pod["spec"].update(spec)
    return pod


def write(directory: Path, name: str, pod: Any) -> Path:
    path = directory / name
    path.write_text(pod if isinstance(pod, str) else yaml.safe_dump(pod))
    return path


def logged_errors(stderr: str) -> list[str]:
    """The err="..." values of the log lines, unquoted."""
    return [json.loads(value) for value in re.findall(r'err=("(?:[^"\\]|\\.)*")', stderr)]


def listed(directory: Path) -> dict[str, str]:
    """{pod name: file name} of what a fresh re-list of `directory` would run."""
    pods = FileSource(str(directory), NODE).relist()
    return {pod.name: Path(pod.origin).name for pod in pods}


def pod_at(directory: Path, name: str, pod: Any, node: str = NODE):
    return read_manifest_file(str(write(directory, name, pod)), node)
