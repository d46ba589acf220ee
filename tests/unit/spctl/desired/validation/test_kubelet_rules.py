"""The parts of spctl.desired.validation.kubelet that the case files do not show directly: quantity
syntax, defaulting on a copy, and limits too large for a case file."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from spctl.desired.validation.kubelet import kubelet_problems
from spctl.desired.validation.kubelet.quantity import QuantityError, parse_quantity
from spctl.desired.validation.static_pod import validate_pod
from spctl.desired.yamlio import parse_manifest
from tests.fakes import paths


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("250m", Fraction(1, 4)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("1.", Fraction(1)),
        ("+1Ki", Fraction(1024)),
        ("-2Gi", Fraction(-(2**31))),
        ("1e3", Fraction(1000)),
        ("1E-2", Fraction(1, 100)),
        ("5E", Fraction(5 * 10**18)),
        ("128Mi", Fraction(128 * 2**20)),
        ("1e-07", Fraction(1, 10**7)),
    ],
)
def test_quantities_the_kubelet_reads(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1GB", "5e", "Mi", "1 Gi", "1.2.3", "--1", "1Kib", "0x10"])
def test_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


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
