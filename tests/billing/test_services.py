import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from attune_qbo.billing import services, signals
from attune_qbo.billing.exceptions import InvoiceStateError, InvoiceValidationError, PaymentRefused
from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.billing.services import LineData
from attune_qbo.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db


def test_create_computes_lines_totals_and_number(tenant):
    invoice = tenant.invoice(lines=[LineData(product=tenant.product, quantity=3)])
    line = invoice.lines.get()
    assert line.unit_price == Decimal("50.00") and line.amount == Decimal("150.00")
    assert line.tax_rate == tenant.tax_rate  # the product's default tax rate
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("150.00"),
        Decimal("15.00"),
        Decimal("165.00"),
    )
    assert invoice.number == "INV-0001" and invoice.status == InvoiceStatus.DRAFT
    assert tenant.invoice().number == "INV-0002"


def test_finalize_without_lines_is_refused(tenant):
    invoice = tenant.invoice(lines=[])
    with pytest.raises(InvoiceValidationError, match="Add at least one line before finalizing"):
        services.invoice_finalize(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_finalize_twice_is_refused(tenant):
    invoice = tenant.invoice(finalize=True)
    with pytest.raises(InvoiceStateError, match="only drafts can be finalized"):
        services.invoice_finalize(invoice=invoice)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (LineData(description="x", quantity=-1, unit_price=5), "Line 1: the quantity cannot be negative."),
        (
            LineData(description="x", quantity=1, unit_price="-0.01"),
            "Line 1: the unit price cannot be negative.",
        ),
        (LineData(description="x", quantity="abc", unit_price=1), "Line 1: quantity must be a number."),
        (LineData(quantity=1, unit_price=1), "Line 1: give the line a product or a description."),
    ],
)
def test_bad_lines_are_refused_with_a_message(tenant, line, message):
    with pytest.raises(InvoiceValidationError) as error:
        tenant.invoice(lines=[line])
    assert error.value.message == message
    assert not Invoice.objects.exists()


def test_due_date_before_issue_date_is_refused(tenant):
    with pytest.raises(InvoiceValidationError, match=r"due date \(2026-01-14\) cannot be before the issue date"):
        tenant.invoice(issue_date=dt.date(2026, 1, 15), due_date=dt.date(2026, 1, 14))
    invoice = tenant.invoice()
    with pytest.raises(InvoiceValidationError, match="cannot be before the issue date"):
        services.invoice_update(invoice=invoice, due_date=dt.date(2025, 1, 1))
    invoice.refresh_from_db()
    assert invoice.due_date == dt.date(2026, 2, 14)


def test_invoice_number_longer_than_21_characters_is_refused(tenant):
    with pytest.raises(InvoiceValidationError, match="is 22 characters long; it can have at most 21"):
        tenant.invoice(number="X" * 22)
    assert tenant.invoice(number="Y" * 21).number == "Y" * 21


def test_duplicate_invoice_number_is_refused_within_a_company_only(tenant, other_tenant):
    tenant.invoice(number="A-1")
    with pytest.raises(InvoiceValidationError, match="“A-1” is already used"):
        tenant.invoice(number="A-1")
    assert other_tenant.invoice(number="A-1").number == "A-1"


def test_other_companys_client_product_or_tax_rate_is_refused(tenant, other_tenant):
    with pytest.raises(InvoiceValidationError, match="That client does not exist"):
        tenant.invoice(client=other_tenant.client)
    with pytest.raises(InvoiceValidationError, match="That product does not exist"):
        tenant.invoice(lines=[LineData(product=other_tenant.product)])
    with pytest.raises(InvoiceValidationError, match="That tax rate does not exist"):
        tenant.invoice(lines=[LineData(description="x", unit_price=1, tax_rate=other_tenant.tax_rate)])


def test_void_invoice_cannot_be_edited(tenant):
    invoice = services.invoice_void(invoice=tenant.invoice(finalize=True))
    with pytest.raises(InvoiceStateError, match="is void and can no longer be edited"):
        services.invoice_update(invoice=invoice, memo="changed")
    invoice.refresh_from_db()
    assert invoice.memo == ""


def test_void_with_payments_is_refused(tenant):
    invoice = tenant.invoice(finalize=True)
    services.payment_record(invoice=invoice, amount="10", date=dt.date(2026, 1, 20))
    with pytest.raises(InvoiceStateError, match="has 10.00 in payments recorded and cannot be voided"):
        services.invoice_void(invoice=invoice)


def test_payment_marks_invoice_paid_and_overpayment_is_refused(tenant):
    invoice = tenant.invoice(finalize=True)  # 2 × 50 + 10 % = 110.00
    with pytest.raises(PaymentRefused, match=r"A payment of 110.01 is more than the 110.00 still due"):
        services.payment_record(invoice=invoice, amount="110.01", date=dt.date(2026, 1, 20))
    services.payment_record(invoice=invoice, amount="60", date=dt.date(2026, 1, 20))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED and invoice.balance_due == Decimal("50.00")
    with pytest.raises(PaymentRefused, match="more than the 50.00 still due"):
        services.payment_record(invoice=invoice, amount="50.01", date=dt.date(2026, 1, 21))
    services.payment_record(invoice=invoice, amount="50", date=dt.date(2026, 1, 21))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == Decimal("110.00")


