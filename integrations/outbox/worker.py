"""The worker's side of the outbox: claim due entries (round robin by realm, one push per invoice at a time), run
each on its target outside any transaction (`_execute`, the seam to the target), and sweep what was lost.

No task sleeps for its entry: one worker at most waits for the next due time. The database row is the truth; the
queue is only the engine: `sync_sweep` re-enqueues due rows whose task was lost and rows whose worker died.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Count, F
from django.db.models.functions import Greatest
from django.utils import timezone

from attune_qbo.core.prepared import PreparedQuery
from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksSyncLog, SyncStatus
from integrations.outbox import enqueue
from integrations.outbox.batches import batch_threshold, drain_batch

logger = logging.getLogger("qbo.sync")


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
        enqueue.dispatch(entry_id)
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
    realm's earliest due one. One conditional `UPDATE … RETURNING` is the claim and reads the entry (whoever
    changes the row first owns it; no transaction, no row lock held); one SELECT then reads the connection, for an
    invoice in the same query as the invoice the push reads first (`_connection_of`)."""
    now = timezone.now()
    entry = _claim_next_in_realm(realm_id, now) if realm_id else _claim_by_id(entry_id, now)
    if entry is None:
        return CLAIM_NOT_NOW
    connection = _connection_of(entry)
    if connection is None or connection.status != ConnectionStatus.CONNECTED:
        waiting = (
            "Waiting: QuickBooks needs to be reconnected. Nothing is lost."
            if connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT
            else "Waiting: QuickBooks is not connected. This change goes as soon as it is reconnected."
        )
        QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.RUNNING, started_at=entry.started_at).update(
            status=SyncStatus.PENDING,
            attempts=Greatest(F("attempts") - 1, 0),
            lease_until=None,
            message=waiting,
            updated_at=timezone.now(),
        )
        return CLAIM_WAITING
    return entry, connection


def _connection_of(entry: QuickBooksSyncLog) -> QuickBooksConnection | None:
    """The claimed entry's company connection, read now (a token rotation, a reconnect or a mapping change made by
    another process is seen by the next claim). An invoice entry reads it with its invoice, client and links in
    the push's own first query (`online.push.claimed_invoice`), kept on the entry for the push."""
    if entry.entity_type == "invoice":
        from integrations.quickbooks.online.push import claimed_invoice

        invoice = claimed_invoice(entry)
        if invoice is not None:
            return getattr(invoice.company, "quickbooks_connection", None)
    return _company_connection.first(company_id=entry.company_id)


_company_connection = PreparedQuery(
    lambda company_id: QuickBooksConnection.objects.filter(company_id=company_id), company_id=int
)


def _claim_sql(where: str) -> str:
    """`UPDATE … RETURNING` every column of the entry: the claim of one due pending entry `where` says which."""
    table = QuickBooksSyncLog._meta.db_table
    columns = ", ".join(field.column for field in QuickBooksSyncLog._meta.concrete_fields)
    return (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, started_at = %s, lease_until = %s, "  # noqa: S608
        f"rerun_requested = %s, updated_at = %s WHERE {where} AND status = %s RETURNING {columns}"
    )


def _run_claim(sql: str, where_params: list, now) -> QuickBooksSyncLog | None:
    ops = db_connection.ops
    stamp = ops.adapt_datetimefield_value(now)
    params = [
        SyncStatus.RUNNING, stamp, ops.adapt_datetimefield_value(_lease_until(now)), False, stamp,
        *where_params, SyncStatus.PENDING,
    ]  # fmt: skip
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else _entry_from_row(row)


def _entry_from_row(row) -> QuickBooksSyncLog:
    """The entry as the ORM would load it (the same database converters: datetimes, JSON, booleans)."""
    converters = _row_converters.get(db_connection.alias)
    if converters is None:
        converters = _row_converters[db_connection.alias] = [
            (field.attname, (col := field.get_col(QuickBooksSyncLog._meta.db_table)),
             [*db_connection.ops.get_db_converters(col), *col.get_db_converters(db_connection)])
            for field in QuickBooksSyncLog._meta.concrete_fields
        ]  # fmt: skip
    values = []
    for value, (_, col, functions) in zip(row, converters, strict=True):
        for function in functions:
            value = function(value, col, db_connection)
        values.append(value)
    return QuickBooksSyncLog.from_db(db_connection.alias, [name for name, _, _ in converters], values)


_row_converters: dict[str, list] = {}
_CLAIM_BY_ID = _claim_sql("id = %s AND next_attempt_at <= %s")


def _claim_by_id(entry_id: int, now) -> QuickBooksSyncLog | None:
    """Claim this entry if it is pending and due, with one `UPDATE … RETURNING`."""
    return _run_claim(_CLAIM_BY_ID, [entry_id, db_connection.ops.adapt_datetimefield_value(now)], now)


