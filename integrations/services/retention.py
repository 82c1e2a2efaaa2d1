"""Sync log retention: old rows nobody needs are deleted daily, in bounded chunks.

What goes, once older than `QUICKBOOKS_SYNC_LOG_RETENTION_DAYS` (0 keeps everything):
- succeeded, up-to-date and skipped rows that are not their object's latest row (the latest row is what the
  invoice list, the invoice page and "Retry" read: `selectors.latest_invoice_sync`, index `synclog_latest_idx`);
- failed, dead and drift rows once handled: a newer row of the same object succeeded (or was up to date).

What stays, whatever its age: pending and running rows (the outbox), every object's latest row, unhandled failures,
dead and drift rows, and any row holding a `create_request_id` (a create whose answer never came: the next push of
that object reuses it so Intuit replays instead of duplicating, `push.create_request_id`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integrations.conf import quickbooks_config
from integrations.models import QuickBooksSyncLog, SyncStatus

logger = logging.getLogger("qbo.sync.retention")

PRUNABLE = (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE, SyncStatus.SKIPPED)
PROBLEMS = (SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT)
SUCCESSES = (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE)
CHUNK_SIZE = 1000
# The daily task stops after this long (well inside the django-q timeout); the next day goes on from there.
TIME_BUDGET_SECONDS = 60.0


@dataclass
class PruneReport:
    deleted: int = 0
    kept: int = 0  # old rows looked at and kept (latest of their object, unhandled, or holding a request id)
    finished: bool = True  # False when the time budget ran out (the rest goes next time)


def _newer(*, successes_only: bool):
    """Rows of the same object after the outer row, in the order the app reads them (created_at, id)."""
    newer = QuickBooksSyncLog.objects.filter(
        company_id=OuterRef("company_id"), entity_type=OuterRef("entity_type"), object_id=OuterRef("object_id")
    ).filter(Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk")))
    return newer.filter(status__in=SUCCESSES) if successes_only else newer


def sync_log_prune(
    *, days: int | None = None, chunk_size: int = CHUNK_SIZE, time_budget: float = TIME_BUDGET_SECONDS
) -> PruneReport:
    """Delete the sync log rows the retention rules above let go, oldest first, `chunk_size` at a time (each
    chunk its own short statement). Scheduled daily by migration integrations/0018."""
    retention = quickbooks_config().sync_log_retention_days if days is None else days
    report = PruneReport()
    if retention <= 0:
        return report
    cutoff = timezone.now() - dt.timedelta(days=retention)
    deadline = time.monotonic() + time_budget
    for status in PRUNABLE + PROBLEMS:
        superseded = Exists(_newer(successes_only=status in PROBLEMS))
        position = None
        while True:
            rows = QuickBooksSyncLog.objects.filter(status=status, created_at__lt=cutoff)  # synclog_retention_idx
            if position is not None:
                rows = rows.filter(Q(created_at__gt=position[0]) | Q(created_at=position[0], pk__gt=position[1]))
            batch = list(
                rows.annotate(superseded=superseded)
                .order_by("created_at", "pk")
                .values_list("pk", "created_at", "superseded", "create_request_id")[:chunk_size]
            )
            if not batch:
                break
            doomed = [pk for pk, _, gone, request_id in batch if gone and not request_id]
            if doomed:
                # The status again: a failure retried since it was read is pending now, and stays.
                report.deleted += QuickBooksSyncLog.objects.filter(pk__in=doomed, status=status).delete()[0]
            report.kept += len(batch) - len(doomed)
            position = (batch[-1][1], batch[-1][0])  # (created_at, pk) of the last row read
            if time.monotonic() > deadline:
                report.finished = False
                break
            if len(batch) < chunk_size:
                break
        if not report.finished:
            break
    logger.info(
        "qbo.sync.retention days=%s deleted=%s kept=%s finished=%s",
        retention,
        report.deleted,
        report.kept,
        report.finished,
    )
    return report


def sync_log_prune_task() -> str:
    """The daily django-q2 entry point."""
    report = sync_log_prune()
    return f"deleted={report.deleted} kept={report.kept} finished={report.finished}"
