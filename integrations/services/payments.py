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

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from attune_qbo.billing.exceptions import PaymentRefused
from attune_qbo.billing.models import Invoice, InvoiceStatus, Payment, PaymentMethod, PaymentSource
from attune_qbo.billing.services import payment_external_change, payment_record
from attune_qbo.core.exceptions import ApplicationError
from integrations.books.preflight import PushRefused
from integrations.exceptions import QuickBooksError, StaleObject, Unavailable
from integrations.models import (
    DEFAULT_KEY,
    ConnectionStatus,
    LinkType,
    MappingKind,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksMapping,
    QuickBooksSyncLog,
    QuickBooksUnappliedPayment,
    SyncOperation,
    SyncStatus,
    UnappliedStatus,
)
from integrations.outbox.outcomes import PushResult
from integrations.quickbooks.client import QuickBooksClient
from integrations.quickbooks.online.push import payment_payload

logger = logging.getLogger("qbo.payments")

PAYMENT_MARKER_PATTERN = re.compile(r"\[attune:(\d+):p(\d+)\]")
ZERO = Decimal("0.00")
ENTITY_PAYMENT = "payment"


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


# --- out: payments recorded here → QuickBooks ------------------------------------------------------------------

WAIT_FOR_INVOICE_SECONDS = 60
WAITING_FOR_INVOICE = "waiting_invoice"


class PaymentWaiting(ApplicationError):
    """The payment's invoice (or its customer) is not in QuickBooks yet: the entry waits, it is not an attempt."""

    code = WAITING_FOR_INVOICE


def payment_enqueue(*, company_id: int, payment_id: int) -> QuickBooksSyncLog | None:
    """Queue the push of a payment recorded here (one live entry per payment, like invoices). Payments that came
    from QuickBooks are never sent back."""
    payment = Payment.objects.filter(pk=payment_id, company_id=company_id).select_related("invoice").first()
    if payment is None or payment.source != PaymentSource.LOCAL:
        return None
    connection = QuickBooksConnection.objects.filter(company_id=company_id).first()
    return _enqueue(connection, payment_id, payment.invoice.number, operation=SyncOperation.PUSH)


def payment_void_enqueue(*, company_id: int, payment_id: int, invoice_number: str) -> QuickBooksSyncLog | None:
    """Queue the void in QuickBooks of a payment deleted or refunded here (call it inside the removal's
    transaction). Nothing is queued when the payment never reached QuickBooks and no create of it is pending or
    unresolved; a push still waiting turns into the void (which then finds nothing to undo)."""
    connection = QuickBooksConnection.objects.filter(company_id=company_id).first()
    if connection is None or not connection.realm_id:
        return None
    reached = QuickBooksLink.objects.filter(
        company_id=company_id, realm_id=connection.realm_id, object_type=LinkType.PAYMENT, object_id=payment_id
    ).exists()
    in_flight = QuickBooksSyncLog.objects.filter(
        company_id=company_id, entity_type=ENTITY_PAYMENT, object_id=payment_id
    ).filter(Q(status__in=[SyncStatus.PENDING, SyncStatus.RUNNING]) | ~Q(create_request_id=""))
    if not reached and not in_flight.exists():
        return None
    return _enqueue(connection, payment_id, invoice_number, operation=SyncOperation.VOID)


