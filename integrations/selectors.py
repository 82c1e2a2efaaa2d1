"""Reads of integration data, always scoped by company."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
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
    # One indexed, limited read per status (company, status, -updated_at), merged here: an IN over both would
    # sort every failed and dead row first.
    entries = []
    for status in (SyncStatus.FAILED, SyncStatus.DEAD):
        entries += QuickBooksSyncLog.objects.filter(company=company, status=status).order_by("-updated_at", "-id")[
            :limit
        ]
    return sorted(entries, key=lambda entry: (entry.updated_at, entry.pk), reverse=True)[:limit]


def latest_invoice_sync(*, company, invoice_id: int) -> QuickBooksSyncLog | None:
    return (
        QuickBooksSyncLog.objects.filter(company=company, entity_type="invoice", object_id=invoice_id)
        .order_by("-created_at", "-id")
        .first()
    )


# --- the activity page, health and the invoice list ------------------------------------------------------

PROBLEM_STATUSES = (SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT)
SUCCESS_STATUSES = (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE)
HEALTH_DAYS = 7
CHART_DAYS = 30


def activity_list(
    *,
    company,
    status: str | None = None,
    entity_type: str | None = None,
    number: str | None = None,
    date_from=None,
    date_to=None,
    error_code: str | None = None,
) -> QuerySet[QuickBooksSyncLog]:
    """The activity page's rows, newest first (index `synclog_activity_idx`; filters use the others)."""
    import datetime as dt

    from django.utils import timezone

    entries = QuickBooksSyncLog.objects.filter(company=company)
    if status == "problems":
        entries = entries.filter(status__in=PROBLEM_STATUSES)
    elif status in SYNC_STATUSES:
        entries = entries.filter(status=status)
    if entity_type:
        entries = entries.filter(entity_type=entity_type)
    if number:
        entries = entries.filter(object_repr=number.strip())
    if error_code:
        entries = entries.filter(error_code=error_code)
    tz = timezone.get_current_timezone()
    if date_from:
        entries = entries.filter(created_at__gte=dt.datetime.combine(date_from, dt.time.min, tzinfo=tz))
    if date_to:
        entries = entries.filter(
            created_at__lt=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        )
    return entries.order_by("-created_at", "-id")


def error_groups(*, company, since=None) -> list[dict]:
    """Failed, dead and drifted entries by cause (error code), most frequent first."""
    entries = QuickBooksSyncLog.objects.filter(company=company, status__in=PROBLEM_STATUSES)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    rows = entries.order_by().values("error_code").annotate(n=Count("id")).order_by("-n", "error_code")
    return [{"error_code": row["error_code"], "count": row["n"]} for row in rows[:20]]


RETRY_ALL_DAYS = 30


def retryable_failures(*, company, days: int = RETRY_ALL_DAYS) -> QuerySet[QuickBooksSyncLog]:
    """Failed or dead entries of the last `days` days with no newer entry for the same invoice ("Retry all
    failed"); older ones are retried one by one."""
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    newer = QuickBooksSyncLog.objects.filter(
        company=company,
        entity_type=OuterRef("entity_type"),
        object_id=OuterRef("object_id"),
        created_at__gt=OuterRef("created_at"),
    )
    return (
        QuickBooksSyncLog.objects.filter(
            company=company,
            status__in=[SyncStatus.FAILED, SyncStatus.DEAD],
            created_at__gte=timezone.now() - timezone.timedelta(days=days),
        )
        .exclude(Exists(newer))
        .order_by("-created_at")
    )


