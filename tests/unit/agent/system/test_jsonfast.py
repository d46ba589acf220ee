"""JSON without the json package (agent/system/jsonfast.py): what json gives and refuses."""

from __future__ import annotations

import json

import pytest
from spctl_agent.system import jsonfast


def test_jsonfast_dumps_as_json_dumps():
    for value in [
        {"a": [1, 2.5, None, True, False, "é\u2028\x00", -0.0, 1e300, 10**30], "b": {}},
        [],
        {"nan": float("nan"), "inf": float("inf")},
        {"nested": [{"x": [[]]}]},
    ]:
        assert jsonfast.dumps(value) == json.dumps(value)


def test_jsonfast_dumps_refuses_what_json_refuses():
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        jsonfast.dumps(loop)
    with pytest.raises(TypeError):
        jsonfast.dumps({"x": object()})


def test_jsonfast_loads_as_json_loads():
    for doc in [' {"a": [1, 2.5e3, null, "\\u00e9"], "b": true}\n', "[NaN, -Infinity]", '"x"', "3"]:
        assert repr(jsonfast.loads(doc)) == repr(json.loads(doc))


@pytest.mark.parametrize("doc", ["apiVersion: v1\n", '{"a": 1} x', "", "  ", '{"a": }', "[1,"])
def test_jsonfast_loads_refuses_what_json_refuses(doc):
    with pytest.raises(ValueError):
        json.loads(doc)
    with pytest.raises(ValueError):
        jsonfast.loads(doc)
