"""QuickBooks Desktop: connecting a company file (Web Connector password, `.qwc`), the Desktop side of the
shared outbox, and the Web Connector session (docs/developer/quickbooks-desktop.md).

The outbox is the one QuickBooks Online uses: a `QuickBooksSyncLog` row per invoice push, with its attempts,
back-off and dead-letter. Rows meant for Desktop carry the company file's realm key (`FileID` hex) as `realm_id`
and are never dispatched to the Online worker (no Online connection is active for the company; the sweeper
only dispatches rows of connected Online companies, and revives only rows with a lease, which Desktop rows
never have). The Web Connector's `sendRequestXML` claims them instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from attune_qbo.audit.services import audit_record
from attune_qbo.billing.models import Client, Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentSource
from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.permissions import is_company_admin
from integrations.books.builder import BooksMappings, books_invoice, books_payment
from integrations.exceptions import NotCompanyAdmin, NotConnected
from integrations.models import (
    ConnectionStatus,
    DesktopRequestKind,
    DesktopRequestStatus,
    DesktopSessionStatus,
    DesktopStatus,
    LinkType,
    QuickBooksConnection,
    QuickBooksDesktopConnection,
    QuickBooksDesktopRequest,
    QuickBooksDesktopSession,
    QuickBooksLink,
    QuickBooksMapping,
    QuickBooksSyncLog,
    SyncOperation,
    SyncStatus,
    SyncTrigger,
)
from integrations.outbox.enqueue import _live_entry  # the outbox's one-live-entry rule, shared with Online
from integrations.outbox.outcomes import finish, retry_or_give_up
from integrations.quickbooks.desktop import constants as c
from integrations.quickbooks.desktop import qbxml
from integrations.quickbooks.desktop.exceptions import DesktopProtocolError, OtherQuickBooksActive
from integrations.quickbooks.desktop.mapping import (
    PreflightProblem,
    customer_name,
    desktop_customer,
    invoice_tax,
    mappings_for,
    preflight,
)
from integrations.quickbooks.desktop.responses import Answer, Ret, parse_response

logger = logging.getLogger("qbd.sync")

SERVER_VERSION = "attune-qbo Web Connector endpoint 1.0"
PAYMENT_POLL_MINUTES = 10  # a run with nothing to send still reads payments back this often
MAX_MOD_RETRIES = 3  # InvoiceMod answered 3200 (EditSequence stale) this often in a row: a person looks
WAITING_MESSAGE = "Waiting for the Web Connector's next run (QuickBooks Desktop)."
ENTITY_INVOICE = "invoice"
ENTITY_PAYMENT = "payment"  # the outbox's entity_type of payments (the same as QuickBooks Online's)
PAYMENT_WAIT_SECONDS = 60 * 60  # a payment whose invoice is not in QuickBooks Desktop yet looks again this late
QUERY_KINDS = {
    DesktopRequestKind.ITEM_QUERY,
    DesktopRequestKind.CUSTOMER_QUERY,
    DesktopRequestKind.INVOICE_QUERY,
    DesktopRequestKind.RECEIVE_PAYMENT_QUERY,
}
ONLINE_ACTIVE = (ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT)


# --- connecting ------------------------------------------------------------------------------------------


def desktop_connection_for(*, company) -> QuickBooksDesktopConnection | None:
    return QuickBooksDesktopConnection.objects.filter(company=company).first()


def desktop_active(*, company_id: int) -> QuickBooksDesktopConnection | None:
    """The company's Desktop connection if it syncs to QuickBooks Desktop now."""
    return QuickBooksDesktopConnection.objects.filter(company_id=company_id, status=DesktopStatus.ACTIVE).first()


def refuse_if_desktop_active(*, company_id: int) -> None:
    """QuickBooks Online's connect calls this: a company syncs to one QuickBooks at a time."""
    if desktop_active(company_id=company_id) is not None:
        raise OtherQuickBooksActive(
            "This company sends its invoices to QuickBooks Desktop through the Web Connector. A company syncs to "
            "one QuickBooks at a time: disconnect QuickBooks Desktop first (Settings → Integrations → QuickBooks "
            "Desktop), then connect QuickBooks Online."
        )


def _new_password() -> str:
    return secrets.token_urlsafe(18)


def desktop_connect(*, company, user) -> tuple[QuickBooksDesktopConnection, str]:
    """Start (or resume) syncing to QuickBooks Desktop. Returns the connection and the Web Connector password,
    which is shown once and stored only hashed. Refused while QuickBooks Online is connected."""
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    if QuickBooksConnection.objects.filter(company=company, status__in=ONLINE_ACTIVE).exists():
        raise OtherQuickBooksActive(
            "This company sends its invoices to QuickBooks Online. A company syncs to one QuickBooks at a time: "
            "disconnect QuickBooks Online first (Settings → Integrations → QuickBooks Online), then connect "
            "QuickBooks Desktop."
        )
    password = _new_password()
    now = timezone.now()
    with transaction.atomic():
        connection = QuickBooksDesktopConnection.objects.select_for_update().filter(company=company).first()
        if connection is None:
            connection = QuickBooksDesktopConnection.objects.create(
                company=company,
                username=f"attune-{company.pk}",
                password_hash=make_password(password),
                password_set_at=now,
                owner_id=uuid.uuid4(),
                file_id=uuid.uuid4(),
                connected_by=user,
                connected_at=now,
            )
        else:
            # The same company file again: FileID and OwnerID stay (QuickBooks keeps them in the file).
            connection.status = DesktopStatus.ACTIVE
            connection.password_hash = make_password(password)
            connection.password_set_at = now
            connection.connected_by, connection.connected_at, connection.disconnected_at = user, now, None
            connection.last_error = ""
            connection.save()
        audit_record(action="quickbooks_desktop.connect", company=company, actor=user, target=connection)
    logger.info("qbd.connection.connect company=%s", company.pk)
    return connection, password


def desktop_new_password(*, company, user) -> str:
    """A new Web Connector password (the old one stops working at once). Shown once, stored hashed."""
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    password = _new_password()
    with transaction.atomic():
        connection = QuickBooksDesktopConnection.objects.select_for_update().filter(company=company).first()
        if connection is None or not connection.is_active:
            raise NotConnected("QuickBooks Desktop is not connected for this company.")
        connection.password_hash = make_password(password)
        connection.password_set_at = timezone.now()
        connection.save(update_fields=["password_hash", "password_set_at", "updated_at"])
        audit_record(action="quickbooks_desktop.new_password", company=company, actor=user, target=connection)
    return password


def desktop_disconnect(*, company, user) -> None:
    """Stop syncing to QuickBooks Desktop: the Web Connector is refused from now on, open sessions end. Links,
    the queue and the sync history stay, so reconnecting the same company file carries on where it stopped."""
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    now = timezone.now()
    with transaction.atomic():
        connection = QuickBooksDesktopConnection.objects.select_for_update().filter(company=company).first()
        if connection is None or not connection.is_active:
            raise NotConnected("QuickBooks Desktop is not connected for this company.")
        connection.status, connection.disconnected_at = DesktopStatus.DISCONNECTED, now
        connection.save(update_fields=["status", "disconnected_at", "updated_at"])
        connection.sessions.filter(status=DesktopSessionStatus.OPEN).update(
            status=DesktopSessionStatus.CLOSED, closed_at=now, last_error="Disconnected by an admin."
        )
        # Nothing stays "running" for a company file nobody talks to (a running row would block the invoice's
        # next entry, e.g. for QuickBooks Online). Requests already sent stay: a reconnect resolves them first.
        QuickBooksSyncLog.objects.filter(
            company=company, realm_id=connection.realm_key, status=SyncStatus.RUNNING
        ).update(
            status=SyncStatus.PENDING,
            next_attempt_at=now,
            message="Waiting: QuickBooks Desktop was disconnected. Nothing is lost.",
            updated_at=now,
        )
        connection.requests.filter(status=DesktopRequestStatus.QUEUED).update(
            status=DesktopRequestStatus.CANCELLED, status_message="Cancelled: QuickBooks Desktop was disconnected."
        )
        audit_record(action="quickbooks_desktop.disconnect", company=company, actor=user, target=connection)
    logger.info("qbd.connection.disconnect company=%s", company.pk)


