"""Pushing invoices to QuickBooks: the outbox, the push itself, and what happens after each outcome.

Flow (DESIGN §3 Push): a billing change upserts a *pending* `QuickBooksSyncLog` row in the same transaction
(`sync_enqueue`); after commit a task takes a turn at the outbox (`sync_drain`): it claims due rows round robin by
realm (`_claim`: one conditional UPDATE, one push per invoice at a time), runs `invoice_push` outside any
transaction, and records the outcome (`_finish`). No task sleeps for its entry: one worker at most waits for the
next due time. The database row is the truth; the queue is only the engine: `sync_sweep` re-enqueues due rows
whose task was lost and rows whose worker died.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from attune_qbo.audit.redaction import redact
from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.core.exceptions import ApplicationError
from integrations.exceptions import (
    NotConnected,
    NotFound,
    QuickBooksError,
    ReconnectRequired,
    RefreshDeferred,
    StaleObject,
    Throttled,
    Unauthorized,
    Unavailable,
)
from integrations.fields import TokenDecryptionError
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
from integrations.quickbooks.client import QuickBooksClient
from integrations.quickbooks.errors import CODE_AUTHORIZATION_FAILURE, DEFAULT_THROTTLE_WAIT_SECONDS
from integrations.quickbooks.limiter import PacedOut
from integrations.services.push import (  # noqa: F401  (re-exported: the push's names are the sync's API too)
    MappingIncomplete,
    PushRefused,
    PushResult,
    company_profile,
    invoice_push,
    preflight,
    request_id,
)

logger = logging.getLogger("qbo.sync")

MAX_THROTTLES = 30  # 429s do not use up attempts, but a realm that throttles forever still ends somewhere
PAYMENT_WAIT_SECONDS = 60  # a payment whose invoice is not in QuickBooks yet looks again this much later


def _debounce_seconds() -> float:
    return float(settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS)


def _max_attempts() -> int:
    return int(settings.QUICKBOOKS_PUSH_MAX_ATTEMPTS)


def _backoff_seconds() -> tuple[float, ...]:
    """Waits between attempts (±10 % jitter), e.g. 60, 300, 1800, 7200, 21600: `QUICKBOOKS_PUSH_BACKOFF_SECONDS`."""
    return tuple(float(seconds) for seconds in settings.QUICKBOOKS_PUSH_BACKOFF_SECONDS)


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


def sync_sweep() -> int:
    """Re-enqueue due pending entries (their task was lost, or they wait out a back-off) and entries whose
    worker died mid-push (lease expired). Runs every minute on the worker."""
    now = timezone.now()
    stuck = QuickBooksSyncLog.objects.filter(status=SyncStatus.RUNNING, lease_until__lt=now)
    revived = stuck.update(
        status=SyncStatus.PENDING,
        next_attempt_at=now,
        lease_until=None,
        message="The worker stopped mid-push; trying again.",
    )
    due = list(
        QuickBooksSyncLog.objects.filter(status=SyncStatus.PENDING, next_attempt_at__lte=now)
        .filter(company__quickbooks_connection__status=ConnectionStatus.CONNECTED)
        .values_list("pk", flat=True)[:1000]
    )
    for entry_id in due:
        dispatch(entry_id)
    if due or revived:
        logger.info("qbo.sync.sweep requeued=%s revived=%s", len(due), revived)
    return len(due)


# --- running one entry ----------------------------------------------------------------------------------


CLAIM_WAITING = "waiting"
CLAIM_NOT_NOW = "not now"
DUE_REALMS_SECONDS = 1.0  # how often a draining worker looks which realms have due entries
WAITER = "*outbox-waiter*"  # the pace row whose lease names the one worker waiting for the next due entry


def sync_run(*, entry_id: int) -> str:
    """Run one entry if it is due: claim it, push, record the outcome. Never waits for it: an entry that is not
    due yet is left to the drain (`sync_drain`) or the sweeper, which run it at its time."""
    claimed = _claim(entry_id)
    if isinstance(claimed, tuple):
        entry, connection = claimed
        return _execute(entry, connection)
    if claimed == CLAIM_WAITING:
        return "waiting for QuickBooks to be connected"
    status = QuickBooksSyncLog.objects.filter(pk=entry_id).values_list("status", flat=True).first()
    return "not due yet" if status == SyncStatus.PENDING else "nothing to do"


def _lease_until(now):
    return now + dt.timedelta(seconds=float(settings.QUICKBOOKS_HTTP_TIMEOUT) * 6 + 60)


def _claim(entry_id: int, *, realm_id: str = "") -> tuple[QuickBooksSyncLog, QuickBooksConnection] | str:
    """Take a due pending entry for this worker with its company's connection: `entry_id`, or (`realm_id`) the
    realm's earliest due one. One conditional UPDATE is the claim (whoever changes the row first owns it; no
    transaction, no row lock held), then one SELECT reads it with the connection."""
    now = timezone.now()
    if realm_id:
        entry_id = _claim_next_in_realm(realm_id, now)
        if entry_id is None:
            return CLAIM_NOT_NOW
    elif not QuickBooksSyncLog.objects.filter(
        pk=entry_id, status=SyncStatus.PENDING, next_attempt_at__lte=now
    ).update(
        status=SyncStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        lease_until=_lease_until(now),
        rerun_requested=False,
        updated_at=now,
    ):
        return CLAIM_NOT_NOW
    claimed = QuickBooksSyncLog.objects.select_related("company__quickbooks_connection").filter(
        pk=entry_id, status=SyncStatus.RUNNING, started_at=now
    )
    entry = next(iter(claimed.order_by()), None)  # (no ORDER BY: one row by primary key)
    if entry is None:
        return CLAIM_NOT_NOW  # taken back by the sweeper meanwhile
    connection = getattr(entry.company, "quickbooks_connection", None)
    if connection is None or connection.status != ConnectionStatus.CONNECTED:
        waiting = (
            "Waiting: QuickBooks needs to be reconnected. Nothing is lost."
            if connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT
            else "Waiting: QuickBooks is not connected. This change goes as soon as it is reconnected."
        )
        QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.RUNNING, started_at=now).update(
            status=SyncStatus.PENDING,
            attempts=Greatest(F("attempts") - 1, 0),
            lease_until=None,
            message=waiting,
            updated_at=timezone.now(),
        )
        return CLAIM_WAITING
    return entry, connection


def _claim_next_in_realm(realm_id: str, now) -> int | None:
    """Claim the realm's earliest due pending entry with one `UPDATE … RETURNING` (PostgreSQL skips rows another
    worker is claiming; SQLite serialises writers). Returns its id, or None when none is due."""
    table = QuickBooksSyncLog._meta.db_table
    ops = db_connection.ops
    skip = " FOR UPDATE SKIP LOCKED" if db_connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, started_at = %s, lease_until = %s, "  # noqa: S608
        f"rerun_requested = %s, updated_at = %s WHERE id = (SELECT id FROM {table} WHERE realm_id = %s "
        f"AND status = %s AND next_attempt_at <= %s ORDER BY next_attempt_at, id LIMIT 1{skip}) AND status = %s "
        "RETURNING id"
    )
    stamp = ops.adapt_datetimefield_value(now)
    params = [
        SyncStatus.RUNNING, stamp, ops.adapt_datetimefield_value(_lease_until(now)), False, stamp,
        realm_id, SyncStatus.PENDING, stamp, SyncStatus.PENDING,
    ]  # fmt: skip
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def sync_drain(*, first_entry_id: int | None = None, seconds: float | None = None) -> str:
    """A worker's turn at the outbox: run `first_entry_id` if it is due, then keep claiming due entries, round
    robin by realm (a realm with 5,000 waiting never holds up another's single invoice), for up to
    `QUICKBOOKS_DRAIN_SECONDS`; then hand over (a fresh task if work is left, so other tasks get their turn).

    Nothing sleeps per entry. When nothing is due, one worker of the whole deployment (a lease) stays to run the
    next entry at its due time (the end of a debounce, say) if that comes within its turn; the others return.
    """
    budget = float(settings.QUICKBOOKS_DRAIN_SECONDS if seconds is None else seconds)
    deadline = time.monotonic() + budget
    pushed, waited = 0, False
    if first_entry_id is not None and isinstance(claimed := _claim(first_entry_id), tuple):
        _execute(*claimed)
        pushed += 1
    rotation = _RealmRotation()
    while time.monotonic() < deadline:
        realm = rotation.next_realm()
        if realm is None:
            wait = _next_due_in()
            if wait is None or time.monotonic() + wait > deadline or not _hold_waiter(deadline):
                break
            waited = True
            time.sleep(min(max(wait, 0.05), 1.0))  # the one waiter: until the next entry is due (or news)
            rotation.refresh()
            continue
        claimed = _claim(0, realm_id=realm)
        if isinstance(claimed, tuple):
            outcome = _execute(*claimed)
            pushed += 1
            if outcome == "paced":
                rotation.pause(realm, claimed[0])
            rotation.served(realm)
        else:
            rotation.drop(realm)
    if waited:
        _release_waiter()
    if time.monotonic() >= deadline and _next_due_in() == 0:
        dispatch_drain()  # turn over with work left: the next worker takes it from the queue
    return f"pushed={pushed}"


class _RealmRotation:
    """Which realm this worker serves next: realms with due entries, in turn, looked up at most once a second."""

    def __init__(self) -> None:
        self.realms: list[str] = []
        self.checked = 0.0
        self.paused: dict[str, float] = {}

    def refresh(self) -> None:
        self.checked = 0.0

    def next_realm(self) -> str | None:
        now = time.monotonic()
        if not self.realms or now - self.checked > DUE_REALMS_SECONDS:
            self.checked = now
            self.realms = [realm for realm in _due_realms() if self.paused.get(realm, 0) <= now]
        return self.realms[0] if self.realms else None

    def served(self, realm: str) -> None:
        if self.realms and self.realms[0] == realm:
            self.realms.append(self.realms.pop(0))  # to the back of the line

    def drop(self, realm: str) -> None:
        if realm in self.realms:
            self.realms.remove(realm)

    def pause(self, realm: str, entry) -> None:
        """The realm's limiter handed a call back: leave the realm alone until the entry's new due time."""
        due = QuickBooksSyncLog.objects.filter(pk=entry.pk).values_list("next_attempt_at", flat=True).first()
        wait = (due - timezone.now()).total_seconds() if due else 1.0
        self.paused[realm] = time.monotonic() + max(wait, 0.0)
        self.drop(realm)


def _due_realms() -> list[str]:
    return list(
        QuickBooksSyncLog.objects.filter(status=SyncStatus.PENDING, next_attempt_at__lte=timezone.now())
        .filter(company__quickbooks_connection__status=ConnectionStatus.CONNECTED)
        .order_by()
        .values_list("realm_id", flat=True)
        .distinct()
    )


def _next_due_in() -> float | None:
    """Seconds until the earliest pending entry of a connected company is due (0 if one is), None if none."""
    due = (
        QuickBooksSyncLog.objects.filter(status=SyncStatus.PENDING, next_attempt_at__isnull=False)
        .filter(company__quickbooks_connection__status=ConnectionStatus.CONNECTED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due is None:
        return None
    return max((due - timezone.now()).total_seconds(), 0.0)


def _hold_waiter(deadline: float) -> bool:
    """Whether this worker is (or now becomes) the deployment's one waiter, leased until `deadline`."""
    from integrations.models import QuickBooksRealmPace

    now = time.time()
    until = now + max(deadline - time.monotonic(), 0.0) + 5
    mine = getattr(_hold_waiter, "until", 0.0)
    if mine > now:
        return True
    QuickBooksRealmPace.objects.get_or_create(realm_id=WAITER)
    if QuickBooksRealmPace.objects.filter(realm_id=WAITER, busy_until__lt=now).update(busy_until=until):
        _hold_waiter.until = until
        return True
    return False


def _release_waiter() -> None:
    from integrations.models import QuickBooksRealmPace

    mine = getattr(_hold_waiter, "until", 0.0)
    if mine:
        QuickBooksRealmPace.objects.filter(realm_id=WAITER, busy_until=mine).update(busy_until=0)
        _hold_waiter.until = 0.0


def dispatch_drain() -> None:
    """Queue a drain turn (django-q2); a broker that is down leaves the work to the sweeper."""
    from django_q.tasks import async_task

    try:
        async_task("integrations.services.tasks.drain", task_name="qbo-drain", group="quickbooks-sync")
    except Exception as exc:  # noqa: BLE001
        logger.warning("qbo.sync.dispatch_failed drain error=%s", type(exc).__name__)


def _execute(entry: QuickBooksSyncLog, connection: QuickBooksConnection) -> str:
    from integrations.services.api import client_for
    from integrations.services.payments import ENTITY_PAYMENT, PaymentWaiting, payment_push, payments_wake

    client = client_for(connection)
    push = payment_push if entry.entity_type == ENTITY_PAYMENT else invoice_push
    try:
        result = push(entry=entry, connection=connection, client=client)
    except PaymentWaiting as exc:
        # Not an attempt: the invoice goes first (its success wakes this entry; the sweeper re-checks anyway).
        _finish(
            entry,
            SyncStatus.PENDING,
            exc.message,
            client=client,
            error_code=exc.code,
            attempts_delta=-1,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=PAYMENT_WAIT_SECONDS),
        )
        return "waiting for the invoice"
    except PacedOut as exc:
        # Nothing was sent: the realm's limiter has no slot for a while (a 429 blocked it, or the queue for it
        # is long). Back to pending for then; neither an attempt nor a 429.
        _finish(
            entry,
            SyncStatus.PENDING,
            exc.message,
            client=client,
            error_code="",
            attempts_delta=-1,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=max(exc.retry_after or 1.0, 0.5)),
        )
        return "paced"
    except Throttled as exc:
        return _retry_later(entry, exc, client, throttled=True)
    except (Unavailable, RefreshDeferred, StaleObject) as exc:
        return _retry_later(entry, exc, client)
    except Unauthorized as exc:
        if exc.code == CODE_AUTHORIZATION_FAILURE:
            # 120: the person who connected is no longer an admin of that QuickBooks company (QBO-REFERENCE §3.3)
            from integrations.services.connections import connection_mark_needs_reconnect

            connection_mark_needs_reconnect(
                connection_id=connection.pk, reason=f"{exc.code}: {exc.message}"[:120], intuit_tid=exc.intuit_tid
            )
            return _wait_for_reconnect(entry, client)
        # Refused although the token was just refreshed (the refresh itself was accepted): this entry tries again
        # later; the connection stays connected. A refused refresh raises ReconnectRequired instead.
        return _retry_later(entry, exc, client)
    except ReconnectRequired:
        return _wait_for_reconnect(entry, client)
    except TokenDecryptionError:
        _finish(
            entry,
            SyncStatus.FAILED,
            "Nothing was sent: the stored QuickBooks tokens cannot be decrypted with the keys in QUICKBOOKS_TOKEN_KEYS "
            "(a key problem, not a QuickBooks one). Put the key they were encrypted with back in the list, or "
            "reconnect QuickBooks; then retry.",
            client=client,
            error_code="token_keys",
        )
        logger.error("qbo.sync.token_keys entry=%s company=%s", entry.pk, entry.company_id)
        return "failed"
    except NotConnected as exc:
        _finish(entry, SyncStatus.SKIPPED, exc.message, client=client)
        return "skipped"
    except PushRefused as exc:
        _finish(
            entry,
            SyncStatus.FAILED,
            exc.message,
            client=client,
            error_code=exc.qbo_code or exc.code,
            payload=exc.payload,
        )
        logger.warning("qbo.sync.failed entry=%s company=%s code=%s", entry.pk, entry.company_id, exc.qbo_code)
        return "failed"
    except QuickBooksError as exc:  # validation and other refusals: a person must look
        _finish(entry, SyncStatus.FAILED, _refusal_message(exc), client=client, error_code=exc.code or str(exc.status))
        logger.warning(
            "qbo.sync.failed entry=%s company=%s code=%s intuit_tid=%s",
            entry.pk,
            entry.company_id,
            exc.code,
            exc.intuit_tid,
        )
        return "failed"
    except Exception as exc:
        logger.exception("qbo.sync.crashed entry=%s company=%s", entry.pk, entry.company_id)
        return _retry_later(entry, exc, client)
    _finish(
        entry,
        result.status,
        result.message,
        client=client,
        qbo_id=result.qbo_id,
        payload=result.payload,
        drift=result.drift,
        error_code="drift" if result.status == SyncStatus.DRIFT else "",
    )
    if result.status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE, SyncStatus.DRIFT):
        now = timezone.now()
        if connection.last_synced_at is None or (now - connection.last_synced_at).total_seconds() >= 30:
            # A draining worker does not rewrite the connection row for every invoice of the same second.
            QuickBooksConnection.objects.filter(pk=connection.pk).update(last_synced_at=now)
            connection.last_synced_at = now
        if entry.entity_type != ENTITY_PAYMENT and result.payments_may_wait:
            payments_wake(company_id=entry.company_id, invoice_id=entry.object_id)
    logger.info(
        "qbo.%s.push.%s entry=%s company=%s qbo_id=%s",
        entry.entity_type,
        result.status,
        entry.pk,
        entry.company_id,
        result.qbo_id,
    )
    return result.status


