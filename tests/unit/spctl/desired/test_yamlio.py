"""parse_manifest refuses what a manifest must not hold; dump_manifest writes one fixed text."""

from __future__ import annotations

import copy
import time
import tracemalloc
from collections.abc import Iterator

import pytest

import spctl.desired.yamlio
from spctl.desired.yamlio import (
    MAX_MANIFEST_BYTES,
    ManifestError,
    PureManifestLoader,
    dump_manifest,
    parse_manifest,
    semantically_equal,
)

SOURCE = "templates/static-web.yaml.j2 on my-node1"

SEED = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels:
    role: myrole
spec:
  containers:
    - name: web
      image: nginx
      ports:
        - name: web
          containerPort: 80
          protocol: TCP
"""

# What dump_manifest writes for the seed pod: this exact text goes to the node.
SEED_CANONICAL = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels:
    role: myrole
spec:
  containers:
  - name: web
    image: nginx
    ports:
    - name: web
      containerPort: 80
      protocol: TCP
"""

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the libyaml loader and again with the pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(spctl.desired.yamlio, "ManifestLoader", PureManifestLoader)
    yield request.param


def _refusal(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source=SOURCE)
    assert str(caught.value).startswith(SOURCE + ":")
    assert caught.value.source == SOURCE
    return caught.value


# --- reading -------------------------------------------------------------------------------


def test_the_seed_pod_parses(loader: str) -> None:
    doc = parse_manifest(SEED, source=SOURCE)
    assert doc["metadata"] == {"name": "static-web", "labels": {"role": "myrole"}}
    assert doc["spec"]["containers"][0]["ports"][0]["containerPort"] == 80


def test_both_loaders_read_the_same_data(monkeypatch: pytest.MonkeyPatch) -> None:
    text = SEED + "  hostNetwork: true\n  priority: 0x10\n  nodeSelector: {a: '1', b: ~}\n"
    fast = parse_manifest(text, source=SOURCE)
    monkeypatch.setattr(spctl.desired.yamlio, "ManifestLoader", PureManifestLoader)
    assert parse_manifest(text, source=SOURCE) == fast
    assert fast["spec"]["priority"] == 16 and fast["spec"]["nodeSelector"]["b"] is None


def test_an_alias_bomb_is_refused_at_once_without_expanding(loader: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        error = _refusal(BILLION_LAUGHS)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # Expanded, the bomb is 9**9 (387 million) strings; refused, it costs next to nothing.
    assert elapsed < 0.5
    assert peak < 1_000_000
    assert (error.line, error.column) == (1, 4)
    assert "anchor &a" in str(error) and "anchors and aliases are not allowed" in str(error)


def test_an_anchor_alone_is_refused(loader: str) -> None:
    error = _refusal("metadata:\n  name: &n web\n")
    assert (error.line, error.column) == (2, 9)
    assert "anchor &n" in str(error)


def test_an_alias_is_refused_even_without_its_anchor(loader: str) -> None:
    error = _refusal("metadata:\n  name: *n\n")
    assert "alias *n" in str(error) and "line 2" in str(error)


def test_a_second_document_is_refused(loader: str) -> None:
    error = _refusal(SEED + "---\n" + SEED)
    assert error.line == 15
    assert "second YAML document" in str(error) and "exactly one pod" in str(error)


def test_duplicate_keys_are_refused(loader: str) -> None:
    text = SEED.replace("      image: nginx\n", "      image: nginx\n      image: nginx:1.27\n")
    error = _refusal(text)
    assert error.line == 11
    assert "duplicate key 'image' (first at line 10)" in str(error)
    assert "remove one of them" in str(error)


def test_merge_keys_are_refused(loader: str) -> None:
    error = _refusal("metadata:\n  <<: {name: web}\n")
    assert "merge key" in str(error) and error.line == 2


@pytest.mark.parametrize("key", ["on", "1", "null", "true", "[a]"])
def test_keys_must_be_strings(loader: str, key: str) -> None:
    error = _refusal(f"metadata:\n  labels:\n    {key}: x\n")
    assert "mapping key is not a string" in str(error) and "quote the key" in str(error)
    assert error.line == 3


@pytest.mark.parametrize("tag", ["!!binary aGVsbG8=", "!!timestamp 2024-01-01", "!!set {a}"])
def test_tags_without_a_json_form_are_refused(loader: str, tag: str) -> None:
    error = _refusal(f"metadata:\n  name: {tag}\n")
    assert "found" in str(error) and "quote the value" in str(error)


def test_unquoted_dates_and_base_60_numbers_stay_strings(loader: str) -> None:
    # go-yaml v2 (the kubelet's reader) keeps both as strings; PyYAML alone would not.
    doc = parse_manifest("a: 2024-01-01\nb: 1:20\nc: 0755\nd: yes\n", source=SOURCE)
    assert doc == {"a": "2024-01-01", "b": "1:20", "c": 493, "d": True}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- apiVersion: v1\n", "a list"),
        ("just text\n", "a string"),
        ("42\n", "a number"),
        ("", "an empty document"),
        ("# only a comment\n", "an empty document"),
    ],
)
def test_anything_but_a_mapping_is_refused(loader: str, text: str, found: str) -> None:
    error = _refusal(text)
    assert f"the manifest is {found}, expected a mapping" in str(error)