def _enqueue(connection, payment_id: int, invoice_number: str, *, operation: str) -> QuickBooksSyncLog | None:
    if connection is None or not connection.realm_id:
        return None  # never connected: nothing to keep in step (while disconnected the entry waits, like invoices)
    if not connection.auto_sync:
        return None
    company_id = connection.company_id
    from integrations.outbox.enqueue import dispatch

    with transaction.atomic():
        live = QuickBooksSyncLog.objects.filter(
            company_id=company_id,
            entity_type=ENTITY_PAYMENT,
            object_id=payment_id,
            status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
        ).first()
        if live is not None:
            if operation == SyncOperation.VOID:
                if live.status == SyncStatus.RUNNING:
                    # Its create may be landing right now: its outcome queues a follower, which voids.
                    QuickBooksSyncLog.objects.filter(pk=live.pk).update(rerun_requested=True)
                else:
                    QuickBooksSyncLog.objects.filter(pk=live.pk).update(
                        operation=SyncOperation.VOID, next_attempt_at=timezone.now()
                    )
            return live
        previous = (
            QuickBooksSyncLog.objects.filter(
                company_id=company_id, entity_type=ENTITY_PAYMENT, object_id=payment_id, realm_id=connection.realm_id
            )
            .exclude(create_request_id="")
            .values_list("create_request_id", "payload")
            .first()
        )
        try:
            with transaction.atomic():
                entry = QuickBooksSyncLog.objects.create(
                    company_id=company_id,
                    realm_id=connection.realm_id,
                    entity_type=ENTITY_PAYMENT,
                    object_id=payment_id,
                    object_repr=invoice_number,
                    operation=operation,
                    create_request_id=previous[0] if previous else "",
                    payload=previous[1] if previous else None,  # what the unresolved create sent, for its replay
                    next_attempt_at=timezone.now(),
                    message="Waiting to be sent to QuickBooks.",
                )
        except IntegrityError:  # another transaction queued it a moment ago
            return QuickBooksSyncLog.objects.filter(
                company_id=company_id, entity_type=ENTITY_PAYMENT, object_id=payment_id
            ).first()
    if connection.status == ConnectionStatus.CONNECTED:
        transaction.on_commit(lambda: dispatch(entry.pk))
    return entry


def payment_push(*, entry: QuickBooksSyncLog, connection: QuickBooksConnection, client: QuickBooksClient) -> PushResult:
    """Create this payment in QuickBooks, applied to its invoice; then check the invoice's Balance there against
    ours and refresh our cached copy of the invoice (the payment bumped its SyncToken, QBO-REFERENCE §0 #9).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment
    """
    from integrations.quickbooks.online.push import _link, _save_link, create_request_id

    payment = (
        Payment.objects.select_related("invoice", "invoice__client")
        .filter(pk=entry.object_id, company_id=entry.company_id)
        .first()
    )
    if payment is None:
        return _void_removed_payment(entry, connection, client)
    if payment.source != PaymentSource.LOCAL:
        return PushResult(SyncStatus.SKIPPED, "This payment came from QuickBooks; it is not sent back.")
    invoice = payment.invoice
    existing = _link(connection, LinkType.PAYMENT, payment.pk)
    if existing is not None:
        return PushResult(
            SyncStatus.UP_TO_DATE,
            f"QuickBooks already has this payment (Id {existing.qbo_id}).",
            qbo_id=existing.qbo_id,
        )
    invoice_link = _link(connection, LinkType.INVOICE, invoice.pk)
    customer_link = _link(connection, LinkType.CLIENT, invoice.client_id)
    if invoice_link is None or customer_link is None:
        raise PaymentWaiting(
            f"Waiting for invoice {invoice.number} to reach QuickBooks; this payment goes right after it."
        )
    if invoice_link.voided:
        raise PushRefused(f"Invoice {invoice.number} is void in QuickBooks; it cannot take this payment.")
    mappings = _mappings(entry.company_id, connection.realm_id, payment.method)
    payload = payment_payload(
        payment,
        customer_id=customer_link.qbo_id,
        invoice_qbo_id=invoice_link.qbo_id,
        method_id=mappings.get(MappingKind.PAYMENT_METHOD),
        deposit_account_id=mappings.get(MappingKind.DEPOSIT_ACCOUNT),
        currency=invoice.currency if connection.multicurrency_enabled else None,
    )
    # Kept with the requestid: if the answer is lost and the payment is then removed here, the void replays this
    # create by its requestid to learn what QuickBooks made (the payment row is gone by then).
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(payload=dict(payload))
    try:
        created = client.create("Payment", dict(payload), request_id=create_request_id(entry))
    except Unavailable:
        raise  # outcome unknown: the same requestid goes next time (Intuit replays it if it landed)
    except QuickBooksError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 429):
            QuickBooksSyncLog.objects.filter(pk=entry.pk).update(create_request_id="")
        raise
    _save_link(connection, LinkType.PAYMENT, payment.pk, created, "", payment.updated_at)
    qbo_id = str(created.get("Id", ""))
    return _balance_checked(
        entry,
        connection,
        client,
        invoice=invoice,
        invoice_link=invoice_link,
        qbo_id=qbo_id,
        done=f"Created payment {qbo_id} in QuickBooks for invoice {invoice.number}",
        payload=dict(payload),
    )


