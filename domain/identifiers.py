"""Identifiers with rules of their own: Kazakhstan BIN/IIN, Kazakhstan mobile phones, shop ids."""

from __future__ import annotations

import re

import attrs

from domain.errors import InvalidValue

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def bin_checksum_ok(digits: str) -> bool:
    """The BIN/IIN check digit: weights 1..11 mod 11, a second pass when the first gives 10."""
    if not (isinstance(digits, str) and len(digits) == 12 and digits.isascii() and digits.isdigit()):
        return False
    numbers = [int(d) for d in digits]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        check = sum(d * w for d, w in zip(numbers[:11], weights, strict=True)) % 11
        if check != 10:
            return check == numbers[11]
    return False


def _check_bin(_instance: object, _attribute: object, value: str) -> None:
    if not (isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit()):
        raise InvalidValue("organization_bin", "a BIN is exactly 12 digits")
    if not bin_checksum_ok(value):
        raise InvalidValue("organization_bin", "BIN check digit does not match")


@attrs.frozen
class Bin:
    """A Kazakhstan business (BIN) or individual (IIN) identification number."""

    value: str = attrs.field(validator=_check_bin)

    def __str__(self) -> str:
        return self.value


_PHONE_NOISE = re.compile(r"[\s()\-]")


@attrs.frozen
class Phone:
    """A Kazakhstan mobile number in Kaspi's form: 11 digits starting with 7."""

    value: str = attrs.field()

    @value.validator
    def _check(self, _attribute: object, value: str) -> None:
        if not (len(value) == 11 and value.isascii() and value.isdigit() and value[0] == "7"):
            raise InvalidValue("phone", "phone must be a Kazakhstan mobile number like 77015211545")

    @classmethod
    def parse(cls, text: str) -> Phone:
        """Accept what customers type: `+7 701 521 15 45`, `87015211545`, `77015211545`."""
        if not isinstance(text, str) or len(text) > 32:
            raise InvalidValue("phone", "phone must be a Kazakhstan mobile number like 77015211545")
        digits = _PHONE_NOISE.sub("", text)
        if digits.startswith("+"):
            digits = digits[1:]
        elif len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]
        elif len(digits) == 10:
            digits = "7" + digits
        return cls(digits)

    def masked(self) -> str:
        """For logs: enough to recognise a number, not enough to call it."""
        return f"{self.value[:4]}*****{self.value[-2:]}"

    def __str__(self) -> str:
        return self.value


MAX_SHOP_ID = 2**63 - 1


def check_shop_id(value: object) -> int:
    """Shop ids are the marketplace's positive integer ids."""
    if type(value) is not int or not 0 < value <= MAX_SHOP_ID:
        raise InvalidValue("shop_id", "shop_id must be a positive integer")
    return value
