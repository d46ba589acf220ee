"""The kubelet's network gate: no sandbox for a pod that is not hostNetwork while the
runtime says its network is not ready.

- pkg/kubelet/kubelet.go, updateRuntimeUp (run every 5 s, `wait.Until(kl.updateRuntimeUp,
  5*time.Second, ...)` in Run): the runtime's Status; when its NetworkReady condition is
  missing or false, the kubelet logs "Container runtime network not ready" and keeps
  ``container runtime network not ready: <condition>``, the condition as
  RuntimeCondition.String writes it (pkg/kubelet/container/runtime.go: ``%s=%t reason:%s
  message:%s``; a missing one prints ``<nil>``).
- kubelet.go, SyncPod: ``if err := kl.runtimeState.networkErrors(); err != nil &&
  !kubecontainer.IsHostNetworkPod(pod)`` returns ``network is not ready: <that error>``
  (NetworkNotReadyErrorMsg), which pod_workers.go logs as "Error syncing pod, skipping".
  (pkg/kubelet/runtime.go, networkErrors: the one error as it is.)
- What the runtimes answer: containerd's CRI (pkg/cri/server/status.go) asks its CNI plugin
  (go-cni Status: "cni plugin not initialized" until a network config is loaded from its
  conf_dir) and answers reason NetworkPluginNotReady, message "Network plugin returns error:
  ..."; the stand-in asks the real containerd. cri-dockerd (core/docker_service.go Status)
  answers message "docker: network plugin is not ready: <err>" from its network plugin,
  "cni" by default (cmd/cri/options/options.go: NetworkPluginName "cni", CNIConfDir
  /etc/cni/net.d), whose Status is "cni config uninitialized" while no valid network config
  is in that directory (network/cni/cni.go: getDefaultCNINetwork, checkInitialized). The
  kubelet's own dockershim before 1.24 (no --container-runtime-endpoint: the Fedora rpm's
  kubelet) used the no-op plugin by default, always ready.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

NETWORK_READY = "NetworkReady"
NOT_READY_REASON = "NetworkPluginNotReady"
NETWORK_NOT_READY = "network is not ready"  # NetworkNotReadyErrorMsg in kubelet.go
STATUS_PERIOD = 5.0  # updateRuntimeUp's period
CNI_CONF_DIR = "/etc/cni/net.d"  # cri-dockerd's default CNIConfDir
CNI_EXTENSIONS = (".conf", ".conflist", ".json")  # libcni.ConfFiles as cri-dockerd calls it


def condition_text(condition: Optional[Dict[str, Any]]) -> str:
    """RuntimeCondition.String (pkg/kubelet/container/runtime.go)."""
    if condition is None:
        return "<nil>"
    status = "true" if condition.get("status") else "false"
    return (
        f"{condition.get('type', '')}={status} reason:{condition.get('reason', '')} "
        f"message:{condition.get('message', '')}"
    )


def network_error(conditions: List[Dict[str, Any]]) -> Optional[str]:
    """What updateRuntimeUp keeps as the network error for these conditions, or None."""
    ready = next((c for c in conditions if c.get("type") == NETWORK_READY), None)
    if ready is not None and ready.get("status"):
        return None
    return f"container runtime network not ready: {condition_text(ready)}"


def cni_config_problem(conf_dir: str = CNI_CONF_DIR) -> Optional[str]:
    """Why cri-dockerd's CNI plugin has no default network in ``conf_dir``, or None when a
    config there has a network (getDefaultCNINetwork: the first, by name, that loads)."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith(CNI_EXTENSIONS))
    except OSError:
        names = []
    for name in names:
        try:
            with open(os.path.join(conf_dir, name), encoding="utf-8") as f:
                conf = json.load(f)
        except (OSError, ValueError):
            continue  # "Error loading CNI config file": the next one
        if not isinstance(conf, dict):
            continue
        if name.endswith(".conflist") and conf.get("plugins"):
            return None
        if not name.endswith(".conflist") and conf.get("type"):
            return None
    return "cni config uninitialized"


def cri_dockerd_conditions(conf_dir: str = CNI_CONF_DIR) -> List[Dict[str, Any]]:
    """cri-dockerd's Status conditions with its default CNI plugin."""
    problem = cni_config_problem(conf_dir)
    network: Dict[str, Any] = {"type": NETWORK_READY, "status": problem is None}
    if problem:
        network["reason"] = NOT_READY_REASON
        network["message"] = f"docker: network plugin is not ready: {problem}"
    return [{"type": "RuntimeReady", "status": True}, network]


class NetworkGate:
    """The runtime's network state as the kubelet keeps it, asked again every 5 s."""

    def __init__(self, runtime: Any, period: float = STATUS_PERIOD) -> None:
        self.runtime, self.period = runtime, period
        self.error: Optional[str] = None
        self._next = 0.0

    def refresh(self, now: Optional[float] = None) -> bool:
        """Ask the runtime when it is time; True when it was asked."""
        now = time.monotonic() if now is None else now
        if now < self._next:
            return False
        self._next = now + self.period
        self.error = network_error(self.runtime.conditions())
        return True

    def refuses(self, spec: Dict[str, Any]) -> Optional[str]:
        """SyncPod's error for a pod with this spec, or None when it may run."""
        if self.error is None or spec.get("hostNetwork"):
            return None
        return f"{NETWORK_NOT_READY}: {self.error}"
