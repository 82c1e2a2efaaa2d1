import datetime as dt
import logging

import pytest
import requests
import responses
from django.core import mail
from django.utils import timezone

from attune_qbo.audit.models import AuditLog
from integrations.exceptions import NotConnected, ReconnectRequired, RefreshDeferred
from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.services import connections
from integrations.services.api import client_for
from tests.integrations.conftest import (
    REALM,
    REVOKE_URL,
    SANDBOX_API,
    TOKEN_URL,
    add_company_info,
    add_token_response,
    form_of,
    json_of,
    make_connection,
    token_body,
)

pytestmark = pytest.mark.django_db


def reload(connection):
    return QuickBooksConnection.objects.get(pk=connection.pk)


def test_refresh_rotates_and_saves_both_tokens(tenant, intuit):
    connection = make_connection(tenant.company, expires_in=60)
    add_token_response(intuit, token_body("access-new", "refresh-new", rolling=8000000), tid="tid-r")
    connections.connection_refresh(connection_id=connection.pk)
    assert form_of(intuit.calls[0]) == {"grant_type": "refresh_token", "refresh_token": "stored-refresh"}
    connection = reload(connection)
    assert connection.access_token_cipher.reveal() == "access-new"
    assert connection.refresh_token_cipher.reveal() == "refresh-new"
    assert connection.access_token_expires_at > timezone.now() + dt.timedelta(minutes=59)
    assert connection.last_intuit_tid == "tid-r" and connection.last_refreshed_at is not None


def test_refresh_is_skipped_while_the_access_token_is_fresh(tenant, intuit):
    connection = make_connection(tenant.company, expires_in=3600)
    connections.connection_refresh(connection_id=connection.pk)
    assert len(intuit.calls) == 0
    add_token_response(intuit, token_body("forced-access", "forced-refresh"))
    connections.connection_refresh(connection_id=connection.pk, force=True)
    assert reload(connection).refresh_token_cipher.reveal() == "forced-refresh"


def test_refresh_after_a_401_only_when_the_rejected_token_is_still_the_stored_one(tenant, intuit):
    connection = make_connection(tenant.company, access="current-access", expires_in=3600)
    connections.connection_refresh(connection_id=connection.pk, rejected_access_token="older-access")
    assert len(intuit.calls) == 0  # another process refreshed already: use what is stored
    add_token_response(intuit, token_body("after-401", "refresh-after-401"))
    connections.connection_refresh(connection_id=connection.pk, rejected_access_token="current-access")
    assert reload(connection).access_token_cipher.reveal() == "after-401"


def test_invalid_grant_marks_needs_reconnect_audits_and_emails_admins(
    tenant, intuit, django_capture_on_commit_callbacks
):
    connection = make_connection(tenant.company, expires_in=10)
    add_token_response(intuit, {"error": "invalid_grant", "error_description": "Token expired"}, status=400, tid="t-ig")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReconnectRequired):
        connections.connection_refresh(connection_id=connection.pk)
    connection = reload(connection)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert connection.refresh_token_cipher.reveal() == "stored-refresh"  # kept, not deleted
    entry = AuditLog.objects.get(action="quickbooks.needs_reconnect")
    assert entry.company == tenant.company and entry.details == {"realm_id": REALM, "intuit_tid": "t-ig"}
    assert [m.to for m in mail.outbox] == [[tenant.admin.email]]
    assert "reconnected" in mail.outbox[0].subject
    # From now on nothing calls Intuit until an admin reconnects.
    with pytest.raises(ReconnectRequired):
        connections.connection_refresh(connection_id=connection.pk, force=True)
    assert len(intuit.calls) == 1


@pytest.mark.parametrize("failure", ["500", "timeout"])
def test_transient_refresh_failure_changes_nothing(tenant, intuit, failure):
    connection = make_connection(tenant.company, expires_in=10)
    before = reload(connection)
    if failure == "timeout":
        intuit.add(responses.POST, TOKEN_URL, body=requests.Timeout("timed out"))
    else:
        add_token_response(intuit, {"error": "server_error"}, status=500)
    with pytest.raises(RefreshDeferred):
        connections.connection_refresh(connection_id=connection.pk)
    after = reload(connection)
    assert after.status == ConnectionStatus.CONNECTED
    assert after.refresh_token_cipher == before.refresh_token_cipher
    assert after.access_token_expires_at == before.access_token_expires_at
    assert mail.outbox == []


def test_client_refreshes_once_on_401_and_retries(tenant, intuit):
    connection = make_connection(tenant.company, access="expired-access", expires_in=3600)
    url = f"{SANDBOX_API}/v3/company/{REALM}/companyinfo/{REALM}"
    intuit.add(
        responses.GET,
        url,
        status=401,
        json={"fault": {"error": [{"message": "AuthenticationFailed", "code": "3200"}], "type": "AUTHENTICATION"}},
    )
    add_token_response(intuit, token_body("fresh-access", "fresh-refresh"))
    add_company_info(intuit)
    info = client_for(connection).company_info()
    assert info.company_name == "Sandbox Company US 1"
    api_calls = [c for c in intuit.calls if c.request.url.startswith(url)]
    assert [c.request.headers["Authorization"] for c in api_calls] == ["Bearer expired-access", "Bearer fresh-access"]
    assert "minorversion=75" in api_calls[0].request.url
    assert reload(connection).refresh_token_cipher.reveal() == "fresh-refresh"


