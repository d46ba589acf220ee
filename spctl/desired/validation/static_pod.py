"""Is this a valid static pod?

:func:`validate_pod` is pure: it takes a parsed manifest and returns every problem it finds, in a
stable order, so one run shows the operator everything to fix. It checks, in this order: that
the document is a Pod at all, the Kubernetes Pod JSON schema (strict: unknown fields are typos),
the static-pod rules the kubelet enforces (no references to API objects), names that become
file names on the node, and the size of the file that will be written.

The schema is :mod:`.schema`'s; the kubelet's own rules are :mod:`.kubelet`'s, run last.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from spctl_agent.protocol import MANIFEST_SUFFIX

from spctl.desired.validation.kubelet import kubelet_problems
from spctl.desired.validation.problem import ROOT, Problem, show
from spctl.desired.validation.schema import schema_problems
from spctl.desired.yamlio import MAX_MANIFEST_BYTES, ManifestError, dump_manifest

MAX_NAME_LENGTH = 253  # DNS-1123 subdomain, and the static pod's name `<name>-<node>`
MAX_LABEL_LENGTH = 63  # DNS-1123 label: container names
MAX_FILE_NAME_BYTES = 255  # NAME_MAX on Linux file systems

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


_WHY = "static pods cannot reference API objects, so the kubelet (1.34 and later) rejects the pod"

# Volume sources that always reference an API object (the kubelet's HasAPIObjectReference).
_API_VOLUMES = {
    "secret": ("a Secret", "put the files on the node and use a hostPath volume"),
    "configMap": ("a ConfigMap", "put the files on the node and use a hostPath volume"),
    "persistentVolumeClaim": (
        "a PersistentVolumeClaim",
        "use a hostPath volume (or a local directory) on the node",
    ),
    "ephemeral": (
        "a PersistentVolumeClaim (generic ephemeral volume)",
        "use an emptyDir or hostPath volume",
    ),
    "csi": ("a CSIDriver", "mount the storage on the node and use a hostPath volume"),
    "glusterfs": ("an Endpoints object", "mount the storage on the node and use a hostPath volume"),
    "azureFile": ("a Secret", "mount the share on the node and use a hostPath volume"),
}
# Volume sources that are fine unless they name a Secret for their credentials.
_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")
_API_PROJECTIONS = {
    "secret": ("a Secret", "put the files on the node and use a hostPath volume"),
    "configMap": ("a ConfigMap", "put the files on the node and use a hostPath volume"),
    "serviceAccountToken": (
        "a ServiceAccount token",
        "give the pod a kubeconfig or token file from the node through a hostPath volume",
    ),
    "clusterTrustBundle": (
        "a ClusterTrustBundle",
        "put the CA bundle on the node and use a hostPath volume",
    ),
    "podCertificate": (
        "a PodCertificateRequest",
        "put the certificate on the node and use a hostPath volume",
    ),
}


def validate_pod(doc: dict[str, Any], node_name: str | None = None) -> list[Problem]:
    """Every problem that would stop the kubelet from running ``doc`` as a static pod; empty
    when it is valid. With ``node_name``, also check the name the kubelet gives the pod."""
    if not isinstance(doc, dict):
        return [Problem(ROOT, "a manifest must be a mapping (apiVersion: v1, kind: Pod, ...)")]
    problems = _identity_problems(doc)
    if any(p.field in ("apiVersion", "kind") for p in problems):
        return problems  # not a Pod: the Pod schema would only add noise
    problems += schema_problems(doc)
    problems += _api_reference_problems(doc)
    problems += _name_problems(doc, node_name)
    problems += _container_problems(doc)
    problems += _kubelet_problems(doc, node_name, problems)
    problems += _size_problems(doc)
    return list(dict.fromkeys(problems))  # the schema can report one field twice


# Static pods are not admitted by the API server: no Pod Security admission, no policy
# engine, sees them (pkg/kubelet/config/file.go reads the file; the mirror pod is created
# after the pod already runs). These settings give a pod the node itself.
_UNADMITTED = "static pods bypass admission control, so no Pod Security policy will stop it"


def dangerous_settings(doc: dict[str, Any]) -> list[Problem]:
    """Settings that hand the node to the pod: a privileged container, the host's PID
    namespace, the host's root directory mounted. Warnings, errors under ``--strict``."""
    found: list[Problem] = []
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        return found
    if spec.get("hostPID") is True:
        found.append(
            Problem(
                "spec.hostPID",
                f"the pod sees and can signal every process of the node; {_UNADMITTED}",
            )
        )
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in _items(spec.get(key)):
            context = container.get("securityContext")
            if isinstance(context, dict) and context.get("privileged") is True:
                found.append(
                    Problem(
                        f"spec.{key}[{i}].securityContext.privileged",
                        f"a privileged container has every device and capability of the node; "
                        f"{_UNADMITTED}",
                    )
                )
    for i, volume in _items(spec.get("volumes")):
        host_path = volume.get("hostPath")
        path = host_path.get("path") if isinstance(host_path, dict) else None
        if (
            isinstance(path, str)
            and path.startswith("/")
            and posixpath.normpath(path) in ("/", "//")
        ):
            found.append(
                Problem(
                    f"spec.volumes[{i}].hostPath.path",
                    f"{path!r} mounts the node's whole file system into the pod; {_UNADMITTED}",
                )
            )
    return found


