"""A resource quantity as the kubelet's decoder leaves it in the Go struct, which is what its
pod hash sees (the fields, not the value): apimachinery pkg/api/resource/quantity.go
(UnmarshalJSON, ParseQuantity, parseQuantityString, RoundUp), suffix.go (interpret) and
amount.go / math.go (int64Amount.AsScale, negativeScaleInt64), at v0.34.10.

A Quantity is either ``("i", value, scale, s, format)``, the int64Amount fast path (value x
10^scale, with the text kept in ``s`` when it was canonical), or ``("d", unscaled, scale,
format)``, an inf.Dec (unscaled x 10^-scale). :class:`QuantityError`, with ParseQuantity's
message, when it refuses the text: the kubelet then cannot decode the file at all.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Tuple

Quantity = Tuple[Any, ...]

_DECIMAL_SI = "DecimalSI"
_BINARY_SI = "BinarySI"
_DECIMAL_EXPONENT = "DecimalExponent"
_NANO = -9
_MILLI = -3
_MAX_INT64 = (1 << 63) - 1
_MAX_INT64_FACTORS = 18  # maxInt64Factors: digits that always fit an int64
_SUFFIX_LETTERS = "eEinumkKMGTP"
_DIGITS = "0123456789"
# suffix.go: the decimal and binary tables, looked up before an exponent.
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12}
_DECIMAL_SUFFIXES.update({"P": 15, "E": 18})
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
# strings.TrimSpace's white space (unicode.IsSpace) that encoding/json writes as itself; the
# rest (\t, \n, \r, \v, \f, U+2028, U+2029) reaches UnmarshalJSON escaped, as a backslash.
_UNESCAPED_SPACE = " \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_UNESCAPED_SPACE += "\u2009\u200a\u202f\u205f\u3000"

ZERO: Quantity = ("i", 0, 0, "", "")  # Quantity{}: what JSON null decodes to
# quantity.go's errors
FORMAT_WRONG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
NUMERIC = "unable to parse numeric part of quantity"
SUFFIX = "unable to parse quantity's suffix"


class QuantityError(ValueError):
    """A value ParseQuantity refuses, with its error's text."""


def decoded(value: Any) -> Quantity:
    """Quantity.UnmarshalJSON of the JSON the kubelet makes of a YAML value (sigs.k8s.io/yaml
    through encoding/json): null is the zero Quantity; else the text, its quotes stripped, then
    trimmed, is parsed."""
    if value is None:
        return ZERO
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError(FORMAT_WRONG)  # true, a list or a map is no number's text
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):  # encoding/json refuses to write it
            raise QuantityError(f"json: unsupported value: {value!r}")
        text = go_json_float(value)
    else:
        text = value.strip(_UNESCAPED_SPACE)
    return parsed(text)


