"""Pod-wide fields (ValidatePodSpec, validateRestartPolicy, validateDNSPolicy,
validatePodDNSConfig, ValidateTolerations, ValidateHostAliases, validateOS, validateLinux,
validateWindows, validateReadinessGates, ValidatePreemptionPolicy, and ValidatePodCreate's
scheduling gates)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    IP_HINT,
    LABEL_HINT,
    LABEL_VALUE_HINT,
    QUALIFIED_HINT,
    SUBDOMAIN_HINT,
    containers,
    dns1123_label_error,
    dns1123_subdomain_error,
    entries,
    integer,
    ip_error,
    items,
    label_value_error,
    mapping,
    problem,
    qualified_name_error,
    text,
)
from spctl.desired.validation.kubelet.metadata import label_problems
from spctl.desired.validation.problem import Problem, show

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
OS_NAMES = ("linux", "windows")
MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048
MAX_INT32 = 2**31 - 1
# validateWindows: pod security context fields a Windows pod may not set
_WINDOWS_POD_FORBIDDEN = (
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "fsGroup",
    "fsGroupChangePolicy",
    "sysctls",
    "runAsUser",
    "runAsGroup",
    "supplementalGroups",
    "supplementalGroupsPolicy",
)
_WINDOWS_CONTAINER_FORBIDDEN = (
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
)


def spec_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    problems += _enum(spec, "restartPolicy", RESTART_POLICIES, "validateRestartPolicy")
    problems += _enum(spec, "dnsPolicy", DNS_POLICIES, "validateDNSPolicy")
    problems += _enum(spec, "preemptionPolicy", PREEMPTION_POLICIES, "ValidatePreemptionPolicy")
    problems += _dns_config(spec)
    for key in ("hostname", "subdomain"):
        value = text(spec.get(key))
        error = dns1123_label_error(value) if value else None
        if error:
            problems.append(problem(f"spec.{key}", error, LABEL_HINT, "ValidatePodSpec"))
    for key in ("priorityClassName", "runtimeClassName"):
        value = text(spec.get(key))
        error = dns1123_subdomain_error(value) if value else None
        if error or (key == "runtimeClassName" and spec.get(key) == ""):
            problems.append(
                problem(
                    f"spec.{key}", error or "the name is empty", SUBDOMAIN_HINT, "ValidatePodSpec"
                )
            )
    deadline = integer(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        problems.append(
            problem(
                "spec.activeDeadlineSeconds",
                f"{deadline} is outside 1 to {MAX_INT32}",
                "write a positive number of seconds, or remove it (a static pod with a deadline "
                "is killed and, for the kubelet, never restarted)",
                "ValidatePodSpec",
            )
        )
    problems += label_problems("spec.nodeSelector", spec.get("nodeSelector"), "ValidateLabels")
    problems += _tolerations(spec)
    problems += _host_aliases(spec)
    problems += _os(spec)
    for i, gate in items(spec.get("readinessGates")):
        error = qualified_name_error(text(gate.get("conditionType")))
        if error:
            problems.append(
                problem(
                    f"spec.readinessGates[{i}].conditionType",
                    error,
                    QUALIFIED_HINT,
                    "validateReadinessGates",
                )
            )
    if spec.get("schedulingGates"):
        problems.append(
            problem(
                "spec.schedulingGates",
                "the kubelet sets spec.nodeName on a static pod, and a pod "
                "with a node may not have scheduling gates",
                "remove schedulingGates (a static pod is never scheduled)",
                "ValidatePodCreate",
            )
        )
    return problems


def _enum(spec: dict[str, Any], key: str, allowed: tuple[str, ...], source: str) -> list[Problem]:
    value = spec.get(key)
    if isinstance(value, str) and value not in allowed:
        return [
            problem(
                f"spec.{key}",
                f"{show(value)} is not allowed",
                f"write {', '.join(allowed[:-1])} or {allowed[-1]}",
                source,
            )
        ]
    return []


def _dns_config(spec: dict[str, Any]) -> list[Problem]:
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if not isinstance(config, dict):
            return [
                problem(
                    "spec.dnsConfig",
                    "required: dnsPolicy None takes the pod's DNS settings from dnsConfig",
                    "add dnsConfig with at least one nameserver, or "
                    "use another dnsPolicy (Default uses the node's resolv.conf)",
                    "validatePodDNSConfig",
                )
            ]
        if not config.get("nameservers"):
            return [
                problem(
                    "spec.dnsConfig.nameservers",
                    "required: dnsPolicy None needs at least one nameserver",
                    "add a nameserver address (e.g. [10.96.0.10])",
                    "validatePodDNSConfig",
                )
            ]
    if not isinstance(config, dict):
        return []
    problems = []
    servers = config.get("nameservers")
    if isinstance(servers, list):
        if len(servers) > MAX_NAMESERVERS:
            problems.append(
                problem(
                    "spec.dnsConfig.nameservers",
                    f"{len(servers)} nameservers, at most {MAX_NAMESERVERS} allowed",
                    "keep three",
                    "validatePodDNSConfig",
                )
            )
        for i, server in enumerate(servers):
            error = ip_error(server) if isinstance(server, str) else None
            if error:
                problems.append(
                    problem(
                        f"spec.dnsConfig.nameservers[{i}]", error, IP_HINT, "validatePodDNSConfig"
                    )
                )
    searches = config.get("searches")
    if isinstance(searches, list):
        names = [s for s in searches if isinstance(s, str)]
        if len(searches) > MAX_SEARCHES:
            problems.append(
                problem(
                    "spec.dnsConfig.searches",
                    f"{len(searches)} search domains, at most {MAX_SEARCHES} allowed",
                    "keep fewer",
                    "validatePodDNSConfig",
                )
            )
        if len(" ".join(names)) > MAX_SEARCH_CHARS:
            problems.append(
                problem(
                    "spec.dnsConfig.searches",
                    f"the search list is {len(' '.join(names))} "
                    f"characters, at most {MAX_SEARCH_CHARS}",
                    "keep fewer or shorter domains",
                    "validatePodDNSConfig",
                )
            )
        for i, search in enumerate(searches):
            if isinstance(search, str):
                error = dns1123_subdomain_error(search.removesuffix("."))
                if error:
                    problems.append(
                        problem(
                            f"spec.dnsConfig.searches[{i}]",
                            error,
                            SUBDOMAIN_HINT,
                            "validatePodDNSConfig",
                        )
                    )
    for i, option in items(config.get("options")):
        if not text(option.get("name")):
            problems.append(
                problem(
                    f"spec.dnsConfig.options[{i}].name",
                    "required: the option name is empty",
                    "write the resolver option (e.g. ndots)",
                    "validatePodDNSConfig",
                )
            )
    return problems


def _tolerations(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    for i, toleration in items(spec.get("tolerations")):
        path = f"spec.tolerations[{i}]"
        key, operator = text(toleration.get("key")), text(toleration.get("operator"))
        value, effect = text(toleration.get("value")), text(toleration.get("effect"))
        if key:
            error = qualified_name_error(key)
            if error:
                problems.append(
                    problem(f"{path}.key", error, QUALIFIED_HINT, "ValidateTolerations")
                )
        elif operator != "Exists":
            problems.append(
                problem(
                    f"{path}.operator",
                    "a toleration without a key must use operator Exists (it matches every taint)",
                    "write operator: Exists, or add a key",
                    "ValidateTolerations",
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            problems.append(
                problem(
                    f"{path}.effect",
                    "tolerationSeconds needs effect NoExecute",
                    "write effect: NoExecute or remove tolerationSeconds",
                    "ValidateTolerations",
                )
            )
        if operator in ("", "Equal"):
            error = label_value_error(value)
            if error:
                problems.append(
                    problem(
                        f"{path}.operator",
                        f"the value {error}",
                        LABEL_VALUE_HINT,
                        "ValidateTolerations",
                    )
                )
        elif operator == "Exists":
            if value:
                problems.append(
                    problem(
                        f"{path}.operator",
                        "operator Exists takes no value",
                        "remove value, or use operator: Equal",
                        "ValidateTolerations",
                    )
                )
        else:
            problems.append(
                problem(
                    f"{path}.operator",
                    f"{show(operator)} is not an operator",
                    "write Equal or Exists",
                    "ValidateTolerations",
                )
            )
        if effect and effect not in TAINT_EFFECTS:
            problems.append(
                problem(
                    f"{path}.effect",
                    f"{show(effect)} is not a taint effect",
                    "write NoSchedule, PreferNoSchedule or NoExecute (or leave it out for all)",
                    "validateTaintEffect",
                )
            )
    return problems


def _host_aliases(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    for i, alias in items(spec.get("hostAliases")):
        ip = alias.get("ip")
        if isinstance(ip, str):
            error = ip_error(ip)
            if error:
                problems.append(
                    problem(f"spec.hostAliases[{i}].ip", error, IP_HINT, "ValidateHostAliases")
                )
        for j, hostname in entries(alias.get("hostnames")):
            error = dns1123_subdomain_error(hostname) if isinstance(hostname, str) else None
            if error:
                problems.append(
                    problem(
                        f"spec.hostAliases[{i}].hostnames[{j}]",
                        error,
                        SUBDOMAIN_HINT,
                        "ValidateHostAliases",
                    )
                )
    return problems


def _os(spec: dict[str, Any]) -> list[Problem]:
    pod_os = spec.get("os")
    if not isinstance(pod_os, dict) or not isinstance(pod_os.get("name"), str):
        return []
    name = pod_os["name"]
    if name not in OS_NAMES:
        return [
            problem(
                "spec.os.name",
                f"{show(name)} is not an OS the kubelet knows",
                "write linux or windows, lower case",
                "validateOS",
            )
        ]
    problems = []
    context = mapping(spec.get("securityContext"))
    if name == "linux":
        if context.get("windowsOptions") is not None:
            problems.append(
                problem(
                    "spec.securityContext.windowsOptions",
                    "windows options on a linux pod",
                    "remove them",
                    "validateLinux",
                )
            )
        for prefix, container in containers(spec):
            if mapping(container.get("securityContext")).get("windowsOptions") is not None:
                problems.append(
                    problem(
                        f"{prefix}.securityContext.windowsOptions",
                        "windows options on a linux pod",
                        "remove them",
                        "validateLinux",
                    )
                )
        return problems
    for key in _WINDOWS_POD_FORBIDDEN:
        if context.get(key) is not None:
            problems.append(
                problem(
                    f"spec.securityContext.{key}",
                    "cannot be set for a windows pod",
                    "remove it",
                    "validateWindows",
                )
            )
    for key in ("hostPID", "hostIPC", "hostUsers", "shareProcessNamespace"):
        if spec.get(key) is True or (
            key in ("hostUsers", "shareProcessNamespace") and spec.get(key) is not None
        ):
            problems.append(
                problem(
                    f"spec.{key}", "cannot be set for a windows pod", "remove it", "validateWindows"
                )
            )
    for prefix, container in containers(spec):
        context = mapping(container.get("securityContext"))
        for key in _WINDOWS_CONTAINER_FORBIDDEN:
            if context.get(key) is not None:
                problems.append(
                    problem(
                        f"{prefix}.securityContext.{key}",
                        "cannot be set for a windows pod",
                        "remove it",
                        "validateWindows",
                    )
                )
    return problems