def _balance_checked(
    entry, connection, client: QuickBooksClient, *, invoice, invoice_link, qbo_id: str, done: str, payload
) -> PushResult:
    """After a payment write: one read of the invoice. Its Balance proves the write was applied, and its
    SyncToken/body replace our cached copy, so the next invoice update does not start from a stale token."""
    current = client.read("Invoice", invoice_link.qbo_id)
    QuickBooksLink.objects.filter(pk=invoice_link.pk).update(
        sync_token=str(current.get("SyncToken", "")), qbo_snapshot=current, updated_at=timezone.now()
    )
    theirs = _decimal(current.get("Balance"))
    ours = balance_in_quickbooks(invoice, connection)
    if theirs != ours:
        logger.warning(
            "qbo.payment.drift company=%s payment=%s qbo_id=%s ours=%s theirs=%s",
            entry.company_id,
            entry.object_id,
            qbo_id,
            ours,
            theirs,
        )
        return PushResult(
            SyncStatus.DRIFT,
            f"{done}, but QuickBooks shows a balance of {theirs} where we expect {ours}.",
            qbo_id=qbo_id,
            payload=payload,
            drift={
                "differences": [
                    {"field": "Balance", "label": "Balance due", "ours": str(ours), "quickbooks": str(theirs)}
                ],
                "causes": [
                    "A payment or credit was applied to this invoice in QuickBooks and not here (or the reverse)."
                ],
            },
        )
    return PushResult(SyncStatus.SUCCEEDED, f"{done}; the balance due agrees ({ours}).", qbo_id=qbo_id, payload=payload)


def _void_removed_payment(entry: QuickBooksSyncLog, connection, client: QuickBooksClient) -> PushResult:
    """The payment was deleted or refunded here: void it in QuickBooks (a void keeps QuickBooks' audit trail,
    unlike a delete), then check the invoice's balance there against ours."""
    from integrations.quickbooks.online.push import _link, _save_link, create_request_id, request_id

    link = _link(connection, LinkType.PAYMENT, entry.object_id)
    if link is None and entry.create_request_id:
        if not entry.payload:
            raise PushRefused(
                "This payment was removed here while its creation in QuickBooks was unconfirmed, and what was sent "
                "is not known: look for a payment marked "
                f"[attune:{entry.company_id}:p{entry.object_id}] in QuickBooks and void it there."
            )
        # A create was sent and its answer lost: the same requestid makes Intuit answer the payment it made (or
        # make it now, which the void below cancels). Either way it is linked, then voided.
        replayed = client.create("Payment", dict(entry.payload), request_id=create_request_id(entry))
        link = _save_link(connection, LinkType.PAYMENT, entry.object_id, replayed, "")
    if link is None:
        return PushResult(
            SyncStatus.SKIPPED, "The payment was removed here before it reached QuickBooks; nothing to undo there."
        )
    if link.voided:
        return PushResult(SyncStatus.UP_TO_DATE, "Up to date: already void in QuickBooks.", qbo_id=link.qbo_id)
    try:
        voided = client.void(
            "Payment", entity_id=link.qbo_id, sync_token=link.sync_token, request_id=request_id(entry, "pv")
        )
    except StaleObject:  # changed in QuickBooks since we wrote it (5010): void the current version
        current = client.read("Payment", link.qbo_id)
        token = str(current.get("SyncToken", ""))
        voided = client.void(
            "Payment", entity_id=link.qbo_id, sync_token=token, request_id=request_id(entry, "pv", token)
        )
    QuickBooksLink.objects.filter(pk=link.pk).update(
        voided=True,
        sync_token=str(voided.get("SyncToken", link.sync_token)),
        qbo_snapshot=voided,
        updated_at=timezone.now(),
    )
    invoice_link = _invoice_link_of_payment(connection, link.qbo_snapshot or {})
    invoice = Invoice.objects.filter(pk=invoice_link.object_id).first() if invoice_link is not None else None
    done = f"Voided payment {link.qbo_id} in QuickBooks (it was deleted or refunded here)"
    if invoice is None:
        return PushResult(SyncStatus.SUCCEEDED, f"{done}.", qbo_id=link.qbo_id)
    return _balance_checked(
        entry,
        connection,
        client,
        invoice=invoice,
        invoice_link=invoice_link,
        qbo_id=link.qbo_id,
        done=done,
        payload=None,
    )