@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "must be more than zero"), ("-5", "must be more than zero"), ("ten", "must be a number")],
)
def test_bad_payment_amounts_are_refused(tenant, amount, message):
    invoice = tenant.invoice(finalize=True)
    with pytest.raises(PaymentRefused, match=message):
        services.payment_record(invoice=invoice, amount=amount, date=dt.date(2026, 1, 20))
    assert not invoice.payments.exists()


def test_payment_on_draft_or_void_is_refused(tenant):
    draft = tenant.invoice()
    with pytest.raises(PaymentRefused, match="Finalize invoice .* before recording a payment"):
        services.payment_record(invoice=draft, amount="1", date=dt.date(2026, 1, 20))
    void = services.invoice_void(invoice=tenant.invoice(finalize=True))
    with pytest.raises(PaymentRefused, match="is void; it cannot take payments"):
        services.payment_record(invoice=void, amount="1", date=dt.date(2026, 1, 20))


def test_payment_with_the_same_external_id_is_recorded_once(tenant):
    invoice = tenant.invoice(finalize=True)
    first = services.payment_record(
        invoice=invoice, amount="10", date=dt.date(2026, 1, 20), source="quickbooks", external_id="qbo-77"
    )
    again = services.payment_record(
        invoice=invoice, amount="10", date=dt.date(2026, 1, 20), source="quickbooks", external_id="qbo-77"
    )
    assert again.pk == first.pk
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("10.00")


def test_editing_a_paid_invoice_below_the_amount_paid_is_refused(tenant):
    invoice = tenant.invoice(finalize=True)
    services.payment_record(invoice=invoice, amount="110", date=dt.date(2026, 1, 20))
    with pytest.raises(InvoiceValidationError, match="would be less than the 110.00 already paid"):
        services.invoice_update(invoice=invoice, lines=[LineData(product=tenant.product, quantity=1)])
    invoice.refresh_from_db()
    assert invoice.total == Decimal("110.00") and invoice.lines.get().quantity == 2


def test_editing_a_paid_invoice_upwards_reopens_it(tenant):
    invoice = tenant.invoice(finalize=True)
    services.payment_record(invoice=invoice, amount="110", date=dt.date(2026, 1, 20))
    invoice = services.invoice_update(invoice=invoice, lines=[LineData(product=tenant.product, quantity=3)])
    assert invoice.status == InvoiceStatus.FINALIZED and invoice.balance_due == Decimal("55.00")


def test_client_display_name_is_unique_per_company(tenant, other_tenant):
    with pytest.raises(ValidationError, match="A client named “Alpha Client” already exists"):
        services.client_save(company=tenant.company, display_name="Alpha Client")
    assert services.client_save(company=other_tenant.company, display_name="Alpha Client").pk


def test_product_price_cannot_be_negative(tenant):
    with pytest.raises(ValidationError, match="unit price cannot be negative"):
        services.product_save(company=tenant.company, name="Bad", unit_price=Decimal("-1"))


# --- signals ----------------------------------------------------------------------------------------------


@pytest.fixture
def received():
    events = []
    handlers = {}
    for name in ("invoice_finalized", "invoice_updated", "invoice_voided", "payment_recorded"):

        def handler(sender, _name=name, **kwargs):
            events.append((_name, kwargs.get("invoice_id")))

        handlers[name] = handler
        getattr(signals, name).connect(handler, weak=False)
    yield events
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def test_signals_fire_after_commit_with_ids(tenant, received, django_capture_on_commit_callbacks):
    invoice = tenant.invoice()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.invoice_finalize(invoice=invoice)
    assert received == []  # not yet: the transaction has not committed
    for callback in callbacks:
        callback()
    assert received == [("invoice_finalized", invoice.pk)]

    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_update(invoice=invoice, memo="Updated")
        services.payment_record(invoice=invoice, amount="1", date=dt.date(2026, 1, 20))
    assert received[1:] == [("invoice_updated", invoice.pk), ("payment_recorded", invoice.pk)]


def test_updating_a_draft_sends_no_invoice_updated(tenant, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_update(invoice=tenant.invoice(), memo="still a draft")
    assert received == []


def test_signals_do_not_fire_when_the_transaction_rolls_back(tenant, received, django_capture_on_commit_callbacks):
    invoice = tenant.invoice()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.invoice_finalize(invoice=invoice)
            raise RuntimeError("something later in the same transaction failed")
    assert callbacks == [] and received == []
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_voiding_sends_invoice_voided(tenant, received, django_capture_on_commit_callbacks):
    invoice = tenant.invoice(finalize=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=invoice)
    assert received == [("invoice_voided", invoice.pk)]
