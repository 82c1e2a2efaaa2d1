"""What the business needs from input, checked at the door (pages, API and services share these rules).

Each limit exists once, here or in `billing.models`, and is named in the message a person sees.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError as DjangoValidationError

from attune_qbo.billing.models import (
    EXCHANGE_RATE_MAX,
    INVOICE_MEMO_MAX_LENGTH,
    MONEY_MAX,
)

# QuickBooks Online accepts transaction dates in this range; we refuse others before they are stored.
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)
# ISO 4217 codes that are not money one invoices in.
_NOT_INVOICE_CURRENCIES = {"XTS", "XXX"}


@lru_cache(maxsize=1)
def iso_4217_codes() -> frozenset[str]:
    """Active ISO 4217 alphabetic codes (from pycountry's copy of the ISO list)."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_INVOICE_CURRENCIES


def currency_error(code: str) -> str | None:
    if (code or "").upper() not in iso_4217_codes():
        return f"“{code}” is not an ISO 4217 currency code (for example USD, EUR, GBP, CAD)."
    return None


def validate_currency(value: str) -> None:
    """Django/DRF validator: an ISO 4217 code (case-insensitive)."""
    message = currency_error(value)
    if value and message:
        raise DjangoValidationError(message, code="invalid_currency")


def validate_country(value: str) -> None:
    """ISO 3166-1 alpha-2 country code (case-insensitive), or empty."""
    import pycountry

    if value and pycountry.countries.get(alpha_2=value.upper()) is None:
        raise DjangoValidationError(f"“{value}” is not an ISO 3166 country code (e.g. US, GB, CA).", code="country")


def date_error(value: dt.date | None, label: str) -> str | None:
    if value is not None and not (DATE_MIN <= value <= DATE_MAX):
        return f"{label} must be between {DATE_MIN:%Y-%m-%d} and {DATE_MAX:%Y-%m-%d} (QuickBooks' range)."
    return None


def validate_business_date(value: dt.date) -> None:
    message = date_error(value, "The date")
    if message:
        raise DjangoValidationError(message, code="date_out_of_range")


def validate_memo(value: str) -> None:
    if value and len(value) > INVOICE_MEMO_MAX_LENGTH:
        raise DjangoValidationError(
            f"The memo is {len(value)} characters long; QuickBooks keeps at most {INVOICE_MEMO_MAX_LENGTH}.",
            code="memo_too_long",
        )


def validate_exchange_rate(value: Decimal | None) -> None:
    if value is None:
        return
    if not value.is_finite() or value <= 0:
        raise DjangoValidationError("The exchange rate must be a positive number.", code="exchange_rate")
    if value > EXCHANGE_RATE_MAX:
        raise DjangoValidationError(f"The exchange rate must be at most {EXCHANGE_RATE_MAX}.", code="exchange_rate")
    if value.normalize().as_tuple().exponent < -6:
        raise DjangoValidationError("The exchange rate can have at most 6 decimal places.", code="exchange_rate")


def money_error(value: Decimal, label: str) -> str | None:
    if abs(value) > MONEY_MAX:
        return f"{label} would be {value:,}; amounts can be at most {MONEY_MAX:,}."
    return None
