"""The pod as the kubelet holds it after decoding: the Go structs the JSON fills, the scheme's
defaults applied, and the form its UID is hashed from.

The kubelet decodes a manifest into a v1 Pod and the scheme defaults it
(SetObjectDefaults_Pod in pkg/apis/core/v1/zz_generated.defaults.go, calling
pkg/apis/core/v1/defaults.go); everything after works on that defaulted pod, so a port
without ``protocol`` is TCP there and a probe's 0 is its default. applyDefaults
(pkg/kubelet/config/common.go) then hashes the decoded pod (hash.DeepHashObject: spew of the
structs, pkg/util/hash/hash.go) with the node name and the file path into the UID, unless
``metadata.uid`` is set: so a manifest that only spells a default out keeps its UID and its pod.

Decoding (:func:`decoded_pod`) walks the manifest with the Go types (:mod:`.pod_fields`,
generated from k8s.io/api core/v1/types.go and apimachinery meta/v1/types.go, v0.34.10):

- a field the types do not have is dropped (the decoder is not strict); JSON null is a field
  left out;
- a zero value written for a field that is no pointer is that field left out: ``false``,
  ``0``, ``""``, a struct value whose fields are all zero (``resources: {}``), an
  IntOrString ``0``; for a pointer field it is not (``privileged: false``, ``runAsUser: 0``,
  ``securityContext: {}`` before the default);
- an empty list or map is not its absence: spew (davecgh/go-spew spew/format.go, at
  d8f796a, the commit Kubernetes pins) writes a nil slice or map as ``<nil>`` and an empty
  one as ``[]`` / ``map[]``; a null inside a map of strings is ``""``;
- a YAML number counts by its JSON text (``80.0`` is ``80``); a resource quantity by the
  fields ParseQuantity fills (:mod:`.quantity`: ``cpu: 1`` is ``cpu: "1"``, ``1000m`` is
  another quantity).

The defaults (:func:`defaulted_pod`), in SetObjectDefaults_Pod's order, each named where it
is applied: SetDefaults_Pod (requests from limits for containers and init containers,
enableServiceLinks, hostNetwork's hostPorts); SetDefaults_PodSpec (dnsPolicy, restartPolicy,
securityContext, terminationGracePeriodSeconds, schedulerName); per volume SetDefaults_Volume
(no source is an emptyDir; an image source's pullPolicy from its reference's tag, which
defaults.go does behind the ImageVolume gate: modelled as on),
SetDefaults_HostPathVolumeSource, SetDefaults_SecretVolumeSource,
SetDefaults_ConfigMapVolumeSource, SetDefaults_DownwardAPIVolumeSource and
SetDefaults_ProjectedVolumeSource (defaultMode), the ISCSI and RBD +default tags
(iscsiInterface; pool, user, keyring), SetDefaults_ObjectFieldSelector (apiVersion v1, in
downwardAPI and projected downwardAPI items), SetDefaults_AzureDiskVolumeSource (cachingMode,
kind, fsType, readOnly), SetDefaults_ServiceAccountTokenProjection (expirationSeconds 3600),
the ScaleIO +default tags (storageMode, fsType), SetDefaults_PersistentVolumeClaimSpec
(an ephemeral volume's claim template's volumeMode); per init, regular and ephemeral container
SetDefaults_Container (imagePullPolicy from the tag, terminationMessagePath and Policy), the
port's +default TCP, SetDefaults_ObjectFieldSelector for env, FileKeySelector's +default
optional false, SetDefaults_Probe, SetDefaults_HTTPGetAction, GRPCAction's +default service
"", the lifecycle handlers' HTTPGetAction; and SetDefaults_ResourceList wherever a
ResourceList is (rounded up to milli scale, in :func:`hashed_form`).

Not modelled, as they could not be checked here against the 1.34 text of defaults.go: the
gated parts of SetDefaults_Pod (pod-level requests, PodLevelResources' defaultPodRequests;
a container's resizePolicy, InPlacePodVerticalScaling). The hash is taken of the internal
core.Pod the UniversalDecoder converts to (tryDecodeSinglePod; pkg/apis/core/types.go): the
v1 types read here give its verdict, as the two agree on every Pod field's pointer-ness but
ServiceAccountTokenProjection.ExpirationSeconds (a value inside, which the v1 default always
sets first), compared at the pair vendored together in kubernetes-sigs/cloud-provider-azure
(k8s.io/kubernetes v1.21.0-alpha); v1's deprecated ``serviceAccount``, which conversion folds
into serviceAccountName, no static pod may have.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterator

from . import quantity
from .pod_fields import FIELDS

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def decoded_pod(obj: Dict[str, Any]) -> Dict[str, Any]:
    """A manifest as the JSON decoder leaves it in a v1 Pod (see the module)."""
    return _struct(obj, "Pod")


def defaulted_pod(obj: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a manifest, decoded, with the scheme's defaults (see the module)."""
    pod = decoded_pod(obj)
    spec = pod.setdefault("spec", {})
    # SetDefaults_Pod
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            resources = container.get("resources")
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = resources.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, limit in resources["limits"].items():
                        requests.setdefault(name, copy.deepcopy(limit))
    spec.setdefault("enableServiceLinks", True)
    if spec.get("hostNetwork") is True:  # defaultHostNetworkPorts
        for key in ("containers", "initContainers"):
            for container in _dicts(spec.get(key)):
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort") and "containerPort" in port:
                        port["hostPort"] = port["containerPort"]
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
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)
    for key in _CONTAINER_LISTS:
        for container in _dicts(spec.get(key)):
            _default_container(container)
    return pod