def _claim_next_in_realm(realm_id: str, now) -> QuickBooksSyncLog | None:
    """Claim the realm's earliest due pending entry with one `UPDATE … RETURNING` (PostgreSQL skips rows another
    worker is claiming; SQLite serialises writers). Returns it, or None when none is due."""
    table = QuickBooksSyncLog._meta.db_table
    skip = " FOR UPDATE SKIP LOCKED" if db_connection.features.has_select_for_update_skip_locked else ""
    sql = _claim_sql(
        f"id = (SELECT id FROM {table} WHERE realm_id = %s AND status = %s AND next_attempt_at <= %s "  # noqa: S608
        f"ORDER BY next_attempt_at, id LIMIT 1{skip})"
    )
    stamp = db_connection.ops.adapt_datetimefield_value(now)
    return _run_claim(sql, [realm_id, SyncStatus.PENDING, stamp], now)


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
        if 0 < batch_threshold() < rotation.due(realm) and (batched := drain_batch(realm)) is not None:
            pushed += batched  # more than the threshold due: up to 30 in one batch call (decision 0020)
            rotation.served(realm, batched)
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
        enqueue.dispatch_drain()  # turn over with work left: the next worker takes it from the queue
    return f"pushed={pushed}"


class _RealmRotation:
    """Which realm this worker serves next: realms with due entries, in turn, looked up at most once a second, with
    how many entries each had due then (a batch turn is only tried where more than the threshold wait)."""

    def __init__(self) -> None:
        self.realms: list[str] = []
        self.due_counts: dict[str, int] = {}
        self.checked = 0.0
        self.paused: dict[str, float] = {}

    def refresh(self) -> None:
        self.checked = 0.0

    def next_realm(self) -> str | None:
        now = time.monotonic()
        if not self.realms or now - self.checked > DUE_REALMS_SECONDS:
            self.checked = now
            self.due_counts = _due_realms()
            due = [realm for realm in self.due_counts if self.paused.get(realm, 0) <= now]
            # Keep the turn order across looks: realms that came due since go first (never served in this turn),
            # then the others in the order they were served. (Rebuilding it from the query's order would put the
            # same realm first after every look, which a batch turn of a second or more makes every time.)
            self.realms = [realm for realm in due if realm not in self.realms] + [
                realm for realm in self.realms if realm in self.due_counts and realm in due
            ]
        return self.realms[0] if self.realms else None

    def due(self, realm: str) -> int:
        return self.due_counts.get(realm, 0)

    def served(self, realm: str, entries: int = 1) -> None:
        self.due_counts[realm] = max(self.due_counts.get(realm, 0) - entries, 0)
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


def _due_realms() -> dict[str, int]:
    """Realms of connected companies with due entries, and how many each has due."""
    return dict(
        QuickBooksSyncLog.objects.filter(status=SyncStatus.PENDING, next_attempt_at__lte=timezone.now())
        .filter(company__quickbooks_connection__status=ConnectionStatus.CONNECTED)
        .order_by()
        .values("realm_id")
        .annotate(due=Count("id"))
        .values_list("realm_id", "due")
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


_waiter_lease = threading.local()  # until when this thread holds the waiter lease (threads of one process apart)


def _hold_waiter(deadline: float) -> bool:
    """Whether this worker is (or now becomes) the deployment's one waiter, leased until `deadline`."""
    from integrations.models import QuickBooksRealmPace

    now = time.time()
    until = now + max(deadline - time.monotonic(), 0.0) + 5
    mine = getattr(_waiter_lease, "until", 0.0)
    if mine > now:
        return True
    QuickBooksRealmPace.objects.get_or_create(realm_id=WAITER)
    if QuickBooksRealmPace.objects.filter(realm_id=WAITER, busy_until__lt=now).update(busy_until=until):
        _waiter_lease.until = until
        return True
    return False


def _release_waiter() -> None:
    from integrations.models import QuickBooksRealmPace

    mine = getattr(_waiter_lease, "until", 0.0)
    if mine:
        QuickBooksRealmPace.objects.filter(realm_id=WAITER, busy_until=mine).update(busy_until=0)
        _waiter_lease.until = 0.0


def _execute(entry: QuickBooksSyncLog, connection: QuickBooksConnection) -> str:
    """Run one claimed entry on its target and record the outcome; returns the outcome's name.

    The seam between the outbox and a sync target: the target's runner pushes the entry and records what happened
    with `outbox.outcomes` (finish, retry later, dead). The worker claims entries of companies connected to
    QuickBooks Online only (a QuickBooks Desktop company's entries wait for its Web Connector, which claims them
    itself), so the runner here is Online's."""
    return runner_for(connection)(entry, connection)


def runner_for(connection: QuickBooksConnection):
    """The target runner for entries claimed with this connection: `(entry, connection) -> outcome`."""
    from integrations.quickbooks.online.runner import online_run

    return online_run