def validate_pod_name(name: str) -> str | None:
    """The problem with ``name`` as a pod name, or None.

    spctl writes the pod to ``<name>.yaml`` in the directory the kubelet watches, so the name
    must be a safe file name there as well as a DNS-1123 subdomain.
    """
    if not name:
        return "the pod name is empty; set metadata.name (e.g. static-web)"
    if "/" in name or "\0" in name:
        return (
            f"{name!r} contains '/' or a NUL byte; spctl writes the pod to <name>.yaml in the "
            "kubelet's manifest directory, so the name must be a plain file name (e.g. static-web)"
        )
    if name.startswith("."):
        return (
            f"{name!r} starts with '.'; the kubelet ignores manifest files whose names start "
            "with a dot, so the pod would never run; start the name with a letter or digit"
        )
    if len(name) > MAX_NAME_LENGTH:
        return f"{name[:20]!r}... is {len(name)} characters, at most {MAX_NAME_LENGTH} allowed"
    if not _SUBDOMAIN.fullmatch(name):
        return (
            f"{name!r} is not a DNS-1123 subdomain: use lower-case letters, digits, '-' and "
            "'.', starting and ending with a letter or digit (e.g. static-web)"
        )
    if len(name) + len(MANIFEST_SUFFIX) > MAX_FILE_NAME_BYTES:
        return (
            f"{name[:20]!r}... is {len(name)} characters; the file {name[:8]}...{MANIFEST_SUFFIX} "
            f"would exceed the {MAX_FILE_NAME_BYTES}-byte file name limit; use at most "
            f"{MAX_FILE_NAME_BYTES - len(MANIFEST_SUFFIX)} characters"
        )
    return None


def check_unique_names(pods: list[tuple[str, str]]) -> list[str]:
    """Pod names used more than once among one node's ``(pod name, template)`` pairs, one
    message per name, naming every template that defines it."""
    templates: dict[str, list[str]] = {}
    for name, template in pods:
        templates.setdefault(name, []).append(template)
    return [
        f"pod {name!r} is defined by {len(used)} templates ({', '.join(used)}); the kubelet's "
        f"choice between manifests with the same pod name is undefined (a stale copy can win) "
        f"and spctl would write both to {name}{MANIFEST_SUFFIX}; give each a different metadata.name"
        for name, used in templates.items()
        if len(used) > 1
    ]


# --- what the document is ------------------------------------------------------------------


def _identity_problems(doc: dict[str, Any]) -> list[Problem]:
    problems = []
    if doc.get("apiVersion") != "v1":
        problems.append(
            Problem("apiVersion", f"must be v1 for a Pod, not {show(doc.get('apiVersion'))}")
        )
    if doc.get("kind") != "Pod":
        problems.append(
            Problem(
                "kind",
                f"must be Pod, not {show(doc.get('kind'))}: the kubelet runs only Pod "
                "manifests from its directory (anything else needs the API server)",
            )
        )
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("name") is None:
        problems.append(
            Problem(
                "metadata.name",
                "required: the kubelet needs a name for the pod (and spctl names the file "
                f"<name>{MANIFEST_SUFFIX})",
            )
        )
    elif "uid" in metadata:
        # The kubelet accepts it, and that is the trouble: applyDefaults
        # (pkg/kubelet/config/common.go) hashes the pod into a UID only when none is set.
        problems.append(
            Problem(
                "metadata.uid",
                "a static pod's UID must be left to the kubelet: it keeps a UID written in the "
                "manifest, so the pod would never restart when its manifest changes (and spctl "
                "could not see the new pod start); remove the field",
            )
        )
    return problems


# --- static pods may not reference API objects -------------------------------------------------