def _guid(value: uuid.UUID) -> str:
    return "{" + str(value).upper() + "}"


def qwc_document(*, connection: QuickBooksDesktopConnection, app_url: str, support_url: str) -> bytes:
    """The `.qwc` file the Web Connector imports (QBO-REFERENCE §6.2). It holds no password: the person types
    the one shown on the settings page into the Web Connector."""
    root = ET.Element("QBWCXML")
    company_name = qbxml.clean_name(connection.company.name, 60)
    for name, value in (
        ("AppName", f"attune – {company_name}"),
        ("AppID", ""),
        ("AppURL", app_url),
        ("AppDescription", f"Sends {company_name}'s invoices from attune to QuickBooks and reads payments back."),
        ("AppSupport", support_url),
        ("UserName", connection.username),
        ("OwnerID", _guid(connection.owner_id)),
        ("FileID", _guid(connection.file_id)),
        ("QBType", "QBFS"),
    ):
        ET.SubElement(root, name).text = value
    scheduler = ET.SubElement(root, "Scheduler")
    ET.SubElement(scheduler, "RunEveryNMinutes").text = "15"
    ET.SubElement(root, "IsReadOnly").text = "false"
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


# --- the outbox, Desktop side ----------------------------------------------------------------------------


def desktop_enqueue(
    *,
    company_id: int,
    invoice_id: int,
    operation: str = SyncOperation.PUSH,
    trigger: str = SyncTrigger.AUTO,
    user=None,
) -> QuickBooksSyncLog | None:
    """Upsert the live outbox entry of an invoice for QuickBooks Desktop (inside the change's transaction).

    Same rules as `sync_enqueue` for Online: one live entry per invoice, automatic entries wait out the debounce,
    an edit while the entry is being sent marks it for a rerun. The entry waits for the Web Connector's next run.
    """
    connection = desktop_active(company_id=company_id)
    if connection is None:
        if trigger != SyncTrigger.AUTO:
            raise NotConnected("QuickBooks Desktop is not connected for this company.")
        return None
    now = timezone.now()
    manual = trigger != SyncTrigger.AUTO
    due = now if manual else now + dt.timedelta(seconds=float(settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS))
    person = user if user is not None and getattr(user, "is_authenticated", False) else None
    number = Invoice.objects.filter(pk=invoice_id).values_list("number", flat=True).first() or ""
    with transaction.atomic():
        entry = _live_entry(company_id, invoice_id)
        if entry is None:
            try:
                with transaction.atomic():
                    return QuickBooksSyncLog.objects.create(
                        company_id=company_id,
                        realm_id=connection.realm_key,
                        entity_type="invoice",
                        object_id=invoice_id,
                        object_repr=number,
                        operation=operation,
                        trigger=trigger,
                        triggered_by=person,
                        next_attempt_at=due,
                        message=WAITING_MESSAGE,
                    )
            except IntegrityError:
                entry = _live_entry(company_id, invoice_id)
                if entry is None:
                    raise
        if entry.status == SyncStatus.RUNNING:
            QuickBooksSyncLog.objects.filter(pk=entry.pk).update(rerun_requested=True, updated_at=now)
            entry.rerun_requested = True
            return entry
        if operation == SyncOperation.VOID:
            entry.operation = SyncOperation.VOID
        if manual:
            entry.trigger, entry.triggered_by, entry.next_attempt_at = trigger, person or entry.triggered_by, now
        elif entry.attempts == 0:
            entry.next_attempt_at = due
        entry.realm_id = connection.realm_key  # an entry left waiting for QuickBooks Online comes here now
        entry.object_repr = number or entry.object_repr
        entry.message = WAITING_MESSAGE
        entry.save()
    return entry


def desktop_mappings_save(*, company, changes, user) -> tuple[int, int]:
    """Save the Desktop mapping page: each change names one of our things' Desktop FullName ("" clears it). The
    rows are `QuickBooksMapping`s under the company file's realm key with an empty `qbo_id` (Desktop refers by
    name). Returns (saved, cleared). The form checked the names (desktop/forms.py)."""
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    connection = desktop_active(company_id=company.pk)
    if connection is None:
        raise NotConnected("QuickBooks Desktop is not connected for this company.")
    saved = cleared = 0
    now = timezone.now()
    with transaction.atomic():
        for change in changes:
            key = {"company": company, "realm_id": connection.realm_key, "kind": change.kind}
            key["local_key"] = change.local_key
            if not change.name:
                cleared += QuickBooksMapping.objects.filter(**key).delete()[0]
                continue
            QuickBooksMapping.objects.update_or_create(
                **key, defaults={"qbo_id": "", "qbo_name": change.name, "confirmed_at": now}
            )
            saved += 1
        if saved or cleared:
            audit_record(
                action="quickbooks_desktop.mapping",
                company=company,
                actor=user,
                target=connection,
                details={"saved": saved, "cleared": cleared},
            )
    logger.info("qbd.mapping.saved company=%s saved=%s cleared=%s", company.pk, saved, cleared)
    return saved, cleared


def blocked_by_names(*, connection: QuickBooksDesktopConnection):
    """Failed Desktop entries that stopped before sending (a name QuickBooks Desktop lacks) or on a 3140 invalid
    reference: the ones a new mapping may unblock."""
    return QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        status__in=[SyncStatus.FAILED, SyncStatus.DEAD],
        error_code__in=["preflight", c.STATUS_INVALID_REFERENCE],
    )


def desktop_retry_blocked(*, company, user) -> int:
    """Retry every entry `blocked_by_names` (the mapping page's button). Returns how many were queued."""
    connection = desktop_active(company_id=company.pk)
    if connection is None:
        raise NotConnected("QuickBooks Desktop is not connected for this company.")
    queued = 0
    for entry in list(blocked_by_names(connection=connection)[:500]):
        latest = (
            QuickBooksSyncLog.objects.filter(company=company, entity_type=entry.entity_type, object_id=entry.object_id)
            .order_by("-created_at", "-id")
            .first()
        )
        if latest is not None and latest.pk == entry.pk:  # only the object's latest outcome is retried
            desktop_retry(company=company, entry_id=entry.pk, user=user)
            queued += 1
    return queued


def invoices_not_in_desktop(*, connection: QuickBooksDesktopConnection):
    """Finalized or paid invoices this company file has not got and that are not on their way (an invoice that
    went and failed shows in the history with its Retry button instead)."""
    linked = QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_key, object_type=LinkType.INVOICE
    ).values("object_id")
    tried = QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        entity_type="invoice",
        status__in=[SyncStatus.PENDING, SyncStatus.RUNNING, SyncStatus.FAILED, SyncStatus.DEAD],
    ).values("object_id")
    return (
        Invoice.objects.filter(
            company_id=connection.company_id, status__in=[InvoiceStatus.FINALIZED, InvoiceStatus.PAID]
        )
        .exclude(pk__in=linked)
        .exclude(pk__in=tried)
    )


def desktop_send_all(*, company, user) -> int:
    """Queue every finalized invoice QuickBooks Desktop has not got yet. Returns how many."""
    connection = desktop_active(company_id=company.pk)
    if connection is None:
        raise NotConnected("QuickBooks Desktop is not connected for this company.")
    ids = list(invoices_not_in_desktop(connection=connection).values_list("pk", flat=True))
    with transaction.atomic():
        for invoice_id in ids:
            desktop_enqueue(company_id=company.pk, invoice_id=invoice_id, trigger=SyncTrigger.MANUAL, user=user)
    return len(ids)


def desktop_retry(*, company, entry_id: int, user) -> QuickBooksSyncLog:
    """A person retries a failed or dead Desktop entry: a new entry, due at the next run."""
    connection = desktop_active(company_id=company.pk)
    if connection is None:
        raise NotConnected("QuickBooks Desktop is not connected for this company.")
    entry = QuickBooksSyncLog.objects.filter(company=company, realm_id=connection.realm_key, pk=entry_id).first()
    if entry is None:
        from django.http import Http404

        raise Http404("No such entry.")
    if not entry.can_retry:
        raise ApplicationError("Only a failed entry can be retried.")
    with transaction.atomic():
        if entry.entity_type == ENTITY_PAYMENT:
            return desktop_payment_enqueue(
                company_id=company.pk,
                payment_id=entry.object_id,
                operation=entry.operation,
                invoice_number=entry.object_repr,
                trigger=SyncTrigger.RETRY,
                user=user,
            )
        return desktop_enqueue(
            company_id=company.pk,
            invoice_id=entry.object_id,
            operation=entry.operation,
            trigger=SyncTrigger.RETRY,
            user=user,
        )


