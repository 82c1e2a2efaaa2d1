"""A person's "Retry": one service behind the invoice page, the activity page, the API and the Django admin.

Idempotent: pressing Retry twice queues one push. What it does depends on the entry's state:

- pending (waiting for its debounce or a back-off) → due now, the same entry (never a second one);
- running → nothing: it is being sent right now;
- succeeded / up to date → refused: QuickBooks has this version (edit the invoice, or "Send now", to push again);
- skipped → refused, with the reason it was skipped;
- failed / dead / drift → a new attempt generation, due now (new `requestid`s, so Intuit treats it as new).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksSyncLog, SyncStatus, SyncTrigger

logger = logging.getLogger("qbo.sync.retry")

RETRYABLE = (SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT)
LIVE = (SyncStatus.PENDING, SyncStatus.RUNNING)


class RetryOutcome:
    QUEUED = "queued"  # a new generation was queued
    MOVED_UP = "moved_up"  # a waiting entry was made due now
    RUNNING = "running"  # already being sent
    REFUSED = "refused"  # nothing to retry


@dataclass(frozen=True)
class RetryResult:
    entry: QuickBooksSyncLog
    outcome: str
    message: str

    @property
    def accepted(self) -> bool:
        """True when a push is (or already was) on its way."""
        return self.outcome in (RetryOutcome.QUEUED, RetryOutcome.MOVED_UP, RetryOutcome.RUNNING)

    @property
    def queued(self) -> bool:
        """True when this call queued something (a new generation, or a wait cut short)."""
        return self.outcome in (RetryOutcome.QUEUED, RetryOutcome.MOVED_UP)


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _invoice_number(entry: QuickBooksSyncLog) -> str:
    from attune_qbo.billing.models import Invoice

    if entry.entity_type != "invoice":
        return ""
    return (
        Invoice.objects.filter(company_id=entry.company_id, pk=entry.object_id).values_list("number", flat=True).first()
        or ""
    )


def _connected(company_id: int) -> bool:
    return QuickBooksConnection.objects.filter(company_id=company_id, status=ConnectionStatus.CONNECTED).exists()


def sync_retry(*, entry: QuickBooksSyncLog, user) -> RetryResult:
    """Retry one sync log entry (see the module docstring for what that means in each state)."""
    from integrations.outbox.enqueue import dispatch

    label = entry.object_repr or _invoice_number(entry) or f"#{entry.object_id}"
    now = timezone.now()
    with transaction.atomic():
        locked = QuickBooksSyncLog.objects.select_for_update().get(pk=entry.pk)
        status = locked.status
        if status == SyncStatus.RUNNING:
            return RetryResult(locked, RetryOutcome.RUNNING, f"Invoice {label} is already being sent to QuickBooks.")
        if status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE):
            return RetryResult(
                locked,
                RetryOutcome.REFUSED,
                f"Nothing to retry: QuickBooks already has invoice {label} as it was then "
                "(edit it, or use “Send now” on its page, to send it again).",
            )
        if status == SyncStatus.SKIPPED:
            return RetryResult(
                locked, RetryOutcome.REFUSED, f"Nothing to retry for invoice {label}: {locked.message or 'skipped'}"
            )
        if status == SyncStatus.PENDING:
            locked.next_attempt_at = now
            locked.trigger, locked.triggered_by = SyncTrigger.RETRY, user if _is_user(user) else None
            locked.save(update_fields=["next_attempt_at", "trigger", "triggered_by", "updated_at"])
            target, outcome = locked, RetryOutcome.MOVED_UP
            message = f"Invoice {label} was waiting; it is being sent now."
        else:  # failed, dead, drift
            live = (
                QuickBooksSyncLog.objects.select_for_update()
                .filter(
                    company_id=locked.company_id,
                    entity_type=locked.entity_type,
                    object_id=locked.object_id,
                    status__in=LIVE,
                )
                .exclude(pk=locked.pk)
                .first()
            )
            if live is not None:
                # A newer entry for the same invoice is already on its way: one live entry, never two.
                if live.status == SyncStatus.RUNNING:
                    return RetryResult(
                        live, RetryOutcome.RUNNING, f"Invoice {label} is already being sent to QuickBooks."
                    )
                live.next_attempt_at = now
                live.save(update_fields=["next_attempt_at", "updated_at"])
                target, outcome = live, RetryOutcome.MOVED_UP
                message = f"A newer push of invoice {label} was waiting; it is being sent now."
            else:
                locked.status = SyncStatus.PENDING
                locked.generation += 1
                locked.attempts = locked.throttled = 0
                locked.trigger, locked.triggered_by = SyncTrigger.RETRY, user if _is_user(user) else None
                locked.next_attempt_at = now
                locked.finished_at = None
                locked.message = "Retry requested; waiting to be sent to QuickBooks."
                locked.save()
                target, outcome = locked, RetryOutcome.QUEUED
                message = f"Invoice {label} is queued for QuickBooks."
        if _connected(target.company_id):
            transaction.on_commit(lambda: dispatch(target.pk))
        else:
            message += " It goes as soon as QuickBooks is connected again."
    logger.info("qbo.sync.retry entry=%s outcome=%s", target.pk, outcome)
    return RetryResult(target, outcome, message)


def sync_retry_many(*, entries, user) -> dict[str, int]:
    """Retry several entries (the activity page's "Retry all failed", the admin action); counts per outcome."""
    counts = {RetryOutcome.QUEUED: 0, RetryOutcome.MOVED_UP: 0, RetryOutcome.RUNNING: 0, RetryOutcome.REFUSED: 0}
    for entry in entries:
        counts[sync_retry(entry=entry, user=user).outcome] += 1
    return counts
