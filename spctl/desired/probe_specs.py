"""What the agent needs of a rendered pod's startup and readiness probes (it reads no YAML)."""

from __future__ import annotations

from typing import Any, Optional

from spctl_agent.protocol.probe_spec import probe_spec_of

from spctl.desired.render import DesiredPod
from spctl.desired.yamlio import ManifestError, parse_manifest


def probe_spec(content: str, file: str) -> Optional[dict[str, Any]]:
    """The probe spec of a manifest; None without probes, or when the file does not parse
    (the kubelet will say why)."""
    try:
        spec: Optional[dict[str, Any]] = probe_spec_of(parse_manifest(content, source=file))
    except ManifestError:
        return None
    return spec


def readiness_specs(desired: list[DesiredPod], names: list[str]) -> dict[str, Any]:
    """{pod name: probe spec} of the pods in ``names`` whose rendering has readiness probes."""
    specs = {}
    for pod in desired:
        if pod.name not in names or "readinessProbe" not in pod.content:
            continue
        spec = probe_spec(pod.content, pod.file)
        if spec and any("readinessProbe" in c for c in spec["containers"]):
            specs[pod.name] = spec
    return specs
