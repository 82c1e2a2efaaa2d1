"""Reads of integration data, always scoped by company."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from integrations.models import QuickBooksConnection, QuickBooksSyncLog, SyncStatus

SYNC_STATUSES = tuple(SyncStatus.values)


def connection_for(*, company) -> QuickBooksConnection | None:
    return QuickBooksConnection.objects.filter(company=company).first()


def sync_counts(*, company) -> dict[str, int]:
    """Sync log entries by status (one indexed GROUP BY)."""
    counts = dict.fromkeys(SYNC_STATUSES, 0)
    rows = (
        QuickBooksSyncLog.objects.filter(company=company)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts.update(dict(rows))
    return counts


def sync_log_list(
    *, company, status: str | None = None, invoice_id: str | None = None, entity_type: str | None = None
) -> QuerySet[QuickBooksSyncLog]:
    entries = QuickBooksSyncLog.objects.filter(company=company).select_related("triggered_by")
    if status in SYNC_STATUSES:
        entries = entries.filter(status=status)
    if invoice_id and str(invoice_id).isdigit():
        entries = entries.filter(entity_type="invoice", object_id=int(invoice_id))
    if entity_type:
        entries = entries.filter(entity_type=entity_type)
    return entries.order_by("-created_at", "-id")


def sync_log_get(*, company, pk) -> QuickBooksSyncLog:
    return get_object_or_404(QuickBooksSyncLog.objects.filter(company=company), pk=pk)


def last_failures(*, company, limit: int = 5) -> list[QuickBooksSyncLog]:
    return list(
        QuickBooksSyncLog.objects.filter(company=company, status__in=[SyncStatus.FAILED, SyncStatus.DEAD]).order_by(
            "-updated_at", "-id"
        )[:limit]
    )


def latest_invoice_sync(*, company, invoice_id: int) -> QuickBooksSyncLog | None:
    return (
        QuickBooksSyncLog.objects.filter(company=company, entity_type="invoice", object_id=invoice_id)
        .order_by("-created_at", "-id")
        .first()
    )
