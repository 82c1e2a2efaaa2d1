"""Per-connection choices an admin makes on the settings page."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from attune_qbo.core.exceptions import ValidationError
from integrations.models import InitialSync, QuickBooksConnection

logger = logging.getLogger("qbo.preferences")


def connection_set_initial_sync(
    *, connection: QuickBooksConnection, initial_sync: str, since: dt.date | None, user
) -> int:
    """Which older invoices go to QuickBooks by themselves: "new invoices only" or "everything issued from a
    date". Saving queues what the realm is now behind on (`sync_after_connect`); returns how many."""
    from integrations.outbox.enqueue import sync_after_connect

    if initial_sync not in InitialSync.values:
        raise ValidationError("Pick “New invoices only” or “Everything issued from a date”.")
    if initial_sync == InitialSync.SINCE_DATE and since is None:
        raise ValidationError("Pick the date from which invoices go to QuickBooks.")
    with transaction.atomic():
        QuickBooksConnection.objects.filter(pk=connection.pk).update(
            initial_sync=initial_sync, initial_sync_since=since if initial_sync == InitialSync.SINCE_DATE else None
        )
        queued = sync_after_connect(connection_id=connection.pk)
    logger.info(
        "qbo.preferences.initial_sync company=%s policy=%s since=%s queued=%s user=%s",
        connection.company_id,
        initial_sync,
        since,
        queued,
        getattr(user, "pk", None),
    )
    return queued
