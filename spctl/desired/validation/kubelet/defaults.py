"""The defaulting the kubelet applies to a manifest before it validates it.

Two layers, in the kubelet's order:

- ``pkg/apis/core/v1/defaults.go`` (the scheme's defaulting, run while the file is decoded):
  a volume with no source becomes an emptyDir, a port without protocol is TCP, empty policies
  get their defaults (restartPolicy Always, dnsPolicy ClusterFirst, imagePullPolicy from the
  tag, terminationMessagePolicy File), probe numbers of 0 become their defaults, and with
  hostNetwork a port's hostPort defaults to its containerPort (a container's requests also
  default to its limits; :mod:`.resources` checks only the requests written, which is the
  same verdict without reporting a bad limit twice);
- ``pkg/kubelet/config/common.go`` applyDefaults: the pod is named ``<name>-<node>``, the
  namespace defaults to ``default``, ``spec.nodeName`` is set to the node and a toleration of
  every NoExecute taint is added.

Rules then run on the defaulted copy, so whatever defaulting makes valid stays accepted.
"""

from __future__ import annotations

import copy
from typing import Any

from spctl.desired.validation.kubelet.common import (
    containers,
    items,
    mapping,
)

# Every volume source of core/v1 VolumeSource, in validateVolumeSource's order.
VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)

PLACEHOLDER_NODE = "node"  # spec.nodeName when no node is known: only its presence matters


def kubelet_defaults(doc: dict[str, Any], node_name: str | None) -> dict[str, Any]:
    """A defaulted copy of ``doc``; ``doc`` itself is left alone."""
    pod = copy.deepcopy(doc)
    metadata = pod.get("metadata")
    if isinstance(metadata, dict):
        if not metadata.get("namespace"):
            metadata["namespace"] = "default"
        name = metadata.get("name")
        if isinstance(name, str) and node_name:
            metadata["name"] = f"{name}-{node_name.lower()}"
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod
    spec["nodeName"] = node_name or PLACEHOLDER_NODE
    for key, default in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst")):
        if not spec.get(key):
            spec[key] = default
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    for _, volume in items(spec.get("volumes")):
        if all(volume.get(key) is None for key in VOLUME_SOURCES):
            volume["emptyDir"] = {}
    host_network = spec.get("hostNetwork") is True
    for _, container in containers(spec):
        _default_container(container, host_network)
    return pod


def _default_container(container: dict[str, Any], host_network: bool) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if _tag(container.get("image")) else "IfNotPresent"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for _, port in items(container.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if host_network and not port.get("hostPort"):
            port["hostPort"] = port.get("containerPort")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if isinstance(probe, dict):
            for field, default in (
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ):
                if not probe.get(field):
                    probe[field] = default
            _default_http_get(probe.get("httpGet"))
    lifecycle = mapping(container.get("lifecycle"))
    for key in ("postStart", "preStop"):
        _default_http_get(mapping(lifecycle.get(key)).get("httpGet"))


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _tag(image: Any) -> bool:
    """True when the image pulls ``latest`` (no tag and no digest, or the tag latest), for
    which the default pull policy is Always (SetDefaults_Container)."""
    if not isinstance(image, str) or "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"