def _api_reference_problems(doc: dict[str, Any]) -> list[Problem]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    problems = []
    for key in ("serviceAccountName", "serviceAccount"):
        if spec.get(key):
            problems.append(
                Problem(
                    f"spec.{key}",
                    f"references a ServiceAccount; {_WHY}; remove it (to reach the API server, "
                    "mount a kubeconfig from the node with a hostPath volume)",
                )
            )
    if spec.get("imagePullSecrets"):
        problems.append(
            Problem(
                "spec.imagePullSecrets",
                f"references Secrets; {_WHY}; remove it and give the node's container runtime "
                "the registry credentials (or pre-pull the image)",
            )
        )
    if spec.get("resourceClaims"):
        problems.append(
            Problem(
                "spec.resourceClaims",
                f"references ResourceClaims; {_WHY}; remove it (static pods cannot use dynamic "
                "resource allocation)",
            )
        )
    if spec.get("ephemeralContainers"):
        problems.append(
            Problem(
                "spec.ephemeralContainers",
                "static pods cannot have ephemeral containers (they are added to running pods "
                "through the API, e.g. kubectl debug), so the kubelet rejects the pod; remove it",
            )
        )
    for i, volume in _items(spec.get("volumes")):
        problems += _volume_problems(f"spec.volumes[{i}]", volume)
    for prefix, container in _containers(spec):
        problems += _container_reference_problems(prefix, container)
    return problems


def _volume_problems(prefix: str, volume: dict[str, Any]) -> list[Problem]:
    problems = []
    for key, (what, instead) in _API_VOLUMES.items():
        if volume.get(key) is not None:
            problems.append(Problem(f"{prefix}.{key}", f"references {what}; {_WHY}; {instead}"))
    for key in _SECRET_REF_VOLUMES:
        source = volume.get(key)
        if isinstance(source, dict) and source.get("secretRef") is not None:
            problems.append(
                Problem(
                    f"{prefix}.{key}.secretRef",
                    f"references a Secret; {_WHY}; keep the credentials on the node instead",
                )
            )
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for j, source in _items(projected.get("sources")):
            for key, (what, instead) in _API_PROJECTIONS.items():
                if source.get(key) is not None:
                    problems.append(
                        Problem(
                            f"{prefix}.projected.sources[{j}].{key}",
                            f"references {what}; {_WHY}; {instead}",
                        )
                    )
    return problems


def _container_reference_problems(prefix: str, container: dict[str, Any]) -> list[Problem]:
    problems = []
    for k, env in _items(container.get("env")):
        value_from = env.get("valueFrom")
        if not isinstance(value_from, dict):
            continue
        for key, what in (("secretKeyRef", "a Secret"), ("configMapKeyRef", "a ConfigMap")):
            if value_from.get(key) is not None:
                problems.append(
                    Problem(
                        f"{prefix}.env[{k}].valueFrom.{key}",
                        f"references {what}; {_WHY}; put the value inline (env[].value) or read "
                        "it from a file on a hostPath volume",
                    )
                )
    if container.get("envFrom"):
        problems.append(
            Problem(
                f"{prefix}.envFrom",
                f"reads variables from Secrets or ConfigMaps; {_WHY}; set each variable with "
                "env[].name and env[].value instead",
            )
        )
    resources = container.get("resources")
    if isinstance(resources, dict) and resources.get("claims"):
        problems.append(
            Problem(
                f"{prefix}.resources.claims",
                f"uses ResourceClaims; {_WHY}; remove it (static pods cannot use dynamic "
                "resource allocation)",
            )
        )
    return problems


# --- names, containers, size -------------------------------------------------------------------


def _name_problems(doc: dict[str, Any], node_name: str | None) -> list[Problem]:
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str):
        return []  # missing: reported with the identity; not a string: by the schema
    problem = validate_pod_name(name)
    if problem is None and node_name:
        problem = kubelet_name_problem(name, node_name)
    return [] if problem is None else [Problem("metadata.name", problem)]


def kubelet_name_problem(name: str, node_name: str) -> str | None:
    """Why the kubelet would refuse the name it gives pod ``name`` on the node it calls
    ``node_name`` (``<name>-<node>``, pkg/kubelet/config/common.go generatePodName), or None."""
    pod_name = f"{name}-{node_name.lower()}"
    if len(pod_name) <= MAX_NAME_LENGTH:
        return None
    room = MAX_NAME_LENGTH - len(node_name) - 1
    return (
        f"the kubelet names the pod <name>-<node>, here {len(pod_name)} characters "
        f"on node {node_name}, over the {MAX_NAME_LENGTH} allowed; shorten the pod "
        f"name to at most {max(room, 0)} characters"
    )