# --- payments recorded here → QuickBooks Desktop -----------------------------------------------------------


def desktop_payment_enqueue(
    *,
    company_id: int,
    payment_id: int,
    operation: str = SyncOperation.PUSH,
    invoice_number: str = "",
    trigger: str = SyncTrigger.AUTO,
    user=None,
) -> QuickBooksSyncLog | None:
    """Queue a payment recorded here for QuickBooks Desktop (`ReceivePaymentAdd`), or, with `operation=VOID`, the
    removal there of a payment deleted or refunded here (`TxnDel`). Call it inside the change's transaction.

    One live entry per payment, like invoices. Payments that came from QuickBooks are never sent back; a removal
    is queued only when the payment reached the company file or is on its way there."""
    connection = desktop_active(company_id=company_id)
    if connection is None:
        return None
    if operation == SyncOperation.PUSH:
        payment = Payment.objects.filter(pk=payment_id, company_id=company_id).select_related("invoice").first()
        if payment is None or payment.source != PaymentSource.LOCAL:
            return None
        invoice_number = payment.invoice.number
    else:
        reached = _link(connection, LinkType.PAYMENT, payment_id) is not None
        on_its_way = connection.requests.filter(
            object_type=LinkType.PAYMENT,
            object_id=payment_id,
            kind=DesktopRequestKind.RECEIVE_PAYMENT_ADD,
            status__in=[DesktopRequestStatus.QUEUED, DesktopRequestStatus.SENT],
        ).exists()
        live_push = QuickBooksSyncLog.objects.filter(
            company_id=company_id,
            entity_type=ENTITY_PAYMENT,
            object_id=payment_id,
            status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
        ).exists()
        if not (reached or on_its_way or live_push):
            return None
    now = timezone.now()
    person = user if user is not None and getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        live = (
            QuickBooksSyncLog.objects.select_for_update()
            .filter(
                company_id=company_id,
                entity_type=ENTITY_PAYMENT,
                object_id=payment_id,
                status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
            )
            .first()
        )
        if live is not None:
            if live.status == SyncStatus.RUNNING:
                # Its add may be landing right now: the outcome queues a follower, which deletes it (the payment
                # row is gone by then, so the follower plans a removal).
                QuickBooksSyncLog.objects.filter(pk=live.pk).update(rerun_requested=True, updated_at=now)
            elif operation == SyncOperation.VOID:
                QuickBooksSyncLog.objects.filter(pk=live.pk).update(
                    operation=SyncOperation.VOID, next_attempt_at=now, realm_id=connection.realm_key, updated_at=now
                )
            return live
        try:
            with transaction.atomic():
                return QuickBooksSyncLog.objects.create(
                    company_id=company_id,
                    realm_id=connection.realm_key,
                    entity_type=ENTITY_PAYMENT,
                    object_id=payment_id,
                    object_repr=invoice_number[:100],
                    operation=operation,
                    trigger=trigger,
                    triggered_by=person,
                    next_attempt_at=now,
                    message=WAITING_MESSAGE,
                )
        except IntegrityError:  # queued by another transaction a moment ago
            return QuickBooksSyncLog.objects.filter(
                company_id=company_id, entity_type=ENTITY_PAYMENT, object_id=payment_id
            ).first()


def _plan_payment(connection: QuickBooksDesktopConnection, entry: QuickBooksSyncLog) -> None:
    """Queue what brings QuickBooks Desktop up to this payment: `ReceivePaymentAdd` once its invoice is there,
    `TxnDel` once it is removed here, or nothing."""
    link = _link(connection, LinkType.PAYMENT, entry.object_id)
    payment = (
        Payment.objects.select_related("invoice", "invoice__client")
        .filter(pk=entry.object_id, company_id=connection.company_id)
        .first()
    )
    if entry.operation == SyncOperation.VOID or payment is None:
        if link is None:
            _finish_entry(
                entry,
                SyncStatus.SKIPPED,
                "The payment was removed here before it reached QuickBooks Desktop; nothing to undo there.",
            )
        elif link.voided:
            _finish_entry(entry, SyncStatus.UP_TO_DATE, "Already deleted in QuickBooks Desktop.", qbo_id=link.qbo_id)
        else:
            _queue(
                connection,
                DesktopRequestKind.TXN_DEL,
                lambda request_id: qbxml.receive_payment_del(request_id, txn_id=link.qbo_id),
                entry=entry,
                object_type=LinkType.PAYMENT,
                object_id=entry.object_id,
            )
        return
    if payment.source != PaymentSource.LOCAL:
        _finish_entry(entry, SyncStatus.SKIPPED, "This payment came from QuickBooks Desktop; it is not sent back.")
        return
    if link is not None and not link.voided:
        _finish_entry(
            entry,
            SyncStatus.UP_TO_DATE,
            f"QuickBooks Desktop already has this payment (TxnID {link.qbo_id}).",
            qbo_id=link.qbo_id,
        )
        return
    invoice = payment.invoice
    invoice_link = _link(connection, LinkType.INVOICE, invoice.pk)
    customer_link = _link(connection, LinkType.CLIENT, invoice.client_id)
    if invoice_link is None or customer_link is None:
        _finish_entry(
            entry,
            SyncStatus.PENDING,
            f"Waiting for invoice {invoice.number} to reach QuickBooks Desktop; this payment goes right after it.",
            code="waiting_invoice",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=PAYMENT_WAIT_SECONDS),
        )
        # Waiting is not an attempt: the claim counted one.
        QuickBooksSyncLog.objects.filter(pk=entry.pk, attempts__gt=0).update(attempts=F("attempts") - 1)
        return
    if invoice_link.voided:
        _finish_entry(
            entry,
            SyncStatus.FAILED,
            f"Invoice {invoice.number} is void in QuickBooks Desktop; it cannot take this payment.",
            code="invoice_void",
        )
        return
    document = books_payment(payment, BooksMappings())

    def build(request_id: str) -> ET.Element:
        return qbxml.receive_payment_add(
            document,
            request_id,
            customer_list_id=customer_link.qbo_id,
            invoice_txn_id=invoice_link.qbo_id,
            company_id=connection.company_id,
        )

    _queue(
        connection,
        DesktopRequestKind.RECEIVE_PAYMENT_ADD,
        build,
        entry=entry,
        object_type=LinkType.PAYMENT,
        object_id=payment.pk,
        source_updated_at=payment.updated_at,
    )


def _follow_invoices(connection: QuickBooksDesktopConnection, reached: dict[int, bool]) -> None:
    """Invoices that reached QuickBooks Desktop in this message (id → we added it): their payments waiting for
    them go now. Where we added the invoice (so Desktop holds it at its full amount), payments recorded here
    before it was sent are queued too. One query when none of them has a payment."""
    if not reached:
        return
    payments = list(
        Payment.objects.filter(invoice_id__in=list(reached), company_id=connection.company_id).values_list(
            "pk", "invoice_id", "source"
        )
    )
    if not payments:
        return
    QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        entity_type=ENTITY_PAYMENT,
        object_id__in=[pk for pk, _, _ in payments],
        status=SyncStatus.PENDING,
    ).update(next_attempt_at=timezone.now())
    queued = set(
        QuickBooksSyncLog.objects.filter(
            company_id=connection.company_id, realm_id=connection.realm_key, entity_type=ENTITY_PAYMENT
        ).values_list("object_id", flat=True)
    )
    for pk, invoice_id, source in payments:
        if reached[invoice_id] and source == PaymentSource.LOCAL and pk not in queued:
            desktop_payment_enqueue(company_id=connection.company_id, payment_id=pk)