def go_json_float(value: float) -> str:
    """encoding/json's text for a float64 (encode.go floatEncoder): the shortest digits, in
    'f' form from 1e-6 to below 1e21, else in 'e' form with a two-digit e-0X cleaned to e-X."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = repr(value)  # the same shortest round-trip digits as strconv's -1 precision
    if 1e-6 <= abs(value) < 1e21:
        text = format(Decimal(shortest), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, exponent = shortest.partition("e")  # repr is in 'e' form out there
    if len(exponent) == 3 and exponent.startswith("-0"):
        exponent = "-" + exponent[2:]
    return f"{mantissa}e{exponent}"


def parsed(text: str) -> Quantity:
    """ParseQuantity."""
    if not text:
        raise QuantityError(FORMAT_WRONG)
    if text == "0":
        return ("i", 0, 0, "0", _DECIMAL_SI)
    scanned = _scanned(text)
    if scanned is None:
        raise QuantityError(FORMAT_WRONG)
    positive, value, num, denom, suffix = scanned
    interpreted = _interpreted(suffix)
    if interpreted is None:
        raise QuantityError(SUFFIX)
    base, exponent, fmt = interpreted
    precision, scale, mantissa = 0, 0, 1
    if fmt in (_DECIMAL_EXPONENT, _DECIMAL_SI):
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
    elif exponent >= 0 and not denom:
        mantissa = 1 << exponent
        # float32(exponent)*3/10 is exact for the binary exponents 10..60
        precision = 15 - len(num) - exponent * 3 // 10 - 1
    else:
        precision = -1
    if precision >= 0:
        scale -= len(denom)
        if scale >= _NANO:
            shifted = num + denom
            number = int(shifted)
            result = number * mantissa
            if result <= _MAX_INT64:  # int64Multiply did not overflow
                if not positive:
                    result = -result
                if fmt == _BINARY_SI:
                    canonical = exponent % 10 == 0 and number & 0x07 != 0
                else:
                    canonical = scale % 3 == 0 and not shifted.endswith("000")
                    canonical = canonical and shifted[0] != "0"
                return ("i", result, scale, text if canonical else "", fmt)
    return _as_dec(value, base, exponent, fmt)


def rounded_up_to_milli(quantity: Quantity) -> Quantity:
    """Quantity.RoundUp(-3), as SetDefaults_ResourceList (pkg/apis/core/v1/defaults.go) does
    to every entry of a ResourceList: an inf.Dec is rounded to scale 3 (away from zero) and
    its string dropped; an int64Amount finer than milli is rounded up and its string dropped,
    one at milli or coarser is left as it is, string and all."""
    if quantity[0] == "d":
        _, unscaled, scale, fmt = quantity
        return ("d", _rescaled(unscaled, scale, 3), 3, fmt)
    _, value, scale, text, fmt = quantity
    if scale >= _MILLI:
        return quantity
    return ("i", _ceil_away(value, 10 ** (_MILLI - scale)), _MILLI, "", fmt)


def _scanned(text: str) -> Optional[Tuple[bool, str, str, str, str]]:
    """parseQuantityString: (positive, value, num, denom, suffix); None on ErrFormatWrong."""
    positive, pos, end = True, 0, len(text)
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while True:  # Zeroes
        if pos >= end:
            return positive, "0", "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    start = pos
    while pos < end and text[pos] in _DIGITS:  # Num
        pos += 1
    if pos >= end:
        return positive, text, text[start:], "", ""
    num = text[start:pos] or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:  # Denom
            pos += 1
        if pos >= end:
            return positive, text, num, text[start:], ""
        denom = text[start:pos]
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_LETTERS:
        pos += 1
    if pos >= end:
        return positive, value, num, denom, text[suffix_start:]
    if text[pos] in "+-":
        pos += 1
    while pos < end:
        if text[pos] not in _DIGITS:
            return None
        pos += 1
    return positive, value, num, denom, text[suffix_start:]


def _interpreted(suffix: str) -> Optional[Tuple[int, int, str]]:
    """suffixHandler.interpret: (base, exponent, format)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], _DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], _BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        digits = body[1:] if body[:1] in "+-" else body
        if not digits or any(c not in _DIGITS for c in digits):
            return None  # strconv.ParseInt refuses it
        number = int(body)
        if not -(1 << 63) <= number <= _MAX_INT64:
            return None
        return 10, (number + (1 << 31)) % (1 << 32) - (1 << 31), _DECIMAL_EXPONENT  # int32()
    return None


def _as_dec(value: str, base: int, exponent: int, fmt: str) -> Quantity:
    """ParseQuantity's inf.Dec path."""
    try:
        amount = Decimal(value)  # inf.Dec SetString of the number's text
    except InvalidOperation:
        raise QuantityError(NUMERIC) from None
    if not amount.is_finite():
        raise QuantityError(NUMERIC)
    sign, figures, dec_exponent = amount.as_tuple()
    unscaled = int("".join(map(str, figures)) or "0")
    scale = -int(dec_exponent)
    if base == 10:
        scale -= exponent  # amount.SetScale(amount.Scale() + Scale(exponent).infScale())
    else:
        unscaled <<= exponent
    if unscaled != 0:  # rounded up (away from zero) to nano: inf.Dec Round with RoundUp
        unscaled, scale = _rescaled(unscaled, scale, -_NANO), -_NANO
    if fmt == _BINARY_SI and unscaled > _MAX_INT64 * 10**scale:
        unscaled, scale = _MAX_INT64, 0  # capped at maxAllowed
    if fmt == _BINARY_SI and 0 < unscaled < 10**scale:
        fmt = _DECIMAL_SI  # below one, BinarySI would only round
    return ("d", -unscaled if sign else unscaled, scale, fmt)


def _rescaled(unscaled: int, scale: int, to: int) -> int:
    """An inf.Dec's unscaled value at scale ``to``, rounded away from zero (inf.RoundUp)."""
    if scale > to:
        return _ceil_away(unscaled, 10 ** (scale - to))
    return unscaled * 10 ** (to - scale)


def _ceil_away(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded away from zero (negativeScaleInt64, inf.RoundUp)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        quotient += 1
    return -quotient if numerator < 0 else quotient
