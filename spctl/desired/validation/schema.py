"""The Kubernetes JSON schemas (Pod, DaemonSet), read from kubernetes-validate's files offline,
and a schema error said as a :class:`~spctl.desired.validation.problem.Problem`.

The files are read without importing kubernetes-validate; a schema is loaded and compiled
once per process (about 0.1 s, mostly importing jsonschema), after which one pod takes a
millisecond or less.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spctl.desired.validation.problem import (
    Problem,
    as_list,
    field_path,
    kind_of,
    shorten,
    show,
    type_names,
)
from spctl.errors import SpctlError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError
    from jsonschema.protocols import Validator

# The newest schema kubernetes-validate ships. Newer is right for typo detection: an older
# schema would call new, valid fields unknown. The static-pod rules below are those of
# Kubernetes 1.34 and later whatever the schema version.
SCHEMA_VERSION = "1.37.0"
POD_SCHEMA = "pod-v1.json"


_validator_lock = threading.Lock()


def validator(document: str = POD_SCHEMA, version: str = SCHEMA_VERSION) -> Validator:
    """The validator of one of kubernetes-validate's schema files (``pod-v1.json``,
    ``daemonset-apps-v1.json``), built once per process even when many threads ask at the
    same moment (functools.cache alone lets each of them build its own: at 50 nodes that
    was 50 copies of the schema, a third of status's CPU and half its memory)."""
    with _validator_lock:
        return _build_validator(document, version)


@functools.cache
def _build_validator(document: str, version: str) -> Validator:
    # Imported here: jsonschema costs a tenth of a second to import, which commands that never
    # validate (--help, completion) should not pay.
    import jsonschema
    from referencing import Registry, Resource

    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise SpctlError(
            "the Python package kubernetes-validate is missing; reinstall spctl "
            "(pip install kubernetes-validate)"
        )
    schema_dir = (
        Path(next(iter(spec.submodule_search_locations)))
        / "kubernetes-json-schema"
        / f"v{version}-local-strict"
    )
    try:
        schema = json.loads((schema_dir / document).read_text(encoding="utf-8"))
        definitions = json.loads((schema_dir / "_definitions.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpctlError(
            f"cannot read the Kubernetes {version} schema {document} in {schema_dir}: {exc}; "
            "reinstall kubernetes-validate"
        ) from None
    # A schema refers to the shared definitions by URI ("/api/_definitions.json#/$defs/...",
    # relative to its own $id); the registry resolves that without touching the network.
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in (schema, definitions)
    )
    built: Validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return built


def schema_problems(doc: dict[str, Any]) -> list[Problem]:
    """Where ``doc`` breaks the Pod schema (strict: an unknown field is a typo), with a
    guess at the field meant."""
    problems: list[Problem] = []
    for error in validator().iter_errors(doc):
        problems.extend(_from_schema_error(error))
    return problems


def _from_schema_error(error: SchemaError) -> Iterator[Problem]:
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = list(error.schema.get("properties", {}))
        for key in instance:
            if key not in known:
                guess = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {guess[0]!r}?" if guess else ""
                yield Problem(
                    field_path([*path, key]),
                    f"unknown field {key!r}: the Pod schema has no such field here{hint}",
                )
    elif error.validator == "required" and isinstance(instance, dict):
        for key in error.validator_value:
            if key not in instance:
                yield Problem(field_path([*path, key]), "required field is missing")
    elif error.validator == "type":
        yield Problem(
            field_path(path),
            f"must be {type_names(error.validator_value)}, not {kind_of(instance)}",
        )
    elif error.validator == "enum":
        allowed = ", ".join(show(v) for v in error.validator_value)
        yield Problem(field_path(path), f"must be one of {allowed}, not {show(instance)}")
    elif error.validator in ("oneOf", "anyOf") and error.context:
        if all(sub.validator == "type" for sub in error.context):
            expected = [t for sub in error.context for t in as_list(sub.validator_value)]
            yield Problem(
                field_path(path), f"must be {type_names(expected)}, not {kind_of(instance)}"
            )
        else:
            from jsonschema.exceptions import best_match

            best = best_match(error.context)
            if best is not None:
                yield from _from_schema_error(best)
    else:
        yield Problem(field_path(path), shorten(error.message))
