"""Pages at volume: counts stop at a bound, the API pages by cursor, the admin filters and searches through
indexes, queries stay bounded (bench/pages.py measures 100,000 rows)."""

import pytest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from attune_qbo.core import pagination
from attune_qbo.core.pagination import BoundedPaginator
from integrations.models import QuickBooksSyncLog

pytestmark = pytest.mark.django_db
ACTIVITY = "integrations:quickbooks-activity"
API = "/api/v1/integrations/quickbooks/sync-logs"


def rows(tenant, count, **fields):
    QuickBooksSyncLog.objects.bulk_create(
        [
            QuickBooksSyncLog(
                company=tenant.company, object_id=i, object_repr=f"INV-{i}", status=fields.get("status", "succeeded")
            )
            for i in range(count)
        ]
    )


def test_bounded_paginator_counts_up_to_its_limit_and_says_whether_it_stopped(tenant):
    rows(tenant, 30)
    entries = QuickBooksSyncLog.objects.order_by("-id")
    exact = BoundedPaginator(entries, 10, count_limit=50)
    assert (exact.count, exact.count_is_exact, exact.num_pages) == (30, True, 3)
    capped = BoundedPaginator(entries, 10, count_limit=25)
    assert (capped.count, capped.count_is_exact, capped.num_pages) == (25, False, 3)
    assert [e.object_id for e in capped.get_page(3)] == list(range(9, 4, -1))  # the counted window's last page
    window = BoundedPaginator(entries, 5, window_pages=2)
    page = window.get_page(1)
    assert (window.count, window.count_is_exact, page.has_next()) == (15, False, True)


def test_activity_says_more_than_when_the_count_stops(tenant, page_client_for, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_LIMIT", 100)
    rows(tenant, 120)
    client = page_client_for(tenant.staff)
    text = client.get(reverse(ACTIVITY), {"page": 2}).content.decode()
    assert "Page 2 of 2+ · more than 100" in text and 'rel="prev"' in text
    failed_only = client.get(reverse(ACTIVITY), {"status": "failed"}).content.decode()
    assert "Nothing matches these filters" in failed_only


def test_activity_page_queries_do_not_grow_with_rows(tenant, page_client_for):
    from django.db import connection

    client = page_client_for(tenant.staff)
    rows(tenant, 5)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse(ACTIVITY))
    rows(tenant, 200, status="failed")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse(ACTIVITY))
    assert len(many) == len(few)


def test_api_sync_logs_page_by_cursor_through_every_row(tenant, connected, api_client_for):
    rows(tenant, 60)
    api = api_client_for(tenant.staff)
    body = api.get(API).json()
    assert (body["count"], body["count_is_exact"], len(body["results"]), body["previous"]) == (60, True, 25, None)
    assert "cursor=" in body["next"]
    seen = [r["id"] for r in body["results"]]
    while body["next"]:
        body = api.get(body["next"]).json()
        seen += [r["id"] for r in body["results"]]
    assert seen == list(QuickBooksSyncLog.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert api.get(API, {"cursor": "not-a-cursor"}).status_code == 404  # DRF: "Invalid cursor" (JSON)


def test_api_sync_logs_count_stops_at_the_bound(tenant, connected, api_client_for, monkeypatch):
    from integrations.api.pagination import SyncLogPagination

    monkeypatch.setattr(SyncLogPagination, "count_limit", 40)
    rows(tenant, 45)
    body = api_client_for(tenant.staff).get(API).json()
    assert (body["count"], body["count_is_exact"]) == (40, False)


@pytest.fixture
def staff_admin(tenant, client):
    tenant.staff.is_staff = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    return client


def test_admin_sync_log_filters_by_date_range_and_company_and_searches_whole_values(tenant, other_tenant, staff_admin):
    import datetime as dt

    from django.utils import timezone

    rows(tenant, 3)
    old = QuickBooksSyncLog.objects.create(
        company=tenant.company, object_id=99, object_repr="INV-OLD", intuit_tid="1-abc-2", status="failed"
    )
    QuickBooksSyncLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    QuickBooksSyncLog.objects.create(company=other_tenant.company, object_id=1, object_repr="INV-THEIRS")
    url = reverse("admin:integrations_quickbookssynclog_changelist")
    page = staff_admin.get(url).content.decode()
    assert "INV-OLD" in page and "INV-THEIRS" not in page and "Beta" not in page  # only their companies listed
    assert "Past 7 days" in page and "Show counts" not in page
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    week = staff_admin.get(
        url, {"created_at__gte": str(today - dt.timedelta(days=7)), "created_at__lt": str(today + dt.timedelta(days=1))}
    ).content.decode()
    assert "INV-OLD" not in week and "INV-2" in week
    assert "INV-OLD" in staff_admin.get(url, {"q": "1-abc-2"}).content.decode()  # an Intuit reference
    assert "INV-2" not in staff_admin.get(url, {"q": "INV-OLD"}).content.decode()
    assert "INV-OLD" not in staff_admin.get(url, {"q": "abc"}).content.decode()  # whole values only
    mine = staff_admin.get(url, {"company__id__exact": str(tenant.company.pk)}).content.decode()
    assert "INV-OLD" in mine
    theirs = staff_admin.get(url, {"company__id__exact": str(other_tenant.company.pk)}).content.decode()
    assert "INV-THEIRS" not in theirs  # the filter never widens what they may see


def test_invoice_list_quickbooks_filter_still_finds_each_state(tenant, connected, page_client_for):
    sent = tenant.invoice(finalize=True)
    failing = tenant.invoice(finalize=True)
    never = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    for invoice, statuses in ((sent, ["failed", "succeeded"]), (failing, ["succeeded", "dead"])):
        for status in statuses:
            QuickBooksSyncLog.objects.create(company=tenant.company, object_id=invoice.pk, status=status)
    client = page_client_for(tenant.staff)

    def listed(state):
        text = client.get(reverse("billing:invoice-list"), {"qbo": state}).content.decode()
        return {invoice.number for invoice in (sent, failing, never) if f">{invoice.number}<" in text}

    assert listed("synced") == {sent.number}
    assert listed("failed") == {failing.number}
    assert listed("not_sent") == {never.number}


def test_admin_sync_log_list_asks_for_the_users_companies_once_and_its_queries_do_not_grow_with_rows(
    tenant, staff_admin
):
    from django.db import connection

    url = reverse("admin:integrations_quickbookssynclog_changelist")
    rows(tenant, 5)
    staff_admin.get(url)
    with CaptureQueriesContext(connection) as few:
        staff_admin.get(url)
    rows(tenant, 60)
    with CaptureQueriesContext(connection) as many:
        page = staff_admin.get(url).content.decode()
    assert len(many) == len(few) <= 12  # the sidebar asked every admin for permissions: 38 queries before
    memberships = [q for q in many.captured_queries if 'FROM "tenants_membership"' in q["sql"]]
    assert len(memberships) <= 2  # once per role (staff, admin) per request, not once per registered admin
    entry = QuickBooksSyncLog.objects.filter(company=tenant.company).order_by("-created_at", "-id").first()
    # Django's own row checkbox, written without a form widget per row: the actions still see the selection.
    assert (
        f'<input type="checkbox" name="_selected_action" value="{entry.pk}" class="action-select" '
        f'aria-label="Select this object for an action - {entry}">'
    ) in page
