"""Every change to invoicing goes through these services. They validate, write inside one transaction,
and announce the change through `billing.signals` once it has committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from attune_qbo.audit.services import audit_record
from attune_qbo.billing import signals, validation
from attune_qbo.billing.calculations import line_amount, totals_for_invoice_lines
from attune_qbo.billing.exceptions import InvoiceStateError, InvoiceValidationError, PaymentRefused
from attune_qbo.billing.models import (
    INVOICE_MAX_LINES,
    INVOICE_MEMO_MAX_LENGTH,
    INVOICE_NUMBER_MAX_LENGTH,
    MONEY_MAX,
    Client,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentRemoval,
    PaymentSource,
    Product,
    TaxRate,
)
from attune_qbo.core.exceptions import NotAllowed, ValidationError
from attune_qbo.core.money import ZERO, round_cents, to_decimal
from attune_qbo.tenants.models import Role
from attune_qbo.tenants.permissions import has_company_role


@dataclass(frozen=True)
class LineData:
    """One invoice line as a caller describes it; the service computes its amount."""

    description: str = ""
    quantity: Decimal | int | str = Decimal("1")
    unit_price: Decimal | int | str | None = None  # None: the product's unit price
    product: Product | None = None
    tax_rate: TaxRate | None = None  # None with a product: the product's default tax rate
    use_product_tax_rate: bool = True


# --- helpers ---------------------------------------------------------------------------------------------


# The database columns' limits for line inputs (numeric(12,4) and numeric(14,4)).
QUANTITY_MAX = Decimal("99999999.9999")
UNIT_PRICE_MAX = Decimal("9999999999.9999")


def _as_decimal(value, label: str) -> Decimal:
    try:
        number = to_decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvoiceValidationError(f"{label} must be a number.") from None
    if not number.is_finite():
        raise InvoiceValidationError(f"{label} must be a number.")
    return number


def _check_money(value: Decimal, label: str, field: str) -> None:
    message = validation.money_error(value, label)
    if message:
        raise InvoiceValidationError(message, extra={"field": field})


def _validate_memo(memo: str | None) -> str:
    memo = memo or ""
    if len(memo) > INVOICE_MEMO_MAX_LENGTH:
        raise InvoiceValidationError(
            f"The memo is {len(memo)} characters long; QuickBooks keeps at most {INVOICE_MEMO_MAX_LENGTH}.",
            extra={"field": "memo"},
        )
    return memo


def _validate_currency(currency: str) -> str:
    message = validation.currency_error(currency)
    if message:
        raise InvoiceValidationError(message, extra={"field": "currency"})
    return currency.upper()


def _validate_exchange_rate(rate, *, currency: str, company) -> Decimal | None:
    """Only meaningful for a foreign-currency invoice (currency ≠ the company's); positive, ≤ 6 decimals."""
    if rate in (None, ""):
        return None
    rate = _as_decimal(rate, "The exchange rate")
    try:
        validation.validate_exchange_rate(rate)
    except Exception as error:  # Django's ValidationError: re-raised as ours, naming the field
        raise InvoiceValidationError(error.messages[0], extra={"field": "exchange_rate"}) from None
    if currency == company.default_currency.upper():
        raise InvoiceValidationError(
            f"An exchange rate only applies to an invoice in another currency than {company.default_currency}; "
            "leave it empty.",
            extra={"field": "exchange_rate"},
        )
    return rate


def _validate_number(*, company, number: str, exclude_id: int | None = None) -> str:
    number = (number or "").strip()
    if len(number) > INVOICE_NUMBER_MAX_LENGTH:
        raise InvoiceValidationError(
            f"Invoice number “{number}” is {len(number)} characters long; "
            f"it can have at most {INVOICE_NUMBER_MAX_LENGTH} (QuickBooks' limit).",
            extra={"field": "number"},
        )
    if number and Invoice.objects.for_company(company).filter(number=number).exclude(pk=exclude_id).exists():
        raise InvoiceValidationError(f"Invoice number “{number}” is already used.", extra={"field": "number"})
    return number


def _next_number(company) -> str:
    sequence = Invoice.objects.for_company(company).count() + 1
    while True:
        candidate = f"INV-{sequence:04d}"
        if not Invoice.objects.for_company(company).filter(number=candidate).exists():
            return candidate
        sequence += 1


def _validate_dates(issue_date: dt.date, due_date: dt.date) -> None:
    if issue_date is None or due_date is None:
        raise InvoiceValidationError("An invoice needs an issue date and a due date.")
    for value, label, field in ((issue_date, "The issue date", "issue_date"), (due_date, "The due date", "due_date")):
        message = validation.date_error(value, label)
        if message:
            raise InvoiceValidationError(message, extra={"field": field})
    if due_date < issue_date:
        raise InvoiceValidationError(
            f"The due date ({due_date:%Y-%m-%d}) cannot be before the issue date ({issue_date:%Y-%m-%d}).",
            extra={"field": "due_date"},
        )


def _validate_owned(company, obj, label: str) -> None:
    if obj is not None and obj.company_id != company.pk:
        raise InvoiceValidationError(f"That {label} does not exist.")


def _build_lines(company, lines: Sequence[LineData]) -> list[InvoiceLine]:
    if len(lines) > INVOICE_MAX_LINES:
        raise InvoiceValidationError(
            f"An invoice can have at most {INVOICE_MAX_LINES} lines; this one has {len(lines)}.",
            extra={"field": "lines"},
        )
    built = []
    for position, data in enumerate(lines, start=1):
        _validate_owned(company, data.product, "product")
        _validate_owned(company, data.tax_rate, "tax rate")
        quantity = _as_decimal(data.quantity, f"Line {position}: quantity")
        if data.unit_price in (None, "") and data.product is not None:
            unit_price = data.product.unit_price
        else:
            unit_price = _as_decimal(data.unit_price if data.unit_price is not None else 0, f"Line {position}: price")
        if quantity < 0:
            raise InvoiceValidationError(f"Line {position}: the quantity cannot be negative.")
        if unit_price < 0:
            raise InvoiceValidationError(f"Line {position}: the unit price cannot be negative.")
        if quantity > QUANTITY_MAX:
            raise InvoiceValidationError(
                f"Line {position}: the quantity can be at most {QUANTITY_MAX:,}.", extra={"field": "quantity"}
            )
        if unit_price > UNIT_PRICE_MAX:
            raise InvoiceValidationError(
                f"Line {position}: the unit price can be at most {UNIT_PRICE_MAX:,}.", extra={"field": "unit_price"}
            )
        _check_money(line_amount(quantity, unit_price), f"Line {position}: the amount", "amount")
        description = (data.description or "").strip() or (data.product.name if data.product else "")
        if not description and data.product is None:
            raise InvoiceValidationError(f"Line {position}: give the line a product or a description.")
        tax_rate = data.tax_rate
        if tax_rate is None and data.use_product_tax_rate and data.product is not None:
            tax_rate = data.product.default_tax_rate
        built.append(
            InvoiceLine(
                position=position,
                product=data.product,
                description=description[:500],
                quantity=quantity,
                unit_price=unit_price,
                tax_rate=tax_rate,
                amount=line_amount(quantity, unit_price),
            )
        )
    return built


def _replace_lines(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    invoice.lines.all().delete()
    for line in lines:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(lines)


def _recompute_totals(invoice: Invoice) -> None:
    totals = totals_for_invoice_lines(invoice.lines.select_related("tax_rate"))
    _check_money(totals.subtotal, "The subtotal", "subtotal")
    _check_money(totals.tax_total, "The tax", "tax_total")
    _check_money(totals.total, "The total", "total")
    invoice.subtotal, invoice.tax_total, invoice.total = totals.subtotal, totals.tax_total, totals.total


def _lock(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice.pk)


def _emit_after_commit(signal, sender, **ids: Any) -> None:
    transaction.on_commit(lambda: signal.send(sender=sender, **ids))


def _announce_invoice_change(invoice: Invoice, change: str, after_commit_signal) -> None:
    """In the transaction: `invoice_changed` (outboxes); after commit: the change's own signal."""
    ids = {"invoice_id": invoice.pk, "company_id": invoice.company_id}
    signals.invoice_changed.send(sender=Invoice, change=change, **ids)
    _emit_after_commit(after_commit_signal, Invoice, **ids)


def _snapshot(invoice: Invoice) -> dict[str, str]:
    return {
        "status": str(invoice.status),
        "subtotal": str(invoice.subtotal),
        "tax_total": str(invoice.tax_total),
        "total": str(invoice.total),
        "amount_paid": str(invoice.amount_paid),
    }


def _audit_invoice(action: str, invoice: Invoice, user, before: dict | None, **extra: Any) -> None:
    """Every invoice change leaves an audit entry: who, what, and the totals before and after."""
    audit_record(
        action=action,
        company=invoice.company,
        actor=user,
        target=invoice,
        message=f"Invoice {invoice.number}",
        details={"number": invoice.number, "before": before, "after": _snapshot(invoice), **extra},
    )


def may_edit_invoice(user, invoice: Invoice) -> bool:
    """Members edit drafts only; a finalized, paid or void invoice needs staff or admin (void: nobody)."""
    if invoice.status == InvoiceStatus.DRAFT:
        return True
    return has_company_role(user, invoice.company, Role.STAFF)


def _require_editor(invoice: Invoice, user) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        return  # the system itself (e.g. QuickBooks payments) acts without a user
    if not may_edit_invoice(user, invoice):
        raise NotAllowed(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}: members can edit drafts only. "
            "Ask a staff member or an admin of the company to change it."
        )


# --- invoices --------------------------------------------------------------------------------------------


def invoice_create(
    *,
    company,
    user=None,
    client: Client,
    issue_date: dt.date,
    due_date: dt.date,
    lines: Sequence[LineData] = (),
    number: str = "",
    currency: str | None = None,
    memo: str = "",
    exchange_rate: Decimal | str | None = None,
) -> Invoice:
    """Create a draft invoice with its lines and computed totals."""
    _validate_owned(company, client, "client")
    _validate_dates(issue_date, due_date)
    memo = _validate_memo(memo)
    currency = _validate_currency(currency or client.currency or company.default_currency)
    exchange_rate = _validate_exchange_rate(exchange_rate, currency=currency, company=company)
    built_lines = _build_lines(company, lines)
    with transaction.atomic():
        number = _validate_number(company=company, number=number) or _next_number(company)
        invoice = Invoice(
            company=company,
            client=client,
            number=number,
            issue_date=issue_date,
            due_date=due_date,
            currency=currency,
            exchange_rate=exchange_rate,
            memo=memo,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        try:
            with transaction.atomic():
                invoice.save()
        except IntegrityError:
            raise InvoiceValidationError(f"Invoice number “{number}” is already used.") from None
        _replace_lines(invoice, built_lines)
        _recompute_totals(invoice)
        invoice.save(update_fields=["subtotal", "tax_total", "total", "updated_at"])
        _audit_invoice("invoice.create", invoice, user, None)
    return invoice


_UPDATABLE_FIELDS = {"client", "number", "issue_date", "due_date", "currency", "memo", "exchange_rate"}


def invoice_update(*, invoice: Invoice, user=None, lines: Sequence[LineData] | None = None, **changes) -> Invoice:
    """Change an invoice's fields and/or replace its lines. Void invoices cannot be edited; a paid or
    finalized invoice can, as long as its new total still covers what was paid."""
    unknown = set(changes) - _UPDATABLE_FIELDS
    if unknown:
        raise ValidationError(f"These invoice fields cannot be changed: {', '.join(sorted(unknown))}.")
    company = invoice.company
    with transaction.atomic():
        invoice = _lock(invoice)
        _require_editor(invoice, user)
        if invoice.status == InvoiceStatus.VOID:
            raise InvoiceStateError(f"Invoice {invoice.number} is void and can no longer be edited.")
        before = _snapshot(invoice)
        if "client" in changes:
            _validate_owned(company, changes["client"], "client")
            if invoice.amount_paid > ZERO and changes["client"].pk != invoice.client_id:
                raise InvoiceStateError("The client of an invoice with payments cannot be changed.")
        if "number" in changes:
            changes["number"] = (
                _validate_number(company=company, number=changes["number"], exclude_id=invoice.pk) or invoice.number
            )
        if "currency" in changes:
            changes["currency"] = _validate_currency(changes["currency"] or invoice.currency)
        if "memo" in changes:
            changes["memo"] = _validate_memo(changes["memo"])
        currency = changes.get("currency", invoice.currency)
        if "exchange_rate" in changes:
            changes["exchange_rate"] = _validate_exchange_rate(
                changes["exchange_rate"], currency=currency, company=company
            )
        elif currency == company.default_currency.upper():
            changes["exchange_rate"] = None  # back in the home currency: a rate no longer means anything
        for name, value in changes.items():
            setattr(invoice, name, value)
        _validate_dates(invoice.issue_date, invoice.due_date)
        if lines is not None:
            built = _build_lines(company, lines)
            if not built and invoice.status != InvoiceStatus.DRAFT:
                raise InvoiceValidationError("A finalized invoice must keep at least one line.")
            _replace_lines(invoice, built)
        _recompute_totals(invoice)
        if invoice.amount_paid > invoice.total:
            raise InvoiceValidationError(
                f"The new total ({invoice.total}) would be less than the {invoice.amount_paid} already paid."
            )
        if invoice.status in (InvoiceStatus.FINALIZED, InvoiceStatus.PAID):
            invoice.status = InvoiceStatus.PAID if invoice.amount_paid == invoice.total else InvoiceStatus.FINALIZED
        invoice.save()
        _audit_invoice(
            "invoice.update", invoice, user, before, fields=sorted(changes), lines_replaced=lines is not None
        )
        if invoice.status in (InvoiceStatus.FINALIZED, InvoiceStatus.PAID):
            _announce_invoice_change(invoice, "updated", signals.invoice_updated)
    return invoice


def invoice_finalize(*, invoice: Invoice, user=None) -> Invoice:
    """Draft → finalized. From here on the invoice is a real document (and is pushed to QuickBooks)."""
    with transaction.atomic():
        invoice = _lock(invoice)
        if invoice.status != InvoiceStatus.DRAFT:
            raise InvoiceStateError(
                f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; only drafts can be finalized."
            )
        if not invoice.lines.exists():
            raise InvoiceValidationError("Add at least one line before finalizing the invoice.")
        before = _snapshot(invoice)
        _recompute_totals(invoice)
        invoice.status = InvoiceStatus.FINALIZED
        invoice.finalized_at = timezone.now()
        invoice.save()
        _audit_invoice("invoice.finalize", invoice, user, before)
        _announce_invoice_change(invoice, "finalized", signals.invoice_finalized)
    return invoice


def invoice_void(*, invoice: Invoice, user=None) -> Invoice:
    """Void an invoice. One with payments recorded cannot be voided (refund or remove the payments first)."""
    with transaction.atomic():
        invoice = _lock(invoice)
        if invoice.status == InvoiceStatus.VOID:
            raise InvoiceStateError(f"Invoice {invoice.number} is already void.")
        if invoice.amount_paid > ZERO:
            raise InvoiceStateError(
                f"Invoice {invoice.number} has {invoice.amount_paid} in payments recorded and cannot be voided."
            )
        was_draft = invoice.status == InvoiceStatus.DRAFT
        before = _snapshot(invoice)
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = timezone.now()
        invoice.save()
        _audit_invoice("invoice.void", invoice, user, before)
        if not was_draft:
            _announce_invoice_change(invoice, "voided", signals.invoice_voided)
    return invoice


# --- payments --------------------------------------------------------------------------------------------


def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal | int | str,
    date: dt.date,
    method: str = PaymentMethod.BANK_TRANSFER,
    reference: str = "",
    source: str = PaymentSource.LOCAL,
    external_id: str | None = None,
    user=None,
) -> Payment:
    """Record a payment against a finalized invoice; the invoice becomes paid when nothing is left due.

    Idempotent on `external_id`: recording the same QuickBooks payment twice returns the first one.
    """
    try:
        amount = round_cents(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise PaymentRefused("The payment amount must be a number.") from None
    if not amount.is_finite():
        raise PaymentRefused("The payment amount must be a number.")
    if amount <= ZERO:
        raise PaymentRefused("The payment amount must be more than zero.")
    if amount > MONEY_MAX:
        raise PaymentRefused(f"A payment can be at most {MONEY_MAX:,}.", extra={"field": "amount"})
    if date is None:
        raise PaymentRefused("A payment needs a date.")
    if validation.date_error(date, "The payment date"):
        raise PaymentRefused(validation.date_error(date, "The payment date"), extra={"field": "date"})
    if method not in PaymentMethod.values:
        raise PaymentRefused(f"Unknown payment method “{method}”.")
    with transaction.atomic():
        invoice = _lock(invoice)
        if external_id:
            existing = Payment.objects.for_company(invoice.company).filter(external_id=external_id).first()
            if existing is not None:
                return existing
        if invoice.status == InvoiceStatus.DRAFT:
            raise PaymentRefused(f"Finalize invoice {invoice.number} before recording a payment.")
        if invoice.status == InvoiceStatus.VOID:
            raise PaymentRefused(f"Invoice {invoice.number} is void; it cannot take payments.")
        balance = invoice.total - invoice.amount_paid
        if amount > balance:
            raise PaymentRefused(
                f"A payment of {amount} is more than the {balance} still due on invoice {invoice.number}."
            )
        before = _snapshot(invoice)
        payment = Payment.objects.create(
            company=invoice.company,
            invoice=invoice,
            amount=amount,
            date=date,
            method=method,
            reference=reference,
            source=source,
            external_id=external_id or None,
            recorded_by=user if user is not None and user.is_authenticated else None,
        )
        invoice.amount_paid += amount
        if invoice.amount_paid == invoice.total:
            invoice.status = InvoiceStatus.PAID
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])
        _audit_invoice(
            "invoice.payment", invoice, user, before, payment_id=payment.pk, amount=str(amount), source=str(source)
        )
        _emit_after_commit(
            signals.payment_recorded,
            Payment,
            payment_id=payment.pk,
            invoice_id=invoice.pk,
            company_id=invoice.company_id,
        )
    return payment


