"""Security contexts (validatePodSpecSecurityContext, ValidateSecurityContext, validateSysctls,
ValidateHostSysctl, validateSeccompProfileField, ValidateAppArmorProfileField,
ValidateProcMountType, validateHostUsers)."""

from __future__ import annotations

import re
from typing import Any

from spctl.desired.validation.kubelet.common import (
    containers,
    entries,
    has_backsteps,
    integer,
    items,
    mapping,
    problem,
    text,
)
from spctl.desired.validation.problem import Problem, show

MAX_ID = 2**31 - 1  # IsValidUserID / IsValidGroupID
SECCOMP_TYPES = ("Localhost", "RuntimeDefault", "Unconfined")
APPARMOR_TYPES = ("Localhost", "RuntimeDefault", "Unconfined")
FS_GROUP_CHANGE_POLICIES = ("OnRootMismatch", "Always")
SUPPLEMENTAL_GROUPS_POLICIES = ("Merge", "Strict")
PROC_MOUNTS = ("Default", "Unmasked")
SYSCTL_MAX = 253
_SYSCTL_SEGMENT = r"[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SYSCTL = re.compile(rf"({_SYSCTL_SEGMENT}[\./])*{_SYSCTL_SEGMENT}")
# component-helpers/node/util/sysctl: the namespaced sysctls
_IPC_PREFIXES = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")
_NET_PREFIX = "net."


def security_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    context = spec.get("securityContext")
    host_users = spec.get("hostUsers") is not False
    if isinstance(context, dict):
        problems += _ids("spec.securityContext", context, ("runAsUser", "runAsGroup", "fsGroup"))
        for i, gid in entries(context.get("supplementalGroups")):
            if integer(gid) is not None and not 0 <= gid <= MAX_ID:
                problems.append(
                    problem(
                        f"spec.securityContext.supplementalGroups[{i}]",
                        f"{gid} is not a group ID",
                        f"write 0 to {MAX_ID}",
                        "validatePodSpecSecurityContext",
                    )
                )
        problems += _enum(
            "spec.securityContext.fsGroupChangePolicy",
            context.get("fsGroupChangePolicy"),
            FS_GROUP_CHANGE_POLICIES,
            "validateFSGroupChangePolicy",
        )
        problems += _enum(
            "spec.securityContext.supplementalGroupsPolicy",
            context.get("supplementalGroupsPolicy"),
            SUPPLEMENTAL_GROUPS_POLICIES,
            "validateSupplementalGroupsPolicy",
        )
        problems += _seccomp("spec.securityContext.seccompProfile", context.get("seccompProfile"))
        problems += _apparmor(
            "spec.securityContext.appArmorProfile", context.get("appArmorProfile")
        )
        problems += _sysctls(spec, context)
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        problems.append(
            problem(
                "spec.shareProcessNamespace",
                "shareProcessNamespace and hostPID are both true",
                "keep one: hostPID shares the node's process namespace, "
                "shareProcessNamespace only the pod's",
                "validatePodSpecSecurityContext",
            )
        )
    if not host_users:
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key) is True:
                problems.append(
                    problem(
                        f"spec.{key}",
                        "a pod with hostUsers: false may not share the node's namespaces",
                        f"remove {key} or hostUsers: false",
                        "validateHostUsers",
                    )
                )
    for prefix, container in containers(spec):
        context = container.get("securityContext")
        if isinstance(context, dict):
            problems += _container(f"{prefix}.securityContext", context, host_users)
    return problems


def _container(path: str, context: dict[str, Any], host_users: bool) -> list[Problem]:
    problems = _ids(path, context, ("runAsUser", "runAsGroup"))
    proc_mount = context.get("procMount")
    problems += _enum(f"{path}.procMount", proc_mount, PROC_MOUNTS, "ValidateProcMountType")
    if proc_mount == "Unmasked" and host_users:
        problems.append(
            problem(
                f"{path}.procMount",
                "Unmasked needs a user namespace",
                "set spec.hostUsers: false, or remove procMount",
                "ValidateSecurityContext",
            )
        )
    problems += _seccomp(f"{path}.seccompProfile", context.get("seccompProfile"))
    problems += _apparmor(f"{path}.appArmorProfile", context.get("appArmorProfile"))
    if context.get("allowPrivilegeEscalation") is False:
        if context.get("privileged") is True:
            problems.append(
                problem(
                    f"{path}.allowPrivilegeEscalation",
                    "a privileged container always "
                    "escalates privileges, so allowPrivilegeEscalation: false contradicts "
                    "privileged: true",
                    "remove allowPrivilegeEscalation, or privileged",
                    "ValidateSecurityContext",
                )
            )
        added = mapping(context.get("capabilities")).get("add") or []
        if isinstance(added, list) and "CAP_SYS_ADMIN" in added:
            problems.append(
                problem(
                    f"{path}.allowPrivilegeEscalation",
                    "allowPrivilegeEscalation: false contradicts adding CAP_SYS_ADMIN",
                    "remove one of them",
                    "ValidateSecurityContext",
                )
            )
    return problems