def test_a_syntax_error_names_source_line_and_column(loader: str) -> None:
    error = _refusal("metadata:\n  name: web\n spec: {}\n")
    assert (error.line, error.column) == (3, 2)
    assert str(error).startswith(f"{SOURCE}: line 3, column 2: ")
    assert "fix the YAML" in str(error)


def test_deep_nesting_is_refused(loader: str) -> None:
    error = _refusal("a: " + "[" * 5_000)
    assert "fix the YAML" in str(error)


def test_a_number_too_long_for_python_is_refused(loader: str) -> None:
    # int() reads at most 4300 digits; the ValueError once escaped parse_manifest.
    error = _refusal("a: 1\nb: " + "7" * 5000 + "\n")
    assert "digits" in str(error) and "quote it" in str(error)


def test_an_oversized_text_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoParsing:
        def __init__(self, stream: str) -> None:
            raise AssertionError("the text reached the parser")

    monkeypatch.setattr(spctl.desired.yamlio, "ManifestLoader", NoParsing)
    # Not even valid YAML: had it been parsed, the error would be about syntax.
    error = _refusal("a: [" + " " * MAX_MANIFEST_BYTES)
    assert f"{MAX_MANIFEST_BYTES + 4} bytes" in str(error)
    assert "the kubelet refuses manifests of 10485760 bytes" in str(error)


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    text = "a: " + "é" * (MAX_MANIFEST_BYTES // 2)  # fewer characters than the limit, more bytes
    assert len(text) < MAX_MANIFEST_BYTES
    assert "bytes" in str(_refusal(text))


def test_the_largest_text_the_kubelet_accepts_parses() -> None:
    # The kubelet refuses a file once it has read MAX_MANIFEST_BYTES, so one byte less is fine.
    head = "a: 1\n#"
    text = head + "x" * (MAX_MANIFEST_BYTES - 1 - len(head))
    assert parse_manifest(text, source=SOURCE) == {"a": 1}
    assert "bytes" in str(_refusal(text + "x"))


# --- writing -------------------------------------------------------------------------------


def test_the_seed_pod_dumps_to_the_canonical_text() -> None:
    assert dump_manifest(parse_manifest(SEED, source=SOURCE)) == SEED_CANONICAL


def test_the_dump_is_stable_and_round_trips(loader: str) -> None:
    doc = parse_manifest(SEED, source=SOURCE)
    first = dump_manifest(doc)
    assert dump_manifest(copy.deepcopy(doc)) == first
    again = parse_manifest(first, source="dumped")
    assert again == doc
    assert dump_manifest(again) == first


def test_the_dump_keeps_the_given_key_order() -> None:
    text = dump_manifest({"spec": {}, "kind": "Pod", "apiVersion": "v1", "metadata": {}})
    assert [line.split(":")[0] for line in text.splitlines()] == [
        "spec",
        "kind",
        "apiVersion",
        "metadata",
    ]


def test_the_dump_never_writes_anchors() -> None:
    shared = ["--port=80", "--verbose"]
    text = dump_manifest({"a": shared, "b": shared})
    assert "&" not in text and "*" not in text
    assert parse_manifest(text, source="dumped") == {"a": shared, "b": shared}


@pytest.mark.parametrize(
    "value",
    # Strings that a YAML reader could take for something else: PyYAML's YAML 1.1 words and
    # numbers, and go-yaml v2's extra ones (y/n, 1e5, 0o17).
    [
        "y",
        "N",
        "yes",
        "on",
        "true",
        "null",
        "~",
        "",
        "80",
        "1e5",
        "0o17",
        "0x1F",
        "1.5",
        ".inf",
        "2024-01-01",
        "1:20",
        "<<",
        "- x",
        "a: b",
        "#c",
        "@x",
    ],
)
def test_the_dump_quotes_strings_that_look_like_other_types(value: str) -> None:
    text = dump_manifest({"v": value})
    assert text[3] in "'\"", text
    assert parse_manifest(text, source="dumped") == {"v": value}


def test_the_dump_writes_multiline_text_as_a_literal_block() -> None:
    config = "global\n  maxconn 100\n\nfrontend web\n  bind :80\n"
    text = dump_manifest({"args": [config], "name": "über"})
    assert text == (
        "args:\n- |\n  global\n    maxconn 100\n\n  frontend web\n    bind :80\nname: über\n"
    )
    assert parse_manifest(text, source="dumped") == {"args": [config], "name": "über"}


@pytest.mark.parametrize("value", ["a\n\n", "\nstart", "  lead\nx", "trailing \nx", "tab\tx\n"])
def test_awkward_multiline_text_round_trips(value: str) -> None:
    text = dump_manifest({"v": value})
    assert parse_manifest(text, source="dumped") == {"v": value}


def test_long_strings_stay_on_one_line() -> None:
    command = " ".join(f"--flag-{i}=value" for i in range(40))
    assert dump_manifest({"c": command}) == f"c: {command}\n"


def test_the_dump_refuses_values_that_are_not_plain_data() -> None:
    with pytest.raises(ManifestError) as caught:
        dump_manifest({"data": b"\x00\x01"})
    assert "type bytes is not plain data" in str(caught.value)


# --- comparing -----------------------------------------------------------------------------


def test_layout_comments_and_key_order_do_not_matter() -> None:
    reordered = (
        "# deployed by spctl\n"
        'kind: "Pod"\n'
        "apiVersion: v1\n"
        "spec: {containers: [{image: nginx, name: web,"
        " ports: [{protocol: TCP, containerPort: 80, name: web}]}]}\n"
        "metadata: {labels: {role: myrole}, name: static-web}\n"
    )
    assert semantically_equal(SEED, reordered)
    assert semantically_equal(SEED, SEED_CANONICAL)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("port: 80\n", "port: 81\n"),
        ("port: 80\n", "port: '80'\n"),
        ("flag: true\n", "flag: 1\n"),
        ("n: 1\n", "n: 1.0\n"),
        ("list: [a, b]\n", "list: [b, a]\n"),
        ("a: {}\n", "a: {b: null}\n"),
    ],
)
def test_different_values_are_different(a: str, b: str) -> None:
    assert not semantically_equal(a, b)
    assert not semantically_equal(b, a)


def test_text_that_does_not_parse_is_never_equal() -> None:
    assert not semantically_equal(SEED, SEED + "  oops: [\n")
    assert not semantically_equal(BILLION_LAUGHS, BILLION_LAUGHS)
    assert semantically_equal(SEED, SEED)
