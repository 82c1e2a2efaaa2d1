"""Reconciliation: our invoices against QuickBooks', with a one-click fix where one exists.

The comparison is `verification.books_check` (the same one `manage.py quickbooks_verify` prints); its rows are
stored with the time of the check and the reads it used (reads are metered by Intuit, QBO-REFERENCE §0.6), so
the page and the API show the stored result and QuickBooks is read again only on "Check now".

Unapplied QuickBooks payments (`integrations.selectors.unapplied_payments`) are rows too, with the fix "Mark as
handled": a person applies them in QuickBooks, and the change comes back by itself.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import asdict

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.core.exceptions import ValidationError
from attune_qbo.core.spreadsheet import spreadsheet_cell
from integrations.models import (
    LinkType,
    QuickBooksConnection,
    QuickBooksReview,
    ReviewKind,
    SyncOperation,
    SyncTrigger,
)

logger = logging.getLogger("qbo.reconciliation")

PUSH, LINK, RESOLVE, VOID, APPLY = "push", "link", "resolve", "void", "apply"
FIX_LABELS = {
    PUSH: "Push again",
    LINK: "Link",
    RESOLVE: "Mark as handled",
    VOID: "Void in QuickBooks",
    APPLY: "Apply to invoice",
}
KIND_LABELS = {
    "missing_there": "Missing in QuickBooks",
    "missing_here": "Missing here",
    "drift": "Figures differ",
    "unapplied_payment": "Unapplied payment",
}


def payments_available() -> bool:
    """Payments cross both ways (issue 10): unapplied QuickBooks payments are listed."""
    return True


def _fix_for(row: dict) -> str:
    if row["kind"] == "missing_here":
        return LINK if row.get("invoice_id") else ""
    if row["kind"] == "unapplied_payment":
        if not row.get("unapplied_id"):
            return ""
        return APPLY if row.get("candidates") else RESOLVE
    if row["status"] == InvoiceStatus.VOID:
        return VOID
    return PUSH


def _payment_rows(connection: QuickBooksConnection) -> list[dict]:
    """QuickBooks payments (or parts of them) that could not be put on one of our invoices: a person applies
    them to one of the customer's open invoices (`candidates`), or handles them in QuickBooks and marks them
    handled here."""
    from integrations.selectors import unapplied_payments
    from integrations.services.payments import apply_candidates

    return [
        {
            "kind": "unapplied_payment",
            "number": payment.customer_name or "",
            "invoice_id": None,
            "unapplied_id": payment.pk,
            "qbo_id": payment.qbo_payment_id,
            "status": "",
            "differences": [{"field": "amount", "label": "Amount", "ours": "—", "quickbooks": f"{payment.amount:.2f}"}],
            "text": payment.reason or "A payment in QuickBooks that is not applied to an invoice here",
            "candidates": apply_candidates(connection=connection, customer_qbo_id=payment.customer_qbo_id),
        }
        for payment in unapplied_payments(company=connection.company).filter(realm_id=connection.realm_id)
    ]


def reconciliation_check(*, connection: QuickBooksConnection, user=None) -> QuickBooksReview:
    """ "Check now": read QuickBooks' invoices once (paged), compare, and store the rows with their fixes."""
    from integrations.services.verification import books_check

    report = books_check(connection=connection)
    rows = []
    for books_row in report.rows:
        row = asdict(books_row)
        snapshot = row.pop("snapshot", None)
        if row["kind"] == "missing_here" and snapshot:
            row["snapshot"] = snapshot
        rows.append(row)
    rows.extend(_payment_rows(connection))
    for row in rows:
        row["fix"] = _fix_for(row)
        row["fixed"] = ""
    review = QuickBooksReview.objects.create(
        company_id=connection.company_id,
        realm_id=connection.realm_id,
        kind=ReviewKind.RECONCILIATION,
        checked_by=user if getattr(user, "pk", None) else None,
        reads=report.reads,
        rows=rows,
        summary={"compared": report.compared, "not_ours": report.not_ours, "payments": payments_available()},
    )
    logger.info(
        "qbo.reconciliation.checked company=%s rows=%s reads=%s", connection.company_id, len(rows), report.reads
    )
    return review


def latest_reconciliation(*, company) -> QuickBooksReview | None:
    from integrations import selectors

    connection = selectors.connection_for(company=company)
    if connection is None:
        return None
    return (
        QuickBooksReview.objects.filter(company=company, realm_id=connection.realm_id, kind=ReviewKind.RECONCILIATION)
        .order_by("-checked_at", "-id")
        .first()
    )


def reconciliation_row(*, company, review_id: int, index: int, realm_id: str) -> tuple[QuickBooksReview, dict]:
    """One stored row of this company's check of the QuickBooks company connected now; another company's check,
    a check of a QuickBooks company connected before (its ids mean nothing here), or no such row is a 404."""
    review = QuickBooksReview.objects.filter(
        company=company, realm_id=realm_id, pk=review_id, kind=ReviewKind.RECONCILIATION
    ).first()
    if review is None or not 0 <= index < len(review.rows):
        raise Http404("No such reconciliation row.")
    return review, review.rows[index]


