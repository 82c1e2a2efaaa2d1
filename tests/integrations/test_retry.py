"""One retry service: what Retry does in each state, idempotent, the same from every door."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import QuickBooksSyncLog
from integrations.services.retry import RetryOutcome, sync_retry

pytestmark = pytest.mark.django_db


def entry_for(tenant, invoice, **fields):
    return QuickBooksSyncLog.objects.create(
        company=tenant.company, object_id=invoice.pk, object_repr=invoice.number, **fields
    )


@pytest.fixture
def invoice(tenant, connected):
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    return invoice


def test_retry_of_a_waiting_entry_makes_it_due_now_without_a_second_entry(
    tenant, invoice, dispatched, django_capture_on_commit_callbacks
):
    later = timezone.now() + dt.timedelta(minutes=30)
    entry = entry_for(tenant, invoice, status="pending", attempts=2, next_attempt_at=later)
    with django_capture_on_commit_callbacks(execute=True):
        result = sync_retry(entry=entry, user=tenant.staff)
    entry.refresh_from_db()
    assert result.outcome == RetryOutcome.MOVED_UP and result.accepted
    assert entry.next_attempt_at <= timezone.now() and entry.generation == 1
    assert QuickBooksSyncLog.objects.count() == 1 and dispatched == [entry.pk]


def test_retry_of_a_running_entry_says_it_is_already_being_sent(tenant, invoice, dispatched):
    entry = entry_for(tenant, invoice, status="running")
    result = sync_retry(entry=entry, user=tenant.staff)
    assert result.outcome == RetryOutcome.RUNNING and "already being sent" in result.message
    assert dispatched == []


@pytest.mark.parametrize("status", ["succeeded", "up_to_date"])
def test_retry_of_a_success_is_refused_with_the_reason(tenant, invoice, dispatched, status):
    entry = entry_for(tenant, invoice, status=status)
    result = sync_retry(entry=entry, user=tenant.staff)
    entry.refresh_from_db()
    assert result.outcome == RetryOutcome.REFUSED and "already has invoice" in result.message
    assert entry.status == status and dispatched == []


@pytest.mark.parametrize("status", ["failed", "dead", "drift"])
def test_retry_of_a_failure_starts_a_new_generation_due_now_and_twice_is_once(
    tenant, invoice, dispatched, django_capture_on_commit_callbacks, status
):
    entry = entry_for(tenant, invoice, status=status, attempts=5, generation=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = sync_retry(entry=entry, user=tenant.staff)
        second = sync_retry(entry=entry, user=tenant.staff)
    entry.refresh_from_db()
    assert first.outcome == RetryOutcome.QUEUED and second.outcome == RetryOutcome.MOVED_UP
    assert (entry.status, entry.generation, entry.attempts, entry.trigger) == ("pending", 2, 0, "retry")
    assert QuickBooksSyncLog.objects.filter(status__in=["pending", "running"]).count() == 1


def test_retry_of_an_old_failure_moves_the_newer_live_entry_instead_of_adding_one(tenant, invoice, dispatched):
    old = entry_for(tenant, invoice, status="failed")
    newer = entry_for(tenant, invoice, status="pending", next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    result = sync_retry(entry=old, user=tenant.staff)
    old.refresh_from_db()
    newer.refresh_from_db()
    assert result.entry.pk == newer.pk and old.status == "failed" and newer.next_attempt_at <= timezone.now()


def test_admin_action_counts_what_it_did(tenant, invoice, client, dispatched):
    tenant.staff.is_staff = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    failed = entry_for(tenant, invoice, status="failed")
    other = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.filter(object_id=other.pk).delete()
    done = entry_for(tenant, other, status="succeeded")
    url = reverse("admin:integrations_quickbookssynclog_changelist")
    response = client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk, done.pk]}, follow=True)
    text = response.content.decode()
    assert "1 sync(s) queued to retry. 1 skipped (1 with nothing to retry)." in text
    response = client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk]}, follow=True)
    assert "1 sync(s) queued to retry." in response.content.decode()  # waiting → due now, counted once
    assert "-1 skipped" not in response.content.decode()


def test_admin_uses_plain_verbose_names(tenant, admin_client):
    text = admin_client.get(reverse("admin:index")).content.decode()
    assert "QuickBooks connections" in text and "Quick books" not in text


def test_retry_of_another_tenants_entry_is_404_on_pages_and_api(
    tenant, other_tenant, invoice, page_client_for, api_client_for
):
    theirs = QuickBooksSyncLog.objects.create(company=other_tenant.company, object_id=1, status="failed")
    page = page_client_for(tenant.admin)
    assert page.post(reverse("integrations:quickbooks-activity-retry", args=[theirs.pk])).status_code == 404
    api = api_client_for(tenant.admin)
    assert api.post(f"/api/v1/integrations/quickbooks/sync-logs/{theirs.pk}/retry").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "failed"
