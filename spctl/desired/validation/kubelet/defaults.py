"""The defaulting the kubelet applies to a manifest before it validates it.

Two layers, in the kubelet's order:

- ``pkg/apis/core/v1/defaults.go`` (the scheme's defaulting, run while the file is decoded;
  ``zz_generated.defaults.go`` says where each applies): a volume with no source becomes an
  emptyDir, a port without protocol is TCP, empty policies get their defaults (restartPolicy
  Always, dnsPolicy ClusterFirst, imagePullPolicy from the tag, terminationMessagePolicy File,
  terminationMessagePath, schedulerName), probe numbers of 0 become their defaults, pointers
  the scheme always sets are set (securityContext, enableServiceLinks, a hostPath's type, a
  gRPC probe's service, volume modes), and with hostNetwork a port's hostPort defaults to its
  containerPort (a container's requests also default to its limits; :mod:`.resources` checks
  only the requests written, which is the same verdict without reporting a bad limit twice);
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
    """A defaulted copy of ``doc`` as the kubelet validates it: the scheme's defaults, then
    applyDefaults' name, namespace and node; ``doc`` itself is left alone."""
    pod = scheme_defaults(doc)
    metadata = pod.get("metadata")
    if isinstance(metadata, dict):
        if not metadata.get("namespace"):
            metadata["namespace"] = "default"
        name = metadata.get("name")
        if isinstance(name, str) and node_name:
            metadata["name"] = f"{name}-{node_name.lower()}"
    spec = pod.get("spec")
    if isinstance(spec, dict):
        spec["nodeName"] = node_name or PLACEHOLDER_NODE
    return pod


def scheme_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with what SetObjectDefaults_Pod (pkg/apis/core/v1/
    zz_generated.defaults.go, calling defaults.go) fills in while the file is decoded: the
    pod the kubelet hashes into the UID (see :mod:`spctl.desired.pod_identity`), before
    applyDefaults renames it. A request defaulted from its limit is left to
    :mod:`spctl.desired.pod_identity` (the rules check only the requests written)."""
    pod = copy.deepcopy(doc)
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod
    # SetDefaults_PodSpec and SetDefaults_Pod
    for key, default in (
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
    ):
        if not spec.get(key):
            spec[key] = default
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    for _, volume in items(spec.get("volumes")):
        _default_volume(volume)
    host_network = spec.get("hostNetwork") is True
    for _, container in containers(spec):
        _default_container(container, host_network)
    return pod


def _default_volume(volume: dict[str, Any]) -> None:
    if all(volume.get(key) is None for key in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""  # HostPathUnset, as a pointer: written or not, the same
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = 0o644
    image = volume.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = "Always" if _pulls_latest(image.get("reference")) else "IfNotPresent"
    iscsi = volume.get("iscsi")
    if isinstance(iscsi, dict) and not iscsi.get("iscsiInterface"):
        iscsi["iscsiInterface"] = "default"
    rbd = volume.get("rbd")
    if isinstance(rbd, dict):
        for key, default in (("pool", "rbd"), ("user", "admin"), ("keyring", "/etc/ceph/keyring")):
            if not rbd.get(key):
                rbd[key] = default
    scale_io = volume.get("scaleIO")  # +default on ScaleIOVolumeSource (core/v1 types.go)
    if isinstance(scale_io, dict):
        for key, default in (("storageMode", "ThinProvisioned"), ("fsType", "xfs")):
            if not scale_io.get(key):
                scale_io[key] = default
    azure_disk = volume.get("azureDisk")  # SetDefaults_AzureDiskVolumeSource: pointers
    if isinstance(azure_disk, dict):
        for key, value in (
            ("cachingMode", "ReadWrite"),
            ("kind", "Shared"),
            ("fsType", "ext4"),
            ("readOnly", False),
        ):
            if azure_disk.get(key) is None:
                azure_disk[key] = value
    template = mapping(volume.get("ephemeral")).get("volumeClaimTemplate")
    if isinstance(template, dict):  # SetDefaults_PersistentVolumeClaimSpec on its spec
        claim = template.setdefault("spec", {})
        if isinstance(claim, dict) and claim.get("volumeMode") is None:
            claim["volumeMode"] = "Filesystem"
    for _, file in items(mapping(volume.get("downwardAPI")).get("items")):
        _default_field_ref(file.get("fieldRef"))
    for _, projection in items(mapping(volume.get("projected")).get("sources")):
        for _, file in items(mapping(projection.get("downwardAPI")).get("items")):
            _default_field_ref(file.get("fieldRef"))
        token = projection.get("serviceAccountToken")
        if isinstance(token, dict) and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600


def _default_field_ref(selector: Any) -> None:
    if isinstance(selector, dict) and not selector.get("apiVersion"):
        selector["apiVersion"] = "v1"  # SetDefaults_ObjectFieldSelector


def _default_container(container: dict[str, Any], host_network: bool) -> None:
    # SetDefaults_Container
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = (
            "Always" if _pulls_latest(container.get("image")) else "IfNotPresent"
        )
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for _, port in items(container.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if host_network and not port.get("hostPort"):
            port["hostPort"] = port.get("containerPort")
    for _, env in items(container.get("env")):
        _default_field_ref(mapping(env.get("valueFrom")).get("fieldRef"))
        file_key = mapping(env.get("valueFrom")).get("fileKeyRef")
        if isinstance(file_key, dict) and file_key.get("optional") is None:
            file_key["optional"] = False  # +default=false on FileKeySelector.Optional
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if isinstance(probe, dict):
            for field, default in (  # SetDefaults_Probe
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ):
                if not probe.get(field):
                    probe[field] = default
            _default_http_get(probe.get("httpGet"))
            grpc = probe.get("grpc")
            if isinstance(grpc, dict) and grpc.get("service") is None:
                grpc["service"] = ""  # +default="" on GRPCAction.Service, a pointer
    lifecycle = mapping(container.get("lifecycle"))
    for key in ("postStart", "preStop"):
        _default_http_get(mapping(lifecycle.get(key)).get("httpGet"))


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _pulls_latest(image: Any) -> bool:
    """True when the image pulls ``latest`` (no tag and no digest, or the tag latest), for
    which the default pull policy is Always (SetDefaults_Container)."""
    if not isinstance(image, str) or "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"