def _ids(path: str, context: dict[str, Any], keys: tuple[str, ...]) -> list[Problem]:
    problems = []
    for key in keys:
        value = integer(context.get(key))
        if value is not None and not 0 <= value <= MAX_ID:
            problems.append(
                problem(
                    f"{path}.{key}",
                    f"{value} is not a valid {'group' if 'Group' in key or key == 'fsGroup' else 'user'} ID",
                    f"write 0 to {MAX_ID} (0 is root)",
                    "IsValidUserID/IsValidGroupID",
                )
            )
    return problems


def _enum(path: str, value: Any, allowed: tuple[str, ...], source: str) -> list[Problem]:
    if isinstance(value, str) and value not in allowed:
        return [
            problem(path, f"{show(value)} is not allowed", f"write {' or '.join(allowed)}", source)
        ]
    return []


def _seccomp(path: str, profile: Any) -> list[Problem]:
    if not isinstance(profile, dict):
        return []
    kind, local = profile.get("type"), profile.get("localhostProfile")
    problems = _enum(f"{path}.type", kind, SECCOMP_TYPES, "validateSeccompProfileType")
    if kind == "Localhost":
        if local is None:
            problems.append(
                problem(
                    f"{path}.localhostProfile",
                    "required with type Localhost",
                    "write the profile's path relative to the kubelet's seccomp directory "
                    "(e.g. profiles/audit.json)",
                    "validateSeccompProfileField",
                )
            )
        elif isinstance(local, str) and (local.startswith("/") or has_backsteps(local)):
            problems.append(
                problem(
                    f"{path}.localhostProfile",
                    f"{show(local)} must be a relative path without '..'",
                    "write it relative to the kubelet's seccomp directory "
                    "(e.g. profiles/audit.json)",
                    "validateSeccompProfileField",
                )
            )
    elif local is not None and kind in SECCOMP_TYPES:
        problems.append(
            problem(
                f"{path}.localhostProfile",
                f"only type Localhost takes a profile, not {kind}",
                "remove localhostProfile or use type: Localhost",
                "validateSeccompProfileField",
            )
        )
    return problems


def _apparmor(path: str, profile: Any) -> list[Problem]:
    if not isinstance(profile, dict):
        return []
    kind, local = profile.get("type"), profile.get("localhostProfile")
    problems = _enum(f"{path}.type", kind, APPARMOR_TYPES, "ValidateAppArmorProfileField")
    if kind == "Localhost":
        if not text(local).strip():
            problems.append(
                problem(
                    f"{path}.localhostProfile",
                    "required with type Localhost",
                    "write the name of a profile loaded on the node",
                    "ValidateAppArmorProfileField",
                )
            )
        elif text(local) != text(local).strip():
            problems.append(
                problem(
                    f"{path}.localhostProfile",
                    f"{show(local)} is padded with whitespace",
                    "remove the spaces",
                    "ValidateAppArmorProfileField",
                )
            )
        elif len(text(local)) > 4095:
            problems.append(
                problem(
                    f"{path}.localhostProfile",
                    "longer than 4095 characters",
                    "use a shorter profile name",
                    "ValidateAppArmorProfileField",
                )
            )
    elif local is not None and kind in APPARMOR_TYPES:
        problems.append(
            problem(
                f"{path}.localhostProfile",
                f"only type Localhost takes a profile, not {kind}",
                "remove localhostProfile or use type: Localhost",
                "ValidateAppArmorProfileField",
            )
        )
    return problems


def _sysctls(spec: dict[str, Any], context: dict[str, Any]) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, sysctl in items(context.get("sysctls")):
        path = f"spec.securityContext.sysctls[{i}].name"
        name = sysctl.get("name")
        if not isinstance(name, str):
            continue
        if not name:
            problems.append(
                problem(
                    path,
                    "required: the sysctl name is empty",
                    "write its name (e.g. net.ipv4.ip_unprivileged_port_start)",
                    "validateSysctls",
                )
            )
        elif len(name) > SYSCTL_MAX or not _SYSCTL.fullmatch(name):
            problems.append(
                problem(
                    path,
                    f"{show(name)} is not a sysctl name",
                    "use lower-case segments of "
                    "letters, digits, '-' and '_' joined by '.' or '/', at most 253 characters",
                    "IsValidSysctlName",
                )
            )
        elif name in seen:
            problems.append(
                problem(path, f"{name} is set twice", "set each sysctl once", "validateSysctls")
            )
        else:
            dotted = name.replace("/", ".")
            if spec.get("hostNetwork") is True and dotted.startswith(_NET_PREFIX):
                problems.append(
                    problem(
                        path,
                        f"{name} is a network-namespaced sysctl, but the pod uses the "
                        "node's network (hostNetwork: true)",
                        "set it on the node instead, or drop hostNetwork",
                        "ValidateHostSysctl",
                    )
                )
            if spec.get("hostIPC") is True and dotted.startswith(_IPC_PREFIXES):
                problems.append(
                    problem(
                        path,
                        f"{name} is an IPC-namespaced sysctl, but the pod uses the "
                        "node's IPC namespace (hostIPC: true)",
                        "set it on the node instead, or drop hostIPC",
                        "ValidateHostSysctl",
                    )
                )
        seen.add(name)
    return problems
