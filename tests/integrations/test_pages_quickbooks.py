"""Settings, activity, invoice box and invoice list: what each role sees and may do."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog
from tests.integrations.conftest import REALM

pytestmark = pytest.mark.django_db
SETTINGS = "integrations:quickbooks-settings"
ACTIVITY = "integrations:quickbooks-activity"


def log(tenant, invoice=None, **fields):
    defaults = {"company": tenant.company, "realm_id": REALM, "object_id": invoice.pk if invoice else 1}
    if invoice is not None:
        defaults["object_repr"] = invoice.number
    return QuickBooksSyncLog.objects.create(**{**defaults, **fields})


@pytest.fixture
def invoice(tenant, connected):
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    return invoice


def test_settings_turn_amber_with_counts_and_a_link_when_something_failed_lately(tenant, invoice, page_client_for):
    client = page_client_for(tenant.staff)
    text = client.get(reverse(SETTINGS)).content.decode()
    assert 'class="pill ok"' in text and "qbo-health" not in text
    log(tenant, invoice, status="failed", error_code="6140")
    log(tenant, invoice, status="drift")
    old = log(tenant, invoice, status="dead")
    QuickBooksSyncLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=9))
    text = client.get(reverse(SETTINGS)).content.decode()
    assert 'class="pill warn"' in text and "2 pushes need attention" in text
    assert "1 failed" in text and "1 with different figures in QuickBooks" in text
    assert reverse(ACTIVITY) + "?status=problems" in text
    pill = client.get(reverse("integrations:quickbooks-status-pill")).content.decode()
    assert 'class="pill warn"' in pill
    assert reverse("integrations:quickbooks-chart") in text  # the chart loads after the page
    chart = client.get(reverse("integrations:quickbooks-chart"), headers={"HX-Request": "true"}).content.decode()
    assert chart.startswith("<figure") and "<svg" in chart
    assert "succeeded (0)" in chart and "failed or drifted (3)" in chart  # the chart covers 30 days
    page = client.get(reverse("integrations:quickbooks-chart")).content.decode()  # without JavaScript: a page
    assert "<html" in page and "<svg" in page


def test_settings_show_us_sales_tax_mode_never_sent_invoices_and_the_first_sync_policy(
    tenant, connected, page_client_for, dispatched, django_capture_on_commit_callbacks
):
    QuickBooksConnection.objects.update(sales_tax_mode="ast", qbo_country="US", realm_connected_at=timezone.now())
    old = tenant.invoice(finalize=True, issue_date=dt.date(2025, 12, 1))
    QuickBooksSyncLog.objects.all().delete()
    QuickBooksConnection.objects.update(realm_connected_at=timezone.now() + dt.timedelta(seconds=1))
    client = page_client_for(tenant.admin)
    text = client.get(reverse(SETTINGS)).content.decode()
    assert "Automated Sales Tax" in text and "Refresh company settings" in text
    # One card offers them (the batch send); the older one-by-one prompt is gone.
    assert "1 finalized invoice</strong> has never reached this QuickBooks company" in text
    assert "Send existing invoices</button>" in text and "Send them</button>" not in text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("integrations:quickbooks-send-never-sent"), follow=True)
    assert "1 invoice queued for QuickBooks." in response.content.decode()
    assert QuickBooksSyncLog.objects.get(object_id=old.pk).status == "pending"
    QuickBooksSyncLog.objects.all().delete()
    response = client.post(reverse("integrations:quickbooks-initial-sync"), {"initial_sync": "since_date"}, follow=True)
    assert "Pick the date" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("integrations:quickbooks-initial-sync"),
            {"initial_sync": "since_date", "initial_sync_since": "2025-11-01"},
            follow=True,
        )
    connection = QuickBooksConnection.objects.get()
    assert (connection.initial_sync, connection.initial_sync_since) == ("since_date", dt.date(2025, 11, 1))
    assert "1 invoice queued for QuickBooks." in response.content.decode()


def test_members_see_connected_or_not_and_no_buttons_or_details(tenant, invoice, page_client_for):
    log(tenant, invoice, status="failed", message="Secret detail", intuit_tid="tid-123")
    client = page_client_for(tenant.member)
    text = client.get(reverse(SETTINGS)).content.decode()
    text = text[text.index("<main>") :]
    assert "Connected" in text
    for hidden in ("<button", "Realm", "qbo-health", "Refresh company settings", "Activity", "Mapping", "Secret"):
        assert hidden not in text, hidden
    detail = client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "QuickBooks: Failed." in detail
    assert "Send now" not in detail and "Retry" not in detail and "Secret detail" not in detail
    for name, method in [
        (ACTIVITY, "get"),
        ("integrations:quickbooks-activity-retry-failed", "post"),
        ("integrations:quickbooks-refresh-company", "post"),
        ("integrations:quickbooks-send-never-sent", "post"),
        ("integrations:quickbooks-initial-sync", "post"),
    ]:
        assert getattr(client, method)(reverse(name)).status_code == 403, name
    retry = reverse("integrations:quickbooks-activity-retry", args=[QuickBooksSyncLog.objects.get().pk])
    assert client.post(retry).status_code == 403
    assert client.post(reverse("integrations:quickbooks-invoice-sync", args=[invoice.pk])).status_code == 403


def test_staff_see_activity_and_retry_but_not_admin_settings(tenant, invoice, page_client_for):
    client = page_client_for(tenant.staff)
    assert client.get(reverse(ACTIVITY)).status_code == 200
    assert client.post(reverse("integrations:quickbooks-refresh-company")).status_code == 403
    assert client.post(reverse("integrations:quickbooks-initial-sync")).status_code == 403


def test_activity_lists_newest_first_with_filters_next_steps_and_intuit_reference(tenant, invoice, page_client_for):
    log(tenant, invoice, status="succeeded", qbo_id="130", message="Created invoice")
    log(tenant, invoice, status="failed", error_code="mapping_incomplete", message="map product X")
    log(tenant, invoice, status="failed", error_code="6140", message="already has invoice", intuit_tid="tid-abc")
    log(
        tenant,
        invoice,
        status="drift",
        message="figures differ",
        drift={
            "differences": [{"field": "total", "label": "Total", "ours": "272.84", "quickbooks": "265.00"}],
            "causes": ["QuickBooks computed the sales tax itself."],
        },
    )
    client = page_client_for(tenant.staff)
    text = client.get(reverse(ACTIVITY)).content.decode()
    assert text.index("figures differ") < text.index("already has invoice") < text.index("Created invoice")
    assert "ours <strong>272.84</strong>, QuickBooks <strong>265.00</strong>" in text
    assert "QuickBooks computed the sales tax itself." in text
    assert "tid-abc" in text and "ask an admin to fix the mapping" in text
    assert "/simulator/companies/" in text or "app.sandbox.qbo.intuit.com/app/invoice?txnId=130" in text
    assert "Retry all failed (0)" not in text  # failures superseded by a newer entry are not offered twice
    assert "Mapping missing" in text and "Invoice number already in QuickBooks" in text
    filtered = client.get(reverse(ACTIVITY), {"status": "succeeded"}).content.decode()
    assert "Created invoice" in filtered and "already has invoice" not in filtered
    by_number = client.get(reverse(ACTIVITY), {"number": "NOPE"}).content.decode()
    assert "Nothing matches these filters" in by_number
    by_code = client.get(reverse(ACTIVITY), {"status": "problems", "code": "6140"}).content.decode()
    assert "already has invoice" in by_code and "map product X" not in by_code
    future = client.get(reverse(ACTIVITY), {"date_from": "2999-01-01"}).content.decode()
    assert "Nothing matches" in future


def test_activity_paginates(tenant, invoice, page_client_for):
    QuickBooksSyncLog.objects.bulk_create(
        [QuickBooksSyncLog(company=tenant.company, object_id=i, status="succeeded") for i in range(120)]
    )
    text = page_client_for(tenant.staff).get(reverse(ACTIVITY), {"page": 3}).content.decode()
    assert "Page 3 of 3" in text and "120 in all" in text


def test_retry_all_failed_retries_each_failed_invoice_once(
    tenant, invoice, page_client_for, dispatched, django_capture_on_commit_callbacks
):
    other = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.filter(object_id=other.pk).delete()
    log(tenant, invoice, status="failed")
    log(tenant, other, status="dead")
    client = page_client_for(tenant.staff)
    assert "Retry all failed (2)" in client.get(reverse(ACTIVITY)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("integrations:quickbooks-activity-retry-failed"), follow=True)
    assert "2 failed syncs queued to retry." in response.content.decode()
    assert QuickBooksSyncLog.objects.filter(status="pending").count() == 2 and len(dispatched) == 2


def test_invoice_box_polls_while_pending_and_stops_when_done(tenant, invoice, page_client_for):
    entry = log(tenant, invoice, status="pending", next_attempt_at=timezone.now())
    client = page_client_for(tenant.staff)
    panel_url = reverse("integrations:quickbooks-invoice-panel", args=[invoice.pk])
    text = client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert f'hx-get="{panel_url}"' in text and "Sending…" in text
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status="succeeded", qbo_id="130")
    fragment = client.get(panel_url).content.decode()
    assert "hx-get" not in fragment and "Succeeded" in fragment and "130" in fragment


def test_invoice_box_shows_a_failure_once_up_to_date_and_drift_with_both_figures(tenant, invoice, page_client_for):
    client = page_client_for(tenant.staff)
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    entry = log(tenant, invoice, status="failed", message="QuickBooks refused the invoice: boom")
    assert client.get(url).content.decode().count("QuickBooks refused the invoice: boom") == 1
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status="up_to_date", message="Already there")
    text = client.get(url).content.decode()
    assert "Up to date" in text and "Skipped" not in text
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(
        status="drift",
        drift={
            "differences": [{"field": "total", "label": "Total", "ours": "272.84", "quickbooks": "265.00"}],
            "causes": ["Automated Sales Tax recalculated the tax."],
        },
    )
    text = client.get(url).content.decode()
    assert "ours <strong>272.84</strong>, QuickBooks <strong>265.00</strong>" in text
    assert "Likely cause: Automated Sales Tax recalculated the tax." in text and "Retry</button>" in text


def test_send_now_during_a_back_off_moves_the_entry_to_now_one_entry_never_two(
    tenant, invoice, page_client_for, dispatched, django_capture_on_commit_callbacks
):
    later = timezone.now() + dt.timedelta(minutes=5)
    entry = log(tenant, invoice, status="pending", attempts=1, next_attempt_at=later, error_code="10000")
    client = page_client_for(tenant.staff)
    assert "Send now</button>" in client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("integrations:quickbooks-invoice-sync", args=[invoice.pk]))
    entry.refresh_from_db()
    assert entry.next_attempt_at <= timezone.now() and QuickBooksSyncLog.objects.count() == 1
    assert dispatched == [entry.pk]


def test_a_voided_invoice_quickbooks_already_has_as_void_offers_no_send_now(tenant, invoice, page_client_for):
    from attune_qbo.billing import services

    QuickBooksLink.objects.create(
        company=tenant.company, realm_id=REALM, object_type="invoice", object_id=invoice.pk, qbo_id="130"
    )
    services.invoice_void(invoice=invoice)
    QuickBooksSyncLog.objects.all().delete()
    QuickBooksLink.objects.update(voided=True)
    log(tenant, invoice, status="succeeded", operation="void", qbo_id="130")
    text = page_client_for(tenant.admin).get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Send now" not in text and "Open in QuickBooks" in text


def test_invoice_list_has_a_quickbooks_column_and_filter(tenant, invoice, page_client_for):
    unsent = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.filter(object_id=unsent.pk).delete()
    log(tenant, invoice, status="failed")
    client = page_client_for(tenant.member)
    text = client.get(reverse("billing:invoice-list")).content.decode()
    assert '<th class="hide-sm">QuickBooks</th>' in text and ">Failed</span>" in text and ">Not sent</span>" in text
    failed = client.get(reverse("billing:invoice-list"), {"qbo": "failed"}).content.decode()
    assert invoice.number in failed and unsent.number not in failed
    not_sent = client.get(reverse("billing:invoice-list"), {"qbo": "not_sent"}).content.decode()
    assert unsent.number in not_sent and invoice.number not in not_sent


def test_invoice_list_has_no_quickbooks_column_for_a_company_that_never_connected(tenant, page_client_for):
    tenant.invoice(finalize=True)
    assert "QuickBooks" not in page_client_for(tenant.admin).get(reverse("billing:invoice-list")).content.decode()
