"""Reads of integration data, scoped by company."""

from __future__ import annotations

from integrations.models import QuickBooksConnection

SYNC_STATUSES = ("pending", "running", "succeeded", "failed", "dead", "skipped")


def connection_for(*, company) -> QuickBooksConnection | None:
    return QuickBooksConnection.objects.filter(company=company).first()


def sync_counts(*, company) -> dict[str, int]:
    """Counts of sync log entries by status (all zero until pushes exist)."""
    return dict.fromkeys(SYNC_STATUSES, 0)
