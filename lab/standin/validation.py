"""What a static pod must pass before it runs: the API's validation of a new pod, and the
PreventStaticPodAPIReferences restrictions."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from .release import FEATURE_GATES, RELAXED_ENV


class ManifestError(Exception):
    """A manifest the kubelet would not run; the message says why."""


DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(rf"{DNS_LABEL.pattern}(\.{DNS_LABEL.pattern})*")
# Volume types with no API object behind them (podutil.HasAPIObjectReference lets them pass).
PLAIN_VOLUMES = frozenset(
    (  # noqa: SIM905 (a table of names, one word each)
        "awsElasticBlockStore azureDisk cephfs cinder downwardAPI emptyDir fc flexVolume flocker "
        "gcePersistentDisk gitRepo hostPath image iscsi nfs photonPersistentDisk portworxVolume "
        "quobyte rbd scaleIO storageos vsphereVolume"
    ).split()
)
API_VOLUMES = {
    "configMap": "configmaps (via configmap volumes)",
    "secret": "secrets (via secret volumes)",
    "csi": "csidrivers (via CSI volumes)",
    "glusterfs": "endpoints (via glusterFS volumes)",
    "persistentVolumeClaim": "persistentvolumeclaims",
    "ephemeral": "persistentvolumeclaims (via ephemeral volumes)",
    "azureFile": "secrets (via azureFile volumes)",
}
PROJECTED_API_SOURCES = {
    "configMap": "configmaps (via projected volumes)",
    "secret": "secrets (via projected volumes)",
    "serviceAccountToken": "serviceaccounts (via projected volumes)",
    "clusterTrustBundle": "clustertrustbundles",
    "podCertificate": "podcertificates",
}
SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos")


def _containers(spec: Dict[str, Any], kinds: Tuple[str, ...]) -> List[Tuple[str, Any]]:
    return [(f"spec.{k}[{i}]", c) for k in kinds for i, c in enumerate(spec.get(k) or [])]


# staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go: IsEnvVarName (with
# hasChDirPrefix) and IsRelaxedEnvVarName, chosen by the gate in ValidateEnv
# (pkg/apis/core/validation/validation.go).
ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
ENV_VAR_NAME_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
RELAXED_ENV_VAR_NAME_MESSAGE = (
    "a valid environment variable name must consist only of printable ASCII characters other "
    "than '='"
)


def env_var_name_errors(name: str) -> List[str]:
    if FEATURE_GATES[RELAXED_ENV]:
        bad = any(not " " <= ch <= "~" or ch == "=" for ch in name)
        return [RELAXED_ENV_VAR_NAME_MESSAGE] if bad else []
    errs = [] if ENV_VAR_NAME.fullmatch(name) else [ENV_VAR_NAME_MESSAGE]
    if name in (".", ".."):
        errs.append(f"must not be '{name}'")
    elif name.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _validate_container(where: str, c: Any, names: set, volumes: set) -> List[str]:
    if not isinstance(c, dict):
        return [f"{where}: Invalid value: must be an object"]
    errs, name = [], c.get("name")
    if not name:
        errs.append(f"{where}.name: Required value")
    elif not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        errs.append(f'{where}.name: Invalid value: "{name}": must be a DNS-1123 label')
    elif name in names:
        errs.append(f'{where}.name: Duplicate value: "{name}"')
    names.add(str(name))
    if not isinstance(c.get("image"), str) or not c["image"]:
        errs.append(f"{where}.image: Required value")
    for i, env in enumerate(c.get("env") or []):
        if not isinstance(env, dict) or not env.get("name"):
            errs.append(f"{where}.env[{i}].name: Required value")
        elif env_var_name_errors(str(env["name"])):
            errs += [
                f"{where}.env[{i}].name: Invalid value: {json.dumps(env['name'])}: {message}"
                for message in env_var_name_errors(str(env["name"]))
            ]
        elif not isinstance(env.get("value", ""), str):  # unquoted numbers, the classic
            errs.append(f"{where}.env[{i}].value: Invalid value: {env['value']!r}: not a string")
    for i, mount in enumerate(c.get("volumeMounts") or []):
        if not isinstance(mount, dict) or mount.get("name") not in volumes:
            errs.append(f"{where}.volumeMounts[{i}].name: Not found: {mount!r}")
        elif not mount.get("mountPath"):
            errs.append(f"{where}.volumeMounts[{i}].mountPath: Required value")
    return errs


def validate_pod(pod: Dict[str, Any], pod_name: str) -> List[str]:
    """The part of ValidatePodCreate a manifest author can trip over, with its messages."""
    errs: List[str] = []
    meta, spec = pod["metadata"], pod.get("spec")
    if len(pod_name) > 253 or not DNS_SUBDOMAIN.fullmatch(pod_name):
        errs.append(f'metadata.name: Invalid value: "{pod_name}": must be a DNS-1123 subdomain')
    if not DNS_LABEL.fullmatch(str(meta.get("namespace") or "default")):
        errs.append(f"metadata.namespace: Invalid value: {meta['namespace']!r}")
    for key in ("labels", "annotations"):
        values = meta.get(key) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            errs.append(f"metadata.{key}: Invalid value: values must be strings")
    if not isinstance(spec, dict):
        return errs + ["spec: Required value"]
    volumes: set = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, dict) or not volume.get("name"):
            errs.append(f"spec.volumes[{i}].name: Required value")
        elif volume["name"] in volumes:
            errs.append(f'spec.volumes[{i}].name: Duplicate value: "{volume["name"]}"')
        elif len(volume) != 2:
            errs.append(f"spec.volumes[{i}]: Invalid value: must specify exactly one volume type")
        volumes.add(volume.get("name") if isinstance(volume, dict) else None)
    if not isinstance(spec.get("containers"), list) or not spec["containers"]:
        errs.append("spec.containers: Required value")
    names: set = set()
    for where, c in _containers(spec, ("initContainers", "containers")):
        errs += _validate_container(where, c, names, volumes)
    if spec.get("ephemeralContainers"):
        errs.append("spec.ephemeralContainers: Forbidden: cannot be set on create")
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        errs.append(f'spec.restartPolicy: Unsupported value: "{spec["restartPolicy"]}"')
    grace = spec.get("terminationGracePeriodSeconds", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        errs.append("spec.terminationGracePeriodSeconds: Invalid value: must be >= 0")
    return errs


def _uses_ref(spec: Dict[str, Any], env_from_key: str, key_ref: str) -> bool:
    """Whether a container's envFrom or env valueFrom names an API object of that kind."""
    for _, c in _containers(spec, ("initContainers", "containers", "ephemeralContainers")):
        if any(env_from_key in source for source in c.get("envFrom") or []):
            return True
        if any((env.get("valueFrom") or {}).get(key_ref) for env in c.get("env") or []):
            return True
    return False


