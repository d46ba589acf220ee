"""The parts of spctl.desired.validation.kubelet that the case files do not show directly:
defaulting on a copy, and limits too large for a case file (quantity syntax: test_quantity.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from spctl.desired.validation.kubelet import kubelet_problems
from spctl.desired.validation.static_pod import validate_pod
from spctl.desired.yamlio import parse_manifest
from tests.fakes import paths


def _pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}],
            "volumes": [{"name": "scratch"}],
        },
    }


def test_defaulting_works_on_a_copy() -> None:
    pod = _pod()
    before = copy.deepcopy(pod)
    assert kubelet_problems(pod, node_name="n1") == []
    assert pod == before  # no hostPort, emptyDir, nodeName or namespace written into it


def test_annotations_over_256_kib_are_refused() -> None:
    pod = _pod()
    pod["metadata"]["annotations"] = {"a": "x" * (128 * 1024), "b": "y" * (128 * 1024)}
    problems = {p.field: p.message for p in validate_pod(pod)}
    assert "over the 262144 allowed" in problems["metadata.annotations"]
    pod["metadata"]["annotations"]["b"] = "y" * (128 * 1024 - 2)  # keys count too
    assert validate_pod(pod) == []


def test_one_problem_per_field_when_an_earlier_check_spoke() -> None:
    # Both spctl.desired.validation.static_pod and ValidateVolumeMounts refuse a mount of a missing volume; the
    # operator reads it once.
    pod = _pod()
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
    assert [p.field for p in kubelet_problems(pod)] == ["spec.containers[0].volumeMounts[0].name"]
    found = [p for p in validate_pod(pod) if p.field == "spec.containers[0].volumeMounts[0].name"]
    assert len(found) == 1 and "no volume named 'nope'" in found[0].message


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _replaced(doc: Any, path: tuple, new: Any) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return doc


def test_values_of_any_wrong_type_are_reported_not_crashed_on() -> None:
    # Every field of a pod that uses most of the rules, replaced in turn by values of other
    # types: the schema reports them; the kubelet rules must skip them without an exception.
    case = paths.CASES / "validate" / "kubelet-accepts-everything-here.yaml"
    pod = parse_manifest(case.read_text(encoding="utf-8"), source=str(case))["manifest"]
    checked = 0
    for path in list(_paths(pod))[1:]:
        for new in (None, -1, "x y", [None], {"k": None}, 1.5):
            mutated = _replaced(pod, path, new)
            problems = kubelet_problems(mutated, node_name="n1")
            assert all(p.field and p.message for p in problems)
            checked += 1
    assert checked > 1000  # about 245 fields, 6 values each


def test_a_quantity_too_long_to_read_is_a_problem_not_a_crash() -> None:
    # More digits than Python's int() reads (4300): once a bare ValueError out of validation.
    pod = _pod()
    container = pod["spec"]["containers"][0]
    container["resources"] = {"limits": {"memory": "1" * 5000, "cpu": 10**5000 // 10**4990}}
    problems = kubelet_problems(pod, node_name="n1")
    assert [(p.field, "longer than the 1000 characters" in p.message) for p in problems] == [
        ("spec.containers[0].resources.limits.memory", True)
    ]


def test_a_request_far_above_its_limit_is_shown_without_overflow() -> None:
    # format_quantity once went through float(), which overflows beyond 1e308.
    pod = _pod()
    big = "1" + "0" * 400 + ".5"
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}, "requests": {"cpu": big}}
    (found,) = kubelet_problems(pod, node_name="n1")
    assert "is above its limit 1" in found.message