def _wait_for_reconnect(entry, client) -> str:
    """Back to pending without using an attempt; it runs again once an admin reconnects (sync_resume)."""
    _finish(
        entry,
        SyncStatus.PENDING,
        "Waiting: QuickBooks needs to be reconnected. Nothing is lost.",
        client=client,
        attempts_delta=-1,
        next_attempt_at=timezone.now(),
    )
    return "waiting for reconnect"


def _refusal_message(exc: QuickBooksError) -> str:
    if isinstance(exc, NotFound):
        return (
            f"QuickBooks says something on this invoice no longer exists or is inactive ({exc.code or 610}: "
            f"{exc.detail or exc.message}). Reactivate it in QuickBooks or change the mapping, then retry."
        )
    text = f"QuickBooks refused the invoice: {exc.message}"
    if exc.detail and exc.detail != exc.message:
        text += f" — {exc.detail}"
    return f"{text} (code {exc.code or exc.status})."


def _retry_later(entry, exc, client, *, throttled: bool = False) -> str:
    now = timezone.now()
    if throttled and entry.throttled < MAX_THROTTLES:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_THROTTLE_WAIT_SECONDS
        _finish(
            entry,
            SyncStatus.PENDING,
            f"QuickBooks asked us to slow down (429); trying again in {int(wait)} s.",
            client=client,
            error_code=exc.code or "429",
            attempts_delta=-1,
            throttled_delta=1,
            next_attempt_at=now + dt.timedelta(seconds=max(wait, 1)),
        )
        return "throttled"
    if isinstance(exc, Unavailable) and exc.answer_lost:
        reason = (
            "QuickBooks did not answer in time after the request was sent, so it may have been applied. The next "
            "attempt sends the same request id: QuickBooks replays it instead of writing twice"
        )
    else:
        reason = str(exc) if isinstance(exc, QuickBooksError | ApplicationError) else f"unexpected {type(exc).__name__}"
    code = getattr(exc, "code", "") or ""
    if entry.attempts >= _max_attempts():
        _finish(
            entry,
            SyncStatus.DEAD,
            f"Gave up after {entry.attempts} attempts: {reason}. {_dead_advice(exc)}",
            client=client,
            error_code=code,
        )
        logger.error("qbo.sync.dead entry=%s company=%s", entry.pk, entry.company_id)
        return "dead"
    backoff = _backoff_seconds()
    delay = backoff[min(entry.attempts, len(backoff)) - 1] * random.uniform(0.9, 1.1)  # noqa: S311
    retry_at = now + dt.timedelta(seconds=delay)
    _finish(
        entry,
        SyncStatus.PENDING,
        f"Attempt {entry.attempts} failed ({reason}); trying again at {timezone.localtime(retry_at):%H:%M}.",
        client=client,
        error_code=code,
        next_attempt_at=retry_at,
    )
    return "retrying"


