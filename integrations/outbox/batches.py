"""The outbox batches: when more than `QUICKBOOKS_OUTBOX_BATCH_THRESHOLD` invoice entries of one realm are due, a
worker's turn for that realm claims up to 30 of them with one statement and hands them to the Online target's batch
push (`integrations/quickbooks/online/batch.py`, docs/decisions/0020). Entries the batch cannot carry, and items
QuickBooks refused inside it, are pushed one by one right after, in the same claim (the same attempt).

The claim is the worker's (`worker._claim_next_in_realm`): one conditional `UPDATE … RETURNING` sets status running,
attempts + 1, started_at and the lease; PostgreSQL skips rows another worker is claiming. A batch whose answer was
lost is gathered again first (its create entries hold its requestid) and sent again with that requestid: Intuit
replays it. The drain asks for a batch turn only where more than the threshold are due; below it, the single push
sends such an entry's batch again with its one item (`online/batch.replay_batch_create`), and an answer without the
item proves that batch never held it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksSyncLog, SyncOperation, SyncStatus
from integrations.quickbooks.client import BATCH_MAX_ITEMS
from integrations.quickbooks.online.batch import BATCH_REQUEST_ID_PREFIX

logger = logging.getLogger("qbo.sync")


def batch_threshold() -> int:
    """A realm's due invoice entries are batched when there are more than this many (0 turns batching off)."""
    return int(getattr(settings, "QUICKBOOKS_OUTBOX_BATCH_THRESHOLD", 10))


def drain_batch(realm_id: str) -> int | None:
    """One batch turn for this realm: the entries claimed (batched or pushed singly after), or None when there is
    no batch to send (not more than the threshold due, batching off, or the realm's company not connected): the
    caller claims and pushes one entry as before. Costs one bounded query when it returns None."""
    now = timezone.now()
    threshold = batch_threshold()
    # Due entries a batch could carry, a lost batch's first (`ob…` sorts after ""), at most threshold + 1 of them.
    rows = list(
        QuickBooksSyncLog.objects.filter(
            realm_id=realm_id, status=SyncStatus.PENDING, next_attempt_at__lte=now, entity_type="invoice"
        )
        .exclude(operation=SyncOperation.VOID)
        .filter(Q(create_request_id="") | Q(create_request_id__startswith=BATCH_REQUEST_ID_PREFIX))
        .order_by("-create_request_id")
        .values_list("create_request_id", "company_id")[: max(threshold, 0) + 1]
    )
    lost = rows[0][0] if rows and rows[0][0] else ""
    if not lost and (threshold <= 0 or len(rows) <= threshold):
        return None
    connection = (
        QuickBooksConnection.objects.filter(realm_id=realm_id, company_id=rows[0][1], status=ConnectionStatus.CONNECTED)
        .order_by()
        .first()
    )
    if connection is None:
        return None
    if lost:
        entry_ids = _claim(connection, now, "create_request_id = %s", [lost])
    else:
        entry_ids = _claim(connection, now, "create_request_id = %s AND operation <> %s", ["", SyncOperation.VOID])
    if not entry_ids:
        return None
    return _run(entry_ids, connection, now)


def _run(entry_ids: list[int], connection: QuickBooksConnection, now) -> int:
    from integrations.outbox.worker import _execute, _lease_until
    from integrations.quickbooks.online.batch import batch_push

    entries = list(
        QuickBooksSyncLog.objects.filter(pk__in=entry_ids, status=SyncStatus.RUNNING, started_at=now).order_by(
            "next_attempt_at", "pk"
        )
    )
    try:
        single = batch_push(entries, connection)
    except Exception:
        # Something of ours broke before the outcomes were recorded (a render or database error): the entries not
        # recorded yet go one by one, where `_execute` records any failure; none waits for its lease to run out.
        logger.exception("qbo.sync.batch.crashed realm=%s entries=%s", connection.realm_id, len(entries))
        still_ours = set(
            QuickBooksSyncLog.objects.filter(pk__in=entry_ids, status=SyncStatus.RUNNING, started_at=now).values_list(
                "pk", flat=True
            )
        )
        single = [entry for entry in entries if entry.pk in still_ours]
    for entry in single:  # still claimed: the single push, with all its fault handling, in this attempt
        # The claim's lease covered the batch; each single push after it renews its own, so the sweeper never
        # revives an entry this worker is still about to push.
        if not QuickBooksSyncLog.objects.filter(pk=entry.pk, status=SyncStatus.RUNNING, started_at=now).update(
            lease_until=_lease_until(timezone.now())
        ):
            continue  # the lease ran out and the sweeper gave it to another worker: its push is the one that counts
        _execute(entry, connection)
    return len(entries)


def _claim(connection: QuickBooksConnection, now, condition: str, condition_params: list) -> list[int]:
    """Claim up to 30 due invoice entries of the realm in one `UPDATE … RETURNING`, with the worker's semantics."""
    from integrations.outbox.worker import _lease_until

    table = QuickBooksSyncLog._meta.db_table
    ops = db_connection.ops
    skip = " FOR UPDATE SKIP LOCKED" if db_connection.features.has_select_for_update_skip_locked else ""
    # The rows are picked once, in a materialized CTE: PostgreSQL may evaluate a `LIMIT … FOR UPDATE SKIP LOCKED`
    # subquery inside `IN (…)` more than once and so claim more than 30.
    materialized = " MATERIALIZED" if db_connection.vendor == "postgresql" else ""
    sql = (
        f"WITH picked AS{materialized} (SELECT id FROM {table} WHERE realm_id = %s "  # noqa: S608
        f"AND company_id = %s AND status = %s AND next_attempt_at <= %s AND entity_type = %s AND {condition} "
        f"ORDER BY next_attempt_at, id LIMIT {int(BATCH_MAX_ITEMS)}{skip}) "
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, started_at = %s, lease_until = %s, "
        "rerun_requested = %s, updated_at = %s WHERE id IN (SELECT id FROM picked) AND status = %s RETURNING id"
    )
    stamp = ops.adapt_datetimefield_value(now)
    params = [
        connection.realm_id, connection.company_id, SyncStatus.PENDING, stamp, "invoice", *condition_params,
        SyncStatus.RUNNING, stamp, ops.adapt_datetimefield_value(_lease_until(now)), False, stamp,
        SyncStatus.PENDING,
    ]  # fmt: skip
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
