"""A container's hostPath and emptyDir volumes, made ready on the node before it starts."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

from .manifests import StaticPod


class VolumeError(Exception):
    pass


def prepare_mounts(pod: StaticPod, c: Dict[str, Any], root_dir: str) -> List[Tuple[str, str, bool]]:
    """(host path, container path, read-only) for the container's hostPath and emptyDir
    volume mounts, with their host side made ready."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
    mounts = []
    for mount in c.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "hostPath" in volume:
            source, kind = volume["hostPath"].get("path", ""), volume["hostPath"].get("type")
            if kind == "DirectoryOrCreate":
                os.makedirs(source, mode=0o755, exist_ok=True)
            elif kind == "FileOrCreate" and not os.path.exists(source):
                open(source, "a").close()  # else dockerd would create a directory there
        elif "emptyDir" in volume:
            source = os.path.join(root_dir, "pods", pod.uid, "volumes", "emptydir", volume["name"])
            os.makedirs(source, exist_ok=True)
        else:
            kind = next(k for k in volume if k != "name")
            raise VolumeError(f'volume "{volume["name"]}": the stand-in has no {kind} volumes')
        if mount.get("subPath"):
            source = os.path.join(source, mount["subPath"])
            os.makedirs(source, exist_ok=True)
        mounts.append((source, mount["mountPath"], bool(mount.get("readOnly"))))
    return mounts
