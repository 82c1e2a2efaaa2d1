from decimal import Decimal

import pytest

from attune_qbo.billing.calculations import TaxableAmount, compute_totals, line_amount
from attune_qbo.billing.services import LineData
from attune_qbo.core.money import round_cents


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("1.005", "1.01"), ("-0.005", "-0.01")],
)
def test_round_cents_is_half_up_on_decimal_values(value, expected):
    assert round_cents(value) == Decimal(expected)


def test_round_cents_refuses_floats():
    with pytest.raises(TypeError):
        round_cents(0.1)


def test_line_amount_is_quantity_times_price_rounded_half_up():
    assert line_amount("3", "33.33") == Decimal("99.99")
    assert line_amount("1", "0.005") == Decimal("0.01")
    assert line_amount("0.5", "0.01") == Decimal("0.01")  # 0.005 rounds up, not to even
    assert line_amount("2.5", "19.99") == Decimal("49.98")  # 49.975 -> 49.98


def test_tax_is_rounded_once_per_rate_not_per_line():
    # 100 lines of 0.10 at 5 %: per-line tax would be 100 × round(0.005) = 1.00; the true tax is 0.50.
    lines = [TaxableAmount(Decimal("0.10"), 1, Decimal("5"), True) for _ in range(100)]
    totals = compute_totals(lines)
    assert totals.subtotal == Decimal("10.00")
    assert totals.tax_total == Decimal("0.50")
    assert totals.total == Decimal("10.50")


def test_tax_totals_per_rate_and_exempt_lines():
    lines = [
        TaxableAmount(Decimal("99.99"), 1, Decimal("8.25"), True),  # 8.249175 -> 8.25
        TaxableAmount(Decimal("10.00"), 2, Decimal("0"), False),
        TaxableAmount(Decimal("0.10"), 3, Decimal("5"), True),  # 0.005 -> 0.01
        TaxableAmount(Decimal("5.00"), None, Decimal("0"), False),
    ]
    totals = compute_totals(lines)
    assert totals.tax_by_rate == {1: Decimal("8.25"), 3: Decimal("0.01")}
    assert totals.subtotal == Decimal("115.09")
    assert totals.total == Decimal("123.35")


def test_invoice_with_100_awkward_lines_has_exact_totals(tenant):
    lines = [
        LineData(description=f"Part {i}", quantity=3, unit_price="33.33", tax_rate=tenant.tax_rate) for i in range(100)
    ]
    invoice = tenant.invoice(lines=lines)
    assert invoice.lines.count() == 100
    assert set(invoice.lines.values_list("amount", flat=True)) == {Decimal("99.99")}
    assert invoice.subtotal == Decimal("9999.00")
    assert invoice.tax_total == Decimal("999.90")
    assert invoice.total == Decimal("10998.90")
