"""The kubelet's own validation of a static pod, before any node is touched.

The kubelet's file source (``pkg/kubelet/config/common.go``, tryDecodeSinglePod) decodes each
manifest, applies the scheme's defaults and its own (:mod:`.defaults`), then runs the API's
``ValidatePodCreate`` (``pkg/apis/core/validation/validation.go``) and ignores a pod that fails,
only logging why. :func:`kubelet_problems` applies the same rules, one module per family, and
names in each problem the field, the rule, what to write instead and the function it follows.

The Pod schema, the static-pod rules (no API objects) and the pod and container names are
checked by :mod:`spctl.desired.validation.static_pod`, which calls this module last and keeps one problem per field.
"""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.containers import container_problems
from spctl.desired.validation.kubelet.defaults import kubelet_defaults
from spctl.desired.validation.kubelet.env import env_problems
from spctl.desired.validation.kubelet.metadata import annotation_field_problems, metadata_problems
from spctl.desired.validation.kubelet.podspec import spec_problems
from spctl.desired.validation.kubelet.ports import port_problems
from spctl.desired.validation.kubelet.probes_lifecycle import probe_problems
from spctl.desired.validation.kubelet.resources import resource_problems
from spctl.desired.validation.kubelet.scheduling import scheduling_problems
from spctl.desired.validation.kubelet.security import security_problems
from spctl.desired.validation.kubelet.volumes import mount_problems, volume_problems
from spctl.desired.validation.problem import Problem

__all__ = ["kubelet_problems"]


def kubelet_problems(doc: dict[str, Any], node_name: str | None = None) -> list[Problem]:
    """Every problem the kubelet's validation finds in ``doc`` (a Pod manifest) once defaulted
    for ``node_name``, in the order of the manifest's fields."""
    pod = kubelet_defaults(doc, node_name)
    metadata, spec = pod.get("metadata"), pod.get("spec")
    problems = (
        metadata_problems(metadata, spec if isinstance(spec, dict) else {})
        if isinstance(metadata, dict)
        else []
    )
    if not isinstance(spec, dict):
        return problems
    volumes, volume_found = volume_problems(spec)
    problems += volume_found
    problems += container_problems(spec)
    problems += port_problems(spec)
    problems += mount_problems(spec, volumes)
    problems += resource_problems(spec)
    problems += probe_problems(spec)
    problems += env_problems(spec)
    problems += security_problems(spec)
    problems += spec_problems(spec)
    problems += scheduling_problems(spec)
    if isinstance(metadata, dict):
        problems += annotation_field_problems(metadata, spec)
    return problems