def _invoice_link_of_payment(connection, qbo_payment: dict) -> QuickBooksLink | None:
    """The link of the invoice (ours) a QuickBooks payment we pushed was applied to."""
    return QuickBooksLink.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_id,
        object_type=LinkType.INVOICE,
        qbo_id__in=list(_applied_to_invoices(qbo_payment)),
    ).first()


def _mappings(company_id: int, realm_id: str, method: str) -> dict[str, str]:
    """Payment method and deposit account for this payment: the mapping for its method, else the default."""
    rows = QuickBooksMapping.objects.filter(
        company_id=company_id,
        realm_id=realm_id,
        kind__in=[MappingKind.PAYMENT_METHOD, MappingKind.DEPOSIT_ACCOUNT],
        local_key__in=[method, DEFAULT_KEY],
    ).values_list("kind", "local_key", "qbo_id")
    found: dict[str, str] = {}
    for kind, _key, qbo_id in sorted(rows, key=lambda row: row[1] == DEFAULT_KEY, reverse=True):
        found[kind] = qbo_id  # the method's own mapping (sorted last) wins over the default
    return found


def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def balance_expected_in_quickbooks(invoice, connection) -> Decimal:
    """The balance QuickBooks should show for an invoice right now: ours, except that payments recorded here
    and still on their way (not sent yet, nothing wrong with them) are not counted. A payment whose push failed
    or was given up is counted: its absence there is a difference a person must see."""
    pushed = QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_id, object_type=LinkType.PAYMENT
    ).values("object_id")
    in_trouble = QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        entity_type=ENTITY_PAYMENT,
        status__in=[SyncStatus.FAILED, SyncStatus.DEAD],
    ).values("object_id")
    on_their_way = (
        Payment.objects.filter(invoice_id=invoice.pk, source=PaymentSource.LOCAL)
        .exclude(pk__in=pushed)
        .exclude(pk__in=in_trouble)
        .aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    return (invoice.total - invoice.amount_paid + on_their_way).quantize(Decimal("0.01"))


def balance_in_quickbooks(invoice, connection) -> Decimal:
    """Our balance due counting only payments QuickBooks has: those that came from it and those we pushed (a
    payment still waiting in the outbox is not a difference)."""
    pushed = QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_id, object_type=LinkType.PAYMENT
    ).values("object_id")
    in_quickbooks = Payment.objects.filter(invoice_id=invoice.pk).filter(
        Q(source=PaymentSource.QUICKBOOKS) | Q(pk__in=pushed)
    )
    paid = in_quickbooks.aggregate(total=Sum("amount"))["total"] or ZERO
    return (invoice.total - paid).quantize(Decimal("0.01"))


def payments_wake(*, company_id: int, invoice_id: int) -> int:
    """After an invoice reached QuickBooks: its waiting payments go now, and so do payments recorded here before
    it was ever sent (e.g. before QuickBooks was connected) when QuickBooks' copy is one we created (our marker:
    a copy typed into QuickBooks and adopted may hold those payments already, so those are left to a person on
    the reconciliation page)."""
    from integrations.outbox.enqueue import dispatch

    _enqueue_recorded_before(company_id, invoice_id)
    payment_ids = Payment.objects.filter(invoice_id=invoice_id, company_id=company_id).values("pk")
    waiting = QuickBooksSyncLog.objects.filter(
        company_id=company_id,
        entity_type=ENTITY_PAYMENT,
        object_id__in=payment_ids,
        status=SyncStatus.PENDING,
    )
    ids = list(waiting.values_list("pk", flat=True))
    waiting.update(next_attempt_at=timezone.now())
    for entry_id in ids:
        dispatch(entry_id)
    return len(ids)


