"""The outbox's front door: a billing change upserts a *pending* `QuickBooksSyncLog` row in the same transaction
(`sync_enqueue`), and after commit one task per new entry is queued (`dispatch`). Also what a (re)connect, "Send
now" and "Send them" queue, and which invoices a realm is behind on.

The outbox is shared by the sync targets (docs/decisions/0016): rows for QuickBooks Online are run by the worker
(`outbox.worker`), rows for QuickBooks Desktop are claimed by the Web Connector. Nothing here talks to QuickBooks.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from attune_qbo.billing.models import Invoice, InvoiceStatus
from integrations.books.preflight import PushRefused
from integrations.exceptions import NotConnected
from integrations.models import (
    ConnectionStatus,
    InitialSync,
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
    SyncOperation,
    SyncStatus,
    SyncTrigger,
)

logger = logging.getLogger("qbo.sync")


def _debounce_seconds() -> float:
    return float(settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS)


# --- the outbox -----------------------------------------------------------------------------------------


def sync_enqueue(
    *,
    company_id: int,
    invoice_id: int,
    operation: str = SyncOperation.PUSH,
    trigger: str = SyncTrigger.AUTO,
    user=None,
) -> QuickBooksSyncLog | None:
    """Upsert the live sync entry of an invoice; call it inside the transaction of the change.

    An invoice has at most one live (pending or running) entry. Automatic entries wait
    `QUICKBOOKS_PUSH_DEBOUNCE_SECONDS` (edits inside the window push once, the latest state); "Sync now" entries
    are due at once. An edit while the entry is running marks it for a rerun. While QuickBooks is disconnected
    the entry waits (it goes when the same company is reconnected); a company that never connected records
    nothing (the first-sync policy decides at connect time).
    """
    connection = QuickBooksConnection.objects.filter(company_id=company_id).first()
    if connection is None or not connection.realm_id or connection.status == ConnectionStatus.DISCONNECTED:
        if trigger != SyncTrigger.AUTO:
            raise NotConnected("QuickBooks is not connected for this company.")
        if connection is None or not connection.realm_id:
            return None
    if trigger == SyncTrigger.AUTO and not connection.auto_sync:
        return None
    now = timezone.now()
    due = now if trigger != SyncTrigger.AUTO else now + dt.timedelta(seconds=_debounce_seconds())
    manual = trigger != SyncTrigger.AUTO
    person = user if _is_user(user) else None
    invoice_number = Invoice.objects.filter(pk=invoice_id).values_list("number", flat=True).first() or ""
    waiting_message = (
        "Waiting to be sent to QuickBooks."
        if connection.status == ConnectionStatus.CONNECTED
        else "Waiting: QuickBooks is not connected. This change goes as soon as it is reconnected."
    )
    created = False
    with transaction.atomic():
        entry = _live_entry(company_id, invoice_id)
        if entry is None:
            try:
                with transaction.atomic():
                    entry = QuickBooksSyncLog.objects.create(
                        company_id=company_id,
                        realm_id=connection.realm_id,
                        create_request_id=_unresolved_create(company_id, invoice_id, connection.realm_id),
                        entity_type="invoice",
                        object_id=invoice_id,
                        object_repr=invoice_number,
                        operation=operation,
                        trigger=trigger,
                        triggered_by=person,
                        next_attempt_at=due,
                        message=waiting_message,
                    )
                created = True
            except IntegrityError:  # another transaction made the live entry a moment ago
                entry = _live_entry(company_id, invoice_id)
                if entry is None:
                    raise
        if not created and entry.status == SyncStatus.RUNNING:
            # Being pushed right now: its outcome queues a fresh entry with the latest state (never a second
            # entry beside it, which could create the invoice twice).
            QuickBooksSyncLog.objects.filter(pk=entry.pk).update(rerun_requested=True, updated_at=now)
            entry.rerun_requested = True
            return entry
        if not created:
            if operation == SyncOperation.VOID:
                entry.operation = SyncOperation.VOID
            if manual:
                entry.trigger, entry.triggered_by = trigger, person or entry.triggered_by
                entry.next_attempt_at = now  # "Send now" also cuts a back-off wait short
            elif entry.attempts == 0:
                entry.next_attempt_at = due  # debounce: the latest edit sets the time
            entry.realm_id = connection.realm_id
            entry.object_repr = invoice_number or entry.object_repr
            entry.save()
    if (created or manual) and connection.status == ConnectionStatus.CONNECTED:
        # One task per entry: it re-reads the (moving) due time, so later edits need no task of their own.
        transaction.on_commit(lambda: dispatch(entry.pk))
    return entry


def _unresolved_create(company_id: int, invoice_id: int, realm_id: str) -> str:
    """The requestid of an earlier entry's create that may have landed unseen (see `push.create_request_id`)."""
    return (
        QuickBooksSyncLog.objects.filter(
            company_id=company_id, entity_type="invoice", object_id=invoice_id, realm_id=realm_id
        )
        .exclude(create_request_id="")
        .order_by("-id")
        .values_list("create_request_id", flat=True)
        .first()
        or ""
    )


