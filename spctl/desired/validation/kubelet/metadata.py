"""Pod metadata (apimachinery's ValidateObjectMeta: namespace, labels, annotations,
finalizers; validateKubeFinalizerName; ValidatePodSpecificAnnotations and the seccomp and
AppArmor annotation checks)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    LABEL_HINT,
    LABEL_VALUE_HINT,
    QUALIFIED_HINT,
    SUBDOMAIN_HINT,
    containers,
    dns1123_label_error,
    dns1123_subdomain_error,
    entries,
    has_backsteps,
    items,
    label_value_error,
    mapping,
    problem,
    qualified_name_error,
    string_keys,
    text,
)
from spctl.desired.validation.problem import Problem, key_path, show

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
    generate = text(metadata.get("generateName"))
    # NameIsDNSSubdomain with prefix: a trailing '-' is fine, a suffix is appended
    error = dns1123_subdomain_error(generate[:-1] + "a" if generate.endswith("-") else generate)
    if generate and error:
        problems.append(
            problem(
                "metadata.generateName",
                error,
                SUBDOMAIN_HINT + " (it may end in '-'); "
                "the kubelet names a static pod from metadata.name anyway",
                "ValidateObjectMeta",
            )
        )
    problems += _owner_references(metadata.get("ownerReferences"))
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        problems += _annotations(annotations, spec)
    for i, name in entries(metadata.get("finalizers")):
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


def _owner_references(references: Any) -> list[Problem]:
    """apimachinery's ValidateOwnerReferences."""
    problems = []
    controller = ""
    for i, ref in items(references):
        path = f"metadata.ownerReferences[{i}]"
        api_version = text(ref.get("apiVersion"))
        for key, empty in (
            ("apiVersion", not api_version.rpartition("/")[2]),
            ("kind", not text(ref.get("kind"))),
            ("name", not text(ref.get("name"))),
            ("uid", not text(ref.get("uid"))),
        ):
            if empty:
                problems.append(
                    problem(
                        f"{path}.{key}",
                        "must not be empty",
                        f"write the owner's {key}",
                        "ValidateOwnerReferences",
                    )
                )
        if api_version == "v1" and ref.get("kind") == "Event":
            problems.append(
                problem(
                    path,
                    "an Event may not own anything",
                    "remove the reference",
                    "ValidateOwnerReferences",
                )
            )
        if ref.get("controller") is True:
            name = f"{text(ref.get('kind'))}/{text(ref.get('name'))}"
            if controller:
                problems.append(
                    problem(
                        f"{path}.controller",
                        f"{controller} is the controller already; only "
                        "one reference may have controller: true",
                        "remove one",
                        "ValidateOwnerReferences",
                    )
                )
            controller = controller or name
    return problems


def label_problems(prefix: str, labels: Any, source: str) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in string_keys(labels):
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
    for key, value in string_keys(annotations):
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
    for key, value in string_keys(annotations):
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


def _profile_matches(profile: dict[str, Any], annotation: str, seccomp: bool) -> bool:
    kind = profile.get("type")
    if kind == "Unconfined":
        return annotation == "unconfined"
    if kind == "RuntimeDefault":
        return annotation in (
            ("runtime/default", "docker/default") if seccomp else ("runtime/default",)
        )
    if kind == "Localhost":
        return annotation == "localhost/" + text(profile.get("localhostProfile"))
    return True  # an unknown type is reported by the field's own rule


def annotation_field_problems(metadata: dict[str, Any], spec: dict[str, Any]) -> list[Problem]:
    """ValidatePodCreate's validateSeccompAnnotationsAndFields and
    validateAppArmorAnnotationsAndFieldsMatchOnCreate: when both the old annotation and the
    field are set, they must say the same."""
    annotations = mapping(metadata.get("annotations"))
    pod_context = mapping(spec.get("securityContext"))
    problems = []
    checks: list[tuple[str, str, Any, bool]] = []  # (field, annotation key, profile, seccomp)
    checks.append(
        (
            "spec.securityContext.seccompProfile",
            SECCOMP_POD,
            pod_context.get("seccompProfile"),
            True,
        )
    )
    windows = mapping(spec.get("os")).get("name") == "windows"
    for prefix, container in containers(spec):
        context = mapping(container.get("securityContext"))
        name = text(container.get("name"))
        checks.append(
            (
                f"{prefix}.securityContext.seccompProfile",
                SECCOMP_CONTAINER + name,
                context.get("seccompProfile"),
                True,
            )
        )
        if not windows:
            profile = context.get("appArmorProfile") or pod_context.get("appArmorProfile")
            checks.append(
                (
                    f"{prefix}.securityContext.appArmorProfile",
                    APPARMOR_CONTAINER + name,
                    profile,
                    False,
                )
            )
    for field, key, profile, seccomp in checks:
        annotation = annotations.get(key)
        if (
            isinstance(profile, dict)
            and isinstance(annotation, str)
            and not _profile_matches(profile, annotation, seccomp)
        ):
            problems.append(
                problem(
                    field,
                    f"the annotation {key} says {annotation!r}, the field says "
                    f"{text(profile.get('type'))}",
                    "remove the annotation (the field replaces it)",
                    "validateSeccompAnnotationsAndFields"
                    if seccomp
                    else "validateAppArmorAnnotationsAndFieldsMatchOnCreate",
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
