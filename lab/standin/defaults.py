"""The pod as the kubelet holds it after decoding: the scheme's defaults applied, and the
form its UID is hashed from.

The kubelet decodes a manifest into a v1 Pod and the scheme defaults it
(SetObjectDefaults_Pod in pkg/apis/core/v1/zz_generated.defaults.go, calling
pkg/apis/core/v1/defaults.go); everything after works on that defaulted pod, so a port
without ``protocol`` is TCP there and a probe's 0 is its default. applyDefaults
(pkg/kubelet/config/common.go) then hashes the decoded pod (hash.DeepHashObject) with the
node name and the file path into the UID, unless ``metadata.uid`` is set: so a manifest that
only spells a default out keeps its UID and its pod.

What this models of the hash's input (the Go structs, not the text): JSON null is a field
left out, a YAML number counts by its JSON text (``80.0`` is ``80``), and a resource quantity
by what Quantity.UnmarshalJSON reads (quotes stripped: ``cpu: 1`` is ``cpu: "1"``; ``1000m``
is another quantity). Left out here: a zero value written for a non-pointer field (``false``,
``0``, ``""``) also equals the field left out in the kubelet, and quantities rounded up to
milli scale by SetDefaults_ResourceList; spctl never writes either.
"""

from __future__ import annotations

import copy
from typing import Any, Dict

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_VOLUME_SOURCES_NONE = "emptyDir"


def defaulted_pod(obj: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a decoded Pod with the scheme's defaults (defaults.go), nulls dropped."""
    pod = _without_nulls(copy.deepcopy(obj))
    spec = pod.setdefault("spec", {})
    # SetDefaults_PodSpec
    for key, default in (
        ("dnsPolicy", "ClusterFirst"),
        ("restartPolicy", "Always"),
        ("schedulerName", "default-scheduler"),
    ):
        if not spec.get(key):
            spec[key] = default
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    # SetDefaults_Pod
    spec.setdefault("enableServiceLinks", True)
    host_network = spec.get("hostNetwork") is True
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container, host_network)
    return pod


def hashed_form(pod: Dict[str, Any]) -> Dict[str, Any]:
    """The defaulted pod with its quantities as the decoder reads them (see the module)."""
    form = copy.deepcopy(pod)
    spec = form.get("spec") or {}
    resources = [c.get("resources") or {} for c in _containers(spec)]
    resources.append(spec.get("resources") or {})
    for entry in resources:
        for key in ("limits", "requests"):
            values = entry.get(key)
            if isinstance(values, dict):
                entry[key] = {name: _quantity_text(v) for name, v in values.items()}
    return form


def _containers(spec: Dict[str, Any]) -> list:
    return [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]


def _quantity_text(value: Any) -> Any:
    # Quantity.UnmarshalJSON (apimachinery pkg/api/resource/quantity.go): the JSON text with
    # its quotes stripped, then trimmed, is what ParseQuantity reads.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _json_number(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _json_number(value: Any) -> str:
    # Go's encoding/json, which sigs.k8s.io/yaml uses to turn YAML into JSON.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)  # a JSON number: 80.0 decodes as 80
    return value


def _default_volume(volume: Dict[str, Any]) -> None:
    # SetDefaults_Volume: no source at all is an emptyDir
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume[_VOLUME_SOURCES_NONE] = {}
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")  # SetDefaults_HostPathVolumeSource: HostPathUnset
    for key in ("downwardAPI", "projected", "secret", "configMap"):
        source = volume.get(key)
        if isinstance(source, dict):
            source.setdefault("defaultMode", 0o644)


def _default_container(container: Dict[str, Any], host_network: bool) -> None:
    # SetDefaults_Container
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = (
            "Always" if _tag(container.get("image")) == "latest" else "IfNotPresent"
        )
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            if not port.get("protocol"):
                port["protocol"] = "TCP"  # +default="TCP" on ContainerPort.Protocol
            if host_network and not port.get("hostPort"):
                port["hostPort"] = port.get("containerPort")  # defaultHostNetworkPorts
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
            field_ref["apiVersion"] = "v1"  # SetDefaults_ObjectFieldSelector
    resources = container.get("resources")
    if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        requests = resources.setdefault("requests", {})  # SetDefaults_Pod
        for name, limit in resources["limits"].items():
            requests.setdefault(name, limit)
    for key in _PROBES:
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
            if isinstance(grpc, dict):
                grpc.setdefault("service", "")
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for key in ("postStart", "preStop"):
            handler = lifecycle.get(key)
            if isinstance(handler, dict):
                _default_http_get(handler.get("httpGet"))


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):  # SetDefaults_HTTPGetAction
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _tag(image: Any) -> str:
    """The tag parsers.ParseImageName gives (pkg/util/parsers): latest when none is written
    and no digest is."""
    if not isinstance(image, str):
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"
