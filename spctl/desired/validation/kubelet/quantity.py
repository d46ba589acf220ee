"""Resource quantities as apimachinery's ``pkg/api/resource/quantity.go`` reads them.

    <quantity>       ::= <signedNumber><suffix>
    <number>         ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>         ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>       ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>      ::= m | "" | k | M | G | T | P | E
    <decimalExponent>::= "e" <signedNumber> | "E" <signedNumber>

A quantity may also be written as a YAML number, which the kubelet reads through its JSON form.
Values are exact fractions, so comparisons (requests against limits) never round.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

_NUMBER = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(.*)", re.S)
_EXPONENT = re.compile(r"[eE]([+-]?\d+)")
_DECIMAL_SI = {"": 0, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

QUANTITY_HINT = (
    "write a number with an optional suffix: m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
    "exponent (e.g. 250m, 128Mi, 1.5, 1e3)"
)


class QuantityError(ValueError):
    pass


def quantity_text(value: Any) -> str | None:
    """The text the kubelet parses for ``value``, or None when the schema reports its type."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "NaN"
    if isinstance(value, str):
        return value
    return None


def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity; :class:`QuantityError` when it is not one."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a quantity")
    sign, number, suffix = match.groups()
    value = Fraction(number.rstrip(".") or "0") if number != "." else Fraction(0)
    if sign == "-":
        value = -value
    if suffix in _DECIMAL_SI:
        return value * Fraction(10) ** _DECIMAL_SI[suffix]
    if suffix in _BINARY_SI:
        return value * 2 ** _BINARY_SI[suffix]
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is not None and len(exponent.group(1)) <= 6:
        return value * Fraction(10) ** int(exponent.group(1))
    raise QuantityError(f"{text!r} has an unknown suffix {suffix!r}")


def format_quantity(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(float(value))
