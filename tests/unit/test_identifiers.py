"""Identifiers: the BIN/IIN check digit, Kazakhstan mobile phones, shop ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.identifiers import MAX_SHOP_ID, Bin, Phone, bin_checksum_ok, check_shop_id

REFERENCE_BINS = ["180340021791", "011140001654", "940140000385", "160640004075", "891027350515"]
# kaspi.md §4: the sellers routed today (891027350515, the test shop, is also above).
SELLER_BINS = [
    "920317450731",
    "210440028324",
    "860214400107",
    "960514451575",
    "930201350766",
    "590915402028",
    "991011000048",
]


def _first_pass(digits: str) -> int:
    return sum(int(d) * w for d, w in zip(digits[:11], range(1, 12), strict=True)) % 11


@pytest.mark.parametrize("value", REFERENCE_BINS + SELLER_BINS)
def test_a_bin_with_a_matching_check_digit_is_accepted(value: str) -> None:
    assert Bin(value).value == value
    assert str(Bin(value)) == value


def test_the_second_weight_pass_decides_when_the_first_gives_ten() -> None:
    # The first pass alone would demand a check digit of 10, which no digit is.
    assert _first_pass("011140001654") == 10
    assert bin_checksum_ok("011140001654")


def test_a_number_whose_both_passes_give_ten_is_never_valid() -> None:
    body = "06870986119"  # both weight passes give 10
    assert not any(bin_checksum_ok(body + d) for d in "0123456789")


def test_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidValue, match="check digit") as refused:
        Bin("180340021792")
    assert refused.value.field == "organization_bin"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "18034002179",
        "1803400217910",
        "18034002179a",
        "180340 21791",
        "-80340021791",
        "１８０３４００２１７９１",  # fullwidth digits
        "180340021791\n",
    ],
)
def test_anything_but_twelve_ascii_digits_is_refused(value: str) -> None:
    with pytest.raises(InvalidValue, match="exactly 12 digits"):
        Bin(value)
    assert not bin_checksum_ok(value)


def test_a_bin_given_as_a_number_is_refused() -> None:
    number: Any = 180340021791  # Any: the refusal of a wrong type is what is tested
    with pytest.raises(InvalidValue):
        Bin(number)


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_at_most_one_check_digit_completes_any_eleven_digits(body: str) -> None:
    assert sum(bin_checksum_ok(body + d) for d in "0123456789") <= 1


@pytest.mark.parametrize(
    "typed",
    [
        "+7 701 521 15 45",
        "87015211545",
        "77015211545",
        "+77015211545",
        "8 (701) 521-15-45",
        "+7 (701) 521-15-45",
        "7015211545",
    ],
)
def test_what_customers_type_becomes_kaspis_eleven_digits(typed: str) -> None:
    assert Phone.parse(typed) == Phone("77015211545")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345",
        "+1 701 521 15 45",
        "+87015211545",
        "770152115451",
        "7701521154a",
        "97015211545",
        "phone",
        "٧٧٠١٥٢١١٥٤٥",  # Arabic-Indic digits: str.isdigit says yes, Kaspi says no
        "7" * 40,
    ],
)
def test_what_is_not_a_kazakhstan_mobile_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        Phone.parse(typed)
    assert refused.value.field == "phone"


def test_a_missing_phone_is_refused() -> None:
    missing: Any = None  # Any: the refusal of a wrong type is what is tested
    with pytest.raises(InvalidValue):
        Phone.parse(missing)


def test_the_constructor_takes_only_the_canonical_form() -> None:
    with pytest.raises(InvalidValue):
        Phone("87015211545")


def test_a_masked_phone_hides_the_middle_digits() -> None:
    assert Phone("77015211545").masked() == "7701*****45"


@pytest.mark.parametrize("value", [1, 8, 121038, MAX_SHOP_ID])
def test_a_positive_integer_is_a_shop_id(value: int) -> None:
    assert check_shop_id(value) == value


@pytest.mark.parametrize("value", [0, -1, MAX_SHOP_ID + 1, True, "8", 8.0, None])
def test_anything_else_is_not_a_shop_id(value: object) -> None:
    with pytest.raises(InvalidValue):
        check_shop_id(value)
