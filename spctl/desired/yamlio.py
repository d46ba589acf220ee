"""Safe YAML in, canonical YAML out.

A manifest is read once on the control host with :func:`parse_manifest`, validated, and written
to the node with :func:`dump_manifest`, so the node gets exactly the bytes whose meaning was
checked. Two readers matter: ours (PyYAML) and the kubelet's (go-yaml v2 behind
sigs.k8s.io/yaml). Both speak YAML 1.1 but disagree at the edges, so:

- reading refuses what could make the two disagree or make validation itself expensive: anchors
  and aliases (an alias bomb expands only when something walks the tree, such as the schema
  validator or the dumper, so it is refused while composing, before any tree exists), several
  documents, duplicate keys and merge keys (PyYAML keeps the last, silently), keys that are not
  strings, and tags that have no JSON form (``!!binary``, ``!!set``, ``!!timestamp``...);
  unquoted dates and ``1:20`` stay strings, as they do for the kubelet;
- writing quotes every string that either reader could take for a number, boolean or null
  (``y``, ``1e5`` and ``0o17`` are plain strings to PyYAML but not to go-yaml), never emits
  anchors, and uses one fixed style, so the same input always gives the same bytes.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import yaml
from spctl_agent.protocol import MAX_MANIFEST_BYTES
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.events import AliasEvent, NodeEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from spctl.errors import SpctlError

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SYNTAX_HINT = "fix the YAML (check indentation and quoting) and try again"


class ManifestError(SpctlError):
    """A manifest could not be read as one plain YAML mapping.

    ``line`` and ``column`` are 1-based and set when YAML pointed at a place in the text.
    """

    def __init__(
        self, message: str, *, source: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column


class _Refused(MarkedYAMLError):
    """Valid YAML that a manifest may not use; ``hint`` says what to write instead."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


def _implicit_resolvers_without(
    tags: set[str],
) -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    return {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in tags]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