def _reached(connection: QuickBooksDesktopConnection) -> dict[int, bool]:
    """The invoices that reached QuickBooks Desktop while one response is applied (kept on the locked connection
    object for that response only; `_follow_invoices` reads it once at the end)."""
    if not hasattr(connection, "_reached_invoices"):
        connection._reached_invoices = {}
    return connection._reached_invoices


def _apply_payment(connection, entry, request: QuickBooksDesktopRequest, answer: Answer, found: bool) -> None:
    if request.kind == DesktopRequestKind.RECEIVE_PAYMENT_ADD:
        if found:
            ret = answer.rets[0]
            _save_link(connection, LinkType.PAYMENT, request.object_id, ret, request)
            _finish_entry(
                entry,
                SyncStatus.SUCCEEDED,
                f"Created payment {ret.txn_id} in QuickBooks Desktop, applied to invoice {entry.object_repr}.",
                qbo_id=ret.txn_id,
                payload=_answer_payload(request, answer),
            )
            return
        _finish_entry(
            entry,
            SyncStatus.FAILED,
            _refusal(answer, request),
            code=answer.status_code or "refused",
            payload=_answer_payload(request, answer),
        )
        logger.warning("qbd.payment.refused company=%s code=%s", connection.company_id, answer.status_code)
        return
    if request.kind == DesktopRequestKind.TXN_DEL:
        gone = answer.status_code == c.STATUS_NOT_FOUND
        if answer.ok or gone:
            QuickBooksLink.objects.filter(
                company_id=connection.company_id,
                realm_id=connection.realm_key,
                object_type=LinkType.PAYMENT,
                object_id=request.object_id,
            ).update(voided=True, updated_at=timezone.now())
            link = _link(connection, LinkType.PAYMENT, request.object_id)
            qbo_id = link.qbo_id if link else ""
            if gone:
                _finish_entry(entry, SyncStatus.UP_TO_DATE, "It was no longer in QuickBooks Desktop.", qbo_id=qbo_id)
            else:
                _finish_entry(
                    entry,
                    SyncStatus.SUCCEEDED,
                    f"Deleted payment {qbo_id} in QuickBooks Desktop (it was deleted or refunded here).",
                    qbo_id=qbo_id,
                )
            return
        _finish_entry(entry, SyncStatus.FAILED, _refusal(answer, request), code=answer.status_code or "refused")
        return
    # A "resolve" ReceivePaymentQuery: did the ReceivePaymentAdd whose answer was lost land? Its Memo says.
    marker = qbxml.payment_marker(connection.company_id, request.object_id)
    ours = next((ret for ret in answer.rets if marker in ret.memo), None) if found else None
    if ours is not None:
        _save_link(connection, LinkType.PAYMENT, request.object_id, ours)
        still_here = Payment.objects.filter(pk=request.object_id, company_id=connection.company_id).exists()
        if entry.operation == SyncOperation.PUSH and still_here:
            _finish_entry(
                entry,
                SyncStatus.SUCCEEDED,
                f"In QuickBooks Desktop (TxnID {ours.txn_id}); the earlier run's answer was lost, so it was looked up "
                "instead of being sent again.",
                qbo_id=ours.txn_id,
            )
            return
    _plan_payment(connection, entry)


def _resolve_payment_add(connection, entry, request: QuickBooksDesktopRequest) -> None:
    """A ReceivePaymentAdd sent without an answer: look for it (customer and date from what was sent) before
    adding it again; Desktop has no idempotency key, the Memo marker stands in for one."""
    from integrations.quickbooks.desktop.xmlsafe import child, child_text, parse_xml

    try:
        add = child(parse_xml(request.qbxml, what="the request sent"), "ReceivePaymentAdd")
        customer = child_text(child(add, "CustomerRef"), "ListID")
        txn_date = dt.date.fromisoformat(child_text(add, "TxnDate"))
    except (DesktopProtocolError, ValueError):
        _plan_payment(connection, entry)
        return
    _queue(
        connection,
        DesktopRequestKind.RECEIVE_PAYMENT_QUERY,
        lambda request_id: qbxml.receive_payment_find(request_id, customer_list_id=customer, txn_date=txn_date),
        entry=entry,
        object_type=LinkType.PAYMENT,
        object_id=request.object_id,
        purpose="resolve",
    )


FOLLOWER_MESSAGE = "Changed while the last version was being sent; the latest version goes next run."


def _finish_entry(
    entry: QuickBooksSyncLog,
    status: str,
    message: str,
    *,
    code: str = "",
    qbo_id: str = "",
    payload: dict | None = None,
    next_attempt_at: dt.datetime | None = None,
) -> None:
    """Record an entry's outcome through the outbox shared with Online (it is RUNNING, claimed by a Web Connector
    session). An edit that came meanwhile gets a follower entry that waits for the next run: Desktop pulls its
    work, so no worker task is queued for it."""
    finish(
        entry,
        status,
        message,
        error_code=code,
        qbo_id=qbo_id,
        payload=payload,
        next_attempt_at=next_attempt_at,
        follower_message=FOLLOWER_MESSAGE,
        dispatch_follower=False,
    )


def _retry_entry(entry: QuickBooksSyncLog, reason: str, *, code: str) -> None:
    """A failure that may pass (QuickBooks busy, file not open): the outbox's back-off, then the dead-letter."""
    entry.refresh_from_db(fields=["attempts"])
    retry_or_give_up(
        entry,
        reason=reason,
        code=code,
        again="trying again in a later Web Connector run",
        follower_message=FOLLOWER_MESSAGE,
        dispatch_follower=False,
    )


# --- the Web Connector session -----------------------------------------------------------------------------


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def _open_session(ticket: str) -> QuickBooksDesktopSession | None:
    if not ticket or len(ticket) > 100:
        return None
    return (
        QuickBooksDesktopSession.objects.select_related("connection")
        .filter(
            ticket_hash=_hash(ticket),
            status=DesktopSessionStatus.OPEN,
            expires_at__gt=timezone.now(),
            connection__status=DesktopStatus.ACTIVE,
        )
        .first()
    )


def qbwc_server_version() -> str:
    return SERVER_VERSION


def qbwc_client_version(version: str) -> str:
    """Every Web Connector version that speaks this protocol is fine: "" means go on."""
    logger.info("qbd.client_version version=%s", version[:40])
    return ""


_DUMMY_HASH: list[str] = []


def qbwc_authenticate(*, username: str, password: str) -> list[str]:
    """[ticket, ""] to go on with the open company file, [ticket, "none"] when there is nothing to do, or
    [unused ticket, "nvu"] for a wrong user name or password (the same work is done either way)."""
    connection = QuickBooksDesktopConnection.objects.filter(username=username[:64]).select_related("company").first()
    if connection is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(make_password(_new_password()))
        check_password(password, _DUMMY_HASH[0])  # as slow as a real check: no user-name probing by timing
        valid = False
    else:
        valid = check_password(password, connection.password_hash) and connection.is_active
    if not valid:
        logger.warning("qbd.auth.refused known_user=%s", connection is not None)
        return [str(uuid.uuid4()), c.AUTH_NOT_VALID_USER]
    ticket = str(uuid.uuid4())
    now = timezone.now()
    QuickBooksDesktopSession.objects.create(
        connection=connection,
        company_id=connection.company_id,
        ticket_hash=_hash(ticket),
        expires_at=now + dt.timedelta(seconds=c.SESSION_TTL_SECONDS),
    )
    QuickBooksDesktopConnection.objects.filter(pk=connection.pk).update(last_session_at=now)
    logger.info("qbd.auth.ok company=%s", connection.company_id)
    return [ticket, c.AUTH_CURRENT_FILE if _has_work(connection) else c.AUTH_NO_WORK]


def _due_entries(connection: QuickBooksDesktopConnection):
    return QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        entity_type__in=[ENTITY_INVOICE, ENTITY_PAYMENT],
        status=SyncStatus.PENDING,
        next_attempt_at__lte=timezone.now(),
    )


def _has_work(connection: QuickBooksDesktopConnection) -> bool:
    if connection.requests.filter(status__in=[DesktopRequestStatus.QUEUED, DesktopRequestStatus.SENT]).exists():
        return True
    if _due_entries(connection).exists():
        return True
    stale = timezone.now() - dt.timedelta(minutes=PAYMENT_POLL_MINUTES)
    return connection.payments_read_until is None or connection.payments_read_until < stale