def payment_external_change(
    *, company, external_id: str, amount: Decimal | int | str, date: dt.date | None = None, user=None
) -> Payment | None:
    """Change or remove a payment that came from another system (e.g. changed, voided or deleted in
    QuickBooks): `amount` 0 removes it and gives the invoice its balance back. Returns the payment (None when
    removed or when there is none with this `external_id`). Local payments are never touched."""
    try:
        amount = round_cents(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise PaymentRefused("The payment amount must be a number.") from None
    if amount < ZERO or not amount.is_finite():
        raise PaymentRefused("The payment amount cannot be negative.")
    with transaction.atomic():
        payment = (
            Payment.objects.for_company(company)
            .select_for_update()
            .filter(external_id=external_id)
            .exclude(source=PaymentSource.LOCAL)
            .first()
        )
        if payment is None:
            return None
        invoice = _lock(payment.invoice)
        if amount == payment.amount and (date is None or date == payment.date):
            return payment
        before = _snapshot(invoice)
        paid = invoice.amount_paid - payment.amount + amount
        if paid > invoice.total:
            raise PaymentRefused(
                f"A payment of {amount} is more than the {invoice.total - invoice.amount_paid + payment.amount} "
                f"still due on invoice {invoice.number}."
            )
        invoice.amount_paid = paid
        if invoice.status == InvoiceStatus.PAID and paid < invoice.total:
            invoice.status = InvoiceStatus.FINALIZED
        elif invoice.status == InvoiceStatus.FINALIZED and paid == invoice.total:
            invoice.status = InvoiceStatus.PAID
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])
        removed = amount == ZERO
        if removed:
            payment_id = payment.pk
            payment.delete()
        else:
            payment_id = payment.pk
            payment.amount, payment.date = amount, date or payment.date
            payment.save(update_fields=["amount", "date", "updated_at"])
        _audit_invoice(
            "invoice.payment_removed" if removed else "invoice.payment_changed",
            invoice,
            user,
            before,
            payment_id=payment_id,
            amount=str(amount),
            source=str(payment.source),
        )
    return None if removed else payment


