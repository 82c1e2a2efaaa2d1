"""Sync log retention: what goes after QUICKBOOKS_SYNC_LOG_RETENTION_DAYS and what stays whatever its age."""

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from integrations.models import QuickBooksSyncLog
from integrations.services.retention import sync_log_prune, sync_log_prune_task

pytestmark = pytest.mark.django_db


def entry(tenant, object_id, status, *, days_ago, **fields):
    row = QuickBooksSyncLog.objects.create(
        company=tenant.company, realm_id="R1", object_id=object_id, status=status, **fields
    )
    QuickBooksSyncLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
    return row


def kept(*rows) -> list[bool]:
    present = set(QuickBooksSyncLog.objects.values_list("pk", flat=True))
    return [row.pk in present for row in rows]


@pytest.mark.parametrize("status", ["succeeded", "up_to_date", "skipped"])
def test_old_finished_rows_go_but_the_latest_row_of_each_invoice_stays(tenant, status):
    old = entry(tenant, 1, status, days_ago=200)
    older_latest = entry(tenant, 1, "succeeded", days_ago=120)  # the invoice's latest row: its state
    recent = entry(tenant, 2, status, days_ago=10)
    recent_latest = entry(tenant, 2, "succeeded", days_ago=5)
    report = sync_log_prune(days=90)
    assert kept(old, older_latest, recent, recent_latest) == [False, True, True, True]
    assert report.deleted == 1 and report.finished


def test_the_invoice_list_state_reads_the_same_after_pruning(tenant):
    from integrations.selectors import latest_invoice_sync

    entry(tenant, 7, "failed", days_ago=300)
    entry(tenant, 7, "succeeded", days_ago=250)
    last = entry(tenant, 7, "up_to_date", days_ago=200)
    sync_log_prune(days=90)
    assert latest_invoice_sync(company=tenant.company, invoice_id=7) == last
    assert QuickBooksSyncLog.objects.count() == 1


@pytest.mark.parametrize("status", ["failed", "dead", "drift"])
def test_problems_stay_until_a_newer_push_of_the_same_object_succeeded(tenant, status):
    unhandled = entry(tenant, 1, status, days_ago=400)
    newer_failure = entry(tenant, 1, "failed", days_ago=300)  # a newer failure does not handle it
    entry(tenant, 1, "pending", days_ago=1)
    handled = entry(tenant, 2, status, days_ago=400)
    entry(tenant, 2, "succeeded", days_ago=200)
    sync_log_prune(days=90)
    assert kept(unhandled, newer_failure, handled) == [True, True, False]


def test_pending_and_running_rows_never_go(tenant):
    pending = entry(tenant, 1, "pending", days_ago=500)
    running = entry(tenant, 2, "running", days_ago=500)
    entry(tenant, 1, "succeeded", days_ago=1)  # (cannot happen with one live entry per object, but still)
    entry(tenant, 2, "succeeded", days_ago=1)
    sync_log_prune(days=90)
    assert kept(pending, running) == [True, True]


def test_a_row_holding_an_unanswered_create_request_id_stays(tenant):
    unresolved = entry(tenant, 1, "skipped", days_ago=200, create_request_id="abc-ic-1")
    entry(tenant, 1, "succeeded", days_ago=100)
    sync_log_prune(days=90)
    assert kept(unresolved) == [True]


def test_rows_of_each_object_are_judged_within_their_company_and_entity(tenant, other_tenant):
    ours = entry(tenant, 1, "succeeded", days_ago=200)
    QuickBooksSyncLog.objects.create(company=other_tenant.company, object_id=1, status="succeeded")
    payment = entry(tenant, 1, "succeeded", days_ago=100, entity_type="payment")
    sync_log_prune(days=90)
    assert kept(ours, payment) == [True, True]  # each still the latest of its own (company, entity, object)


def test_zero_days_keeps_everything(tenant, settings):
    settings.QUICKBOOKS_SYNC_LOG_RETENTION_DAYS = 0
    rows = [entry(tenant, 1, "succeeded", days_ago=days) for days in (900, 800)]
    assert sync_log_prune().deleted == 0 and kept(*rows) == [True, True]


def test_the_setting_decides_the_age_and_a_negative_value_is_refused(tenant, settings):
    settings.QUICKBOOKS_SYNC_LOG_RETENTION_DAYS = 30
    old = entry(tenant, 1, "succeeded", days_ago=40)
    entry(tenant, 1, "succeeded", days_ago=35)
    assert sync_log_prune_task().startswith("deleted=1 ")
    assert kept(old) == [False]
    settings.QUICKBOOKS_SYNC_LOG_RETENTION_DAYS = -1
    with pytest.raises(ImproperlyConfigured, match="QUICKBOOKS_SYNC_LOG_RETENTION_DAYS"):
        sync_log_prune()


def test_pruning_goes_in_chunks_and_stops_at_its_time_budget(tenant):
    old = [entry(tenant, 1, "succeeded", days_ago=300 - i) for i in range(7)]
    entry(tenant, 1, "succeeded", days_ago=1)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        report = sync_log_prune(days=90, chunk_size=3)
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert report.deleted == 7 and len(deletes) == 3  # chunks of 3, 3 and 1
    assert kept(*old) == [False] * 7
    more = [entry(tenant, 2, "succeeded", days_ago=300 - i) for i in range(5)]
    entry(tenant, 2, "succeeded", days_ago=1)
    partial = sync_log_prune(days=90, chunk_size=2, time_budget=0)
    assert (partial.deleted, partial.finished) == (2, False)  # one chunk, then out of time: tomorrow goes on
    assert kept(*more) == [False, False, True, True, True]


def test_retention_runs_daily_on_the_cluster(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="quickbooks-sync-log-retention")
    assert (schedule.func, schedule.schedule_type) == (
        "integrations.services.retention.sync_log_prune_task",
        Schedule.DAILY,
    )