def _enqueue_recorded_before(company_id: int, invoice_id: int) -> None:
    from integrations.quickbooks.online.render import is_ours

    connection = QuickBooksConnection.objects.filter(company_id=company_id).first()
    if connection is None or not connection.realm_id:
        return
    link = QuickBooksLink.objects.filter(
        company_id=company_id, realm_id=connection.realm_id, object_type=LinkType.INVOICE, object_id=invoice_id
    ).first()
    if link is None or not is_ours((link.qbo_snapshot or {}).get("PrivateNote"), company_id, invoice_id):
        return
    never_queued = (
        Payment.objects.filter(invoice_id=invoice_id, company_id=company_id, source=PaymentSource.LOCAL)
        .exclude(
            pk__in=QuickBooksSyncLog.objects.filter(company_id=company_id, entity_type=ENTITY_PAYMENT).values(
                "object_id"
            )
        )
        .values_list("pk", flat=True)
    )
    for payment_id in list(never_queued):
        with transaction.atomic():
            payment_enqueue(company_id=company_id, payment_id=payment_id)


def unapplied_payment_resolve(
    *, company, unapplied_id: int, user=None, realm_id: str = ""
) -> QuickBooksUnappliedPayment:
    """A person dealt with an unapplied QuickBooks payment (e.g. applied it in QuickBooks, or recorded it by
    hand): it leaves the open list. Scoped by company; raises `QuickBooksUnappliedPayment.DoesNotExist`."""
    row = QuickBooksUnappliedPayment.objects.get(
        company=company, pk=unapplied_id, **({"realm_id": realm_id} if realm_id else {})
    )
    if row.status == UnappliedStatus.OPEN:
        who = getattr(user, "username", "") if user is not None else ""
        row.status = UnappliedStatus.RESOLVED
        row.reason = (f"Marked resolved by {who}." if who else "Marked resolved.")[:300]
        row.save(update_fields=["status", "reason", "updated_at"])
        logger.info("qbo.payment.unapplied_resolved company=%s id=%s", company.pk, row.pk)
    return row


def apply_candidates(*, connection: QuickBooksConnection, customer_qbo_id: str, limit: int = 50) -> list[dict]:
    """Our open invoices an unapplied QuickBooks payment of this customer can go on: same QuickBooks customer,
    in QuickBooks (linked, not void), something still due. Oldest first."""
    if not customer_qbo_id:
        return []
    key = {"company_id": connection.company_id, "realm_id": connection.realm_id}
    clients = QuickBooksLink.objects.filter(**key, object_type=LinkType.CLIENT, qbo_id=customer_qbo_id).values(
        "object_id"
    )
    linked = QuickBooksLink.objects.filter(**key, object_type=LinkType.INVOICE, voided=False).values("object_id")
    invoices = (
        Invoice.objects.filter(
            company_id=connection.company_id, client_id__in=clients, pk__in=linked, status=InvoiceStatus.FINALIZED
        )
        .filter(total__gt=F("amount_paid"))
        .order_by("issue_date", "pk")[:limit]
    )
    return [
        {"invoice_id": invoice.pk, "number": invoice.number, "due": f"{invoice.total - invoice.amount_paid:.2f}"}
        for invoice in invoices
    ]