def _live_entry(company_id: int, invoice_id: int) -> QuickBooksSyncLog | None:
    return (
        QuickBooksSyncLog.objects.select_for_update()
        .filter(
            company_id=company_id,
            entity_type="invoice",
            object_id=invoice_id,
            status__in=[SyncStatus.PENDING, SyncStatus.RUNNING],
        )
        .first()
    )


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def dispatch(entry_id: int) -> None:
    """Queue the task that runs this entry (django-q2; ORM or Redis broker)."""
    from django_q.tasks import async_task

    try:
        async_task(
            "integrations.services.tasks.run_sync", entry_id, task_name=f"qbo-sync-{entry_id}", group="quickbooks-sync"
        )
    except Exception as exc:  # noqa: BLE001  the broker is down: the saved entry waits for the sweeper
        logger.warning("qbo.sync.dispatch_failed entry=%s error=%s", entry_id, type(exc).__name__)


def sync_now(*, invoice, user) -> QuickBooksSyncLog:
    """Queue an immediate push of one invoice ("Sync now")."""
    connection = QuickBooksConnection.objects.filter(company_id=invoice.company_id).first()
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
        raise NotConnected("QuickBooks is not connected for this company.")
    if invoice.status == InvoiceStatus.DRAFT:
        raise PushRefused(f"Invoice {invoice.number} is a draft; finalize it before sending it to QuickBooks.")
    operation = SyncOperation.VOID if invoice.status == InvoiceStatus.VOID else SyncOperation.PUSH
    with transaction.atomic():
        return sync_enqueue(
            company_id=invoice.company_id,
            invoice_id=invoice.pk,
            operation=operation,
            trigger=SyncTrigger.MANUAL,
            user=user,
        )


def sync_retry(*, entry: QuickBooksSyncLog, user) -> QuickBooksSyncLog:
    """A person retries an entry. Delegates to `integrations.services.retry.sync_retry` (the one retry
    service); raises `PushRefused` with the reason when there is nothing to retry."""
    from integrations.services.retry import sync_retry as retry

    result = retry(entry=entry, user=user)
    if not result.accepted:
        raise PushRefused(result.message)
    return result.entry


def sync_resume(*, company_id: int) -> int:
    """After a (re)connect: queue every pending entry of the company."""
    ids = list(
        QuickBooksSyncLog.objects.filter(company_id=company_id, status=SyncStatus.PENDING).values_list("pk", flat=True)
    )
    for entry_id in ids:
        transaction.on_commit(lambda entry_id=entry_id: dispatch(entry_id))
    return len(ids)


def invoices_in_scope(connection: QuickBooksConnection):
    """Invoices that go to this realm by themselves: finalized since the realm was connected, or (policy
    "everything from a date") issued on or after that date. Older ones are offered, not sent."""
    scope = Q(finalized_at__gte=connection.realm_connected_at) if connection.realm_connected_at else Q(pk__in=[])
    if connection.initial_sync == InitialSync.SINCE_DATE and connection.initial_sync_since:
        scope |= Q(issue_date__gte=connection.initial_sync_since)
    return Invoice.objects.filter(company_id=connection.company_id).exclude(status=InvoiceStatus.DRAFT).filter(scope)


def _invoice_links(connection: QuickBooksConnection):
    return QuickBooksLink.objects.filter(
        company_id=connection.company_id, realm_id=connection.realm_id, object_type=LinkType.INVOICE
    )