def reconciliation_fix(
    *,
    connection: QuickBooksConnection,
    review_id: int,
    index: int,
    user,
    invoice_id: int | None = None,
    choice: str = "",
) -> str:
    """Carry out the row's fix: push again, void there, link, or record the payment here (apply an unapplied
    QuickBooks payment to `invoice_id`; `choice="resolve"` marks it handled instead). Returns what was done."""
    from integrations.outbox.enqueue import sync_enqueue, sync_now

    review, row = reconciliation_row(
        company=connection.company, review_id=review_id, index=index, realm_id=connection.realm_id
    )
    fix = row.get("fix") or ""
    if fix == APPLY and choice == RESOLVE:
        fix = RESOLVE
    if not fix:
        raise ValidationError("This difference has no one-click fix; see the guide for what to check.")
    if row.get("fixed"):
        raise ValidationError("Already done; press “Check now” to see where things stand.")
    invoice = None
    if row.get("invoice_id"):
        invoice = Invoice.objects.filter(company_id=connection.company_id, pk=row["invoice_id"]).first()
        if invoice is None:
            raise Http404("No such invoice.")
    applied = ""
    if fix == APPLY:  # QuickBooks is called first, outside the transaction that marks the row done
        from integrations.services.payments import unapplied_payment_apply

        if not invoice_id or invoice_id not in {c["invoice_id"] for c in row.get("candidates") or []}:
            raise ValidationError("Choose one of the customer's open invoices to apply this payment to.")
        applied = unapplied_payment_apply(
            connection=connection, unapplied_id=row["unapplied_id"], invoice_id=invoice_id, user=user
        )
    with transaction.atomic():
        if fix == PUSH:
            sync_now(invoice=invoice, user=user)
            done = f"Invoice {invoice.number} is being sent to QuickBooks again."
        elif fix == VOID:
            if invoice.status != InvoiceStatus.VOID:
                raise ValidationError(f"Invoice {invoice.number} is not void here; nothing to void there.")
            sync_enqueue(
                company_id=invoice.company_id,
                invoice_id=invoice.pk,
                operation=SyncOperation.VOID,
                trigger=SyncTrigger.MANUAL,
                user=user,
            )
            done = f"Invoice {invoice.number} is being voided in QuickBooks."
        elif fix == LINK:
            from integrations.models import QuickBooksLink
            from integrations.services.adoption import _link

            if QuickBooksLink.objects.filter(
                company_id=connection.company_id,
                realm_id=connection.realm_id,
                object_type=LinkType.INVOICE,
                object_id=invoice.pk,
            ).exists():
                raise ValidationError(
                    f"Invoice {invoice.number} is already linked to another QuickBooks invoice: void the extra one "
                    "in QuickBooks instead."
                )
            snapshot = row.get("snapshot") or {"Id": row["qbo_id"]}
            _link(connection, LinkType.INVOICE, invoice, {"state": "", "qbo_id": row["qbo_id"], "snapshot": snapshot})
            done = f"Invoice {invoice.number} is linked to QuickBooks invoice {row['qbo_id']}."
        elif fix == APPLY:
            done = applied
        else:
            from integrations.services.payments import unapplied_payment_resolve

            unapplied_payment_resolve(
                company=connection.company, unapplied_id=row["unapplied_id"], user=user, realm_id=connection.realm_id
            )
            done = f"QuickBooks payment {row['qbo_id']} is marked as handled."
        rows = list(review.rows)
        rows[index] = {**row, "fixed": timezone.now().isoformat()}
        QuickBooksReview.objects.filter(pk=review.pk).update(rows=rows)
    logger.info("qbo.reconciliation.fixed company=%s fix=%s qbo_id=%s", connection.company_id, fix, row.get("qbo_id"))
    return done


CSV_COLUMNS = ("kind", "number", "invoice_id", "qbo_id", "status", "field", "here", "quickbooks", "fix", "note")


def reconciliation_csv(review: QuickBooksReview | None) -> str:
    """The stored rows as CSV, one line per difference (formula-looking cells are quoted against CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in review.rows if review else []:
        base = [
            KIND_LABELS.get(row["kind"], row["kind"]),
            row["number"],
            row.get("invoice_id") or "",
            row["qbo_id"],
            row.get("status", ""),
        ]
        tail = [FIX_LABELS.get(row.get("fix") or "", ""), row.get("text", "")]
        for d in row.get("differences") or [None]:
            middle = [d["label"], d["ours"], d["quickbooks"]] if d else ["", "", ""]
            writer.writerow([spreadsheet_cell(v) for v in base + middle + tail])
    return out.getvalue()