def qbwc_send_request(*, ticket: str, company_file: str, major: int, minor: int) -> str:
    """The next qbXML message for this session, or "" when there is nothing more (or the ticket is no good:
    the Web Connector then asks getLastError)."""
    session = _open_session(ticket)
    if session is None:
        return ""
    with transaction.atomic():
        connection = QuickBooksDesktopConnection.objects.select_for_update().get(pk=session.connection_id)
        if major and major < c.QBXML_MIN_MAJOR:
            session.last_error = (
                f"This QuickBooks speaks qbXML {major}.{minor}; attune needs {c.QBXML_VERSION} or later "
                "(QuickBooks Desktop 2014 or newer)."
            )
            session.save(update_fields=["last_error"])
            return ""
        if company_file and company_file != connection.company_file:
            connection.company_file = company_file[:500]
        connection.qbxml_version = f"{major}.{minor}" if major else connection.qbxml_version
        connection.save(update_fields=["company_file", "qbxml_version", "updated_at"])
        _recover_in_doubt(connection, session)
        if not session.items_read:
            if not connection.requests.filter(kind=DesktopRequestKind.ITEM_QUERY, status__in=["queued", "sent"]):
                _queue(connection, DesktopRequestKind.ITEM_QUERY, qbxml.item_query)
            batch = list(connection.requests.filter(kind=DesktopRequestKind.ITEM_QUERY, status="queued")[:1])
        else:
            _plan_due_entries(connection)
            batch = list(_queued_in_order(connection)[: c.REQUESTS_PER_MESSAGE])
        if not batch and not session.payments_read:
            since = connection.payments_read_until
            batch = [
                _queue(
                    connection,
                    DesktopRequestKind.RECEIVE_PAYMENT_QUERY,
                    lambda request_id: qbxml.receive_payment_query(request_id, modified_since=since),
                )
            ]
        if not batch:
            return ""
        now = timezone.now()
        QuickBooksDesktopRequest.objects.filter(pk__in=[request.pk for request in batch]).update(
            status=DesktopRequestStatus.SENT, session=session, sent_at=now
        )
        session.messages_sent += 1
        session.save(update_fields=["messages_sent"])
    logger.info("qbd.send company=%s requests=%s", connection.company_id, len(batch))
    return qbxml.message([request.qbxml for request in batch])


def _queued_in_order(connection: QuickBooksDesktopConnection):
    """Customers before invoices (an invoice names its customer), then first queued first."""
    customers_first = Case(When(object_type=LinkType.CLIENT, then=Value(0)), default=Value(1))
    return connection.requests.filter(status=DesktopRequestStatus.QUEUED).order_by(customers_first, "id")


def _queue(
    connection: QuickBooksDesktopConnection,
    kind: str,
    build: Callable[[str], ET.Element],
    *,
    entry: QuickBooksSyncLog | None = None,
    object_type: str = "",
    object_id: int | None = None,
    purpose: str = "",
    payload_hash: str = "",
    source_updated_at: dt.datetime | None = None,
) -> QuickBooksDesktopRequest:
    request_id = uuid.uuid4().hex
    return QuickBooksDesktopRequest.objects.create(
        company_id=connection.company_id,
        connection=connection,
        sync_log=entry,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
        purpose=purpose,
        qbxml=qbxml.fragment(build(request_id)),
        payload_hash=payload_hash,
        source_updated_at=source_updated_at,
    )


def _plan_due_entries(connection: QuickBooksDesktopConnection) -> None:
    """Claim due outbox entries (row lock, skip locked) and turn each into qbXML requests."""
    from django.db import connection as db

    lock = {"skip_locked": db.features.has_select_for_update_skip_locked}
    now = timezone.now()
    entries = list(
        _due_entries(connection).select_for_update(**lock).order_by("next_attempt_at", "id")[: c.REQUESTS_PER_MESSAGE]
    )
    if not entries:
        return
    message = "Sent to the Web Connector; waiting for QuickBooks Desktop's answer."
    QuickBooksSyncLog.objects.filter(pk__in=[entry.pk for entry in entries]).update(
        status=SyncStatus.RUNNING,
        started_at=now,
        lease_until=None,
        attempts=F("attempts") + 1,
        rerun_requested=False,
        message=message,
        updated_at=now,
    )
    batch = _Batch.load(connection, [entry.object_id for entry in entries if entry.entity_type == ENTITY_INVOICE])
    for entry in entries:
        entry.status, entry.started_at, entry.lease_until = SyncStatus.RUNNING, now, None
        entry.attempts, entry.rerun_requested, entry.message = entry.attempts + 1, False, message
        if entry.entity_type == ENTITY_PAYMENT:
            _plan_payment(connection, entry)
        else:
            _plan_entry(connection, entry, batch)


@dataclass
class _Batch:
    """What planning a few invoices needs, read once: the invoices with their clients and lines, the books
    mappings, the links, and the clients that already have a customer request on its way."""

    mappings: BooksMappings
    invoices: dict[int, Invoice]
    lines: dict[int, list]
    invoice_links: dict[int, QuickBooksLink]
    client_links: dict[int, QuickBooksLink]
    busy_clients: set[int]
    items_queued: set[str] = field(default_factory=set)  # item names an ItemServiceAdd is queued for, this batch

    @classmethod
    def load(cls, connection: QuickBooksDesktopConnection, invoice_ids: list[int]) -> _Batch:
        invoices = {
            invoice.pk: invoice
            for invoice in Invoice.objects.select_related("client").filter(
                company_id=connection.company_id, pk__in=invoice_ids
            )
        }
        lines: dict[int, list] = {pk: [] for pk in invoices}
        for line in (
            InvoiceLine.objects.filter(invoice_id__in=list(invoices))
            .select_related("product", "tax_rate")
            .order_by("invoice_id", "position", "id")
        ):
            lines[line.invoice_id].append(line)
        links = QuickBooksLink.objects.filter(company_id=connection.company_id, realm_id=connection.realm_key)
        client_ids = {invoice.client_id for invoice in invoices.values()}
        return cls(
            mappings=mappings_for(company_id=connection.company_id, realm_key=connection.realm_key),
            invoices=invoices,
            lines=lines,
            invoice_links={
                link.object_id: link for link in links.filter(object_type=LinkType.INVOICE, object_id__in=invoice_ids)
            },
            client_links={
                link.object_id: link for link in links.filter(object_type=LinkType.CLIENT, object_id__in=client_ids)
            },
            busy_clients=set(
                connection.requests.filter(
                    object_type=LinkType.CLIENT,
                    status__in=[DesktopRequestStatus.QUEUED, DesktopRequestStatus.SENT],
                ).values_list("object_id", flat=True)
            ),
        )


def _link(connection, object_type: str, object_id: int) -> QuickBooksLink | None:
    return QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_key, object_type=object_type, object_id=object_id
    ).first()


def _digest(element: ET.Element) -> str:
    return hashlib.sha256(qbxml.fragment(element).encode("ascii")).hexdigest()


