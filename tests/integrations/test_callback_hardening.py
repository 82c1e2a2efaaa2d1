"""Issue #8 items 2, 3 and 10: the callback verifies the realm, grants never dangle, messages point the right way."""

import datetime as dt
import html
import logging

import pytest
import responses
from cryptography.fernet import Fernet
from django.urls import reverse
from django.utils import timezone

from attune_qbo.audit.models import AuditLog
from integrations.models import ConnectionStatus, OAuthState, QuickBooksConnection
from tests.integrations.conftest import (
    REALM,
    REVOKE_URL,
    SANDBOX_API,
    TOKEN_URL,
    add_company_info,
    add_token_response,
    json_of,
    make_connection,
    query_of,
    token_body,
)

pytestmark = pytest.mark.django_db
CALLBACK = "/api/v1/integrations/quickbooks/callback"


def start(client, user) -> str:
    client.force_login(user)
    response = client.post(reverse("integrations:quickbooks-connect"))
    return query_of(response["Location"])["state"]


def page(client, response) -> str:
    target = client.get(response["Location"]) if response.status_code == 302 else response
    return html.unescape(target.content.decode())


def revoked_tokens(intuit) -> list[str]:
    return [json_of(call)["token"] for call in intuit.calls if call.request.url == REVOKE_URL]


def nothing_connected(company) -> bool:
    connection = QuickBooksConnection.objects.filter(company=company).first()
    return connection is None or (connection.status != "connected" and connection.refresh_token_cipher is None)


@pytest.mark.parametrize("status", [401, 403])
def test_callback_refuses_a_realm_the_new_token_cannot_read_and_revokes_the_grant(tenant, client, intuit, status):
    state = start(client, tenant.admin)
    add_token_response(intuit, token_body("new-access", "new-refresh"))
    intuit.add(
        responses.GET,
        f"{SANDBOX_API}/v3/company/{REALM}/companyinfo/{REALM}",
        json={"Fault": {"Error": [{"Message": "no", "code": "3200" if status == 401 else "3100"}], "type": "AUTH"}},
        status=status,
    )
    intuit.add(responses.POST, REVOKE_URL, status=200)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM})
    text = page(client, response)
    assert "Connected to QuickBooks" not in text
    assert f"did not let this sign-in read company {REALM}" in text
    assert nothing_connected(tenant.company)
    assert revoked_tokens(intuit) == ["new-refresh"]
    entry = AuditLog.objects.get(action="quickbooks.connect", company=tenant.company)
    assert entry.outcome == "failure" and entry.details["revoked_new_grant"] is True


@pytest.mark.parametrize("realm", ["abc", "12 34", "1" * 33, "-1", "1e5", "９１３"])
def test_callback_with_a_malformed_realm_is_refused_before_the_exchange_and_the_state_stays_usable(
    tenant, client, intuit, realm
):
    state = start(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": realm})
    assert response.status_code == 400 and "not valid" in page(client, response)
    assert not any(call.request.url == TOKEN_URL for call in intuit.calls)  # the code was never exchanged
    assert OAuthState.objects.get(state=state).used_at is None
    # The real owner's redirect, arriving afterwards, still connects.
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM})
    assert QuickBooksConnection.objects.get(company=tenant.company).status == ConnectionStatus.CONNECTED


@pytest.mark.parametrize("name", ["state", "code", "realmId"])
def test_callback_with_a_repeated_parameter_is_refused(tenant, client, intuit, name):
    state = start(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit)
    params = {"state": state, "code": "c", "realmId": REALM}
    forged = {"state": "forged-state", "code": "forged-code", "realmId": "123"}[name]
    query = "&".join(f"{k}={v}" for k, v in params.items() if k != name) + f"&{name}={forged}&{name}={params[name]}"
    response = client.get(f"{CALLBACK}?{query}")
    assert response.status_code == 400 and "more than once" in page(client, response)
    assert not intuit.calls and nothing_connected(tenant.company)
    assert OAuthState.objects.get(state=state).used_at is None


def test_any_failure_after_the_exchange_revokes_the_grant_it_minted(tenant, client, intuit, monkeypatch):
    from integrations.services import connections

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(connections, "_store_new_connection", explode)
    client.raise_request_exception = False
    state = start(client, tenant.admin)
    add_token_response(intuit, token_body("a", "minted-refresh"))
    add_company_info(intuit)
    intuit.add(responses.POST, REVOKE_URL, status=200)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM})
    assert response.status_code == 500
    assert revoked_tokens(intuit) == ["minted-refresh"]
    assert AuditLog.objects.get(action="quickbooks.connect").outcome == "failure"


def test_reconnecting_revokes_the_superseded_grant(tenant, client, intuit):
    make_connection(tenant.company, refresh="old-refresh", user=tenant.admin)
    state = start(client, tenant.admin)
    add_token_response(intuit, token_body("new-access", "new-refresh"))
    add_company_info(intuit)
    intuit.add(responses.POST, REVOKE_URL, status=200)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM})
    assert "Reconnected to QuickBooks" in page(client, response)
    assert revoked_tokens(intuit) == ["old-refresh"]
    assert QuickBooksConnection.objects.get(company=tenant.company).refresh_token_cipher.reveal() == "new-refresh"


