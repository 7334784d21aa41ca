"""Money as integer minor units of an ISO 4217 currency; no float ever touches an amount."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import attrs

from domain.errors import CurrencyMismatch, InvalidValue

# Minor-unit exponents of the currencies our providers settle in (ISO 4217).
CURRENCY_EXPONENTS: dict[str, int] = {
    "KZT": 2,  # tenge / tiyn
    "RUB": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "UZS": 2,
    "KGS": 2,
    "BYN": 2,
    "AMD": 2,
    "GEL": 2,
    "TRY": 2,
    "AED": 2,
    "CNY": 2,
    "JPY": 0,
    "KRW": 0,
}

# A sanity ceiling: no single marketplace payment is anywhere near 10^13 minor units, and it keeps
# every amount inside a signed 64-bit column with room for sums.
MAX_MINOR_UNITS = 10**13


def _check_currency(_instance: object, _attribute: object, value: str) -> None:
    if value not in CURRENCY_EXPONENTS:
        raise InvalidValue("currency", f"unsupported currency {value!r}")


def _check_minor(_instance: object, _attribute: object, value: int) -> None:
    if type(value) is not int:
        raise InvalidValue("amount", "an amount must be an integer number of minor units")
    if not 0 <= value <= MAX_MINOR_UNITS:
        raise InvalidValue("amount", "amount is out of range")


def _exact_minor(major: Decimal, exponent: int) -> int | None:
    """`major` × 10**`exponent` as an int, or None when that is not a whole number."""
    _sign, digits, digits_exponent = major.as_tuple()
    assert isinstance(digits_exponent, int)  # finite
    if not any(digits):
        return 0
    shift = digits_exponent + exponent
    coefficient = int("".join(map(str, digits)))
    if shift >= 0:
        scale: int = 10**shift  # small: the range was checked before
        return coefficient * scale
    if -shift > len(digits):
        return None  # every significant digit is finer than a minor unit
    whole, fraction = divmod(coefficient, 10**-shift)
    return whole if fraction == 0 else None


@attrs.frozen(order=False)
class Money:
    """An exact amount: `minor` units (tiyn for KZT) of `currency`."""

    minor: int = attrs.field(validator=_check_minor)
    currency: str = attrs.field(validator=_check_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_major(cls, value: Decimal | int | str, currency: str) -> Money:
        """Convert a major-unit amount (tenge) exactly, refusing anything finer than a minor unit."""
        # bool is an int and a float is already inexact: neither is an amount a client meant.
        if isinstance(value, (bool, float)):
            raise InvalidValue("amount", "amount must be a decimal number, not a float or a boolean")
        try:
            major = Decimal(value)
        except (InvalidOperation, ValueError, TypeError):
            raise InvalidValue("amount", "amount must be a number") from None
        if not major.is_finite():
            raise InvalidValue("amount", "amount must be a finite number")
        _check_currency(None, None, currency)
        exponent = CURRENCY_EXPONENTS[currency]
        # Decimal comparisons are exact; arithmetic would round to the context's 28 digits and
        # could silently drop a sub-minor fraction or overflow, so the range is checked first and
        # the conversion below never uses the decimal context.
        negative = major.is_signed() and not major.is_zero()
        if negative or major > Decimal(MAX_MINOR_UNITS).scaleb(-exponent):
            raise InvalidValue("amount", "amount is out of range")
        minor = _exact_minor(major, exponent)
        if minor is None:
            raise InvalidValue("amount", f"amount has more precision than {currency} allows")
        return cls(minor, currency)

    @property
    def major(self) -> Decimal:
        """The amount in major units (tenge), exact."""
        return Decimal(self.minor).scaleb(-CURRENCY_EXPONENTS[self.currency])

    def major_text(self) -> str:
        """`100` for whole amounts, `100.50` otherwise: the form providers take in query strings."""
        exponent = CURRENCY_EXPONENTS[self.currency]
        whole, fraction = divmod(self.minor, 10**exponent)
        return str(whole) if fraction == 0 else f"{whole}.{fraction:0{exponent}d}"

    def is_positive(self) -> bool:
        return self.minor > 0

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.minor <= other.minor

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.minor < other.minor

    def __str__(self) -> str:
        return f"{self.major_text()} {self.currency}"