def _plan_entry(connection: QuickBooksDesktopConnection, entry: QuickBooksSyncLog, batch: _Batch | None = None) -> None:
    """Queue the requests that bring QuickBooks Desktop up to this invoice's current state (or finish the entry
    when there is nothing to send or Desktop would refuse it)."""
    if batch is None:
        batch = _Batch.load(connection, [entry.object_id])
    invoice = batch.invoices.get(entry.object_id)
    if invoice is None:
        _finish_entry(entry, SyncStatus.SKIPPED, "The invoice no longer exists; nothing was sent.")
        return
    link = batch.invoice_links.get(invoice.pk)
    if entry.operation == SyncOperation.VOID or invoice.status == InvoiceStatus.VOID:
        if link is None or link.voided:
            _finish_entry(entry, SyncStatus.UP_TO_DATE, "QuickBooks Desktop never had this invoice: nothing to void.")
            return
        _queue(
            connection,
            DesktopRequestKind.TXN_VOID,
            lambda request_id: qbxml.txn_void(request_id, txn_id=link.qbo_id),
            entry=entry,
            object_type=LinkType.INVOICE,
            object_id=invoice.pk,
        )
        return
    if invoice.status == InvoiceStatus.DRAFT:
        _finish_entry(entry, SyncStatus.SKIPPED, "The invoice is a draft again; drafts are not sent.")
        return
    known = {name.casefold() for name in connection.item_names} if connection.items_read_at else None
    document = books_invoice(invoice, batch.lines[invoice.pk], batch.mappings)
    tax = invoice_tax(document, batch.mappings)
    if known is not None:
        known |= _create_missing_items(connection, document, batch, known)
    try:
        preflight(document, known_items=known, tax=tax, tax_rates=connection.sales_tax_rates)
    except PreflightProblem as problem:
        _finish_entry(entry, SyncStatus.FAILED, problem.message, code="preflight")
        return
    payload_hash = _digest(qbxml.invoice_add(document, "hash", tax=tax))
    if link is not None and link.payload_hash == payload_hash and not link.voided:
        _finish_entry(
            entry, SyncStatus.UP_TO_DATE, "QuickBooks Desktop already holds this version.", qbo_id=link.qbo_id
        )
        return
    _plan_customer(connection, invoice.client, batch)
    if link is None:
        kind = DesktopRequestKind.INVOICE_ADD

        def build(request_id: str) -> ET.Element:
            return qbxml.invoice_add(document, request_id, tax=tax)

    else:
        kind = DesktopRequestKind.INVOICE_MOD

        def build(request_id: str) -> ET.Element:
            return qbxml.invoice_mod(document, request_id, txn_id=link.qbo_id, edit_sequence=link.sync_token, tax=tax)

    _queue(
        connection,
        kind,
        build,
        entry=entry,
        object_type=LinkType.INVOICE,
        object_id=invoice.pk,
        payload_hash=payload_hash,
        source_updated_at=invoice.updated_at,
    )


def _create_missing_items(connection, document, batch: _Batch, known: set[str]) -> set[str]:
    """Items the invoice names that QuickBooks Desktop did not list: with an income account mapped (Desktop
    mapping page), each is created as a service item before the invoice goes (`ItemServiceAdd`, queued ahead of
    it). Returns the names now on their way (case-folded). Sub-item names (`Parent:Child`) are not created: the
    parent must exist first, so pre-flight names them instead."""
    income = batch.mappings.income_account
    if income is None or not income.name:
        return set()
    coming: set[str] = set()
    for line in document.lines:
        name = line.item.name
        folded = name.casefold()
        if folded in known or folded in coming or ":" in name or not name or len(name) > c.ITEM_NAME_MAX:
            continue
        coming.add(folded)
        if folded in batch.items_queued:
            continue
        batch.items_queued.add(folded)
        probe = qbxml.fragment(
            qbxml.item_service_add("x", name=name, description="", price=line.rate, income_account="")
        )
        tag = probe[probe.index("<Name>") : probe.index("</Name>") + len("</Name>")]
        if connection.requests.filter(
            kind=DesktopRequestKind.ITEM_SERVICE_ADD,
            status__in=[DesktopRequestStatus.QUEUED, DesktopRequestStatus.SENT],
            qbxml__contains=tag,
        ).exists():
            continue

        def build(request_id: str, name=name, line=line) -> ET.Element:
            return qbxml.item_service_add(
                request_id, name=name, description=line.description, price=line.rate, income_account=income.name
            )

        _queue(connection, DesktopRequestKind.ITEM_SERVICE_ADD, build, object_type="item")
    return coming


def _item_name_of(request: QuickBooksDesktopRequest) -> str:
    from integrations.quickbooks.desktop.xmlsafe import child, child_text, parse_xml

    try:
        return child_text(child(parse_xml(request.qbxml, what="the request sent"), "ItemServiceAdd"), "Name")
    except DesktopProtocolError:
        return ""


def _plan_customer(connection: QuickBooksDesktopConnection, client: Client, batch: _Batch | None = None) -> None:
    """CustomerAdd for a client Desktop has not got, CustomerMod when its details changed, else nothing."""
    if batch is None:
        batch = _Batch.load(connection, [])
        batch.client_links = {client.pk: link} if (link := _link(connection, LinkType.CLIENT, client.pk)) else {}
    if client.pk in batch.busy_clients:
        return
    customer = desktop_customer(client, batch.mappings)
    payload_hash = _digest(qbxml.customer_add(customer, "hash"))
    link = batch.client_links.get(client.pk)
    if link is None:
        kind, build = DesktopRequestKind.CUSTOMER_ADD, lambda request_id: qbxml.customer_add(customer, request_id)
    elif link.payload_hash != payload_hash and link.sync_token:
        kind = DesktopRequestKind.CUSTOMER_MOD

        def build(request_id: str) -> ET.Element:
            return qbxml.customer_mod(customer, request_id, list_id=link.qbo_id, edit_sequence=link.sync_token)

    else:
        return
    _queue(
        connection,
        kind,
        build,
        object_type=LinkType.CLIENT,
        object_id=client.pk,
        payload_hash=payload_hash,
        source_updated_at=client.updated_at,
    )
    batch.busy_clients.add(client.pk)


def _recover_in_doubt(connection: QuickBooksDesktopConnection, session: QuickBooksDesktopSession) -> None:
    """Requests sent in an earlier run that never got an answer (the run was dropped): find out, never guess."""
    for request in connection.requests.filter(status=DesktopRequestStatus.SENT).exclude(session=session):
        _in_doubt(connection, request)


def _in_doubt(connection: QuickBooksDesktopConnection, request: QuickBooksDesktopRequest) -> None:
    """An unanswered request. An InvoiceAdd may have landed: ask for the invoice by number before adding it
    again (Desktop has no idempotency key). A mod or void is planned again from the current state; customer and
    list requests are simply planned again when needed."""
    request.status = DesktopRequestStatus.CANCELLED
    request.status_message = "No answer came back (the Web Connector run ended early)."
    request.save(update_fields=["status", "status_message"])
    if request.object_type == LinkType.CLIENT:
        client = Client.objects.filter(pk=request.object_id, company_id=connection.company_id).first()
        if client is not None:
            _plan_customer(connection, client)  # CustomerAdd again is safe: 3100 then links the one that landed
        return
    entry = request.sync_log
    if entry is not None and entry.status == SyncStatus.PENDING:
        # Put back to pending by a disconnect: still this request's to resolve before anything is sent again.
        claimed = QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.PENDING).update(
            status=SyncStatus.RUNNING, started_at=timezone.now(), lease_until=None
        )
        if claimed:
            entry.status = SyncStatus.RUNNING
    if entry is None or entry.status != SyncStatus.RUNNING:
        return
    if request.object_type == LinkType.PAYMENT:
        if request.kind == DesktopRequestKind.RECEIVE_PAYMENT_ADD:
            _resolve_payment_add(connection, entry, request)
        elif request.purpose == "resolve":
            previous = (
                connection.requests.filter(
                    sync_log=entry, kind=DesktopRequestKind.RECEIVE_PAYMENT_ADD, object_id=request.object_id
                )
                .order_by("-id")
                .first()
            )
            if previous is not None:
                _resolve_payment_add(connection, entry, previous)
            else:
                _plan_payment(connection, entry)
        else:
            _plan_payment(connection, entry)
        return
    if request.kind == DesktopRequestKind.INVOICE_ADD or request.purpose == "resolve":
        invoice = Invoice.objects.filter(pk=request.object_id).only("number").first()
        _queue(
            connection,
            DesktopRequestKind.INVOICE_QUERY,
            lambda request_id: qbxml.invoice_query(request_id, ref_number=invoice.number if invoice else ""),
            entry=entry,
            object_type=LinkType.INVOICE,
            object_id=request.object_id,
            purpose="resolve",
            payload_hash=request.payload_hash,
            source_updated_at=request.source_updated_at,
        )
    else:
        _plan_entry(connection, entry)


