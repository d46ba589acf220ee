"""Affinity and topology spread (validateAffinity, ValidateNodeSelector,
ValidateNodeSelectorRequirement, ValidateNodeFieldSelectorRequirement,
ValidatePreferredSchedulingTerms, validatePodAffinityTerm, validateWeightedPodAffinityTerms,
apimachinery's ValidateLabelSelector, validateTopologySpreadConstraints).

No scheduler places a static pod, but the kubelet validates these fields all the same (and its
admission checks a required node affinity against its own node)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    LABEL_HINT,
    LABEL_VALUE_HINT,
    QUALIFIED_HINT,
    SUBDOMAIN_HINT,
    dns1123_label_error,
    dns1123_subdomain_error,
    entries,
    integer,
    items,
    label_value_error,
    mapping,
    problem,
    qualified_name_error,
    text,
)
from spctl.desired.validation.kubelet.metadata import label_problems
from spctl.desired.validation.problem import Problem, show

NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
NODE_INCLUSION_POLICIES = ("Ignore", "Honor")


def scheduling_problems(spec: dict[str, Any]) -> list[Problem]:
    affinity = mapping(spec.get("affinity"))
    problems = []
    node = affinity.get("nodeAffinity")
    if isinstance(node, dict):
        problems += _node_affinity("spec.affinity.nodeAffinity", node)
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = affinity.get(kind)
        if isinstance(pod, dict):
            path = f"spec.affinity.{kind}"
            required = "requiredDuringSchedulingIgnoredDuringExecution"
            preferred = "preferredDuringSchedulingIgnoredDuringExecution"
            for i, term in items(pod.get(required)):
                problems += _pod_term(f"{path}.{required}[{i}]", term)
            for i, weighted in items(pod.get(preferred)):
                problems += _weight(f"{path}.{preferred}[{i}].weight", weighted.get("weight"))
                problems += _pod_term(
                    f"{path}.{preferred}[{i}].podAffinityTerm",
                    mapping(weighted.get("podAffinityTerm")),
                )
    problems += _topology_spread(spec)
    return problems


def _node_affinity(path: str, node: dict[str, Any]) -> list[Problem]:
    problems = []
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        where = f"{path}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        terms = required.get("nodeSelectorTerms")
        if isinstance(terms, list) and not terms:
            problems.append(
                problem(
                    where,
                    "required: no node selector term",
                    "add at least one term (e.g. matchExpressions on kubernetes.io/hostname)",
                    "ValidateNodeSelector",
                )
            )
        for i, term in items(terms):
            problems += _node_term(f"{where}[{i}]", term)
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"
    for i, weighted in items(node.get(preferred)):
        problems += _weight(f"{path}.{preferred}[{i}].weight", weighted.get("weight"))
        problems += _node_term(
            f"{path}.{preferred}[{i}].preference", mapping(weighted.get("preference"))
        )
    return problems


def _weight(path: str, value: Any) -> list[Problem]:
    weight = integer(value)
    if weight is not None and not 1 <= weight <= 100:
        return [
            problem(
                path,
                f"{weight} is outside 1 to 100",
                "write a weight from 1 to 100",
                "ValidatePreferredSchedulingTerms",
            )
        ]
    return []


def _node_term(path: str, term: dict[str, Any]) -> list[Problem]:
    problems = []
    for j, requirement in items(term.get("matchExpressions")):
        where = f"{path}.matchExpressions[{j}]"
        operator, values = text(requirement.get("operator")), requirement.get("values")
        problems += _operator_values(
            where, operator, values, NODE_OPERATORS, "ValidateNodeSelectorRequirement"
        )
        error = qualified_name_error(text(requirement.get("key")))
        if error:
            problems.append(
                problem(f"{where}.key", error, QUALIFIED_HINT, "ValidateNodeSelectorRequirement")
            )
    for j, requirement in items(term.get("matchFields")):
        where = f"{path}.matchFields[{j}]"
        operator = text(requirement.get("operator"))
        values = [v for _, v in entries(requirement.get("values"))]
        if operator not in ("In", "NotIn"):
            problems.append(
                problem(
                    f"{where}.operator",
                    f"{show(operator)} is not an operator for node fields",
                    "write In or NotIn",
                    "ValidateNodeFieldSelectorRequirement",
                )
            )
        elif len(values) != 1:
            problems.append(
                problem(
                    f"{where}.values",
                    f"{len(values)} values; a node field takes exactly one",
                    "write one node name",
                    "ValidateNodeFieldSelectorRequirement",
                )
            )
        if text(requirement.get("key")) != "metadata.name":
            problems.append(
                problem(
                    f"{where}.key",
                    f"{show(requirement.get('key'))} is not a node field",
                    "write metadata.name",
                    "ValidateNodeFieldSelectorRequirement",
                )
            )
        for k, value in enumerate(values):
            error = dns1123_subdomain_error(value) if isinstance(value, str) else None
            if error:
                problems.append(
                    problem(
                        f"{where}.values[{k}]",
                        error,
                        SUBDOMAIN_HINT,
                        "ValidateNodeFieldSelectorRequirement",
                    )
                )
    return problems


def _operator_values(
    path: str, operator: str, values: Any, allowed: tuple[str, ...], source: str
) -> list[Problem]:
    count = len(values) if isinstance(values, list) else 0
    if operator not in allowed:
        return [
            problem(
                f"{path}.operator",
                f"{show(operator)} is not a selector operator",
                f"write {', '.join(allowed)}",
                source,
            )
        ]
    if operator in ("In", "NotIn") and count == 0:
        return [
            problem(
                f"{path}.values",
                f"required: operator {operator} needs values",
                "add at least one value",
                source,
            )
        ]
    if operator in ("Exists", "DoesNotExist") and count:
        return [
            problem(
                f"{path}.values", f"operator {operator} takes no values", "remove values", source
            )
        ]
    if operator in ("Gt", "Lt") and count != 1:
        return [
            problem(
                f"{path}.values",
                f"operator {operator} takes exactly one value",
                "write one number",
                source,
            )
        ]
    return []


def _label_selector(path: str, selector: Any) -> list[Problem]:
    if not isinstance(selector, dict):
        return []
    problems = label_problems(
        f"{path}.matchLabels", selector.get("matchLabels"), "ValidateLabelSelector"
    )
    for j, requirement in items(selector.get("matchExpressions")):
        where = f"{path}.matchExpressions[{j}]"
        operator, values = text(requirement.get("operator")), requirement.get("values")
        problems += _operator_values(
            where, operator, values, SELECTOR_OPERATORS, "ValidateLabelSelectorRequirement"
        )
        error = qualified_name_error(text(requirement.get("key")))
        if error:
            problems.append(
                problem(f"{where}.key", error, QUALIFIED_HINT, "ValidateLabelSelectorRequirement")
            )
        for k, value in enumerate(values if isinstance(values, list) else []):
            error = label_value_error(value) if isinstance(value, str) else None
            if error:
                problems.append(
                    problem(
                        f"{where}.values[{k}]",
                        error,
                        LABEL_VALUE_HINT,
                        "ValidateLabelSelectorRequirement",
                    )
                )
    return problems


def _pod_term(path: str, term: dict[str, Any]) -> list[Problem]:
    problems = _label_selector(f"{path}.labelSelector", term.get("labelSelector"))
    problems += _label_selector(f"{path}.namespaceSelector", term.get("namespaceSelector"))
    for k, namespace in entries(term.get("namespaces")):
        error = dns1123_label_error(namespace) if isinstance(namespace, str) else None
        if error:
            problems.append(
                problem(f"{path}.namespaces[{k}]", error, LABEL_HINT, "validatePodAffinityTerm")
            )
    key = text(term.get("topologyKey"))
    if not key:
        problems.append(
            problem(
                f"{path}.topologyKey",
                "required: the topology key is empty",
                "write a node label key (e.g. kubernetes.io/hostname)",
                "validatePodAffinityTerm",
            )
        )
    elif qualified_name_error(key):
        problems.append(
            problem(
                f"{path}.topologyKey",
                qualified_name_error(key) or "",
                QUALIFIED_HINT,
                "validatePodAffinityTerm",
            )
        )
    for kind in ("matchLabelKeys", "mismatchLabelKeys"):
        if term.get(kind) and not isinstance(term.get("labelSelector"), dict):
            problems.append(
                problem(
                    f"{path}.{kind}",
                    "needs a labelSelector",
                    f"add labelSelector or remove {kind}",
                    "validateMatchLabelKeysAndMismatchLabelKeys",
                )
            )
    return problems


def _topology_spread(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    seen: dict[tuple[str, str], int] = {}
    for i, constraint in items(spec.get("topologySpreadConstraints")):
        path = f"spec.topologySpreadConstraints[{i}]"
        skew = integer(constraint.get("maxSkew"))
        if skew is not None and skew <= 0:
            problems.append(
                problem(
                    f"{path}.maxSkew",
                    f"{skew} is not positive",
                    "write 1 or more",
                    "ValidateMaxSkew",
                )
            )
        key, when = text(constraint.get("topologyKey")), text(constraint.get("whenUnsatisfiable"))
        if not key:
            problems.append(
                problem(
                    f"{path}.topologyKey",
                    "required: the topology key is empty",
                    "write a node label key (e.g. topology.kubernetes.io/zone)",
                    "ValidateTopologyKey",
                )
            )
        if when not in WHEN_UNSATISFIABLE:
            problems.append(
                problem(
                    f"{path}.whenUnsatisfiable",
                    f"{show(when)} is not allowed",
                    "write DoNotSchedule or ScheduleAnyway",
                    "ValidateWhenUnsatisfiable",
                )
            )
        if (key, when) in seen:
            problems.append(
                problem(
                    path,
                    f"repeats the topologyKey and whenUnsatisfiable of "
                    f"spec.topologySpreadConstraints[{seen[(key, when)]}]",
                    "merge the two",
                    "ValidateSpreadConstraintNotRepeat",
                )
            )
        seen.setdefault((key, when), i)
        domains = integer(constraint.get("minDomains"))
        if constraint.get("minDomains") is not None and domains is not None:
            if domains <= 0:
                problems.append(
                    problem(
                        f"{path}.minDomains",
                        f"{domains} is not positive",
                        "write 1 or more",
                        "validateMinDomains",
                    )
                )
            if when != "DoNotSchedule":
                problems.append(
                    problem(
                        f"{path}.minDomains",
                        "minDomains needs whenUnsatisfiable: DoNotSchedule",
                        "remove minDomains or use DoNotSchedule",
                        "validateMinDomains",
                    )
                )
        for key_name in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            value = constraint.get(key_name)
            if isinstance(value, str) and value not in NODE_INCLUSION_POLICIES:
                problems.append(
                    problem(
                        f"{path}.{key_name}",
                        f"{show(value)} is not allowed",
                        "write Ignore or Honor",
                        "validateNodeInclusionPolicy",
                    )
                )
        problems += _label_selector(f"{path}.labelSelector", constraint.get("labelSelector"))
    return problems
