"""Money: exact integer minor units, exact conversion from major units, no float anywhere."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import CurrencyMismatch, InvalidValue
from domain.money import CURRENCY_EXPONENTS, MAX_MINOR_UNITS, Money

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("100", "KZT", 10000),
        ("100.50", "KZT", 10050),
        ("0.01", "KZT", 1),
        (100, "KZT", 10000),
        (Decimal("200.00"), "KZT", 20000),
        ("1e2", "KZT", 10000),
        ("12.3400000000000000000000000000000000000", "KZT", 1234),
        ("0", "KZT", 0),
        ("15", "JPY", 15),
        ("100000000000", "KZT", MAX_MINOR_UNITS),
    ],
)
def test_from_major_converts_exactly(major: Decimal | int | str, currency: str, minor: int) -> None:
    assert Money.from_major(major, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    "major",
    [
        "0.001",
        "100.005",
        # More significant digits than the default decimal context keeps: rounding must not hide them.
        "1.0000000000000000000000000001",
        "100.0000000000000000000000000049",
        "1e-999999999",
    ],
)
def test_from_major_refuses_precision_finer_than_a_tiyn(major: str) -> None:
    with pytest.raises(InvalidValue, match="precision"):
        Money.from_major(major, "KZT")


def test_from_major_refuses_fractions_of_a_currency_without_minor_units() -> None:
    with pytest.raises(InvalidValue, match="precision"):
        Money.from_major("1.5", "JPY")


@pytest.mark.parametrize("major", ["-0.01", "-1", "100000000000.01", "1e999999999", "1e30"])
def test_from_major_refuses_amounts_out_of_range(major: str) -> None:
    with pytest.raises(InvalidValue, match="out of range"):
        Money.from_major(major, "KZT")


@pytest.mark.parametrize("major", ["abc", "", "1,5", None, [], "NaN", "Infinity", "-Infinity", "sNaN"])
def test_from_major_refuses_what_is_not_a_finite_number(major: Any) -> None:  # Any: wrong types are refused
    with pytest.raises(InvalidValue):
        Money.from_major(major, "KZT")


@pytest.mark.parametrize("major", [100.5, 0.1, True, False])
def test_from_major_refuses_floats_and_booleans(major: Any) -> None:  # Any: floats are refused at run time
    with pytest.raises(InvalidValue, match="float or a boolean"):
        Money.from_major(major, "KZT")


def test_from_major_refuses_an_unsupported_currency() -> None:
    with pytest.raises(InvalidValue, match="unsupported currency"):
        Money.from_major("1", "XXX")


@pytest.mark.parametrize("minor", [-1, MAX_MINOR_UNITS + 1, 1.0, True, Decimal(1), "1"])
def test_money_refuses_minor_units_that_are_not_an_int_in_range(minor: Any) -> None:  # Any: so are non-ints
    with pytest.raises(InvalidValue):
        Money(minor, "KZT")


def test_money_refuses_an_unknown_currency() -> None:
    with pytest.raises(InvalidValue):
        Money(1, "kzt")


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(10000, "KZT"), "100"),
        (Money(10050, "KZT"), "100.50"),
        (Money(5, "KZT"), "0.05"),
        (Money(15, "JPY"), "15"),
    ],
)
def test_major_text_is_what_providers_take_in_query_strings(money: Money, text: str) -> None:
    assert money.major_text() == text


def test_major_is_an_exact_decimal() -> None:
    assert Money(10050, "KZT").major == Decimal("100.50")
    assert str(Money(10050, "KZT")) == "100.50 KZT"


def test_addition_and_subtraction_stay_in_minor_units() -> None:
    assert Money(150, "KZT") + Money(50, "KZT") == Money(200, "KZT")
    assert Money(150, "KZT") - Money(50, "KZT") == Money(100, "KZT")


def test_subtraction_below_zero_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Money(50, "KZT") - Money(51, "KZT")


def test_comparisons_work_within_a_currency() -> None:
    assert Money(1, "KZT") < Money(2, "KZT")
    assert Money(2, "KZT") <= Money(2, "KZT")
    assert Money(3, "KZT") >= Money(2, "KZT")
    assert not Money(2, "KZT") < Money(2, "KZT")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
    ],
)
def test_amounts_in_different_currencies_never_mix(operation: Callable[[Money, Money], object]) -> None:
    with pytest.raises(CurrencyMismatch):
        operation(Money(100, "KZT"), Money(1, "USD"))


def test_equal_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money(100, "KZT") != Money(100, "RUB")


@given(minor=st.integers(0, MAX_MINOR_UNITS), currency=currencies)
def test_from_major_round_trips_every_amount_exactly(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.from_major(money.major, currency) == money
    assert Money.from_major(str(money.major), currency) == money
    assert Money.from_major(money.major_text(), currency) == money


@given(
    minor=st.integers(0, MAX_MINOR_UNITS - 1),
    currency=currencies,
    extra_digits=st.integers(1, 40),
    data=st.data(),
)
def test_from_major_refuses_any_sub_minor_fraction(
    minor: int, currency: str, extra_digits: int, data: st.DataObject
) -> None:
    fraction = data.draw(st.integers(1, 10**extra_digits - 1))
    exponent = CURRENCY_EXPONENTS[currency]
    # `minor` minor units plus a non-zero fraction of one, built from digits: no decimal context rounds it.
    coefficient = tuple(int(d) for d in str(minor * 10**extra_digits + fraction))
    text = f"{Decimal((0, coefficient, -(exponent + extra_digits))):f}"
    with pytest.raises(InvalidValue, match="precision"):
        Money.from_major(text, currency)