def qbwc_receive_response(*, ticket: str, response: str, hresult: str, message: str) -> int:
    """Apply QuickBooks' answers; returns the percentage done (100: finished; negative: see getLastError)."""
    session = _open_session(ticket)
    if session is None:
        return c.PERCENT_ERROR
    with transaction.atomic():
        connection = QuickBooksDesktopConnection.objects.select_for_update().get(pk=session.connection_id)
        sent = {
            request.request_id: request
            for request in connection.requests.filter(session=session, status=DesktopRequestStatus.SENT)
        }
        if hresult:
            reason = f"QuickBooks could not process the request ({hresult[:20]}: {message[:300]})"
            return _message_failed(connection, session, sent.values(), reason, code=hresult[:12])
        try:
            answers = parse_response(response)
        except DesktopProtocolError as exc:
            return _message_failed(connection, session, sent.values(), exc.message, code=exc.reason)
        session.responses_received += 1
        for answer in answers:
            request = sent.pop(answer.request_id, None)
            if request is None:
                logger.warning("qbd.response.unknown_request company=%s kind=%s", connection.company_id, answer.kind)
                session.last_error = (
                    f"QuickBooks answered a request that was never sent in this run ({answer.kind}, requestID "
                    f"“{answer.request_id[:40]}”); that answer was ignored."
                )
                continue
            _apply(connection, session, request, answer)
        for request in sent.values():
            _in_doubt(connection, request)
        _follow_invoices(connection, _reached(connection))
        session.save(update_fields=["responses_received", "last_error", "items_read", "payments_read"])
        connection.save()
        return _progress(connection, session)


def _message_failed(connection, session, requests, reason: str, *, code: str) -> int:
    """The whole message failed: every entry in it tries again later (nothing is lost); the run ends."""
    session.last_error = reason[:500]
    session.save(update_fields=["last_error"])
    connection.last_error = reason[:300]
    connection.save(update_fields=["last_error", "updated_at"])
    entries = {}
    for request in requests:
        request.status, request.status_code, request.status_message = DesktopRequestStatus.FAILED, code, reason
        request.answered_at = timezone.now()
        request.save(update_fields=["status", "status_code", "status_message", "answered_at"])
        if request.sync_log_id and request.sync_log.status == SyncStatus.RUNNING:
            entries[request.sync_log_id] = request.sync_log
    for entry in entries.values():
        _retry_entry(entry, reason, code=code)
    logger.warning("qbd.receive.failed company=%s code=%s", connection.company_id, code)
    return c.PERCENT_ERROR


def _progress(connection: QuickBooksDesktopConnection, session: QuickBooksDesktopSession) -> int:
    remaining = (
        connection.requests.filter(status=DesktopRequestStatus.QUEUED).count() + _due_entries(connection).count()
    )
    if not session.payments_read:
        remaining += 1
    if remaining == 0:
        return c.PERCENT_DONE
    done = session.responses_received
    return max(1, min(99, int(100 * done / (done + remaining))))


def _save_link(connection, object_type: str, object_id: int, ret: Ret, request=None) -> QuickBooksLink:
    qbo_id = ret.list_id or ret.txn_id
    defaults = {"qbo_id": qbo_id, "sync_token": ret.edit_sequence[:16], "voided": False}
    if request is not None and request.payload_hash:
        defaults["payload_hash"] = request.payload_hash
        defaults["source_updated_at"] = request.source_updated_at
    link, _ = QuickBooksLink.objects.update_or_create(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        object_type=object_type,
        object_id=object_id,
        defaults=defaults,
    )
    return link


def _refusal(answer: Answer, request: QuickBooksDesktopRequest) -> str:
    if request.object_type == LinkType.PAYMENT and answer.status_code == c.STATUS_INVALID_REFERENCE:
        return (
            f"QuickBooks Desktop refused the {request.kind} ({answer.status_code}: {answer.status_message}). The "
            "invoice or customer it is applied to is no longer in QuickBooks Desktop under the id attune holds "
            "(deleted there?): look at the invoice there, then retry."
        )
    advice = {
        c.STATUS_INVALID_REFERENCE: " Something it names (customer, item or tax code) does not exist in QuickBooks "
        "Desktop under that name: create it there or rename it here, then retry.",
        c.STATUS_NAME_EXISTS: " A list entry of that name already exists in QuickBooks Desktop.",
    }.get(answer.status_code, "")
    return f"QuickBooks Desktop refused the {request.kind} ({answer.status_code}: {answer.status_message}).{advice}"


def _apply(connection, session, request: QuickBooksDesktopRequest, answer: Answer) -> None:
    """One answer: store what QuickBooks said on the request, then act on it."""
    now = timezone.now()
    request.status_code, request.status_message, request.answered_at = (
        answer.status_code[:12],
        answer.status_message,
        now,
    )
    found = answer.ok and bool(answer.rets)
    handled = answer.ok or (answer.status_code == c.STATUS_NO_MATCH and request.kind in QUERY_KINDS)
    request.status = DesktopRequestStatus.DONE if handled else DesktopRequestStatus.FAILED
    request.save(update_fields=["status", "status_code", "status_message", "answered_at"])
    entry = request.sync_log
    kind = request.kind
    if kind == DesktopRequestKind.ITEM_QUERY:
        session.items_read = True
        if handled:
            connection.item_names = sorted({ret.full_name for ret in answer.rets if ret.full_name}, key=str.casefold)
            connection.sales_tax_rates = {
                ret.full_name: f"{ret.tax_rate.normalize():f}"
                for ret in answer.rets
                if ret.full_name and ret.tax_rate is not None and ret.kind == "ItemSalesTaxRet"
            }
            connection.items_read_at = now
    elif kind == DesktopRequestKind.RECEIVE_PAYMENT_QUERY and request.purpose != "resolve":
        session.payments_read = True
        if handled:
            _record_payments(connection, answer.rets)
            connection.payments_read_until = session.started_at
    elif kind == DesktopRequestKind.ITEM_SERVICE_ADD:
        name = _item_name_of(request)
        if (answer.ok or answer.status_code == c.STATUS_NAME_EXISTS) and name:
            if name.casefold() not in {known.casefold() for known in connection.item_names}:
                connection.item_names = sorted([*connection.item_names, name], key=str.casefold)
        elif not answer.ok:
            connection.last_error = f"QuickBooks Desktop did not create the item “{name}”: {answer.status_message}"[
                :300
            ]
            logger.warning("qbd.item.refused company=%s code=%s", connection.company_id, answer.status_code)
    elif kind in (DesktopRequestKind.CUSTOMER_ADD, DesktopRequestKind.CUSTOMER_MOD, DesktopRequestKind.CUSTOMER_QUERY):
        _apply_customer(connection, request, answer, found)
    elif entry is None or entry.status != SyncStatus.RUNNING:
        return  # the entry was finished meanwhile (e.g. by a person); nothing more to do
    elif request.object_type == LinkType.PAYMENT:
        _apply_payment(connection, entry, request, answer, found)
    elif kind in (DesktopRequestKind.INVOICE_ADD, DesktopRequestKind.INVOICE_MOD):
        _apply_invoice(connection, entry, request, answer, found)
    elif kind == DesktopRequestKind.INVOICE_QUERY:
        _apply_invoice_query(connection, entry, request, answer, found)
    elif kind == DesktopRequestKind.TXN_VOID:
        if answer.ok:
            QuickBooksLink.objects.filter(
                company_id=connection.company_id,
                realm_id=connection.realm_key,
                object_type=LinkType.INVOICE,
                object_id=request.object_id,
            ).update(voided=True)
            _finish_entry(entry, SyncStatus.SUCCEEDED, "Voided in QuickBooks Desktop.")
        else:
            _finish_entry(entry, SyncStatus.FAILED, _refusal(answer, request), code=answer.status_code)


def _apply_customer(connection, request, answer: Answer, found: bool) -> None:
    if found:
        _save_link(
            connection,
            LinkType.CLIENT,
            request.object_id,
            answer.rets[0],
            request if request.kind != DesktopRequestKind.CUSTOMER_QUERY else None,
        )
        return
    client = Client.objects.filter(pk=request.object_id, company_id=connection.company_id).first()
    if client is None:
        return
    if answer.status_code == c.STATUS_NAME_EXISTS and request.kind == DesktopRequestKind.CUSTOMER_ADD:
        # The customer is already in QuickBooks (typed in by hand, or an add whose answer was lost): link it.
        name = customer_name(client)
        _queue(
            connection,
            DesktopRequestKind.CUSTOMER_QUERY,
            lambda request_id: qbxml.customer_query(request_id, full_name=name),
            object_type=LinkType.CLIENT,
            object_id=client.pk,
            purpose="link",
        )
    elif answer.status_code == c.STATUS_EDIT_SEQUENCE_STALE:
        link = _link(connection, LinkType.CLIENT, client.pk)
        if link is not None:
            _queue(
                connection,
                DesktopRequestKind.CUSTOMER_QUERY,
                lambda request_id: qbxml.customer_query(request_id, list_id=link.qbo_id),
                object_type=LinkType.CLIENT,
                object_id=client.pk,
                purpose="refresh",
            )
    elif not answer.ok:
        logger.warning("qbd.customer.refused company=%s code=%s", connection.company_id, answer.status_code)


