"""Connect through the real views: state validation, code exchange failures, reconnect, realm conflicts."""

import datetime as dt
import html

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone

from attune_qbo.audit.models import AuditLog
from integrations.models import ConnectionStatus, OAuthState, QuickBooksConnection
from tests.integrations.conftest import (
    REALM,
    TOKEN_URL,
    add_company_info,
    add_token_response,
    query_of,
    token_body,
)

pytestmark = pytest.mark.django_db
CALLBACK = "/api/v1/integrations/quickbooks/callback"
EXPIRED_MESSAGE = "This QuickBooks link has expired or was not started here."


def start_from_page(client, user) -> str:
    """Sign in and press Connect on the settings page; returns the state Intuit will send back."""
    client.force_login(user)
    response = client.post(reverse("integrations:quickbooks-connect"))
    assert response.status_code == 302
    return query_of(response["Location"])["state"]


def callback(client, **params):
    return client.get(CALLBACK, params)


def text(response) -> str:
    """The page as a person reads it (entities unescaped)."""
    return html.unescape(response.content.decode())


def assert_nothing_stored(company):
    connection = QuickBooksConnection.objects.filter(company=company).first()
    assert connection is None or (connection.refresh_token_cipher is None and connection.status != "connected")


def test_connect_from_the_settings_page_stores_encrypted_tokens_and_company_info(tenant, client, intuit):
    state = start_from_page(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit)
    response = callback(client, code="auth-code", state=state, realmId=REALM)
    assert response.status_code == 302 and response["Location"] == reverse("integrations:quickbooks-settings")
    connection = QuickBooksConnection.objects.get(company=tenant.company)
    assert connection.status == ConnectionStatus.CONNECTED and connection.realm_id == REALM
    assert connection.access_token_cipher.reveal() == "access-token-1"
    assert connection.refresh_token_cipher.reveal() == "refresh-token-1"
    assert connection.connected_by == tenant.admin and connection.environment == "sandbox"
    now = timezone.now()
    assert dt.timedelta(minutes=59) < connection.access_token_expires_at - now <= dt.timedelta(hours=1)
    assert dt.timedelta(days=100) < connection.refresh_token_expires_at - now < dt.timedelta(days=102)
    assert connection.refresh_token_hard_expires_at - now > dt.timedelta(days=4 * 365)
    assert connection.qbo_company_name == "Sandbox Company US 1" and connection.qbo_country == "US"
    assert AuditLog.objects.filter(
        action="quickbooks.connect", company=tenant.company, actor=tenant.admin, outcome="success"
    ).exists()
    page = text(client.get(response["Location"]))
    assert "Connected to QuickBooks (Sandbox Company US 1)." in page and ">Connected</span>" in page


def test_company_info_failure_leaves_the_connection_standing_and_is_retried(tenant, client, intuit):
    from integrations.services.connections import connection_refresh_sweep

    state = start_from_page(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit, status=500)
    assert callback(client, code="c", state=state, realmId=REALM).status_code == 302
    connection = QuickBooksConnection.objects.get(company=tenant.company)
    assert connection.status == "connected" and connection.qbo_company_name == ""
    intuit.replace(
        responses.GET,
        f"{add_company_info.__globals__['SANDBOX_API']}/v3/company/{REALM}/companyinfo/{REALM}",
        json={"CompanyInfo": {"CompanyName": "Later Name", "Country": "US"}},
    )
    connection_refresh_sweep()
    connection.refresh_from_db()
    assert connection.qbo_company_name == "Later Name"


@pytest.mark.parametrize("case", ["missing", "tampered", "expired", "reused", "other-session"])
def test_bad_state_is_a_400_and_stores_nothing(tenant, client, intuit, case, django_user_model):
    from django.test import Client

    state = start_from_page(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit)
    params = {"code": "auth-code", "realmId": REALM, "state": state}
    caller = client
    if case == "missing":
        params.pop("state")
    elif case == "tampered":
        params["state"] = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    elif case == "expired":
        OAuthState.objects.filter(state=state).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    elif case == "reused":
        assert callback(client, **params).status_code == 302
        QuickBooksConnection.objects.all().delete()
    elif case == "other-session":
        caller = Client()
        caller.force_login(tenant.admin)  # same user, another browser session
    token_calls_before = sum(call.request.url == TOKEN_URL for call in intuit.calls)
    response = callback(caller, **params)
    assert response.status_code == 400
    assert EXPIRED_MESSAGE in text(response)
    assert_nothing_stored(tenant.company)
    assert sum(call.request.url == TOKEN_URL for call in intuit.calls) == token_calls_before