def payment_remove(*, payment: Payment, user=None, reason: str = PaymentRemoval.DELETED) -> Invoice:
    """Take back a payment recorded here: deleted (recorded by mistake) or refunded to the client. The invoice
    gets its balance back (paid → finalized) and the audit log keeps the payment's figures. Payments that came
    from QuickBooks are changed there, never here (they would come back). Returns the invoice."""
    if reason not in PaymentRemoval.values:
        raise PaymentRefused(f"Unknown reason “{reason}”: use deleted or refunded.", extra={"field": "reason"})
    if payment.source != PaymentSource.LOCAL:
        raise PaymentRefused(
            "This payment came from QuickBooks: void or delete it in QuickBooks and it is removed here by itself."
        )
    with transaction.atomic():
        invoice = _lock(payment.invoice)
        locked = Payment.objects.select_for_update().filter(pk=payment.pk, invoice=invoice).first()
        if locked is None:
            raise PaymentRefused("This payment was already removed.")
        before = _snapshot(invoice)
        invoice.amount_paid -= locked.amount
        if invoice.status == InvoiceStatus.PAID:
            invoice.status = InvoiceStatus.FINALIZED
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])
        payment_id = locked.pk
        _audit_invoice(
            f"invoice.payment_{reason}",
            invoice,
            user,
            before,
            payment_id=payment_id,
            amount=str(locked.amount),
            date=locked.date.isoformat(),
            method=str(locked.method),
            reference=locked.reference,
        )
        locked.delete()
        signals.payment_removed.send(
            sender=Payment,
            payment_id=payment_id,
            invoice_id=invoice.pk,
            company_id=invoice.company_id,
            invoice_number=invoice.number,
            reason=reason,
        )
    return invoice


