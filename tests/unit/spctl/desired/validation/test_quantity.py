"""One quantity parser for validation and the pod's identity, checked on apimachinery's own
cases: ``pkg/api/resource/quantity_test.go`` (TestQuantityParse, TestParseQuantity,
TestJSONWhitespace), and bounded where ParseQuantity is not."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spctl.desired.validation.kubelet.quantity import (
    MAX_EXPONENT,
    MAX_QUANTITY_CHARS,
    QuantityError,
    decoded_quantity,
    parse_quantity,
    parsed_quantity,
)

_MAX_ALLOWED = (1 << 63) - 1  # quantity.go's maxAllowed: BinarySI is capped there


def _dec(i: int, exponent: int) -> Fraction:
    """quantity_test.go's decQuantity(i, exponent, ...): i * 10**exponent."""
    return Fraction(i) * Fraction(10) ** exponent


# TestQuantityParse's table: (input, value, format).
PARSED = [
    ("0", _dec(0, 0), "DecimalSI"),
    ("0n", _dec(0, 0), "DecimalSI"),
    ("0u", _dec(0, 0), "DecimalSI"),
    ("0m", _dec(0, 0), "DecimalSI"),
    ("0Ki", _dec(0, 0), "BinarySI"),
    ("0k", _dec(0, 0), "DecimalSI"),
    ("0Mi", _dec(0, 0), "BinarySI"),
    ("0M", _dec(0, 0), "DecimalSI"),
    ("0Gi", _dec(0, 0), "BinarySI"),
    ("0G", _dec(0, 0), "DecimalSI"),
    ("0Ti", _dec(0, 0), "BinarySI"),
    ("0T", _dec(0, 0), "DecimalSI"),
    ("1", _dec(1, 0), "DecimalSI"),
    ("1Ki", _dec(1024, 0), "BinarySI"),
    ("8Ki", _dec(8 * 1024, 0), "BinarySI"),
    ("7Mi", _dec(7 * 1024**2, 0), "BinarySI"),
    ("6Gi", _dec(6 * 1024**3, 0), "BinarySI"),
    ("5Ti", _dec(5 * 1024**4, 0), "BinarySI"),
    ("4Pi", _dec(4 * 1024**5, 0), "BinarySI"),
    ("3Ei", _dec(3 * 1024**6, 0), "BinarySI"),
    ("10Ti", _dec(10 * 1024**4, 0), "BinarySI"),
    ("100Ti", _dec(100 * 1024**4, 0), "BinarySI"),
    ("5n", _dec(5, -9), "DecimalSI"),
    ("4u", _dec(4, -6), "DecimalSI"),
    ("3m", _dec(3, -3), "DecimalSI"),
    ("9", _dec(9, 0), "DecimalSI"),
    ("8k", _dec(8, 3), "DecimalSI"),
    ("50k", _dec(5, 4), "DecimalSI"),
    ("7M", _dec(7, 6), "DecimalSI"),
    ("6G", _dec(6, 9), "DecimalSI"),
    ("5T", _dec(5, 12), "DecimalSI"),
    ("40T", _dec(4, 13), "DecimalSI"),
    ("300T", _dec(3, 14), "DecimalSI"),
    ("2P", _dec(2, 15), "DecimalSI"),
    ("1E", _dec(1, 18), "DecimalSI"),
    ("1E-3", _dec(1, -3), "DecimalExponent"),
    ("1e3", _dec(1, 3), "DecimalExponent"),
    ("1E6", _dec(1, 6), "DecimalExponent"),
    ("1e9", _dec(1, 9), "DecimalExponent"),
    ("1E12", _dec(1, 12), "DecimalExponent"),
    ("1e15", _dec(1, 15), "DecimalExponent"),
    ("1E18", _dec(1, 18), "DecimalExponent"),
    ("1e14", _dec(1, 14), "DecimalExponent"),
    ("1e13", _dec(1, 13), "DecimalExponent"),
    ("100.035k", _dec(100035, 0), "DecimalSI"),
    ("0.001", _dec(1, -3), "DecimalSI"),
    ("0.0005k", _dec(5, -1), "DecimalSI"),
    ("0.005", _dec(5, -3), "DecimalSI"),
    ("0.05", _dec(5, -2), "DecimalSI"),
    ("0.5", _dec(5, -1), "DecimalSI"),
    ("0.00050k", _dec(5, -1), "DecimalSI"),
    ("0.00500", _dec(5, -3), "DecimalSI"),
    ("0.05000", _dec(5, -2), "DecimalSI"),
    ("0.50000", _dec(5, -1), "DecimalSI"),
    ("0.5e0", _dec(5, -1), "DecimalExponent"),
    ("0.5e-1", _dec(5, -2), "DecimalExponent"),
    ("0.5e-2", _dec(5, -3), "DecimalExponent"),
    ("10.035M", _dec(10035, 3), "DecimalSI"),
    ("1.2e3", _dec(12, 2), "DecimalExponent"),
    ("1.3E+6", _dec(13, 5), "DecimalExponent"),
    ("1.40e9", _dec(14, 8), "DecimalExponent"),
    ("1.53E12", _dec(153, 10), "DecimalExponent"),
    ("1.6e15", _dec(16, 14), "DecimalExponent"),
    ("1.7E18", _dec(17, 17), "DecimalExponent"),
    ("9.01", _dec(901, -2), "DecimalSI"),
    ("8.1k", _dec(81, 2), "DecimalSI"),
    ("7.123456M", _dec(7123456, 0), "DecimalSI"),
    ("6.987654321G", _dec(6987654321, 0), "DecimalSI"),
    ("5.444T", _dec(5444, 9), "DecimalSI"),
    ("40.1T", _dec(401, 11), "DecimalSI"),
    ("300.2T", _dec(3002, 11), "DecimalSI"),
    ("2.5P", _dec(25, 14), "DecimalSI"),
    ("1.01E", _dec(101, 16), "DecimalSI"),
    ("3.001n", _dec(4, -9), "DecimalSI"),
    ("1.1E-9", _dec(2, -9), "DecimalExponent"),
    ("0.0000000001", _dec(1, -9), "DecimalSI"),
    ("0.0000000005", _dec(1, -9), "DecimalSI"),
    ("0.00000000050", _dec(1, -9), "DecimalSI"),
    ("0.5e-9", _dec(1, -9), "DecimalExponent"),
    ("0.9n", _dec(1, -9), "DecimalSI"),
    ("0.00000012345", _dec(124, -9), "DecimalSI"),
    ("0.00000012354", _dec(124, -9), "DecimalSI"),
    ("9Ei", Fraction(_MAX_ALLOWED), "BinarySI"),
    ("9223372036854775807Ki", Fraction(_MAX_ALLOWED), "BinarySI"),
    ("12E", _dec(12, 18), "DecimalSI"),
    ("100.035Ki", _dec(10243584, -2), "BinarySI"),
    ("0.5Mi", _dec(512 * 1024, 0), "BinarySI"),
    ("0.05Gi", _dec(536870912, -1), "BinarySI"),
    ("0.025Ti", _dec(274877906944, -1), "BinarySI"),
    ("0.000000000001Ki", _dec(2, -9), "DecimalSI"),
    (".001", _dec(1, -3), "DecimalSI"),
    (".0001k", _dec(100, -3), "DecimalSI"),
    ("1.", _dec(1, 0), "DecimalSI"),
    ("1.G", _dec(1, 9), "DecimalSI"),
]