def hashed_form(pod: Dict[str, Any]) -> Dict[str, Any]:
    """The defaulted pod as its hash sees it: every quantity as the fields ParseQuantity
    fills, every ResourceList entry rounded up to milli scale (SetDefaults_ResourceList,
    which defaulter-gen calls for each ResourceList in the Pod, status included)."""
    return _quantities(decoded_pod(pod), "Pod")


# --- decoding --------------------------------------------------------------------------------


def _struct(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        return obj  # a type the decoder refuses; validation reports it
    fields = FIELDS[name]
    result: Dict[str, Any] = {}
    for key, value in obj.items():
        kind = fields.get(key) if isinstance(key, str) else None
        if kind is None or value is None:
            continue
        pointer = kind.startswith("*")
        base = kind.lstrip("*")
        item = _value(value, base)
        if not pointer and _is_zero(item, base):
            continue
        result[key] = item
    return result


def _value(value: Any, kind: str) -> Any:
    if kind.startswith("[]"):
        if not isinstance(value, list):
            return value
        element = kind[2:]
        return [_element(item, element) for item in value]
    if kind.startswith("S:"):
        return _struct(value, kind[2:])
    if kind == "m":
        if not isinstance(value, dict):
            return value
        return {k: "" if v is None else _number(v) for k, v in value.items()}
    if kind == "rl":
        return dict(value) if isinstance(value, dict) else value  # see hashed_form
    return _number(value)


def _element(item: Any, kind: str) -> Any:
    if item is None:  # null in a list is the element's zero value
        return {} if kind.startswith("S:") else item
    return _value(item, kind)


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)  # a JSON number: 80.0 is written 80 and decodes as 80
    return value


def _is_zero(value: Any, kind: str) -> bool:
    if kind == "v":
        return value is False or value == "" or (type(value) is int and value == 0)
    if kind.startswith("S:"):
        return value == {}
    if kind == "ios":  # IntOrString{Type: Int, IntVal: 0} is the zero struct
        return type(value) is int and value == 0
    return False  # lists and maps (empty is not nil), quantities, times


