import pytest
from django.urls import reverse

from integrations.models import QuickBooksSyncLog
from tests.integrations.conftest import (
    add_customer_created,
    add_invoice_answer,
    add_no_customer,
    make_connection,
    run_due,
)

pytestmark = pytest.mark.django_db
BASE = "/api/v1/integrations/quickbooks"


def test_sync_now_queues_an_immediate_push_and_answers_202(
    tenant, connected, api_client_for, dispatched, django_capture_on_commit_callbacks
):
    invoice = tenant.invoice(finalize=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(tenant.staff).post(f"{BASE}/sync/{invoice.pk}")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["trigger"], body["object_id"], body["triggered_by"]) == (
        "pending",
        "manual",
        invoice.pk,
        "alpha-staff",
    )
    entry = QuickBooksSyncLog.objects.get(pk=body["id"])
    assert dispatched[-1] == entry.pk


def test_sync_now_refuses_drafts_members_and_unconnected_companies(tenant, other_tenant, api_client_for, dispatched):
    draft = tenant.invoice()
    assert api_client_for(tenant.member).post(f"{BASE}/sync/{draft.pk}").status_code == 403
    response = api_client_for(tenant.staff).post(f"{BASE}/sync/{draft.pk}")
    assert response.status_code == 409 and response.json()["code"] == "not_connected"
    make_connection(tenant.company, realm="ALPHA-REALM")
    response = api_client_for(tenant.staff).post(f"{BASE}/sync/{draft.pk}")
    assert response.status_code == 400
    assert "is a draft; finalize it before sending it to QuickBooks" in response.json()["message"]


def test_tenant_a_cannot_sync_see_or_retry_tenant_bs_invoices_or_logs(tenant, other_tenant, connected, api_client_for):
    make_connection(other_tenant.company, realm="B-REALM")
    b_invoice = other_tenant.invoice(finalize=True)
    b_entry = QuickBooksSyncLog.objects.create(
        company=other_tenant.company,
        object_id=b_invoice.pk,
        status="failed",
        object_repr="B-SECRET",
        message="B failed",
    )
    api = api_client_for(tenant.admin)
    assert api.post(f"{BASE}/sync/{b_invoice.pk}").status_code == 404
    assert api.post(f"{BASE}/sync-logs/{b_entry.pk}/retry").status_code == 404
    assert api.get(f"{BASE}/sync-logs").json()["results"] == []
    assert "B-SECRET" not in api.get(f"{BASE}/status").content.decode()
    b_entry.refresh_from_db()
    assert b_entry.status == "failed"


def test_pushing_tenant_as_invoice_never_uses_tenant_bs_realm_or_token(
    tenant, other_tenant, connected, intuit, django_capture_on_commit_callbacks
):
    make_connection(other_tenant.company, access="token-of-B", realm="REALM-OF-B")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = tenant.invoice(finalize=True)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert intuit.calls and all("REALM-OF-B" not in c.request.url for c in intuit.calls)
    assert all(c.request.headers.get("Authorization") != "Bearer token-of-B" for c in intuit.calls)


def test_sync_logs_are_filterable_and_paginated(tenant, connected, api_client_for):
    for i in range(30):
        QuickBooksSyncLog.objects.create(
            company=tenant.company, object_id=i, status="failed" if i % 3 else "succeeded", object_repr=f"INV-{i}"
        )
    api = api_client_for(tenant.staff)
    body = api.get(f"{BASE}/sync-logs").json()
    assert body["count"] == 30 and len(body["results"]) == 25 and body["next"]
    assert api.get(f"{BASE}/sync-logs", {"status": "succeeded"}).json()["count"] == 10
    assert [r["object_repr"] for r in api.get(f"{BASE}/sync-logs", {"invoice": 7}).json()["results"]] == ["INV-7"]
    assert api_client_for(tenant.member).get(f"{BASE}/sync-logs").status_code == 403


def test_retry_of_a_dead_entry_starts_a_new_generation(
    tenant, connected, api_client_for, dispatched, django_capture_on_commit_callbacks
):
    entry = QuickBooksSyncLog.objects.create(company=tenant.company, object_id=1, status="dead", attempts=5)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(tenant.staff).post(f"{BASE}/sync-logs/{entry.pk}/retry")
    assert response.status_code == 202
    entry.refresh_from_db()
    assert (entry.status, entry.attempts, entry.generation, entry.trigger) == ("pending", 0, 2, "retry")
    assert dispatched == [entry.pk]
    response = api_client_for(tenant.staff).post(f"{BASE}/sync-logs/{entry.pk}/retry")  # idempotent: same entry
    assert response.status_code == 202 and QuickBooksSyncLog.objects.filter(status="pending").count() == 1
    entry.refresh_from_db()
    assert entry.generation == 2
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status="succeeded")
    response = api_client_for(tenant.staff).post(f"{BASE}/sync-logs/{entry.pk}/retry")
    assert response.status_code == 400 and "Nothing to retry" in response.json()["message"]


def test_status_reports_counts_and_last_failures(tenant, connected, api_client_for):
    QuickBooksSyncLog.objects.create(company=tenant.company, object_id=1, status="succeeded")
    QuickBooksSyncLog.objects.create(
        company=tenant.company,
        object_id=2,
        status="failed",
        object_repr="INV-2",
        error_code="6140",
        message="QuickBooks already has invoice INV-2",
    )
    body = api_client_for(tenant.staff).get(f"{BASE}/status").json()
    assert body["sync_counts"]["succeeded"] == 1 and body["sync_counts"]["failed"] == 1
    assert body["last_failures"][0]["error_code"] == "6140" and body["last_failures"][0]["invoice"] == "INV-2"


def test_django_admin_retry_action_for_staff(tenant, connected, client, dispatched, django_capture_on_commit_callbacks):
    tenant.staff.is_staff = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    failed = QuickBooksSyncLog.objects.create(company=tenant.company, object_id=1, status="failed")
    done = QuickBooksSyncLog.objects.create(company=tenant.company, object_id=2, status="succeeded")
    url = reverse("admin:integrations_quickbooksynclog_changelist".replace("quickbooksynclog", "quickbookssynclog"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk, done.pk]}, follow=True)
    assert "1 sync(s) queued to retry. 1 skipped" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "pending" and dispatched == [failed.pk]


def test_invoice_page_shows_the_failure_banner_and_a_retry_button(tenant, connected, page_client_for, dispatched):
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    QuickBooksSyncLog.objects.create(
        company=tenant.company,
        object_id=invoice.pk,
        status="dead",
        error_code="10000",
        message="Gave up after 5 attempts.",
    )
    client = page_client_for(tenant.staff)
    page = client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "This invoice did not reach QuickBooks." in page and "Gave up after 5 attempts." in page
    assert "Retry</button>" in page
    response = client.post(reverse("integrations:quickbooks-invoice-sync", args=[invoice.pk]), follow=True)
    assert f"Invoice {invoice.number} is queued for QuickBooks." in response.content.decode()
    assert QuickBooksSyncLog.objects.get(object_id=invoice.pk).status == "pending"
    assert (
        "Retry</button>"
        not in page_client_for(tenant.member).get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    )


def test_an_unknown_status_filter_is_refused_not_ignored(tenant, api_client_for):
    response = api_client_for(tenant.staff).get("/api/v1/integrations/quickbooks/sync-logs", {"status": "bogus"})
    assert response.status_code == 400 and response.json()["code"]
    assert "Unknown status" in str(response.json())