def unapplied_payment_apply(*, connection: QuickBooksConnection, unapplied_id: int, invoice_id: int, user=None) -> str:
    """Apply what is left unapplied of a QuickBooks payment to one of our invoices: the payment is changed in
    QuickBooks (one more line: QuickBooks keeps the books), then recorded here from QuickBooks' answer, exactly as
    if it had been applied there. At most what is due here and what is unapplied there. Returns what was done."""
    from integrations.quickbooks.online.push import _link
    from integrations.services.api import client_for

    row = QuickBooksUnappliedPayment.objects.get(
        company_id=connection.company_id, realm_id=connection.realm_id, pk=unapplied_id
    )
    if row.status != UnappliedStatus.OPEN:
        raise PushRefused("This payment is no longer waiting to be applied; press “Check now” to see it as it is.")
    invoice = Invoice.objects.filter(company_id=connection.company_id, pk=invoice_id).first()
    if invoice is None:
        raise Invoice.DoesNotExist("No such invoice.")
    invoice_link = _link(connection, LinkType.INVOICE, invoice.pk)
    if invoice.status != InvoiceStatus.FINALIZED or invoice.total <= invoice.amount_paid:
        raise PushRefused(f"Invoice {invoice.number} has nothing due; choose an open invoice.")
    if invoice_link is None or invoice_link.voided:
        raise PushRefused(f"Invoice {invoice.number} is not in QuickBooks yet; send it first, then apply the payment.")
    client = client_for(connection)
    current = client.read("Payment", row.qbo_payment_id)  # the current SyncToken, lines and unapplied amount
    customer_id = str((current.get("CustomerRef") or {}).get("value") or "")
    customer_link = _link(connection, LinkType.CLIENT, invoice.client_id)
    if customer_link is None or customer_link.qbo_id != customer_id:
        name = (current.get("CustomerRef") or {}).get("name") or customer_id
        raise PushRefused(
            f"This payment is from {name} in QuickBooks, and invoice {invoice.number} belongs to another customer."
        )
    unapplied = _money(current.get("UnappliedAmt"))
    if unapplied <= ZERO:
        raise PushRefused(
            "Nothing of this payment is unapplied in QuickBooks any more (it is applied to invoices there); "
            "change it in QuickBooks."
        )
    amount = min(unapplied, invoice.total - invoice.amount_paid)
    lines = [line for line in current.get("Line") or [] if isinstance(line, dict)]
    for line in lines:
        if any(str(linked.get("TxnId")) == invoice_link.qbo_id for linked in line.get("LinkedTxn") or []):
            line["Amount"] = float(_money(line.get("Amount")) + amount)  # one line per invoice in QuickBooks
            break
    else:
        lines.append({"Amount": float(amount), "LinkedTxn": [{"TxnId": invoice_link.qbo_id, "TxnType": "Invoice"}]})
    sync_token = str(current.get("SyncToken", ""))
    updated = client.sparse_update(
        "Payment",
        {"Id": row.qbo_payment_id, "SyncToken": sync_token, "Line": lines},
        request_id=f"attune-apply-{row.pk}-{sync_token}"[:50],
    )
    with transaction.atomic():
        outcome = payment_apply_from_quickbooks(
            connection=connection, qbo_payment_id=row.qbo_payment_id, qbo_payment=updated
        )
    who = getattr(user, "username", "") if user is not None else ""
    logger.info(
        "qbo.payment.unapplied_applied company=%s id=%s invoice=%s amount=%s by=%s",
        connection.company_id,
        row.pk,
        invoice.pk,
        amount,
        who,
    )
    return f"Applied {amount:.2f} of QuickBooks payment {row.qbo_payment_id} to invoice {invoice.number}. {outcome}"


def payments_sweep(*, limit: int = 500) -> int:
    """Local payments of invoices that are in QuickBooks but that were never queued (the enqueue runs after
    billing's commit, so a crash in between could skip it): queue them. Runs with the sync sweeper."""
    from django.db.models import Exists, OuterRef

    connected = QuickBooksConnection.objects.filter(status=ConnectionStatus.CONNECTED)
    missing = (
        Payment.objects.filter(source=PaymentSource.LOCAL, company__quickbooks_connection__in=connected)
        .filter(
            Exists(
                QuickBooksLink.objects.filter(
                    company_id=OuterRef("company_id"),
                    realm_id=OuterRef("company__quickbooks_connection__realm_id"),
                    object_type=LinkType.INVOICE,
                    object_id=OuterRef("invoice_id"),
                    created_at__lte=OuterRef("created_at"),
                )
            )
        )
        .exclude(
            Exists(
                QuickBooksSyncLog.objects.filter(
                    company_id=OuterRef("company_id"), entity_type=ENTITY_PAYMENT, object_id=OuterRef("pk")
                )
            )
        )
        .values_list("company_id", "pk")[:limit]
    )
    queued = 0
    for company_id, payment_id in list(missing):
        with transaction.atomic():
            if payment_enqueue(company_id=company_id, payment_id=payment_id) is not None:
                queued += 1
    if queued:
        logger.info("qbo.payment.sweep queued=%s", queued)
    return queued
