"""Money arithmetic: Decimal only, rounded half-up to cents at the points the product defines."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Accept Decimal, int or str; refuse float, whose binary value is not what the person typed."""
    if isinstance(value, float):
        raise TypeError("Money values must be Decimal, int or str, not float.")
    return value if isinstance(value, Decimal) else Decimal(value)


def round_cents(value: Decimal | int | str) -> Decimal:
    """Round half-up to cents: 0.005 -> 0.01, 2.675 -> 2.68 (no binary-float surprises)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
