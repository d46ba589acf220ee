"""Resource quantities as the kubelet reads them: Quantity.UnmarshalJSON and ParseQuantity in
apimachinery's ``pkg/api/resource/quantity.go``, with the suffixes of ``suffix.go``.

    <quantity>       ::= <signedNumber><suffix>
    <number>         ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>         ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>       ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>      ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent>::= "e" <signedNumber> | "E" <signedNumber>

One parser, :func:`parsed_quantity`, serves validation (:func:`parse_quantity`, the value as an
exact fraction, so requests against limits never round) and the pod's identity (the fields the
kubelet hashes). A quantity may also be written as a YAML number, which the kubelet reads
through its JSON text.

Bounds. ParseQuantity bounds only the exponent's text (``strconv.ParseInt`` to 64 bits, then
``int32(parsed)`` in suffix.go's ``interpret``), and its inf.Dec rounding to nano scale
multiplies by ``10**(scale - 9)`` (go-inf/inf ``dec.go``: ``quoRem``, ``exp10``), so a real kubelet
itself spends unbounded time and memory on ``1e-2000000000``. spctl reads a quantity of at most
:data:`MAX_QUANTITY_CHARS` characters whose exponent is within :data:`MAX_EXPONENT`; beyond that
it raises :class:`QuantityError` as for text the kubelet refuses: validation names it, and a
file on a node that holds one is the same pod only as the identical text.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

MAX_QUANTITY_CHARS = 1000
MAX_EXPONENT = 1000
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_NUMBER_PART = re.compile(r"[+-]?[0-9]*\.?[0-9]*")

QUANTITY_HINT = (
    "write a number with an optional suffix: n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei "
    "or an exponent (e.g. 250m, 128Mi, 1.5, 1e3)"
)


class QuantityError(ValueError):
    pass


def _shown(text: str) -> str:
    if len(text) <= 40:
        return repr(text)
    return f"{text[:20]!r}... ({len(text)} characters)"


def quantity_text(value: Any) -> str | None:
    """The text ParseQuantity reads for a manifest value: Go's JSON text of a number, a string
    with its spaces trimmed (Quantity.UnmarshalJSON); None when ``value`` is no string or number
    (the schema reports its type)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return go_json_number(value) if math.isfinite(value) else "NaN"
    if isinstance(value, str):
        return value.strip(_TRIMMED)
    return None


def parse_quantity(text: str) -> Fraction:
    """The exact value ParseQuantity gives ``text``; :class:`QuantityError` when it refuses it."""
    return quantity_value(parsed_quantity(text))


def quantity_value(quantity: tuple[Any, ...]) -> Fraction:
    """The value of a Quantity's fields (see :func:`parsed_quantity`)."""
    if quantity[0] == "i":
        return Fraction(quantity[1]) * Fraction(10) ** quantity[2]
    return Fraction(quantity[1]) / Fraction(10) ** quantity[2]