# --- clients, products, tax rates ------------------------------------------------------------------------


def _save_unique(obj, *, message: str):
    try:
        with transaction.atomic():
            obj.full_clean(exclude=["company"])
            obj.save()
    except IntegrityError:
        raise ValidationError(message) from None
    return obj


def _check_unique(model, *, company, exclude_id, message: str, **lookup) -> None:
    if model.objects.for_company(company).filter(**lookup).exclude(pk=exclude_id).exists():
        raise ValidationError(message)


def client_save(*, company, client: Client | None = None, **fields) -> Client:
    """Create (no `client`) or update a Client. Display names are unique within a company."""
    client = client or Client(company=company, currency=company.default_currency)
    if client.company_id != company.pk:
        raise ValidationError("That client does not exist.")
    for name, value in fields.items():
        setattr(client, name, value)
    client.display_name = (client.display_name or "").strip()
    client.currency = (client.currency or company.default_currency).upper()
    if validation.currency_error(client.currency):
        raise ValidationError(validation.currency_error(client.currency), extra={"field": "currency"})
    if not client.display_name:
        raise ValidationError("A client needs a display name.")
    message = f"A client named “{client.display_name}” already exists."
    _check_unique(Client, company=company, exclude_id=client.pk, message=message, display_name=client.display_name)
    return _save_unique(client, message=message)


