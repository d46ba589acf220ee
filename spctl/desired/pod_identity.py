"""Whether two manifests are the same pod to the kubelet, which restarts a static pod only
when its UID changes.

The kubelet decodes a file into a Pod, applies the scheme's defaults, and (unless
``metadata.uid`` is set, which spctl refuses) takes the UID from a hash of that decoded pod
and the file's path: ``applyDefaults`` in ``pkg/kubelet/config/common.go`` runs
``hash.DeepHashObject`` (``pkg/util/hash/hash.go``: spew of the Go structs) before it renames
the pod. So the UID covers what decoding keeps, not the text:

- JSON ``null`` and a field left out are the same; so are a scalar's zero value (``false``,
  ``0``, ``""``) and its absence, unless the Go field is a pointer (``privileged: false`` is
  not ``privileged`` left out), and an empty ``{}`` for a struct field that is no pointer;
  an empty list or map is not its absence (spew prints ``[]`` and ``nil`` apart);
- every default of the scheme (:func:`scheme_defaults`; a container's requests default to its
  limits): spelling a default out changes nothing;
- a number is read through its JSON text, so ``80.0`` is ``80``; a resource quantity counts by
  the fields ParseQuantity fills (see :func:`decoded_quantity`), so ``cpu: "1"`` is
  ``cpu: 1`` but ``1000m`` is not ``1``;
- key order does not count (spew sorts map keys; struct fields have one order); list order
  does. ``metadata.namespace: default`` is a change: the hash is taken before the namespace is
  defaulted.
"""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import containers, items, mapping
from spctl.desired.validation.kubelet.defaults import scheme_defaults
from spctl.desired.validation.kubelet.quantity import (
    QuantityError,
    decoded_quantity,
    go_json_number,
    rounded_to_milli,
)
from spctl.desired.yamlio import ManifestError, parse_manifest

# Fields of the Pod's Go types (k8s.io/api core/v1 types.go) that are pointers, where an
# explicit zero value is not the field left out. A name that is a pointer in one struct and
# a value in another is in _POINTER_UNDER, keyed by the field that holds that struct.
_POINTER = frozenset(
    [
        "activeDeadlineSeconds",
        "allowPrivilegeEscalation",
        "apiGroup",
        "automountServiceAccountToken",
        "blockOwnerDeletion",
        "cachingMode",
        "controller",
        "dataSource",
        "dataSourceRef",
        "defaultMode",
        "defaultUser",
        "deletionGracePeriodSeconds",
        "enableServiceLinks",
        "exitCodes",
        "expirationSeconds",
        "fsGroup",
        "fsGroupChangePolicy",
        "gmsaCredentialSpec",
        "gmsaCredentialSpecName",
        "hostProcess",
        "hostUsers",
        "hostnameOverride",
        "initiatorName",
        "localhostProfile",
        "maxExpirationSeconds",
        "minDomains",
        "mode",
        "mountPropagation",
        "nodeAffinityPolicy",
        "nodeTaintsPolicy",
        "optional",
        "podGroupName",
        "preemptionPolicy",
        "priority",
        "privileged",
        "procMount",
        "readOnlyRootFilesystem",
        "recursiveReadOnly",
        "resourceClaimName",
        "resourceClaimTemplateName",
        "runAsGroup",
        "runAsNonRoot",
        "runAsUser",
        "runAsUserName",
        "runtimeClassName",
        "schedulingGroup",
        "seLinuxChangePolicy",
        "service",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "sizeLimit",
        "stopSignal",
        "storageClassName",
        "supplementalGroupsPolicy",
        "terminationGracePeriodSeconds",
        "tolerationSeconds",
        "volumeAttributesClassName",
        "volumeMode",
    ]
)
_POINTER_UNDER = {
    "fsType": {"csi", "azureDisk"},
    "kind": {"azureDisk"},
    "lun": {"fc"},
    "namespace": {"dataSourceRef"},
    "name": {"clusterTrustBundle"},
    "signerName": {"clusterTrustBundle"},
    "protocol": {"httpGet"},
    "readOnly": {"azureDisk", "csi"},
    "restartPolicy": {"containers", "initContainers", "ephemeralContainers"},
    "type": {"hostPath"},
    "user": {"serviceAccountToken", "clusterTrustBundle", "items", "podCertificate"},
    "value": {"options"},
}
# Struct fields that are no pointer: `{}` is the field left out.
_VALUE_STRUCTS = frozenset({"metadata", "spec", "status", "preference", "podAffinityTerm"})
# Map fields (their keys are data, a null value is the element's zero value).
_MAPS = frozenset({"labels", "annotations", "nodeSelector", "volumeAttributes", "userAnnotations"})
_RESOURCE_LISTS = frozenset({"limits", "requests", "overhead"})