def _dead_advice(exc) -> str:
    if isinstance(exc, Unauthorized):
        return "QuickBooks kept refusing fresh tokens: check the app's keys and the connection, then retry."
    if isinstance(exc, QuickBooksError):
        return "Retry when QuickBooks is reachable again."
    return "This is a fault on our side; the log has the details. Retry once it is fixed."


def _mark(entry, status, message, *, now) -> None:
    entry.status, entry.message, entry.finished_at, entry.lease_until = status, message, now, None
    entry.save()


def _finish(
    entry,
    status,
    message,
    *,
    client: QuickBooksClient | None = None,
    qbo_id: str = "",
    error_code="",
    payload=None,
    attempts_delta=0,
    throttled_delta=0,
    next_attempt_at=None,
    drift=None,
) -> None:
    """Record the outcome. The entry is RUNNING under this worker's lease, so one UPDATE is enough."""
    now = timezone.now()
    changes = {
        "status": status,
        "message": message[:2000],
        "error_code": "" if status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE) else str(error_code)[:32],
        "drift": drift,
        "lease_until": None,
        "next_attempt_at": next_attempt_at if status == SyncStatus.PENDING else None,
        "finished_at": None if status == SyncStatus.PENDING else now,
        "updated_at": now,
    }
    if attempts_delta:
        changes["attempts"] = Greatest(F("attempts") + attempts_delta, 0)
    if throttled_delta:
        changes["throttled"] = F("throttled") + throttled_delta
    if qbo_id:
        changes["qbo_id"] = qbo_id
    if client is not None and client.last_intuit_tid:
        changes["intuit_tid"] = client.last_intuit_tid
    if payload is not None:
        changes["payload"] = redact(payload)
    if status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE, SyncStatus.DRIFT):
        changes["create_request_id"] = ""  # QuickBooks holds the invoice (linked): no create is left unresolved
    owned = QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.RUNNING, started_at=entry.started_at)
    if owned.filter(rerun_requested=False).update(**changes):  # the usual case: one statement
        entry.status, entry.message = status, changes["message"]
        return
    with transaction.atomic():  # an edit arrived while this push ran (or the entry is no longer ours)
        rerun = owned.select_for_update().values_list("rerun_requested", flat=True).first()
        if rerun is None:
            # Our lease ran out and the sweeper gave the entry to another worker: its outcome is the one that counts.
            logger.warning("qbo.sync.outcome_dropped entry=%s status=%s", entry.pk, status)
            return
        owned.update(**changes, rerun_requested=False)
        entry.status, entry.message = status, changes["message"]
        if rerun and status != SyncStatus.PENDING:
            # The invoice changed while this push ran: the change goes in a new entry, due now. (A retry that
            # stays pending sends the latest state anyway.)
            follower = QuickBooksSyncLog.objects.create(
                company_id=entry.company_id,
                realm_id=entry.realm_id,
                create_request_id=changes.get("create_request_id", entry.create_request_id),  # an unresolved create
                entity_type=entry.entity_type,
                object_id=entry.object_id,
                object_repr=entry.object_repr,
                next_attempt_at=now,
                message="Changed while the last push ran; sending the latest version.",
            )
            transaction.on_commit(lambda: dispatch(follower.pk))