def format_quantity(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(Decimal(value.numerator) / Decimal(value.denominator))


# --- the parsed Quantity, as the kubelet's pod hash sees it ---------------------------------
#
# The kubelet hashes the decoded pod's structs (hash.DeepHashObject prints them with spew,
# methods disabled), so a Quantity counts by its fields, not its value: ``i`` (value, scale)
# or ``d`` (an inf.Dec), the cached string ``s`` and ``Format``. ParseQuantity
# (apimachinery pkg/api/resource/quantity.go) fills them; SetDefaults_ResourceList
# (pkg/apis/core/v1/defaults.go) then rounds every ResourceList entry up to milli scale
# (Quantity.RoundUp). So `cpu: 1` and `cpu: "1"` are one pod (UnmarshalJSON strips the
# quotes), while `cpu: 1000m` and `cpu: 1`, or `memory: 1Gi` and `memory: 1073741824`, are
# two: the kubelet restarts the pod on such a change.

_DECIMAL = "DecimalSI"
_BINARY = "BinarySI"
_EXPONENT_FORMAT = "DecimalExponent"
_NANO = -9
_MILLI = -3
_MAX_INT64 = (1 << 63) - 1
_SUFFIX_CHARS = "eEinumkKMGTP"
_DIGITS = "0123456789"
# What strings.TrimSpace strips (unicode.IsSpace) and encoding/json writes as it is: the JSON
# that sigs.k8s.io/yaml makes of a manifest (json.Marshal) escapes \t \n \v \f \r and U+2028,
# U+2029, and UnmarshalJSON hands ParseQuantity the raw bytes between the quotes, so those
# reach it as a backslash and are refused.
_TRIMMED = " \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"


def go_json_number(value: int | float) -> str:
    """The JSON text Go's encoding/json writes for a YAML number (sigs.k8s.io/yaml turns YAML
    into JSON that way before the kubelet decodes it): shortest digits, plain notation between
    1e-6 and 1e21, else ``1e+21`` / ``1e-7``."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits = Decimal(repr(value))
    if 1e-6 <= abs(value) < 1e21:
        text = format(digits.normalize(), "f")
        return text
    sign, figures, _ = digits.normalize().as_tuple()
    mantissa = "".join(map(str, figures))
    exponent = digits.normalize().adjusted()
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    exp = f"{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exp.startswith("-0"):  # encoding/json cleans e-09 up to e-9, and only that
        exp = "-" + exp[2:]
    return f"{'-' if sign else ''}{body}e{exp}"


def _scan(text: str) -> tuple[bool, str, str, str, str] | None:
    """parseQuantityString: (positive, value, num, denom, suffix), None on ErrFormatWrong."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    i = pos
    while i < end and text[i] in _DIGITS:
        i += 1
    if i >= end:
        return positive, text, text[pos:], "", ""
    num, pos = text[pos:i] or "0", i
    denom = ""
    if text[pos] == ".":
        pos += 1
        i = pos
        while i < end and text[i] in _DIGITS:
            i += 1
        if i >= end:
            return positive, text, num, text[pos:], ""
        denom, pos = text[pos:i], i
    value, start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end:
        if text[pos] not in _DIGITS:
            return None
        pos += 1
    return positive, value, num, denom, text[start:]


_SI = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _interpret(suffix: str) -> tuple[int, int, str] | None:
    """(base, exponent, format) of a suffix (suffix.go), None on ErrSuffix."""
    if suffix in _SI:
        return 10, _SI[suffix], _DECIMAL
    if suffix in _BINARY_SI:
        return 2, _BINARY_SI[suffix], _BINARY
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]  # strconv.ParseInt(body, 10, 64): leading zeros are fine
        if re.fullmatch(r"[+-]?[0-9]+", body) is None:
            return None
        parsed = int(body)
        if not -(2**63) <= parsed <= _MAX_INT64:
            return None
        exponent = (parsed + 2**31) % 2**32 - 2**31  # int32(parsed), as Go truncates
        return 10, exponent, _EXPONENT_FORMAT
    return None


