"""Payments both ways (issue #10).

In: a QuickBooks Payment (read after a webhook event or found by CDC) is recorded here against each of our
invoices it is applied to, once per (realm, payment, invoice) — the billing payment's `external_id` is
`qbo:<realm>:<payment id>:<invoice id>` — changed when it changes there, and removed when it is voided or deleted
there. What cannot be recorded against one of our invoices is kept for a person (`QuickBooksUnappliedPayment`).
Payments we pushed ourselves (a payment link, or our PrivateNote marker) are ours and never come back as new.

Out: a payment recorded here goes through the same outbox as invoices (entity_type `payment`) and is created in
QuickBooks by `payment_push`.

https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal, InvalidOperation

from attune_qbo.billing.exceptions import PaymentRefused
from attune_qbo.billing.models import Invoice, Payment, PaymentMethod, PaymentSource
from attune_qbo.billing.services import payment_external_change, payment_record
from integrations.models import (
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksUnappliedPayment,
    UnappliedStatus,
)

logger = logging.getLogger("qbo.payments")

PAYMENT_MARKER_PATTERN = re.compile(r"\[attune:(\d+):p(\d+)\]")
ZERO = Decimal("0.00")


def payment_marker(company_id: int, payment_id: int) -> str:
    """Written into a pushed Payment's PrivateNote: recognisable as ours even if the push's answer was lost."""
    return f"[attune:{company_id}:p{payment_id}]"


def external_id_for(realm_id: str, qbo_payment_id: str, qbo_invoice_id: str) -> str:
    return f"qbo:{realm_id}:{qbo_payment_id}:{qbo_invoice_id}"[:64]


def _money(value) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return ZERO


def _date(value) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return dt.date.today()


def _applied_to_invoices(qbo_payment: dict) -> dict[str, Decimal]:
    """QuickBooks invoice id → the amount of this payment applied to it (lines summed)."""
    applied: dict[str, Decimal] = {}
    for line in qbo_payment.get("Line") or []:
        if not isinstance(line, dict):
            continue
        invoice_ids = [
            str(linked.get("TxnId"))
            for linked in line.get("LinkedTxn") or []
            if isinstance(linked, dict) and linked.get("TxnType") == "Invoice" and linked.get("TxnId")
        ]
        if len(invoice_ids) == 1:
            applied[invoice_ids[0]] = applied.get(invoice_ids[0], ZERO) + _money(line.get("Amount"))
    return applied


def _is_ours(connection: QuickBooksConnection, qbo_payment_id: str, qbo_payment: dict | None) -> bool:
    if QuickBooksLink.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_id,
        object_type=LinkType.PAYMENT,
        qbo_id=qbo_payment_id,
    ).exists():
        return True
    note = (qbo_payment or {}).get("PrivateNote") or ""
    return any(int(company) == connection.company_id for company, _ in PAYMENT_MARKER_PATTERN.findall(note))


def payment_apply_from_quickbooks(
    *, connection: QuickBooksConnection, qbo_payment_id: str, qbo_payment: dict | None
) -> str:
    """Make our invoices reflect one QuickBooks payment as it is now (None = deleted there). Idempotent: run it
    any number of times, in any order of events, and the result is the same. Returns what it did, for the log.
    Call it inside a transaction (with the event that caused it)."""
    if _is_ours(connection, qbo_payment_id, qbo_payment):
        return f"Payment {qbo_payment_id} was sent from here; nothing to apply."
    removed = qbo_payment is None or qbo_payment.get("status") == "Deleted"
    applied = {} if removed else _applied_to_invoices(qbo_payment)
    if not removed and _money(qbo_payment.get("TotalAmt")) == ZERO:
        applied = {}  # voided: QuickBooks keeps it with nothing applied
        removed = True
    realm, company_id = connection.realm_id, connection.company_id
    links = dict(
        QuickBooksLink.objects.filter(
            company_id=company_id, realm_id=realm, object_type=LinkType.INVOICE, qbo_id__in=list(applied)
        ).values_list("qbo_id", "object_id")
    )
    prefix = f"qbo:{realm}:{qbo_payment_id}:"
    existing = {
        payment.external_id: payment
        for payment in Payment.objects.filter(company_id=company_id, external_id__startswith=prefix).select_related(
            "company"
        )
    }
    done: list[str] = []
    unapplied = ZERO
    reasons: list[str] = []
    for qbo_invoice_id, amount in applied.items():
        invoice_id = links.get(qbo_invoice_id)
        if invoice_id is None:
            unapplied += amount
            reasons.append(f"applied to QuickBooks invoice {qbo_invoice_id}, which is not one of ours")
            continue
        external_id = external_id_for(realm, qbo_payment_id, qbo_invoice_id)
        current = existing.pop(external_id, None)
        try:
            if current is not None:
                payment_external_change(
                    company=current.company,
                    external_id=external_id,
                    amount=amount,
                    date=_date(qbo_payment["TxnDate"]) if qbo_payment.get("TxnDate") else None,
                )
                done.append(f"updated on invoice {invoice_id}")
            elif amount > ZERO:
                invoice = Invoice.objects.get(pk=invoice_id, company_id=company_id)
                payment_record(
                    invoice=invoice,
                    amount=amount,
                    date=_date(qbo_payment.get("TxnDate")),
                    method=PaymentMethod.OTHER,
                    reference=str(qbo_payment.get("PaymentRefNum") or "")[:100],
                    source=PaymentSource.QUICKBOOKS,
                    external_id=external_id,
                )
                done.append(f"recorded {amount} on invoice {invoice.number}")
        except PaymentRefused as exc:
            unapplied += amount
            reasons.append(f"refused on invoice {invoice_id}: {exc}")
    for external_id in existing:  # applied here before, no longer there (changed, voided or deleted)
        payment_external_change(company=existing[external_id].company, external_id=external_id, amount=ZERO)
        done.append(f"removed {external_id}")
    if not removed:
        lines_total = sum(applied.values(), ZERO)
        unapplied += max(_money(qbo_payment.get("TotalAmt")) - lines_total, ZERO)
        if _money(qbo_payment.get("TotalAmt")) - lines_total > ZERO:
            reasons.append("not applied to any invoice in QuickBooks")
    _keep_unapplied(connection, qbo_payment_id, qbo_payment, unapplied, reasons, removed=removed)
    if unapplied:
        done.append(f"{unapplied} kept for a person")
    return f"Payment {qbo_payment_id}: " + ("; ".join(done) if done else "nothing to change") + "."


def _keep_unapplied(connection, qbo_payment_id, qbo_payment, amount: Decimal, reasons, *, removed: bool) -> None:
    key = {"company_id": connection.company_id, "realm_id": connection.realm_id, "qbo_payment_id": qbo_payment_id}
    row = QuickBooksUnappliedPayment.objects.filter(**key).first()
    if amount <= ZERO:
        if row is not None and row.status == UnappliedStatus.OPEN:
            row.status = UnappliedStatus.GONE if removed else UnappliedStatus.RESOLVED
            row.reason = "Voided or deleted in QuickBooks." if removed else "Now recorded against invoices here."
            row.save(update_fields=["status", "reason", "updated_at"])
        return
    customer = (qbo_payment or {}).get("CustomerRef") or {}
    values = {
        "customer_qbo_id": str(customer.get("value") or "")[:32],
        "customer_name": str(customer.get("name") or "")[:200],
        "amount": amount,
        "txn_date": _date(qbo_payment.get("TxnDate")) if qbo_payment and qbo_payment.get("TxnDate") else None,
        "reason": "; ".join(reasons)[:300],
        "qbo_snapshot": qbo_payment,
    }
    if row is None:
        QuickBooksUnappliedPayment.objects.create(**key, **values)
        logger.info("qbo.payment.unapplied company=%s qbo_id=%s", connection.company_id, qbo_payment_id)
        return
    for name, value in values.items():
        setattr(row, name, value)
    if row.status == UnappliedStatus.GONE or row.amount != amount:
        row.status = UnappliedStatus.OPEN
    row.save()