def invoices_behind(*, connection: QuickBooksConnection) -> list[int]:
    """Ids of invoices whose current version this realm has not got: linked ones changed since their last
    push (or voided here, not there), and unlinked ones in the automatic scope (a void never sent is moot)."""
    links = _invoice_links(connection).filter(object_id=OuterRef("pk"))
    linked_behind = (
        Invoice.objects.filter(company_id=connection.company_id)
        .exclude(status=InvoiceStatus.DRAFT)
        .filter(Exists(links))
        # A link from before versions were recorded (NULL) counts as current: deploying this must not re-push
        # every invoice ever sent. The next change to such an invoice sends it as usual.
        .exclude(Exists(links.filter(Q(source_updated_at=OuterRef("updated_at")) | Q(source_updated_at__isnull=True))))
    )
    voided_here = Invoice.objects.filter(company_id=connection.company_id, status=InvoiceStatus.VOID).filter(
        Exists(links.filter(voided=False))
    )
    unlinked = invoices_in_scope(connection).exclude(status=InvoiceStatus.VOID).exclude(Exists(links))
    ids = set(linked_behind.values_list("pk", flat=True))
    ids.update(voided_here.values_list("pk", flat=True))
    ids.update(unlinked.values_list("pk", flat=True))
    return sorted(ids)


def invoices_never_sent(*, connection: QuickBooksConnection):
    """Finalized (or paid) invoices outside the automatic scope that this realm has never received: what the
    settings page offers to "Send them"."""
    links = _invoice_links(connection).filter(object_id=OuterRef("pk"))
    in_scope = invoices_in_scope(connection).values("pk")
    return (
        Invoice.objects.filter(
            company_id=connection.company_id, status__in=[InvoiceStatus.FINALIZED, InvoiceStatus.PAID]
        )
        .exclude(Exists(links))
        .exclude(pk__in=in_scope)
    )


def sync_send_never_sent(*, connection: QuickBooksConnection, user) -> int:
    """Queue every invoice `invoices_never_sent` lists ("Send them"). Returns how many were queued."""
    ids = list(invoices_never_sent(connection=connection).values_list("pk", flat=True))
    with transaction.atomic():
        for invoice_id in ids:
            sync_enqueue(company_id=connection.company_id, invoice_id=invoice_id, trigger=SyncTrigger.MANUAL, user=user)
    logger.info("qbo.sync.send_never_sent company=%s queued=%s", connection.company_id, len(ids))
    return len(ids)


def sync_after_connect(*, connection_id: int) -> int:
    """After a (re)connect: entries meant for another QuickBooks company are closed, and every invoice this
    realm is behind on is queued (edits and invoices made while disconnected included). Returns how many."""
    connection = QuickBooksConnection.objects.get(pk=connection_id)
    if not connection.is_connected:
        return 0
    now = timezone.now()
    QuickBooksSyncLog.objects.filter(company_id=connection.company_id, status=SyncStatus.PENDING).exclude(
        realm_id=connection.realm_id
    ).update(
        status=SyncStatus.SKIPPED,
        finished_at=now,
        next_attempt_at=None,
        message="Not sent: it was meant for another QuickBooks company, and a different one is connected now.",
    )
    behind = invoices_behind(connection=connection)
    with transaction.atomic():
        sync_resume(company_id=connection.company_id)  # first: entries that were already waiting, each once
        voids = set()
        for start in range(0, len(behind), 1000):
            chunk = behind[start : start + 1000]
            voids.update(Invoice.objects.filter(pk__in=chunk, status=InvoiceStatus.VOID).values_list("pk", flat=True))
        for invoice_id in behind:  # then the rest: a new entry is dispatched once, on commit
            operation = SyncOperation.VOID if invoice_id in voids else SyncOperation.PUSH
            sync_enqueue(company_id=connection.company_id, invoice_id=invoice_id, operation=operation)
    logger.info("qbo.sync.after_connect company=%s behind=%s", connection.company_id, len(behind))
    return len(behind)


def dispatch_drain() -> None:
    """Queue a drain turn (django-q2); a broker that is down leaves the work to the sweeper."""
    from django_q.tasks import async_task

    try:
        async_task("integrations.services.tasks.drain", task_name="qbo-drain", group="quickbooks-sync")
    except Exception as exc:  # noqa: BLE001
        logger.warning("qbo.sync.dispatch_failed drain error=%s", type(exc).__name__)
