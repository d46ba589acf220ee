"""The kubelet's container garbage collection, for a pod that still exists."""

from __future__ import annotations

from typing import List

from .pods import PodContainers, RuntimeContainer


def garbage(current: PodContainers) -> List[RuntimeContainer]:
    """What the kubelet's container GC removes from a pod that still exists, oldest first
    (pkg/kubelet/kuberuntime/kuberuntime_gc.go, with the kubelet's default policy: MinAge 0,
    MaxPerPodContainer 1, MaxContainers -1):

    - evictContainers: of each container name, every dead (not running) container but the
      newest by attempt goes;
    - evictSandboxes: the pod's newest sandbox stays; an older one goes once it is not ready
      and no remaining container belongs to it. So a dead sandbox stays while it holds the
      dead container kept above, and a pod can have several sandboxes.
    The stand-in runs this after each sync of the pod instead of once a minute."""
    doomed: List[RuntimeContainer] = []
    kept: List[RuntimeContainer] = []
    for history in current.containers.values():  # newest first
        dead = [c for c in history if not c.alive]
        doomed += reversed(dead[1:])
        kept += [c for c in history if c.alive] + dead[:1]
    holding = {c.sandbox_id for c in kept}
    for sandbox in reversed(current.sandboxes[1:]):
        if not sandbox.alive and sandbox.id not in holding:
            doomed.append(sandbox)
    return doomed