def test_sweep_refreshes_only_connections_about_to_expire(tenant, other_tenant, intuit):
    soon = make_connection(tenant.company, expires_in=30 * 60, realm="111")
    later = make_connection(other_tenant.company, expires_in=55 * 60, realm="222")
    add_token_response(intuit, token_body("swept-access", "swept-refresh"))
    report = connections.connection_refresh_sweep()
    assert (report.considered, report.refreshed) == (1, 1)
    assert reload(soon).refresh_token_cipher.reveal() == "swept-refresh"
    assert reload(later).refresh_token_cipher.reveal() == "stored-refresh"


def test_sweep_warns_admins_30_and_7_days_before_the_hard_expiry_once_each(tenant, intuit):
    connection = make_connection(tenant.company)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        refresh_token_hard_expires_at=timezone.now() + dt.timedelta(days=29)
    )
    connections.connection_refresh_sweep()
    connections.connection_refresh_sweep()
    assert len(mail.outbox) == 1 and "within 28 days" in mail.outbox[0].subject
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        refresh_token_hard_expires_at=timezone.now() + dt.timedelta(days=6, hours=12)
    )
    connections.connection_refresh_sweep()
    connections.connection_refresh_sweep()
    assert len(mail.outbox) == 2 and "within 6 days" in mail.outbox[1].subject


def test_quickbooks_refresh_command_runs_the_same_service(tenant, intuit, capsys):
    from django.core.management import call_command

    connection = make_connection(tenant.company)
    add_token_response(intuit, token_body("cmd-access", "cmd-refresh"))
    call_command("quickbooks_refresh", "--company", str(tenant.company.pk), "--force")
    assert "considered 1, refreshed 1" in capsys.readouterr().out
    assert reload(connection).refresh_token_cipher.reveal() == "cmd-refresh"


def test_the_refresh_sweep_is_scheduled_every_45_minutes(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="quickbooks-refresh-sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "integrations.services.tasks.refresh_sweep",
        Schedule.MINUTES,
        45,
    )


def test_disconnect_revokes_and_clears_the_tokens(tenant, intuit, api_client_for):
    connection = make_connection(tenant.company)
    intuit.add(responses.POST, REVOKE_URL, status=200)
    response = api_client_for(tenant.admin).post("/api/v1/integrations/quickbooks/disconnect")
    assert response.status_code == 200 and response.json() == {"status": "disconnected", "warning": ""}
    assert json_of(intuit.calls[0]) == {"token": "stored-refresh"}
    connection = reload(connection)
    assert connection.status == ConnectionStatus.DISCONNECTED
    assert connection.access_token_cipher is None and connection.refresh_token_cipher is None
    assert AuditLog.objects.filter(action="quickbooks.disconnect", outcome="success", actor=tenant.admin).exists()


@pytest.mark.parametrize("failure", [500, "timeout"])
def test_disconnect_when_revoke_fails_still_disconnects_with_a_warning(
    tenant, intuit, page_client_for, failure, caplog
):
    connection = make_connection(tenant.company)
    if failure == "timeout":
        intuit.add(responses.POST, REVOKE_URL, body=requests.ConnectionError("down"))
    else:
        intuit.add(responses.POST, REVOKE_URL, status=500, json={"error": "server_error"})
    client = page_client_for(tenant.admin)
    assert "Disconnect QuickBooks?" in client.get("/settings/integrations/quickbooks/disconnect/").content.decode()
    with caplog.at_level(logging.WARNING, logger="qbo"):
        response = client.post("/settings/integrations/quickbooks/disconnect/", follow=True)
    assert "could not confirm it revoked access" in response.content.decode()
    assert reload(connection).status == ConnectionStatus.DISCONNECTED
    assert reload(connection).refresh_token_cipher is None
    assert AuditLog.objects.get(action="quickbooks.disconnect").outcome == "warning"
    assert any("qbo.connection.revoke.failed" in r.getMessage() for r in caplog.records)


def test_disconnect_when_not_connected_is_a_clear_409(tenant, api_client_for):
    response = api_client_for(tenant.admin).post("/api/v1/integrations/quickbooks/disconnect")
    assert response.status_code == 409
    assert response.json() == {"code": "not_connected", "message": "QuickBooks is not connected for this company."}


def test_tenant_a_never_reads_or_changes_tenant_bs_connection(tenant, other_tenant, intuit, api_client_for):
    make_connection(other_tenant.company, realm="B-REALM-777")
    api = api_client_for(tenant.admin)
    body = api.get("/api/v1/integrations/quickbooks/status").json()
    assert body["status"] == "disconnected" and body["realm_id"] == ""
    assert api.post("/api/v1/integrations/quickbooks/disconnect").status_code == 409
    assert QuickBooksConnection.objects.get(company=other_tenant.company).status == "connected"
    assert len(intuit.calls) == 0
    # even naming B's company explicitly does not work for A's admin
    response = api.get("/api/v1/integrations/quickbooks/status", HTTP_X_COMPANY_ID=str(other_tenant.company.pk))
    assert response.status_code == 403


def test_a_connection_of_one_company_never_uses_anothers_realm_or_token(tenant, other_tenant, intuit):
    mine = make_connection(tenant.company, access="token-A", realm="REALM-A")
    make_connection(other_tenant.company, access="token-B", realm="REALM-B")
    intuit.add(
        responses.GET,
        f"{SANDBOX_API}/v3/company/REALM-A/companyinfo/REALM-A",
        json={"CompanyInfo": {"CompanyName": "A", "Country": "US"}},
    )
    client_for(mine).company_info()
    assert intuit.calls[0].request.headers["Authorization"] == "Bearer token-A"
    assert "/REALM-B/" not in intuit.calls[0].request.url


def test_not_connected_client_refuses_to_call(tenant):
    connection = QuickBooksConnection.objects.create(company=tenant.company, realm_id="1")
    with pytest.raises(NotConnected):
        client_for(connection).company_info()