def health(*, company) -> dict:
    """What went wrong in the last 7 days, for the amber pill and banner: failed, dead and drifted pushes, and
    pushes waiting out a back-off after a failed attempt."""
    from django.utils import timezone

    since = timezone.now() - timezone.timedelta(days=HEALTH_DAYS)
    rows = (
        QuickBooksSyncLog.objects.filter(company=company, status__in=PROBLEM_STATUSES, created_at__gte=since)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys((SyncStatus.FAILED, SyncStatus.DEAD, SyncStatus.DRIFT), 0)
    counts.update(dict(rows))
    retrying = (
        QuickBooksSyncLog.objects.filter(
            company=company, status=SyncStatus.PENDING, created_at__gte=since, attempts__gt=0
        )
        .exclude(error_code="")
        .count()
    )
    return {
        "failed": counts[SyncStatus.FAILED],
        "dead": counts[SyncStatus.DEAD],
        "drift": counts[SyncStatus.DRIFT],
        "retrying": retrying,
        "total": sum(counts.values()) + retrying,
        "days": HEALTH_DAYS,
    }


def daily_outcomes(*, company, days: int = CHART_DAYS) -> list[dict]:
    """Successes and failures per day for the last `days` days (oldest first), for the chart.

    PostgreSQL groups by day in one query; SQLite casts dates in Python per row (350 ms over 50,000 rows), so
    there it counts each day's index range instead (`days` small range scans, about 30 ms).
    """
    import datetime as dt

    from django.db import connection
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    tz = timezone.get_current_timezone()
    first = timezone.localdate() - dt.timedelta(days=days - 1)
    bounds = [dt.datetime.combine(first + dt.timedelta(days=i), dt.time.min, tzinfo=tz) for i in range(days + 1)]
    entries = QuickBooksSyncLog.objects.filter(company=company).order_by()
    if connection.vendor == "postgresql":
        rows = (
            entries.filter(created_at__gte=bounds[0], status__in=SUCCESS_STATUSES + PROBLEM_STATUSES)
            .annotate(day=TruncDate("created_at", tzinfo=tz))
            .values("day")
            .annotate(
                ok=Count("id", filter=Q(status__in=SUCCESS_STATUSES)),
                bad=Count("id", filter=Q(status__in=PROBLEM_STATUSES)),
            )
        )
        by_day = {row["day"]: (row["ok"], row["bad"]) for row in rows}
    else:
        by_day = {}
        for i in range(days):
            counts = entries.filter(created_at__gte=bounds[i], created_at__lt=bounds[i + 1]).aggregate(
                ok=Count("id", filter=Q(status__in=SUCCESS_STATUSES)),
                bad=Count("id", filter=Q(status__in=PROBLEM_STATUSES)),
            )
            by_day[first + dt.timedelta(days=i)] = (counts["ok"], counts["bad"])
    return [
        {
            "day": first + dt.timedelta(days=i),
            "ok": by_day.get(first + dt.timedelta(days=i), (0, 0))[0],
            "bad": by_day.get(first + dt.timedelta(days=i), (0, 0))[1],
        }
        for i in range(days)
    ]


# The invoice list's QuickBooks column: the latest entry's status, in five words.
INVOICE_STATES = {
    "synced": ("Synced", "ok", SUCCESS_STATUSES),
    "pending": ("Pending", "warn", (SyncStatus.PENDING, SyncStatus.RUNNING)),
    "failed": ("Failed", "bad", (SyncStatus.FAILED, SyncStatus.DEAD)),
    "drift": ("Drift", "warn", (SyncStatus.DRIFT,)),
    "not_sent": ("Not sent", "", (SyncStatus.SKIPPED,)),
}


def _latest_status_subquery(company):
    from django.db.models import OuterRef, Subquery

    return Subquery(
        QuickBooksSyncLog.objects.filter(company=company, entity_type="invoice", object_id=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("status")[:1]
    )


def invoice_states(*, company, invoice_ids) -> dict[int, tuple[str, str]]:
    """{invoice id: (label, pill class)} for a page of invoices (one query); unsent invoices are "Not sent"."""
    from attune_qbo.billing.models import Invoice

    if connection_for(company=company) is None:
        return {}
    rows = (
        Invoice.objects.filter(company=company, pk__in=list(invoice_ids))
        .annotate(qbo_status=_latest_status_subquery(company))
        .values_list("pk", "status", "qbo_status")
    )
    states = {}
    for pk, invoice_status, qbo_status in rows:
        key = next((k for k, (_, _, statuses) in INVOICE_STATES.items() if qbo_status in statuses), "not_sent")
        label, css, _ = INVOICE_STATES[key]
        states[pk] = ("" if invoice_status == "draft" and qbo_status is None else label, css)  # drafts never go
    return states


def invoices_filter_by_state(*, company, invoices, state: str):
    """The invoice list filtered by its QuickBooks column: one index-only probe per invoice looked at
    (`synclog_latest_idx`), in the WHERE clause only (an alias, not a selected column, so it runs once)."""
    from django.db.models import Value
    from django.db.models.functions import Coalesce

    if state not in INVOICE_STATES:
        return invoices
    statuses = list(INVOICE_STATES[state][2])
    if state == "not_sent":
        invoices, statuses = invoices.exclude(status="draft"), [*statuses, ""]  # "": never sent at all
    return invoices.alias(qbo_status=Coalesce(_latest_status_subquery(company), Value(""))).filter(
        qbo_status__in=statuses
    )


def choices_search(*, connection, entity: str, q: str = "", limit: int = 50, active_only: bool = True, details=()):
    """Cached QuickBooks entries for a select: by name (contains), alphabetical, at most `limit`."""
    from integrations.models import QuickBooksChoice

    rows = QuickBooksChoice.objects.filter(connection=connection, realm_id=connection.realm_id, entity=entity)
    if active_only:
        rows = rows.filter(active=True)
    if details:
        rows = rows.filter(detail__in=details)
    if q:
        rows = rows.filter(name_key__contains=q.strip().lower())
    return list(rows.order_by("name_key")[:limit])


def choices_read_at(*, connection):
    from django.db.models import Max

    from integrations.models import QuickBooksChoice

    return QuickBooksChoice.objects.filter(connection=connection, realm_id=connection.realm_id).aggregate(
        at=Max("fetched_at")
    )["at"]


def page_status(*, company):
    """What the settings page and its polled pill show, without the all-time counts `connection_status` adds for
    the API (a GROUP BY over every log row: ~60 ms with 100,000 rows, on every poll)."""
    from integrations.services.connections import connection_status

    return connection_status(company=company, with_history=False)


def unapplied_payments(*, company, include_closed: bool = False):
    """QuickBooks payments (or parts of them) waiting for a person: not applied to one of our invoices in
    QuickBooks, or refused here. Newest first; `include_closed` adds resolved and voided/deleted ones."""
    from integrations.models import QuickBooksUnappliedPayment, UnappliedStatus

    rows = QuickBooksUnappliedPayment.objects.filter(company=company)
    if not include_closed:
        rows = rows.filter(status=UnappliedStatus.OPEN)
    return rows.order_by("-created_at", "-id")


def webhook_events(*, company, status: str | None = None):
    """The company's received QuickBooks changes (webhooks and CDC), newest first."""
    from integrations.models import QuickBooksWebhookEvent

    rows = QuickBooksWebhookEvent.objects.filter(company=company)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-id")