def test_bad_state_answers_json_to_api_clients(tenant, client):
    response = client.get(CALLBACK, {"state": "nope", "code": "c", "realmId": REALM}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_state",
        "message": EXPIRED_MESSAGE + " Start the connection again from Settings.",
    }


def test_access_denied_is_a_friendly_cancellation(tenant, client, intuit):
    state = start_from_page(client, tenant.admin)
    response = callback(client, error="access_denied", state=state)
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert "QuickBooks connection cancelled. Nothing was changed." in page
    assert_nothing_stored(tenant.company)
    assert len(intuit.calls) == 0


@pytest.mark.parametrize("missing", ["code", "realmId"])
def test_missing_code_or_realm_is_a_400(tenant, client, intuit, missing):
    state = start_from_page(client, tenant.admin)
    params = {"code": "c", "realmId": REALM, "state": state}
    params.pop(missing)
    response = callback(client, **params)
    assert response.status_code == 400
    assert f"missing its {missing}" in text(response)
    assert_nothing_stored(tenant.company)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "invalid_grant"}, "this sign-in has expired or was already used"),
        (401, {"error": "invalid_client"}, "refused this app's credentials"),
        (500, {"error": "server_error"}, "could not be reached to finish connecting"),
        ("timeout", None, "could not be reached to finish connecting"),
    ],
)
def test_token_endpoint_failure_during_exchange_is_clear_and_stores_nothing(
    tenant, client, intuit, status, body, message
):
    state = start_from_page(client, tenant.admin)
    if status == "timeout":
        intuit.add(responses.POST, TOKEN_URL, body=requests.Timeout("timed out"))
    else:
        add_token_response(intuit, body, status=status)
    response = callback(client, code="c", state=state, realmId=REALM)
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert message in page and "Nothing was stored" in page
    assert_nothing_stored(tenant.company)
    assert AuditLog.objects.filter(action="quickbooks.connect", outcome="failure").count() == 1


def test_exchange_failure_answers_502_json_to_api_clients(tenant, client, intuit):
    state = start_from_page(client, tenant.admin)
    add_token_response(intuit, {"error": "server_error"}, status=500)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM}, HTTP_ACCEPT="application/json")
    assert response.status_code == 502 and response.json()["code"] == "connect_failed"


def test_reconnecting_the_same_realm_replaces_the_token_ciphers(tenant, client, intuit):
    state = start_from_page(client, tenant.admin)
    add_token_response(intuit, token_body("access-1", "refresh-1"))
    add_company_info(intuit)
    callback(client, code="c1", state=state, realmId=REALM)
    first = QuickBooksConnection.objects.get(company=tenant.company)
    old_ciphers = (first.access_token_cipher.ciphertext, first.refresh_token_cipher.ciphertext)

    state = start_from_page(client, tenant.admin)
    intuit.replace(responses.POST, TOKEN_URL, json=token_body("access-2", "refresh-2"))
    callback(client, code="c2", state=state, realmId=REALM)
    again = QuickBooksConnection.objects.get(company=tenant.company)
    assert again.pk == first.pk
    assert again.access_token_cipher.ciphertext not in old_ciphers
    assert again.refresh_token_cipher.ciphertext not in old_ciphers
    assert again.refresh_token_cipher.reveal() == "refresh-2"
    assert QuickBooksConnection.objects.count() == 1
    assert AuditLog.objects.filter(action="quickbooks.reconnect", company=tenant.company).count() == 1