def _projected(volume: Dict[str, Any]) -> List[Dict[str, Any]]:
    projected = volume.get("projected")
    sources = projected.get("sources") if isinstance(projected, dict) else None
    return [source for source in sources or [] if isinstance(source, dict)]


def api_object_reference(spec: Dict[str, Any]) -> Optional[str]:
    """The API resource a static pod references, in podutil.HasAPIObjectReference's order,
    or None. Raises ManifestError for a volume type the kubelet does not know."""
    volumes = spec.get("volumes") or []
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        return "serviceaccounts"
    secret_volume = any(
        "secret" in v
        or "azureFile" in v
        or (v.get("csi") or {}).get("nodePublishSecretRef")
        or any((v.get(kind) or {}).get("secretRef") for kind in SECRET_REF_VOLUMES)
        or any("secret" in source for source in _projected(v))
        for v in volumes
    )
    if (
        spec.get("imagePullSecrets")
        or secret_volume
        or _uses_ref(spec, "secretRef", "secretKeyRef")
    ):
        return "secrets"
    configmap_volume = any(
        "configMap" in v or any("configMap" in s for s in _projected(v)) for v in volumes
    )
    if configmap_volume or _uses_ref(spec, "configMapRef", "configMapKeyRef"):
        return "configmaps"
    if spec.get("resourceClaims"):
        return "resourceclaims"
    for volume in volumes:
        kind = next(k for k in volume if k != "name")
        if kind in API_VOLUMES:
            return API_VOLUMES[kind]
        if kind != "projected" and kind not in PLAIN_VOLUMES:
            raise ManifestError(f'unknown volume type for volume "{volume["name"]}"')
        for source in _projected(volume) if kind == "projected" else []:
            found = next(
                (PROJECTED_API_SOURCES[k] for k in source if k in PROJECTED_API_SOURCES), None
            )
            if found:
                return found
            if "downwardAPI" not in source:
                raise ManifestError(f'unknown source for projected volume "{volume["name"]}"')
    return None