def same_pod(a: str, b: str) -> bool:
    """True when both texts decode to the same pod for the kubelet, so writing one over the
    other restarts nothing; False when they differ or either does not read as a manifest
    (any error reading either one: a file from a node can hold anything)."""
    try:
        return pod_identity(parse_manifest(a, source="a")) == pod_identity(
            parse_manifest(b, source="b")
        )
    except (ManifestError, ValueError, RecursionError):
        return False


def pod_identity(doc: dict[str, Any]) -> Any:
    """The decoded, defaulted pod as the kubelet hashes it, in a form where ``==`` is the
    kubelet's verdict (booleans are tagged, so ``True`` is not ``1``)."""
    pod = scheme_defaults(_decoded(doc, ()))
    spec = pod.get("spec")
    if isinstance(spec, dict):
        for _, container in containers(spec):
            _requests_from_limits(mapping(container.get("resources")))
        _quantities(spec)
    return _tagged(pod)


def _pointer(path: tuple[str, ...], field: str) -> bool:
    if field == "resources":  # *ResourceRequirements on the PodSpec, a value on a container
        return path == ("spec",)
    if field in _POINTER:
        return True
    return bool(path) and path[-1] in _POINTER_UNDER.get(field, ())


def _int_or_string(path: tuple[str, ...], field: str) -> bool:
    """The IntOrString fields of a Pod (HTTPGetAction.Port, TCPSocketAction.Port)."""
    return field == "port" and bool(path) and path[-1] in ("httpGet", "tcpSocket")


def _decoded(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` as the JSON decoder leaves it in the Go structs (see the module's text)."""
    if isinstance(value, float):
        text = go_json_number(value)
        return int(text) if text.lstrip("-").isdigit() else value
    if isinstance(value, list):
        return [_decoded(item, path) for item in value]
    if not isinstance(value, dict):
        return value
    key = path[-1] if path else ""
    if key in _MAPS or (key == "options" and path[-2:-1] == ("flexVolume",)):
        return {k: "" if v is None else _decoded(v, (*path, k)) for k, v in value.items()}
    if key in _RESOURCE_LISTS:
        return dict(value)  # quantities: see _quantities
    result = {}
    for field, item in value.items():
        if item is None:
            continue
        decoded = _decoded(item, (*path, field))
        if not _pointer(path, field):
            if decoded == "" and _int_or_string(path, field):
                pass  # IntOrString "" is {Type: String}, not the zero struct (intstr.go)
            elif decoded is False or decoded == "" or (type(decoded) is int and decoded == 0):
                continue
            if decoded == {} and (field in _VALUE_STRUCTS or field == "resources"):
                continue
        result[field] = decoded
    return result


def _requests_from_limits(resources: dict[str, Any]) -> None:
    """SetDefaults_Pod: a limit with no request written is also the request."""
    limits = resources.get("limits")
    if isinstance(limits, dict):
        requests = resources.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, limit in limits.items():
                requests.setdefault(name, limit)


def _quantities(spec: dict[str, Any]) -> None:
    lists = [mapping(c.get("resources")) for _, c in containers(spec)]
    lists.append(mapping(spec.get("resources")))
    for _, volume in items(spec.get("volumes")):
        template = mapping(mapping(volume.get("ephemeral")).get("volumeClaimTemplate"))
        lists.append(mapping(mapping(template.get("spec")).get("resources")))
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            empty_dir["sizeLimit"] = _quantity(empty_dir["sizeLimit"], rounded=False)
    for resources in lists:
        for key in ("limits", "requests"):
            _round_list(resources.get(key))
    _round_list(spec.get("overhead"))


def _round_list(values: Any) -> None:
    if isinstance(values, dict):
        for name in values:
            values[name] = _quantity(values[name], rounded=True)


def _quantity(value: Any, rounded: bool) -> Any:
    try:
        parsed = decoded_quantity(value)
    except QuantityError:
        # The kubelet refuses it (validation says so), or spctl does not read it: equal only
        # to the same value written the same way.
        return ("unparsed", type(value).__name__, value if isinstance(value, str) else repr(value))
    return ("quantity", *(rounded_to_milli(parsed) if rounded else parsed))


def _tagged(value: Any) -> Any:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return {k: _tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    return value
