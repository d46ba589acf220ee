"""validate_pod against the scenarios in tests/cases/validate/, plus the small helpers.

Each case file holds a manifest, optionally the node it goes to, and ``expect``: the problems
validate_pod must report, each as its field and one or more substrings of its message (``[]``
for a valid pod). A case passes when every expected problem is reported and nothing else is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from spctl.desired.validation.static_pod import (
    Problem,
    check_unique_names,
    validate_pod,
    validate_pod_name,
)
from spctl.desired.yamlio import MAX_MANIFEST_BYTES, dump_manifest, parse_manifest
from tests.fakes import paths

CASES = sorted((paths.CASES / "validate").glob("*.yaml"))


def _load_case(path: Path) -> dict[str, Any]:
    case = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
    assert set(case) <= {"node", "manifest", "expect"}, f"{path.name}: unknown keys"
    return case


def _unmatched(problems: list[Problem], expect: list[dict[str, Any]]) -> tuple[list, list]:
    """The expectations no problem meets, and the problems no expectation explains."""
    left = list(problems)
    missing = []
    for wanted in expect:
        parts = wanted["message"]
        parts = [parts] if isinstance(parts, str) else parts
        match = next(
            (p for p in left if p.field == wanted["field"] and all(s in p.message for s in parts)),
            None,
        )
        if match is None:
            missing.append(wanted)
        else:
            left.remove(match)
    return missing, left


def test_the_case_directory_is_populated() -> None:
    # A glob that matched nothing would make the parametrized test below pass vacuously.
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = _load_case(path)
    problems = validate_pod(case["manifest"], node_name=case.get("node"))
    missing, unexpected = _unmatched(problems, case["expect"])
    assert not missing and not unexpected, (
        f"\nexpected but not reported: {missing}"
        f"\nreported but not expected: {[str(p) for p in unexpected]}"
    )


def test_runner_notices_an_unexpected_problem() -> None:
    # The runner itself must be able to fail: a valid expectation list with one problem too few.
    problems = [Problem("a", "first"), Problem("b", "second")]
    missing, unexpected = _unmatched(problems, [{"field": "a", "message": "first"}])
    assert missing == [] and unexpected == [Problem("b", "second")]
    missing, unexpected = _unmatched(problems, [{"field": "a", "message": ["first", "nope"]}])
    assert missing == [{"field": "a", "message": ["first", "nope"]}]


def _seed() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "static-web", "labels": {"role": "myrole"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }


def test_a_manifest_that_is_not_a_mapping_is_one_problem() -> None:
    assert validate_pod(["not", "a", "pod"]) == [  # type: ignore[arg-type]
        Problem("(root)", "a manifest must be a mapping (apiVersion: v1, kind: Pod, ...)")
    ]


def test_a_manifest_too_large_to_write_is_refused() -> None:
    pod = _seed()
    # In args: annotations that large break the kubelet's 256 KiB annotation limit first.
    pod["spec"]["containers"][0]["args"] = ["x" * MAX_MANIFEST_BYTES]
    problems = validate_pod(pod)
    assert [p.field for p in problems] == ["(root)"]
    assert "kubelet refuses files of 10485760 bytes" in problems[0].message


def test_the_size_is_that_of_the_written_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 one-letter list items are 40 characters of text but over 200 bytes of YAML.
    pod = _seed()
    pod["spec"]["containers"][0]["args"] = ["x"] * 40
    monkeypatch.setattr("spctl.desired.validation.static_pod.MAX_MANIFEST_BYTES", 200)
    problems = validate_pod(pod)
    assert [p.field for p in problems] == ["(root)"]
    written = len(dump_manifest(pod).encode("utf-8"))
    assert f"the manifest is {written} bytes once written" in problems[0].message


def _awkward_pod() -> dict[str, Any]:
    # Text that the dumper escapes, quotes, indents or writes as blocks, deep in the tree.
    pod = _seed()
    pod["metadata"]["annotations"] = {
        "escapes": "\x01\x02\ufeff\U0001f600 \u2028",
        "block": "line\n" * 20,
        "quotes": "it's 'quoted'",
        "deep": json.dumps({"a": [[["x"]]]}),
    }
    pod["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "y", "operator": "In", "values": ["y", "n"]}]}
                ]
            }
        }
    }
    return pod


@pytest.mark.parametrize(
    "pod",
    [_seed(), _awkward_pod()]
    + [c["manifest"] for c in map(_load_case, CASES) if c["expect"] == []],
)
def test_the_size_limit_is_exact(monkeypatch: pytest.MonkeyPatch, pod: dict[str, Any]) -> None:
    # With the limit set to the exact written size the pod is refused; one byte more, it fits.
    written = len(dump_manifest(pod).encode("utf-8"))
    monkeypatch.setattr("spctl.desired.validation.static_pod.MAX_MANIFEST_BYTES", written)
    assert [p.field for p in validate_pod(pod)] == ["(root)"]
    monkeypatch.setattr("spctl.desired.validation.static_pod.MAX_MANIFEST_BYTES", written + 1)
    assert validate_pod(pod) == []


def test_values_that_cannot_be_written_are_reported() -> None:
    pod = _seed()
    pod["metadata"]["labels"]["role"] = b"myrole"
    fields = {p.field: p.message for p in validate_pod(pod)}
    assert "type bytes is not plain data" in fields["(root)"]
    assert fields["metadata.labels.role"].startswith("must be a string, not bytes")


def test_problems_print_as_field_and_message() -> None:
    pod = _seed()
    pod["spec"]["serviceAccountName"] = "default"
    assert str(validate_pod(pod)[0]).startswith("spec.serviceAccountName: references")


def test_validation_is_fast_after_the_first() -> None:
    pod = _seed()
    validate_pod(pod)  # loads and compiles the schema once
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        assert validate_pod(pod) == []
    per_pod = (time.perf_counter() - start) / runs
    assert per_pod < 0.02, f"{per_pod * 1000:.1f} ms per pod"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("static-web", None),
        ("kube-apiserver.v2", None),
        ("a" * 250, None),
        ("", "empty"),
        ("../evil", "contains '/'"),
        ("a/b", "contains '/'"),
        ("bad\0name", "NUL byte"),
        (".", "starts with '.'"),
        ("..", "starts with '.'"),
        (".hidden", "starts with '.'"),
        ("Static-Web", "not a DNS-1123 subdomain"),
        ("web_1", "not a DNS-1123 subdomain"),
        ("-web", "not a DNS-1123 subdomain"),
        ("web.", "not a DNS-1123 subdomain"),
        ("a" * 254, "at most 253"),
        # A valid subdomain, but <name>.yaml would pass the 255-byte file name limit.
        ("a" * 251, "file name limit"),
    ],
)
def test_validate_pod_name(name: str, expected: str | None) -> None:
    problem = validate_pod_name(name)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_unique_names_name_both_templates() -> None:
    found = check_unique_names(
        [
            ("static-web", "templates/web.yaml.j2"),
            ("haproxy", "templates/haproxy.yaml.j2"),
            ("static-web", "templates/web-old.yaml.j2"),
        ]
    )
    assert len(found) == 1
    assert "'static-web'" in found[0]
    assert "templates/web.yaml.j2" in found[0] and "templates/web-old.yaml.j2" in found[0]
    assert "undefined" in found[0]


def test_unique_names_accept_distinct_names() -> None:
    assert check_unique_names([("a", "a.j2"), ("b", "b.j2")]) == []