def _answer_payload(request, answer: Answer) -> dict:
    return {
        "requestID": request.request_id,
        "request": request.kind,
        "statusCode": answer.status_code,
        "statusSeverity": answer.status_severity,
        "statusMessage": answer.status_message,
    }


def _apply_invoice(connection, entry, request, answer: Answer, found: bool) -> None:
    if found:
        ret = answer.rets[0]
        _save_link(connection, LinkType.INVOICE, request.object_id, ret, request)
        verb = "Created" if request.kind == DesktopRequestKind.INVOICE_ADD else "Updated"
        _finish_entry(
            entry,
            SyncStatus.SUCCEEDED,
            f"{verb} in QuickBooks Desktop (TxnID {ret.txn_id}).",
            qbo_id=ret.txn_id,
            payload=_answer_payload(request, answer),
        )
        _reached(connection)[request.object_id] = request.kind == DesktopRequestKind.INVOICE_ADD
        return
    if answer.status_code == c.STATUS_EDIT_SEQUENCE_STALE and request.kind == DesktopRequestKind.INVOICE_MOD:
        mods = connection.requests.filter(sync_log=entry, kind=DesktopRequestKind.INVOICE_MOD).count()
        link = _link(connection, LinkType.INVOICE, request.object_id)
        if mods < MAX_MOD_RETRIES and link is not None:
            # Someone changed the invoice in QuickBooks since our last write: read its EditSequence, then mod again.
            _queue(
                connection,
                DesktopRequestKind.INVOICE_QUERY,
                lambda request_id: qbxml.invoice_query(request_id, txn_id=link.qbo_id),
                entry=entry,
                object_type=LinkType.INVOICE,
                object_id=request.object_id,
                purpose="refresh",
            )
            return
    _finish_entry(
        entry,
        SyncStatus.FAILED,
        _refusal(answer, request),
        code=answer.status_code or "refused",
        payload=_answer_payload(request, answer),
    )
    logger.warning(
        "qbd.invoice.refused company=%s entry=%s code=%s", connection.company_id, entry.pk, answer.status_code
    )


def _apply_invoice_query(connection, entry, request, answer: Answer, found: bool) -> None:
    if request.purpose == "resolve":
        if found:  # the add whose answer was lost had landed: link it, never add it twice
            ret = answer.rets[0]
            _save_link(connection, LinkType.INVOICE, request.object_id, ret, request)
            _finish_entry(
                entry,
                SyncStatus.SUCCEEDED,
                f"In QuickBooks Desktop (TxnID {ret.txn_id}); the earlier run's answer was lost, so it was looked "
                "up by number instead of being sent again.",
                qbo_id=ret.txn_id,
            )
            _reached(connection)[request.object_id] = True
        else:
            _plan_entry(connection, entry)
        return
    if found:  # refresh after 3200: the current EditSequence, then the mod again
        link = _link(connection, LinkType.INVOICE, request.object_id)
        if link is not None:
            link.sync_token = answer.rets[0].edit_sequence[:16]
            link.payload_hash = ""
            link.save(update_fields=["sync_token", "payload_hash", "updated_at"])
        _plan_entry(connection, entry)
        return
    _finish_entry(
        entry,
        SyncStatus.FAILED,
        "The invoice is no longer in QuickBooks Desktop (deleted there?). Nothing was sent; look at it there, "
        "then retry.",
        code=answer.status_code or "missing",
    )


def _record_payments(connection: QuickBooksDesktopConnection, rets) -> None:
    """Payments received in QuickBooks Desktop against our invoices are recorded here (once each)."""
    from attune_qbo.billing.services import PaymentRefused, payment_record

    invoice_links = dict(
        QuickBooksLink.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_key,
            object_type=LinkType.INVOICE,
            qbo_id__in=[applied.txn_id for ret in rets for applied in ret.applied_to],
        ).values_list("qbo_id", "object_id")
    )
    sent_from_here = set(
        QuickBooksLink.objects.filter(
            company_id=connection.company_id,
            realm_id=connection.realm_key,
            object_type=LinkType.PAYMENT,
            qbo_id__in=[ret.txn_id for ret in rets],
        ).values_list("qbo_id", flat=True)
    )
    ours = f"[attune:{connection.company_id}:p"  # the start of qbxml.payment_marker
    for ret in rets:
        if ret.txn_id in sent_from_here or ours in ret.memo:
            continue  # a payment recorded here and sent by us: never recorded a second time
        for applied in ret.applied_to:
            invoice_id = invoice_links.get(applied.txn_id)
            if invoice_id is None or applied.amount <= 0:
                continue
            invoice = Invoice.objects.filter(pk=invoice_id, company_id=connection.company_id).first()
            if invoice is None:
                continue
            try:
                paid_on = dt.date.fromisoformat(ret.txn_date)
            except ValueError:
                paid_on = timezone.localdate()
            external_id = "qbd:" + hashlib.sha256(f"{ret.txn_id}:{applied.txn_id}".encode()).hexdigest()[:56]
            try:
                with transaction.atomic():
                    payment_record(
                        invoice=invoice,
                        amount=applied.amount,
                        date=paid_on,
                        reference=ret.ref_number[:100],
                        source=PaymentSource.QUICKBOOKS,
                        external_id=external_id,
                    )
            except (PaymentRefused, ApplicationError) as exc:
                connection.last_error = f"A QuickBooks Desktop payment was not recorded: {exc}"[:300]
                logger.warning("qbd.payment.refused company=%s", connection.company_id)


def qbwc_connection_error(*, ticket: str, hresult: str, message: str) -> str:
    """QuickBooks could not be reached (e.g. the company file is not open): note it and stop ("done")."""
    session = _open_session(ticket)
    if session is not None:
        reason = f"The Web Connector could not reach QuickBooks ({hresult[:20]}: {message[:300]})."
        QuickBooksDesktopSession.objects.filter(pk=session.pk).update(
            status=DesktopSessionStatus.FAILED, closed_at=timezone.now(), last_error=reason[:500]
        )
        QuickBooksDesktopConnection.objects.filter(pk=session.connection_id).update(last_error=reason[:300])
    return c.CONNECTION_ERROR_DONE


def qbwc_last_error(*, ticket: str) -> str:
    session = QuickBooksDesktopSession.objects.filter(ticket_hash=_hash(ticket or "")).first() if ticket else None
    if session is None:
        return "Unknown ticket: this run was not started by attune. Run the Web Connector again."
    if session.status != DesktopSessionStatus.OPEN or session.expires_at <= timezone.now():
        return "This run has ended (its ticket is no longer valid). Run the Web Connector again."
    return session.last_error or "No error."


def qbwc_close(*, ticket: str) -> str:
    session = _open_session(ticket)
    if session is None:
        return "Unknown or already closed ticket."
    QuickBooksDesktopSession.objects.filter(pk=session.pk, status=DesktopSessionStatus.OPEN).update(
        status=DesktopSessionStatus.CLOSED, closed_at=timezone.now()
    )
    return f"OK: {session.messages_sent} message(s) sent, {session.responses_received} answered."


def pending_count(*, connection: QuickBooksDesktopConnection) -> int:
    return QuickBooksSyncLog.objects.filter(
        company_id=connection.company_id,
        realm_id=connection.realm_key,
        status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
    ).count()


def recent_entries(*, connection: QuickBooksDesktopConnection, limit: int = 20):
    """The latest outbox entries of this company file, newest first (the settings page's short history)."""
    return QuickBooksSyncLog.objects.filter(company_id=connection.company_id, realm_id=connection.realm_key)[:limit]
