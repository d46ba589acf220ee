"""Pod metadata (apimachinery's ValidateObjectMeta: namespace, labels, annotations,
finalizers; validateKubeFinalizerName; ValidatePodSpecificAnnotations and the seccomp and
AppArmor annotation checks)."""

from __future__ import annotations

from typing import Any

from spctl.podvalidation.common import (
    LABEL_HINT,
    LABEL_VALUE_HINT,
    QUALIFIED_HINT,
    containers,
    dns1123_label_error,
    has_backsteps,
    key_path,
    label_value_error,
    mapping,
    problem,
    qualified_name_error,
    show,
    text,
)
from spctl.validate import Problem

TOTAL_ANNOTATION_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB
STANDARD_FINALIZERS = ("kubernetes",)  # IsStandardFinalizerName
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER = "container.apparmor.security.beta.kubernetes.io/"


def metadata_problems(metadata: dict[str, Any], spec: dict[str, Any]) -> list[Problem]:
    problems = []
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace:
        error = dns1123_label_error(namespace)
        if error:
            problems.append(
                problem(
                    "metadata.namespace",
                    error,
                    f"{LABEL_HINT}, or leave it out for default",
                    "ValidateNamespaceName",
                )
            )
    problems += label_problems("metadata.labels", metadata.get("labels"), "ValidateLabels")
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        problems += _annotations(annotations, spec)
    for i, name in enumerate(metadata.get("finalizers") or []):
        if not isinstance(name, str):
            continue
        error = qualified_name_error(name)
        if error is None and "/" not in name and name not in STANDARD_FINALIZERS:
            error = f"{show(name)} is neither a standard finalizer nor qualified with a domain"
        if error:
            problems.append(
                problem(
                    f"metadata.finalizers[{i}]",
                    error,
                    "write a domain-qualified name (e.g. example.com/cleanup), or remove "
                    "finalizers: nothing removes them from a static pod",
                    "validateKubeFinalizerName",
                )
            )
    return problems


def label_problems(prefix: str, labels: Any, source: str) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in mapping(labels).items():
        field = key_path(prefix, key)
        error = qualified_name_error(key)
        if error:
            problems.append(problem(field, f"the key {error}", QUALIFIED_HINT, source))
        if isinstance(value, str):
            error = label_value_error(value)
            if error:
                problems.append(problem(field, f"the value {error}", LABEL_VALUE_HINT, source))
    return problems


def _annotations(annotations: dict[str, Any], spec: dict[str, Any]) -> list[Problem]:
    problems = []
    size = 0
    for key, value in annotations.items():
        size += len(key.encode()) + len(text(value).encode())
        error = qualified_name_error(key.lower())
        if error:
            problems.append(
                problem(
                    key_path("metadata.annotations", key),
                    f"the key {error}",
                    QUALIFIED_HINT,
                    "ValidateAnnotations",
                )
            )
    if size > TOTAL_ANNOTATION_BYTES:
        problems.append(
            problem(
                "metadata.annotations",
                f"the annotations take {size} bytes, over the {TOTAL_ANNOTATION_BYTES} allowed",
                "move large data into a file on the node and mount it with a hostPath volume",
                "ValidateAnnotations",
            )
        )
    cost = annotations.get(DELETION_COST)
    if isinstance(cost, str) and not _int32(cost):
        problems.append(
            problem(
                key_path("metadata.annotations", DELETION_COST),
                f"{show(cost)} is not a 32-bit integer",
                'write a whole number such as "100", or remove it',
                "ValidatePodSpecificAnnotations",
            )
        )
    names = {text(c.get("name")) for _, c in containers(spec)}
    for key, value in annotations.items():
        if not isinstance(value, str):
            continue
        seccomp = key == SECCOMP_POD or key.startswith(SECCOMP_CONTAINER)
        if seccomp and not _seccomp_value_ok(value):
            problems.append(
                problem(
                    key_path("metadata.annotations", key),
                    f"{show(value)} is not a seccomp profile",
                    "write runtime/default, unconfined or localhost/<relative path> (better: "
                    "use securityContext.seccompProfile)",
                    "ValidateSeccompProfile",
                )
            )
        if key.startswith(APPARMOR_CONTAINER):
            container = key[len(APPARMOR_CONTAINER) :]
            if container not in names:
                problems.append(
                    problem(
                        key_path("metadata.annotations", key),
                        f"no container named {container!r}",
                        "name a container of the pod after the '/'",
                        "ValidateAppArmorPodAnnotations",
                    )
                )
            if value not in ("", "runtime/default", "unconfined") and not value.startswith(
                "localhost/"
            ):
                problems.append(
                    problem(
                        key_path("metadata.annotations", key),
                        f"{show(value)} is not an AppArmor profile",
                        "write runtime/default, unconfined or localhost/<profile> (better: use "
                        "securityContext.appArmorProfile)",
                        "ValidateAppArmorProfileFormat",
                    )
                )
    return problems


def _int32(value: str) -> bool:
    try:
        number = int(value, 10)
    except ValueError:
        return False
    return -(2**31) <= number < 2**31 and value.strip() == value and "_" not in value


def _seccomp_value_ok(value: str) -> bool:
    if value in ("runtime/default", "docker/default", "unconfined"):
        return True
    if value.startswith("localhost/"):
        path = value[len("localhost/") :]
        return not path.startswith("/") and not has_backsteps(path)
    return False