def test_a_realm_connected_to_another_company_is_refused(tenant, other_tenant, client, intuit):
    from tests.integrations.conftest import REVOKE_URL, make_connection

    make_connection(other_tenant.company, realm=REALM)
    state = start_from_page(client, tenant.admin)
    add_token_response(intuit, token_body("access-x", "refresh-x"))
    intuit.add(responses.POST, REVOKE_URL, status=200)
    response = callback(client, code="c", state=state, realmId=REALM)
    page = text(client.get(response["Location"]))
    assert "already connected to another attune company" in page
    assert_nothing_stored(tenant.company)
    assert (
        QuickBooksConnection.objects.get(company=other_tenant.company).refresh_token_cipher.reveal() == "stored-refresh"
    )
    assert [c.request.url for c in intuit.calls][-1] == REVOKE_URL  # the unwanted new grant is revoked


def test_api_started_flow_finishes_in_a_browser_signed_in_as_the_same_admin(tenant, api_client_for, intuit):
    from django.test import Client

    response = api_client_for(tenant.admin).post("/api/v1/integrations/quickbooks/connect")
    assert response.status_code == 200
    state = query_of(response.json()["authorize_url"])["state"]
    add_token_response(intuit)
    add_company_info(intuit)
    browser = Client()
    callback_url = f"{CALLBACK}?code=c&state={state}&realmId={REALM}"
    response = browser.get(callback_url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert not OAuthState.objects.get(state=state).used_at  # not used up: it still works after signing in
    browser.force_login(tenant.admin)
    response = browser.get(callback_url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["status"] == "connected"
    assert QuickBooksConnection.objects.get(company=tenant.company).connected_by == tenant.admin


def test_an_api_started_link_cannot_be_finished_by_someone_else(tenant, other_tenant, api_client_for, intuit):
    """An admin handing their authorize link to another business's QuickBooks admin (OAuth injection)."""
    from django.test import Client

    response = api_client_for(tenant.admin).post("/api/v1/integrations/quickbooks/connect")
    state = query_of(response.json()["authorize_url"])["state"]
    add_token_response(intuit)
    victim = Client()
    victim.force_login(other_tenant.admin)
    response = victim.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM})
    assert response.status_code == 400 and EXPIRED_MESSAGE in text(response)
    assert_nothing_stored(tenant.company)
    assert not any(call.request.url == TOKEN_URL for call in intuit.calls)


def test_a_user_who_lost_the_admin_role_cannot_finish_connecting(tenant, client, intuit):
    from attune_qbo.tenants.models import Membership

    state = start_from_page(client, tenant.admin)
    Membership.objects.filter(user=tenant.admin).update(role="staff")
    response = callback(client, code="c", state=state, realmId=REALM)
    assert response.status_code == 400
    assert_nothing_stored(tenant.company)


@pytest.mark.parametrize("role", ["staff", "member"])
def test_non_admins_cannot_connect_or_disconnect(tenant, api_client_for, page_client_for, role):
    api = api_client_for(tenant.user(role))
    for path in ("connect", "disconnect"):
        response = api.post(f"/api/v1/integrations/quickbooks/{path}")
        assert response.status_code == 403
        assert response.json()["message"] == "This action needs the admin role in this company."
    page = page_client_for(tenant.user(role))
    assert page.post(reverse("integrations:quickbooks-connect")).status_code == 403
    assert page.post(reverse("integrations:quickbooks-disconnect")).status_code == 403
    assert not OAuthState.objects.exists()
    settings_page = page.get(reverse("integrations:quickbooks-settings")).content.decode()
    assert "Connect QuickBooks</button>" not in settings_page


def test_status_details_are_staff_and_up_members_see_the_summary(tenant, api_client_for):
    member_view = api_client_for(tenant.member).get("/api/v1/integrations/quickbooks/status").json()
    assert member_view["details_visible"] is False and "sync_counts" not in member_view
    body = api_client_for(tenant.staff).get("/api/v1/integrations/quickbooks/status").json()
    assert body["details_visible"] is True
    assert body["status"] == "disconnected" and body["environment"] == "sandbox"
    assert body["sync_counts"] == {
        "pending": 0,
        "running": 0,
        "succeeded": 0,
        "up_to_date": 0,
        "drift": 0,
        "failed": 0,
        "dead": 0,
        "skipped": 0,
    }
