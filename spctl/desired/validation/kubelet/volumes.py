"""Volumes and their mounts (ValidateVolumes, validateVolumeSource,
validateHostPathVolumeSource, validateDownwardAPIVolumeSource, ValidateVolumeMounts,
validateMountPropagation, validateMountRecursiveReadOnly, ValidateVolumeDevices)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    LABEL_HINT,
    dns1123_label_error,
    has_backsteps,
    integer,
    items,
    mapping,
    problem,
    text,
)
from spctl.desired.validation.kubelet.defaults import VOLUME_SOURCES
from spctl.desired.validation.kubelet.env import field_ref_problems, resource_field_ref_problems
from spctl.desired.validation.kubelet.quantity import (
    QUANTITY_HINT,
    QuantityError,
    parse_quantity,
    quantity_text,
)
from spctl.desired.validation.problem import Problem, show

HOST_PATH_TYPES = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)
PROPAGATIONS = ("None", "HostToContainer", "Bidirectional")
RECURSIVE_READ_ONLY = ("Disabled", "IfPossible", "Enabled")
# validVolumeDownwardAPIFieldPathExpressions
VOLUME_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.labels",
    "metadata.annotations",
    "metadata.uid",
)
_MODE_HINT = "write a file mode from 0 to 0777 (in YAML, 0644 is octal, 420 decimal)"


def volume_problems(spec: dict[str, Any]) -> tuple[set[str], list[Problem]]:
    """The names of the valid volumes, and the problems of the others."""
    problems: list[Problem] = []
    names: set[str] = set()
    seen: dict[str, int] = {}
    for i, volume in items(spec.get("volumes")):
        prefix = f"spec.volumes[{i}]"
        found = _source_problems(prefix, volume)
        name = text(volume.get("name"))
        error = dns1123_label_error(name) if name else None
        if error:
            found.append(problem(f"{prefix}.name", error, LABEL_HINT, "ValidateVolumes"))
        if name in seen:
            found.append(
                problem(
                    f"{prefix}.name",
                    f"volume name {name!r} is already used by spec.volumes[{seen[name]}]",
                    "give each volume its own name",
                    "ValidateVolumes",
                )
            )
        seen.setdefault(name, i)
        if not found and name:
            names.add(name)
        problems += found
    return names, problems


def _source_problems(prefix: str, volume: dict[str, Any]) -> list[Problem]:
    sources = [key for key in VOLUME_SOURCES if volume.get(key) is not None]
    problems = [
        problem(
            f"{prefix}.{extra}",
            f"the volume already has a {sources[0]} source; a volume has exactly one source",
            f"move {extra} into a volume of its own",
            "validateVolumeSource",
        )
        for extra in sources[1:]
    ]
    if not sources:
        return problems
    source = volume[sources[0]]
    path = f"{prefix}.{sources[0]}"
    if sources[0] == "hostPath" and isinstance(source, dict):
        problems += _host_path(path, source)
    elif sources[0] == "emptyDir" and isinstance(source, dict):
        problems += _size_limit(f"{path}.sizeLimit", source.get("sizeLimit"))
    elif sources[0] == "downwardAPI" and isinstance(source, dict):
        problems += _mode(f"{path}.defaultMode", source.get("defaultMode"))
        for j, item in items(source.get("items")):
            problems += _downward_file(f"{path}.items[{j}]", item)
    elif sources[0] == "projected" and isinstance(source, dict):
        problems += _projected(path, source)
    elif sources[0] == "image" and isinstance(source, dict):
        policy = source.get("pullPolicy")
        if isinstance(policy, str) and policy and policy not in ("Always", "IfNotPresent", "Never"):
            problems.append(
                problem(
                    f"{path}.pullPolicy",
                    f"{show(policy)} is not a pull policy",
                    "write Always, IfNotPresent or Never",
                    "validateImageVolumeSource",
                )
            )
    elif sources[0] == "nfs" and isinstance(source, dict):
        nfs_path = text(source.get("path"))
        if not text(source.get("server")):
            problems.append(
                problem(
                    f"{path}.server",
                    "required",
                    "write the NFS server's address",
                    "validateNFSVolumeSource",
                )
            )
        if not nfs_path.startswith("/"):
            problems.append(
                problem(
                    f"{path}.path",
                    f"{show(nfs_path)} is not an absolute path",
                    "write the exported path, starting with '/'",
                    "validateNFSVolumeSource",
                )
            )
    elif sources[0] == "gitRepo" and isinstance(source, dict):
        if not text(source.get("repository")):
            problems.append(
                problem(
                    f"{path}.repository",
                    "required",
                    "write the repository URL",
                    "validateGitRepoVolumeSource",
                )
            )
        directory = text(source.get("directory"))
        if directory.startswith("/") or has_backsteps(directory):
            problems.append(
                problem(
                    f"{path}.directory",
                    f"{show(directory)} must be a relative path without '..'",
                    "write a path inside the volume (e.g. . or repo)",
                    "validateLocalDescendingPath",
                )
            )
    return problems


def _projected(path: str, source: dict[str, Any]) -> list[Problem]:
    """validateProjectedVolumeSource: the mode, the downward API items, and no file path
    twice across the sources (the API-object sources are refused as such elsewhere)."""
    problems = _mode(f"{path}.defaultMode", source.get("defaultMode"))
    seen: dict[str, str] = {}
    for j, projection in items(source.get("sources")):
        for kind, projected in projection.items():
            key = "path" if kind in ("serviceAccountToken", "clusterTrustBundle") else None
            files = [(None, projected)] if key else items(mapping(projected).get("items"))
            for k, item in files:
                where = f"{path}.sources[{j}].{kind}" + ("" if k is None else f".items[{k}]")
                if kind == "downwardAPI":
                    problems += _downward_file(where, item)
                file_path = text(mapping(item).get("path"))
                if file_path in seen:
                    problems.append(
                        problem(
                            f"{where}.path",
                            f"{file_path!r} is also projected by {seen[file_path]}",
                            "give each projected file its own path",
                            "validateProjectionSources",
                        )
                    )
                elif file_path:
                    seen[file_path] = where
    return problems


def _host_path(path: str, source: dict[str, Any]) -> list[Problem]:
    problems = []
    host_path = source.get("path")
    if isinstance(host_path, str):
        if not host_path:
            problems.append(
                problem(
                    f"{path}.path",
                    "required: the path is empty",
                    "write the path on the node (e.g. /etc/haproxy)",
                    "validateHostPathVolumeSource",
                )
            )
        elif has_backsteps(host_path):
            problems.append(
                problem(
                    f"{path}.path",
                    f"{show(host_path)} contains a '..' element",
                    "write the path without '..' (e.g. /var/lib/app, not /etc/../var/lib/app)",
                    "validatePathNoBacksteps",
                )
            )
    kind = source.get("type")
    if isinstance(kind, str) and kind not in HOST_PATH_TYPES:
        problems.append(
            problem(
                f"{path}.type",
                f"{show(kind)} is not a hostPath type",
                "write DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice "
                "or BlockDevice (or leave it out: no check)",
                "validateHostPathType",
            )
        )
    return problems


def _size_limit(path: str, value: Any) -> list[Problem]:
    quantity = quantity_text(value)
    if value is None or quantity is None:
        return []
    try:
        if parse_quantity(quantity) >= 0:
            return []
        what = f"{show(value)} is negative"
    except QuantityError as exc:
        what = str(exc)
    return [problem(path, what, QUANTITY_HINT, "validateVolumeSource")]


def _mode(path: str, value: Any) -> list[Problem]:
    mode = integer(value)
    if mode is None or 0 <= mode <= 0o777:
        return []
    return [
        problem(path, f"{mode} is not a file mode", _MODE_HINT, "validateDownwardAPIVolumeSource")
    ]


def _downward_file(path: str, item: dict[str, Any]) -> list[Problem]:
    problems = []
    file_path = text(item.get("path"))
    if (
        not file_path
        or file_path.startswith("/")
        or has_backsteps(file_path)
        or file_path.startswith("..")
    ):
        problems.append(
            problem(
                f"{path}.path",
                f"{show(file_path)} must be a non-empty relative path without '..'",
                "write a file name inside the volume (e.g. labels)",
                "ValidateLocalNonReservedPath",
            )
        )
    field_ref, resource_ref = item.get("fieldRef"), item.get("resourceFieldRef")
    if isinstance(field_ref, dict):
        problems += field_ref_problems(f"{path}.fieldRef", field_ref, VOLUME_FIELD_PATHS)
        if resource_ref is not None:
            problems.append(
                problem(
                    path,
                    "fieldRef and resourceFieldRef are both set",
                    "keep one of them",
                    "validateDownwardAPIVolumeFile",
                )
            )
    elif isinstance(resource_ref, dict):
        if not text(resource_ref.get("containerName")):
            problems.append(
                problem(
                    f"{path}.resourceFieldRef.containerName",
                    "required in a volume",
                    "name the container whose resources to expose",
                    "validateContainerResourceFieldSelector",
                )
            )
        problems += resource_field_ref_problems(f"{path}.resourceFieldRef", resource_ref)
    else:
        problems.append(
            problem(
                path,
                "neither fieldRef nor resourceFieldRef is set",
                "set one of them",
                "validateDownwardAPIVolumeFile",
            )
        )
    problems += _mode(f"{path}.mode", item.get("mode"))
    return problems


def mount_problems(spec: dict[str, Any], volumes: set[str]) -> list[Problem]:
    problems = []
    for key in ("initContainers", "containers"):
        for i, container in items(spec.get(key)):
            prefix = f"spec.{key}[{i}]"
            privileged = mapping(container.get("securityContext")).get("privileged") is True
            problems += _mounts(prefix, container, volumes, privileged)
            problems += _devices(prefix, container, volumes)
    return problems


def _mounts(
    prefix: str, container: dict[str, Any], volumes: set[str], privileged: bool
) -> list[Problem]:
    problems = []
    mount_paths: dict[str, int] = {}
    for k, mount in items(container.get("volumeMounts")):
        path = f"{prefix}.volumeMounts[{k}]"
        name = mount.get("name")
        if isinstance(name, str) and name and name not in volumes:
            problems.append(
                problem(
                    f"{path}.name",
                    f"no valid volume named {name!r} in spec.volumes",
                    "add the volume (or fix it) or fix the name",
                    "ValidateVolumeMounts",
                )
            )
        mount_path = mount.get("mountPath")
        if isinstance(mount_path, str):
            if not mount_path:
                problems.append(
                    problem(
                        f"{path}.mountPath",
                        "required: the mount path is empty",
                        "write where the volume appears in the container (e.g. /data)",
                        "ValidateVolumeMounts",
                    )
                )
            elif mount_path in mount_paths:
                problems.append(
                    problem(
                        f"{path}.mountPath",
                        f"{mount_path!r} is already mounted by {prefix}.volumeMounts[{mount_paths[mount_path]}]",
                        "mount each path once (use subPath to mount parts of one volume)",
                        "ValidateVolumeMounts",
                    )
                )
            else:
                mount_paths[mount_path] = k
        sub_path, sub_expr = text(mount.get("subPath")), text(mount.get("subPathExpr"))
        for key, value in (("subPath", sub_path), ("subPathExpr", sub_expr)):
            if value and (value.startswith("/") or has_backsteps(value)):
                problems.append(
                    problem(
                        f"{path}.{key}",
                        f"{show(value)} must be a relative path without '..'",
                        "write a path inside the volume (e.g. conf/app.yaml)",
                        "validateLocalDescendingPath",
                    )
                )
        if sub_path and sub_expr:
            problems.append(
                problem(
                    f"{path}.subPathExpr",
                    "subPath and subPathExpr are both set",
                    "keep one of them",
                    "ValidateVolumeMounts",
                )
            )
        propagation = mount.get("mountPropagation")
        if isinstance(propagation, str):
            if propagation not in PROPAGATIONS:
                problems.append(
                    problem(
                        f"{path}.mountPropagation",
                        f"{show(propagation)} is not a mount propagation",
                        "write None, HostToContainer or Bidirectional",
                        "validateMountPropagation",
                    )
                )
            elif propagation == "Bidirectional" and not privileged:
                problems.append(
                    problem(
                        f"{path}.mountPropagation",
                        "Bidirectional propagation is only for privileged containers",
                        "use HostToContainer, or set securityContext.privileged: true on the container",
                        "validateMountPropagation",
                    )
                )
        recursive = mount.get("recursiveReadOnly")
        if isinstance(recursive, str) and recursive != "Disabled":
            if recursive not in RECURSIVE_READ_ONLY:
                problems.append(
                    problem(
                        f"{path}.recursiveReadOnly",
                        f"{show(recursive)} is not allowed",
                        "write Disabled, IfPossible or Enabled",
                        "validateMountRecursiveReadOnly",
                    )
                )
            else:
                if mount.get("readOnly") is not True:
                    problems.append(
                        problem(
                            f"{path}.recursiveReadOnly",
                            f"{recursive} needs readOnly: true",
                            "add readOnly: true to the mount",
                            "validateMountRecursiveReadOnly",
                        )
                    )
                if propagation not in (None, "None"):
                    problems.append(
                        problem(
                            f"{path}.recursiveReadOnly",
                            f"{recursive} needs mountPropagation None or unset",
                            "remove mountPropagation",
                            "validateMountRecursiveReadOnly",
                        )
                    )
    return problems


def _devices(prefix: str, container: dict[str, Any], volumes: set[str]) -> list[Problem]:
    # Raw block devices come only from PersistentVolumeClaims (or generic ephemeral volumes),
    # which static pods cannot use.
    return [
        problem(
            f"{prefix}.volumeDevices[{k}].name",
            f"volume {text(device.get('name'))!r} is not a PersistentVolumeClaim, the only "
            "source of block devices, and static pods cannot use claims",
            "remove volumeDevices and mount the device from the node with a hostPath volume "
            "(type: BlockDevice) in volumeMounts",
            "ValidateVolumeDevices",
        )
        for k, device in items(container.get("volumeDevices"))
    ]
