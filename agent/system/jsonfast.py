"""JSON without importing the json package.

``import json`` loads ``re`` (json.decoder and json.encoder compile patterns at import), and
``re`` loads enum, functools and collections: about two thirds of the python start-up of a
facts call. The C accelerator ``_json`` that json itself uses holds the scanner and the
encoder; this module drives them the way Lib/json/decoder.py (JSONDecoder.decode,
raw_decode) and Lib/json/encoder.py (JSONEncoder.encode with indent=None) do, so that
``loads`` and ``dumps`` give exactly what ``json.loads`` and ``json.dumps`` with their
default arguments give. Without ``_json`` (another python implementation) they are json's.
"""

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE: r'[ \t\n\r]*'


def _constant(name):
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class _Context:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder (json.loads' defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo = None


_scan = None
_encode = None


def loads(text):
    """json.loads(text) for a str; ValueError when it is not one JSON document."""
    global _scan
    if _json is None:
        import json

        return json.loads(text)
    if _scan is None:
        _scan = _json.make_scanner(_Context())
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(text, start)
    except StopIteration as err:
        raise ValueError("Expecting value: char %d" % err.value) from None
    end += len(text) - end - len(text[end:].lstrip(_WHITESPACE))
    if end != len(text):
        raise ValueError("Extra data: char %d" % end)
    return obj


def dumps(obj):
    """json.dumps(obj): ASCII, separators ", " and ": ", NaN allowed, circular checks."""
    global _encode
    if _json is None or isinstance(obj, str):
        import json

        return json.dumps(obj)
    if _encode is None:
        _encode = _json.make_encoder(
            {}, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
    return "".join(_encode(obj, 0))


def _unserializable(obj):
    raise TypeError("Object of type %s is not JSON serializable" % obj.__class__.__name__)