def _format(fields: tuple) -> str:
    return fields[-1]


@pytest.mark.parametrize(("text", "value", "fmt"), PARSED)
def test_what_parse_quantity_reads(text: str, value: Fraction, fmt: str) -> None:
    assert parse_quantity(text) == value
    assert _format(parsed_quantity(text)) == fmt
    # TestQuantityParse also tries the negative and the explicitly positive version of each.
    assert parse_quantity("-" + text) == -value
    assert _format(parsed_quantity("-" + text)) == fmt
    assert parse_quantity("+" + text) == value


@pytest.mark.parametrize(
    "text",
    # TestQuantityParse's invalid list, then ErrSuffix and ErrFormatWrong cases of our own.
    ["1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 "]
    + ["", "1GB", "5e", "1.2.3", "--1", "1Kib", "0x10", "1e+", "1e1.5", "1e9223372036854775808"],
)
def test_what_parse_quantity_refuses(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # TestParseQuantity: beyond int64, a decimal quantity keeps its value.
        ("9223372036854775808", Fraction(9223372036854775808)),
        ("-9223372036854775809.1", Fraction(-92233720368547758091, 10)),
        ("10.0000000000000000001E", Fraction(100000000000000000001, 10)),
        ("9999999999999999999000m", Fraction(9999999999999999999)),
        # parseQuantityString reads no number at all as 0 ("Mi", "-", "."): the kubelet
        # accepts them as zero.
        ("Mi", Fraction(0)),
        ("k", Fraction(0)),
        ("-", Fraction(0)),
        (".", Fraction(0)),
        # suffix.go: the exponent is strconv.ParseInt(.., 64), leading zeros allowed, then
        # truncated to int32, so 2**32 is 0 and -2**63 is 0.
        ("1e" + "0" * 30 + "3", Fraction(1000)),
        ("1e4294967296", Fraction(1)),
        ("1e-9223372036854775808", Fraction(1)),
    ],
)
def test_what_parse_quantity_reads_at_its_edges(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_validation_and_identity_share_the_suffixes_of_suffix_go() -> None:
    # n and u are decimalSI suffixes (suffix.go); validation once refused them.
    assert parse_quantity("100u") == Fraction(1, 10**4)
    assert parse_quantity("5n") == Fraction(5, 10**9)
    assert parsed_quantity("100u") == ("i", 100, -6, "100u", "DecimalSI")


@pytest.mark.parametrize(
    "text",
    [
        "1e-2000000000",  # inf.Dec would round it to nano scale through 10**(2e9 - 9)
        "1e2000000000",
        f"1e{MAX_EXPONENT + 1}",
        f"1e-{MAX_EXPONENT + 1}",
        "1.5e-2147483648",
    ],
)
def test_an_exponent_beyond_the_bound_is_refused_at_once(text: str) -> None:
    with pytest.raises(QuantityError, match=r"exponent .*spctl reads exponents"):
        parse_quantity(text)


def test_exponents_at_the_bound_are_read_exactly() -> None:
    assert parse_quantity(f"1e{MAX_EXPONENT}") == 10**MAX_EXPONENT
    assert parse_quantity(f"1e-{MAX_EXPONENT}") == Fraction(1, 10**9)  # rounded up to 1n
    assert parse_quantity(f"-3e-{MAX_EXPONENT}") == Fraction(-1, 10**9)


@pytest.mark.parametrize(
    "text",
    [
        "1" * 5000,  # Python's int() refuses more than 4300 digits with a plain ValueError
        "0." + "0" * 5000 + "1",
        "1e" + "0" * 5000 + "1",
        "0" * (MAX_QUANTITY_CHARS + 1),
    ],
)
def test_a_quantity_longer_than_the_bound_is_refused(text: str) -> None:
    with pytest.raises(QuantityError, match=r"characters\) is longer than the 1000"):
        parse_quantity(text)


def test_quantities_up_to_the_bound_are_read() -> None:
    digits = "7" * MAX_QUANTITY_CHARS
    assert parse_quantity(digits) == int(digits)
    assert parsed_quantity(digits)[0] == "d"


@pytest.mark.parametrize(
    ("value", "same_as"),
    [
        # TestJSONWhitespace: spaces around a quantity are trimmed.
        (" 1", "1"),
        ("1 ", "1"),
        (1, "1"),
        (-1, "-1"),
        (1.0, "1"),
        ("\u00a01\u3000", "1"),  # unicode spaces that JSON leaves as they are
    ],
)
def test_decoded_as_unmarshal_json_trims(value: object, same_as: str) -> None:
    assert decoded_quantity(value) == parsed_quantity(same_as)


@pytest.mark.parametrize("value", ["1\n", "\t1", "1\u2028", True, [1], float("nan")])
def test_decoded_refuses_what_json_escapes_and_other_types(value: object) -> None:
    # encoding/json (sigs.k8s.io/yaml's YAML-to-JSON) writes \n, \t, U+2028 escaped, and
    # UnmarshalJSON gives ParseQuantity the raw bytes: a backslash, which it refuses.
    with pytest.raises(QuantityError):
        decoded_quantity(value)
