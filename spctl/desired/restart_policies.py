"""What the agent needs to read a rendered pod's phase as the kubelet does: its
restartPolicy. The runtime does not hold it (no CRI label or annotation carries it), and
getPhase (pkg/kubelet/kubelet_pods.go) decides by it whether a pod whose containers all
stopped is Running (being restarted), Succeeded or Failed."""

from __future__ import annotations

from typing import Optional

from spctl.desired.render import DesiredPod
from spctl.desired.yamlio import ManifestError, parse_manifest

#: SetDefaults_PodSpec (pkg/apis/core/v1/defaults.go): an unset restartPolicy is Always.
DEFAULT_RESTART_POLICY = "Always"


def restart_policy(content: str, file: str) -> Optional[str]:
    """spec.restartPolicy of a manifest, defaulted as the kubelet defaults it; None when the
    file does not parse into a pod (the kubelet will say why)."""
    try:
        doc = parse_manifest(content, source=file)
    except ManifestError:
        return None
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return None
    policy = spec.get("restartPolicy") or DEFAULT_RESTART_POLICY
    return policy if isinstance(policy, str) else None


def restart_policies(desired: list[DesiredPod], names: list[str]) -> dict[str, str]:
    """{pod name: restartPolicy} of the pods in ``names`` as rendered."""
    policies = {}
    for pod in desired:
        if pod.name in names:
            policy = restart_policy(pod.content, pod.file)
            if policy is not None:
                policies[pod.name] = policy
    return policies