def _quantities(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        return obj
    fields = FIELDS[name]
    result = {}
    for key, value in obj.items():
        kind = fields.get(key, "").lstrip("*")
        if kind == "rl" and isinstance(value, dict):
            value = {k: _hashed_quantity(v, rounded=True) for k, v in value.items()}
        elif kind == "q":
            value = _hashed_quantity(value, rounded=False)
        elif kind.startswith("S:"):
            value = _quantities(value, kind[2:])
        elif kind.startswith("[]S:") and isinstance(value, list):
            value = [_quantities(item, kind[4:]) for item in value]
        result[key] = value
    return result


def _hashed_quantity(value: Any, rounded: bool) -> Any:
    try:
        parsed = quantity.decoded(value)
    except quantity.QuantityError:
        return ["unparsed", repr(value)]  # the kubelet refuses the file (check_quantities)
    return list(quantity.rounded_up_to_milli(parsed) if rounded else parsed)


def check_quantities(obj: Dict[str, Any]) -> None:
    """Raise :class:`quantity.QuantityError` for the first quantity of a manifest that
    Quantity.UnmarshalJSON refuses: the kubelet's decoder fails on it, so the file is no pod."""
    for item in _quantity_values(decoded_pod(obj), "Pod"):
        quantity.decoded(item)


def _quantity_values(obj: Any, name: str) -> Iterator[Any]:
    if not isinstance(obj, dict):
        return
    fields = FIELDS[name]
    for key, value in obj.items():
        kind = fields.get(key, "").lstrip("*")
        if kind == "rl" and isinstance(value, dict):
            yield from value.values()
        elif kind == "q":
            yield value
        elif kind.startswith("S:"):
            yield from _quantity_values(value, kind[2:])
        elif kind.startswith("[]S:") and isinstance(value, list):
            for item in value:
                yield from _quantity_values(item, kind[4:])


# --- the scheme's defaults -------------------------------------------------------------------


def _dicts(value: Any) -> list:
    return (
        [item for item in value or [] if isinstance(item, dict)] if isinstance(value, list) else []
    )


def _default_volume(volume: Dict[str, Any]) -> None:
    # SetDefaults_Volume: no source at all (utilpointer.AllPtrFieldsNil) is an emptyDir
    if not [k for k in volume if k != "name"]:
        volume["emptyDir"] = {}
    image = volume.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = (
            "Always" if _tag(image.get("reference")) == "latest" else "IfNotPresent"
        )
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")  # SetDefaults_HostPathVolumeSource: HostPathUnset
    for key in ("secret", "downwardAPI", "configMap", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            source.setdefault("defaultMode", 0o644)
    _default_strings(volume.get("iscsi"), {"iscsiInterface": "default"})
    _default_strings(
        volume.get("rbd"), {"pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"}
    )
    for item in _dicts((volume.get("downwardAPI") or {}).get("items")):
        _default_field_ref(item.get("fieldRef"))
    azure_disk = volume.get("azureDisk")
    if isinstance(azure_disk, dict):  # SetDefaults_AzureDiskVolumeSource: pointers
        for key, default in (
            ("cachingMode", "ReadWrite"),
            ("kind", "Shared"),
            ("fsType", "ext4"),
            ("readOnly", False),
        ):
            azure_disk.setdefault(key, default)
    projected = volume.get("projected")
    for source in _dicts(projected.get("sources") if isinstance(projected, dict) else None):
        for item in _dicts((source.get("downwardAPI") or {}).get("items")):
            _default_field_ref(item.get("fieldRef"))
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):  # SetDefaults_ServiceAccountTokenProjection: an hour
            token.setdefault("expirationSeconds", 3600)
    _default_strings(volume.get("scaleIO"), {"storageMode": "ThinProvisioned", "fsType": "xfs"})
    ephemeral = volume.get("ephemeral")
    template = ephemeral.get("volumeClaimTemplate") if isinstance(ephemeral, dict) else None
    if isinstance(template, dict):  # SetDefaults_PersistentVolumeClaimSpec
        claim = template.setdefault("spec", {})
        if isinstance(claim, dict):
            claim.setdefault("volumeMode", "Filesystem")


def _default_strings(source: Any, defaults: Dict[str, str]) -> None:
    if isinstance(source, dict):
        for key, default in defaults.items():
            if not source.get(key):
                source[key] = default


def _default_field_ref(selector: Any) -> None:
    if isinstance(selector, dict) and not selector.get("apiVersion"):
        selector["apiVersion"] = "v1"  # SetDefaults_ObjectFieldSelector


def _default_container(container: Dict[str, Any]) -> None:
    # SetDefaults_Container (SetDefaults_EphemeralContainer calls it too)
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = (
            "Always" if _tag(container.get("image")) == "latest" else "IfNotPresent"
        )
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for port in _dicts(container.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"  # +default="TCP" on ContainerPort.Protocol
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, dict):
            _default_field_ref(source.get("fieldRef"))
            file_key = source.get("fileKeyRef")
            if isinstance(file_key, dict):
                file_key.setdefault("optional", False)  # +default=false, a pointer
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
                grpc.setdefault("service", "")  # +default="" on GRPCAction.Service, a pointer
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
    and no digest is; none for a reference it cannot parse (here only the empty one)."""
    if not isinstance(image, str) or not image:
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"