def _ceil_away(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(abs(numerator), denominator)
    quotient += 1 if remainder else 0
    return -quotient if numerator < 0 else quotient


def parsed_quantity(text: str) -> tuple[Any, ...]:
    """The Quantity ParseQuantity makes of ``text`` (already stripped of JSON quotes and
    spaces), as a tuple of its fields: ("i", value, scale, s, format) for the int64 fast path,
    ("d", unscaled, scale, format) for inf.Dec. :class:`QuantityError` when the kubelet refuses
    the text, or it is beyond what spctl reads (see the module)."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise QuantityError(
            f"{_shown(text)} is longer than the {MAX_QUANTITY_CHARS} characters spctl reads "
            "in a quantity"
        )
    if not text:
        raise QuantityError("'' is not a quantity")
    if text == "0":
        return ("i", 0, 0, "0", _DECIMAL)
    scanned = _scan(text)
    if scanned is None:  # ErrFormatWrong
        number = _NUMBER_PART.match(text)
        if number is None or not any(c in _DIGITS for c in number.group()):
            raise QuantityError(f"{_shown(text)} is not a quantity")
        raise QuantityError(f"{_shown(text)} has an unknown suffix {_shown(text[number.end() :])}")
    positive, value, num, denom, suffix = scanned
    interpreted = _interpret(suffix)
    if interpreted is None:  # ErrSuffix
        raise QuantityError(f"{_shown(text)} has an unknown suffix {_shown(suffix)}")
    if abs(interpreted[1]) > MAX_EXPONENT:
        raise QuantityError(
            f"{_shown(text)} has the exponent {interpreted[1]}: spctl reads exponents from "
            f"-{MAX_EXPONENT} to {MAX_EXPONENT} (the kubelet's own rounding of such a number "
            "can take unbounded time)"
        )
    base, exponent, fmt = interpreted
    mantissa = 1
    if fmt == _BINARY:
        scale = 0
        if exponent >= 0 and not denom:
            mantissa = 1 << exponent
            precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        else:
            precision = -1
    else:
        scale = exponent
        precision = 18 - (len(num) + len(denom))
    if precision >= 0:
        scale -= len(denom)
        if scale >= _NANO:
            shifted = num + denom
            result = int(shifted) * mantissa
            if result <= _MAX_INT64:
                result = result if positive else -result
                if fmt == _BINARY:
                    canonical = exponent % 10 == 0 and int(shifted) & 0x07 != 0
                else:
                    canonical = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
                return ("i", result, scale, text if canonical else "", fmt)
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():  # ErrNumeric: inf.Dec's SetString refused it
        raise QuantityError(f"{_shown(text)} is not a quantity")
    sign, figures, dec_exponent = amount.as_tuple()
    unscaled = int("".join(map(str, figures)) or "0")
    dec_scale = -int(dec_exponent)
    if base == 10:
        dec_scale -= exponent
    else:
        unscaled <<= exponent
    if unscaled != 0:  # rounded up (away from zero) to nano scale
        if dec_scale > 9:
            unscaled = _ceil_away(unscaled, 10 ** (dec_scale - 9))
        else:
            unscaled *= 10 ** (9 - dec_scale)
        dec_scale = 9
    if fmt == _BINARY and Fraction(unscaled, 10**dec_scale) > _MAX_INT64:
        unscaled, dec_scale = _MAX_INT64, 0
    if fmt == _BINARY and 0 < Fraction(unscaled, 10**dec_scale) < 1:
        fmt = _DECIMAL
    if sign and unscaled:
        unscaled = -unscaled
    return ("d", unscaled, dec_scale, fmt)


def rounded_to_milli(quantity: tuple[Any, ...]) -> tuple[Any, ...]:
    """Quantity.RoundUp(-3), as SetDefaults_ResourceList applies it."""
    if quantity[0] == "d":
        _, unscaled, scale, fmt = quantity
        if scale > 3:
            unscaled = _ceil_away(unscaled, 10 ** (scale - 3))
        else:
            unscaled *= 10 ** (3 - scale)
        return ("d", unscaled, 3, fmt)
    _, value, scale, text, fmt = quantity
    if scale >= _MILLI:
        return quantity
    return ("i", _ceil_away(value, 10 ** (_MILLI - scale)), _MILLI, "", fmt)


def decoded_quantity(value: Any) -> tuple[Any, ...]:
    """The Quantity the kubelet decodes from a manifest value (Quantity.UnmarshalJSON: JSON
    null is the zero Quantity; quotes stripped, then spaces); :class:`QuantityError` when it
    refuses it (or spctl does not read it, see :func:`parsed_quantity`)."""
    if value is None:
        return ("i", 0, 0, "", "")
    text = quantity_text(value)
    if text is None:
        raise QuantityError(f"{type(value).__name__} {_shown(str(value))} is not a quantity")
    return parsed_quantity(text)