class _ManifestRules(Composer, SafeConstructor, Resolver):
    """The refusals shared by the libyaml and the pure-Python loader.

    Composing runs in Python in both (libyaml only scans and parses), because libyaml's own
    composer resolves aliases in C where nothing can refuse them.
    """

    # Reading: no timestamps (a date stays a string, as go-yaml v2 leaves it), no sexagesimal
    # numbers (go-yaml reads `1:20` as a string), no `=` value tag (it has no safe constructor).
    yaml_implicit_resolvers = _implicit_resolvers_without(
        {
            "tag:yaml.org,2002:timestamp",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:value",
        }
    )

    if TYPE_CHECKING:  # provided by the parser each concrete loader mixes in

        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...
        def get_event(self) -> Any: ...

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(
                f"alias *{event.anchor} found",
                event.start_mark,
                "anchors and aliases are not allowed in a manifest; write the value out in full",
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _Refused(
                f"anchor &{event.anchor} found",
                event.start_mark,
                "anchors and aliases are not allowed in a manifest; remove the anchor and write "
                "each value out in full",
            )
        return super().compose_node(parent, index)

    def get_single_node(self) -> Node | None:
        self.get_event()  # StreamStart
        document = None
        if not self.check_event(StreamEndEvent):
            document = self.compose_document()
        if not self.check_event(StreamEndEvent):
            raise _Refused(
                "a second YAML document found",
                self.get_event().start_mark,
                "a manifest holds exactly one pod; remove the `---` and what follows, or put "
                "each pod in its own template",
            )
        self.get_event()  # StreamEnd
        return document

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                raise _Refused(
                    "merge key << found",
                    key_node.start_mark,
                    "merge keys are not allowed in a manifest; write the keys out",
                )
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                raise _Refused(
                    "mapping key is not a string",
                    key_node.start_mark,
                    "quote the key (YAML reads unquoted on, yes, 1 or null as non-strings)",
                )
            key = key_node.value
            if key in seen:
                raise _Refused(
                    f"duplicate key {key!r} (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                    "remove one of them; YAML readers silently keep only the last",
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def _refuse_tag(self, node: Node) -> Any:
        raise _Refused(
            f"tag {node.tag} found",
            node.start_mark,
            "a manifest holds only strings, numbers, booleans, null, lists and mappings; "
            "quote the value to make it a string",
        )


_ManifestRules.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    **{
        f"tag:yaml.org,2002:{tag}": _ManifestRules._refuse_tag
        for tag in ("binary", "timestamp", "set", "omap", "pairs")
    },
}


# Integers and floats as PyYAML reads them, minus the base-60 forms.
_ManifestRules.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
_ManifestRules.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class PureManifestLoader(_ManifestRules, yaml.SafeLoader):
    """The manifest loader in pure Python, for PyYAML built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)


if yaml.__with_libyaml__:

    class ManifestLoader(_ManifestRules, yaml.CSafeLoader):
        """The manifest loader: libyaml scans and parses, the rules above compose."""

        def __init__(self, stream: str) -> None:
            yaml.CSafeLoader.__init__(self, stream)
            Composer.__init__(self)

else:  # pragma: no cover - PyYAML wheels ship libyaml
    ManifestLoader = PureManifestLoader  # type: ignore[misc,assignment]


def _error(source: str, exc: Exception) -> ManifestError:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None:
            problem = f"{problem} ({exc.context} at line {exc.context_mark.line + 1})"
        hint = exc.hint if isinstance(exc, _Refused) else _SYNTAX_HINT
        if mark is None:
            return ManifestError(f"{source}: {problem}; {hint}", source=source)
        line, column = mark.line + 1, mark.column + 1
        return ManifestError(
            f"{source}: line {line}, column {column}: {problem}; {hint}",
            source=source,
            line=line,
            column=column,
        )
    return ManifestError(f"{source}: {exc}; {_SYNTAX_HINT}", source=source)


def _load(text: str, source: str) -> Any:
    # Checked on the text, before any parsing: len() is a lower bound on the UTF-8 size, so a
    # huge text is refused without even encoding it.
    size = len(text)
    if size < MAX_MANIFEST_BYTES:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size >= MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{source}: {size} bytes, the kubelet refuses manifests of {MAX_MANIFEST_BYTES} "
            "bytes (10 MiB) or more; move large data into a hostPath file on the node",
            source=source,
        )
    loader = ManifestLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _error(source, exc) from None
    except RecursionError:
        raise ManifestError(
            f"{source}: nested too deeply to be a pod manifest; {_SYNTAX_HINT}", source=source
        ) from None
    except ValueError as exc:  # int() refuses a number of more than 4300 digits
        raise ManifestError(
            f"{source}: {str(exc).split(';')[0]}: a number too long to read; quote it if it is "
            "text",
            source=source,
        ) from None
    finally:
        loader.dispose()


def parse_manifest(text: str, *, source: str) -> dict[str, Any]:
    """Read one manifest; ``source`` names it (template, node, file) in every error.

    Raises :class:`ManifestError` for anything but one plain YAML mapping of at most
    :data:`MAX_MANIFEST_BYTES`.
    """
    doc = _load(text, source)
    if not isinstance(doc, dict):
        found = "an empty document" if doc is None else f"a {_yaml_type(doc)}"
        raise ManifestError(
            f"{source}: the manifest is {found}, expected a mapping "
            "(apiVersion: v1, kind: Pod, metadata, spec)",
            source=source,
        )
    return doc


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


class _CanonicalDumper(yaml.SafeDumper):
    """Pure Python on purpose: libyaml's emitter may lay text out differently, and the bytes
    written to the nodes must not depend on how PyYAML was built on the control host."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        # Multi-line text (a config file in args) reads best as a literal block; the emitter
        # falls back to a quoted style by itself when the text cannot be a block.
        if "\n" in data:
            return self.represent_scalar(_STR, data, style="|")
        return super().represent_str(data)


_CanonicalDumper.add_representer(str, _CanonicalDumper.represent_str)
for _type in (bytes, set, date, datetime):
    _CanonicalDumper.add_representer(_type, _CanonicalDumper.represent_undefined)

# Strings that go-yaml v2 reads as something else must be quoted even though PyYAML would not
# need it: y/n are booleans there, Go's ParseInt accepts 0o/0O/0B/0X prefixes and its float
# syntax allows `1e5` without a dot or sign in the exponent.
_CanonicalDumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)
_CanonicalDumper.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?0[oObBxX][0-9a-fA-F_]+$"), list("-+0")
)
_CanonicalDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def dump_manifest(doc: dict[str, Any]) -> str:
    """The canonical text of ``doc``: block style, keys in the given order, no anchors.

    The same ``doc`` always gives the same text, and ``parse_manifest`` reads it back equal.
    """
    try:
        return yaml.dump(
            doc,
            Dumper=_CanonicalDumper,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
            width=2**31 - 1,  # never fold long strings: one value, one line, clean diffs
        )
    except yaml.YAMLError as exc:
        bad = exc.args[1] if len(exc.args) > 1 else None
        raise ManifestError(
            f"cannot write the manifest: a value of type {type(bad).__name__} is not plain "
            "data; use only strings, numbers, booleans, null, lists and mappings",
            source="<dump>",
        ) from None


def semantically_equal(a: str, b: str) -> bool:
    """True when both texts read as the same data, whatever their layout, comments or key
    order; False when they differ or either does not read as a manifest."""
    try:
        return _same(_load(a, "a"), _load(b, "b"))
    except ManifestError:
        return False


def _same(a: Any, b: Any) -> bool:
    # `==` alone is not enough: True == 1 == 1.0 in Python but not in a manifest.
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)
