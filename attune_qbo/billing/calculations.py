"""Line amounts, tax and totals: computed here and nowhere else.

- A line's amount is quantity × unit price, rounded half-up to cents (QuickBooks checks the same
  product, error 6070, so the two always agree).
- Tax is computed per tax rate on the sum of that rate's line amounts and rounded once per rate, which
  keeps 100 lines of 0.005 tax from drifting by a dollar the way per-line rounding would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from attune_qbo.core.money import ZERO, round_cents, to_decimal

HUNDRED = Decimal("100")


def line_amount(quantity: Decimal | int | str, unit_price: Decimal | int | str) -> Decimal:
    return round_cents(to_decimal(quantity) * to_decimal(unit_price))


@dataclass(frozen=True)
class TaxableAmount:
    amount: Decimal
    tax_rate_id: int | None
    tax_percent: Decimal
    taxable: bool


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    tax_by_rate: dict[int, Decimal] = field(default_factory=dict)


def compute_totals(lines: Iterable[TaxableAmount]) -> Totals:
    subtotal = ZERO
    base_by_rate: dict[int, Decimal] = {}
    percent_by_rate: dict[int, Decimal] = {}
    for line in lines:
        subtotal += line.amount
        if line.tax_rate_id is not None and line.taxable and line.tax_percent:
            base_by_rate[line.tax_rate_id] = base_by_rate.get(line.tax_rate_id, ZERO) + line.amount
            percent_by_rate[line.tax_rate_id] = line.tax_percent
    tax_by_rate = {
        rate_id: round_cents(base * percent_by_rate[rate_id] / HUNDRED) for rate_id, base in base_by_rate.items()
    }
    tax_total = sum(tax_by_rate.values(), ZERO)
    subtotal = round_cents(subtotal)
    return Totals(subtotal=subtotal, tax_total=tax_total, total=subtotal + tax_total, tax_by_rate=tax_by_rate)


def totals_for_invoice_lines(lines) -> Totals:
    """Totals of saved `InvoiceLine`s (their `tax_rate` should be select_related)."""
    return compute_totals(
        TaxableAmount(
            amount=line.amount,
            tax_rate_id=line.tax_rate_id,
            tax_percent=line.tax_rate.percent if line.tax_rate else ZERO,
            taxable=bool(line.tax_rate and line.tax_rate.taxable),
        )
        for line in lines
    )