def _container_problems(doc: dict[str, Any]) -> list[Problem]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    volumes = {v.get("name") for _, v in _items(spec.get("volumes"))}
    problems = []
    first_use: dict[str, str] = {}
    for prefix, container in _containers(spec):
        name = container.get("name")
        if isinstance(name, str):
            if len(name) > MAX_LABEL_LENGTH or not _LABEL.fullmatch(name):
                problems.append(
                    Problem(
                        f"{prefix}.name",
                        f"{show(name)} is not a DNS-1123 label: use at most {MAX_LABEL_LENGTH} "
                        "lower-case letters, digits and '-', starting and ending with a letter "
                        "or digit (e.g. web)",
                    )
                )
            elif name in first_use:
                problems.append(
                    Problem(
                        f"{prefix}.name",
                        f"container name {name!r} is already used by {first_use[name]}; "
                        "container names must be unique within the pod (containers and "
                        "initContainers together)",
                    )
                )
            else:
                first_use[name] = prefix
        image = container.get("image")
        if image is None or (isinstance(image, str) and not image.strip()):
            problems.append(
                Problem(
                    f"{prefix}.image",
                    "required: the kubelet cannot run a container without an image; set image "
                    "(e.g. nginx:1.27)",
                )
            )
        for k, mount in _items(container.get("volumeMounts")):
            mount_name = mount.get("name")
            if isinstance(mount_name, str) and mount_name not in volumes:
                problems.append(
                    Problem(
                        f"{prefix}.volumeMounts[{k}].name",
                        f"no volume named {mount_name!r} in spec.volumes; add the volume or fix "
                        "the name",
                    )
                )
    return problems


def _size_problems(doc: dict[str, Any]) -> list[Problem]:
    # The written size is only measured exactly (by dumping, about 1 ms for a small pod and a
    # second per megabyte) when bounds from one walk over the document cannot decide.
    lower, upper = _size_bounds(doc, 0)
    if upper < MAX_MANIFEST_BYTES:
        return []
    size, at_least = lower, "at least "
    if lower < MAX_MANIFEST_BYTES:
        try:
            size, at_least = len(dump_manifest(doc).encode("utf-8")), ""
        except ManifestError as exc:
            return [Problem(ROOT, str(exc))]
    if size >= MAX_MANIFEST_BYTES:  # the same limit as manifest.parse_manifest
        return [
            Problem(
                ROOT,
                f"the manifest is {at_least}{size} bytes once written; the kubelet refuses files "
                f"of {MAX_MANIFEST_BYTES} bytes ({MAX_MANIFEST_BYTES / 2**20:g} MiB) or more; "
                "move large data into a file on the node and mount it with a hostPath volume",
            )
        ]
    return []


def _size_bounds(value: Any, depth: int) -> tuple[int, int]:
    """Bounds on the bytes dump_manifest writes for ``value`` at nesting ``depth``.

    Lower: every character of every string is at least one byte. Upper: a character is at
    most 10 bytes (the escape \\UXXXXXXXX), each line of a block string is indented, and each
    entry adds its indent, punctuation and newline. Anything that is not plain data gets an
    infinite upper bound, so the dump runs and reports it.
    """
    indent = 2 * depth + 8
    if isinstance(value, str):
        return len(value), 10 * len(value) + (value.count("\n") + 1) * indent
    if value is None or isinstance(value, (bool, int, float)):
        return 0, 32
    if isinstance(value, (dict, list)):
        lower, upper = 0, indent
        pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for key, item in pairs:
            key_lower, key_upper = _size_bounds(key, depth + 1)
            item_lower, item_upper = _size_bounds(item, depth + 1)
            lower += key_lower + item_lower
            upper += key_upper + item_upper + indent
        return lower, upper
    return 0, MAX_MANIFEST_BYTES


def _items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mappings in a list field, with their indexes; anything malformed is left to the
    schema check."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainers", "containers"):
        for i, container in _items(spec.get(key)):
            yield f"spec.{key}[{i}]", container


# --- the kubelet's own validation, family by family, in validation/kubelet/ ----------------------


def _kubelet_problems(
    doc: dict[str, Any], node_name: str | None, found: list[Problem]
) -> list[Problem]:
    reported = {p.field for p in found}  # one problem per field: the checks above go first
    return [p for p in kubelet_problems(doc, node_name) if p.field not in reported]