def product_save(*, company, product: Product | None = None, **fields) -> Product:
    product = product or Product(company=company)
    if product.company_id != company.pk:
        raise ValidationError("That product does not exist.")
    for name, value in fields.items():
        setattr(product, name, value)
    product.name = (product.name or "").strip()
    if not product.name:
        raise ValidationError("A product needs a name.")
    if product.unit_price is not None and to_decimal(product.unit_price) < 0:
        raise ValidationError("A product's unit price cannot be negative.")
    _validate_owned(company, product.default_tax_rate, "tax rate")
    message = f"A product named “{product.name}” already exists."
    _check_unique(Product, company=company, exclude_id=product.pk, message=message, name=product.name)
    return _save_unique(product, message=message)


def tax_rate_save(*, company, tax_rate: TaxRate | None = None, **fields) -> TaxRate:
    tax_rate = tax_rate or TaxRate(company=company)
    if tax_rate.company_id != company.pk:
        raise ValidationError("That tax rate does not exist.")
    for name, value in fields.items():
        setattr(tax_rate, name, value)
    tax_rate.name = (tax_rate.name or "").strip()
    if not tax_rate.name:
        raise ValidationError("A tax rate needs a name.")
    if to_decimal(tax_rate.percent) < 0 or to_decimal(tax_rate.percent) > 100:
        raise ValidationError("A tax rate's percent must be between 0 and 100.")
    message = f"A tax rate named “{tax_rate.name}” already exists."
    _check_unique(TaxRate, company=company, exclude_id=tax_rate.pk, message=message, name=tax_rate.name)
    return _save_unique(tax_rate, message=message)