def test_expired_oauth_states_are_purged_on_a_schedule(tenant, client):
    from django_q.models import Schedule

    from integrations.services.connections import connection_states_purge

    fresh = start(client, tenant.admin)
    stale = start(client, tenant.admin)
    OAuthState.objects.filter(state=stale).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert connection_states_purge() == 1
    assert list(OAuthState.objects.values_list("state", flat=True)) == [fresh]
    schedule = Schedule.objects.get(name="quickbooks-oauth-state-purge")
    assert schedule.func == "integrations.services.connections.connection_states_purge"
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1


def test_callback_code_and_state_never_reach_a_log_line(tenant, client, intuit, caplog):
    from django.core.servers.basehttp import WSGIRequestHandler  # noqa: F401 - django.server's logger

    state = start(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit)
    with caplog.at_level(logging.DEBUG):
        client.get(CALLBACK, {"code": "secret-auth-code", "state": state, "realmId": REALM})
        client.get(CALLBACK, {"code": "secret-auth-code", "state": state, "realmId": REALM})  # reused: a 400
        logging.getLogger("django.server").info(
            '"%s" %s %s', f"GET {CALLBACK}?code=secret-auth-code&state={state}&realmId={REALM} HTTP/1.1", "302", "0"
        )
        logging.getLogger("django.request").warning("Bad Request: %s?code=secret-auth-code&state=%s", CALLBACK, state)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "code=[redacted]" in logged
    assert "secret-auth-code" not in logged and state not in logged


def test_disconnect_with_undecryptable_tokens_tells_the_truth_and_audits_a_failure(
    tenant, intuit, page_client_for, monkeypatch
):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    make_connection(tenant.company)
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())  # the key that sealed them is gone
    response = page_client_for(tenant.admin).post("/settings/integrations/quickbooks/disconnect/", follow=True)
    text = html.unescape(response.content.decode())
    assert "could not revoke at Intuit: the tokens cannot be decrypted with the current keys" in text
    assert "Revoke the app in QuickBooks' Apps page" in text
    assert not intuit.calls  # nothing sent: there was nothing we could send
    entry = AuditLog.objects.get(action="quickbooks.disconnect")
    assert entry.outcome == "failure" and "cannot be decrypted" in entry.message
    assert QuickBooksConnection.objects.get(company=tenant.company).status == ConnectionStatus.DISCONNECTED


def test_callback_never_says_connected_for_a_realm_it_could_not_read(tenant, client, intuit):
    state = start(client, tenant.admin)
    add_token_response(intuit)
    add_company_info(intuit, status=500)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM}, follow=True)
    text = html.unescape(response.content.decode())
    assert "Connected to QuickBooks" not in text
    assert f"company {REALM} could not be read yet" in text


def test_callback_with_an_undecryptable_verifier_says_it_is_a_key_problem(tenant, client, intuit, monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    state = start(client, tenant.admin)
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    add_token_response(intuit)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM}, follow=True)
    text = html.unescape(response.content.decode())
    assert "key problem" in text and "QUICKBOOKS_TOKEN_KEYS" in text
    assert "Connected to QuickBooks" not in text
    assert not any(call.request.url == TOKEN_URL for call in intuit.calls)


def test_refresh_with_undecryptable_tokens_says_it_is_a_key_problem(tenant, intuit, monkeypatch):
    from integrations.exceptions import ConfigurationError
    from integrations.services.connections import connection_refresh

    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    connection = make_connection(tenant.company, expires_in=60)
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    with pytest.raises(ConfigurationError, match="key problem"):
        connection_refresh(connection_id=connection.pk)
    connection.refresh_from_db()
    assert "key problem" in connection.last_error and connection.refresh_lease_holder == ""
    assert not intuit.calls


def test_reconnecting_over_undecryptable_tokens_connects_and_names_the_key_problem(tenant, client, intuit, monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    make_connection(tenant.company, user=tenant.admin)
    monkeypatch.setenv("QUICKBOOKS_TOKEN_KEYS", Fernet.generate_key().decode())
    state = start(client, tenant.admin)
    add_token_response(intuit, token_body("new-access", "new-refresh"))
    add_company_info(intuit)
    response = client.get(CALLBACK, {"code": "c", "state": state, "realmId": REALM}, follow=True)
    text = html.unescape(response.content.decode())
    assert "Reconnected to QuickBooks" in text and "key problem" in text
    assert QuickBooksConnection.objects.get(company=tenant.company).refresh_token_cipher.reveal() == "new-refresh"


def test_our_own_log_fields_keep_quickbooks_error_codes_readable():
    """Only query strings lose `code=`/`state=`; a log line's own `code=6240` (QuickBooks' error code) stays, and a
    token is redacted wherever it appears."""
    from attune_qbo.core.logging import redact_query

    line = "qbo.client.error method=POST path=customer status=400 code=6240 intuit_tid=1-abc"
    assert redact_query(line) == line
    assert redact_query("GET /cb?code=abc&state=xyz HTTP/1.1") == "GET /cb?code=[redacted]&state=[redacted] HTTP/1.1"
    assert redact_query("refresh refused token=abc123") == "refresh refused token=[redacted]"
