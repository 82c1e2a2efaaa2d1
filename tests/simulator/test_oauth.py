"""The simulator's OAuth 2.0 server behaves like Intuit's (QBO-REFERENCE §1)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from integrations.simulator.models import SimAuthorizationCode, SimGrant, SimToken

from .conftest import (
    CA_REALM_ID,
    REDIRECT_URI,
    US_REALM_ID,
    Api,
    authorize_params,
    basic_auth,
    connect,
    consent,
    s256,
    token_request,
)

pytestmark = pytest.mark.django_db


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- authorize -------------------------------------------------------------------------------------------


def test_authorize_shows_consent_page_with_sample_companies(client):
    response = client.get("/simulator/oauth2/authorize", authorize_params())
    assert response.status_code == 200
    page = response.content.decode()
    assert "QuickBooks simulator (offline)" in page
    assert "Sandbox Company US 1" in page and "Maple Leaf Supplies" in page and "Thames Trading Ltd" in page
    assert US_REALM_ID in page
    assert "csrfmiddlewaretoken" in page
    assert response["intuit_tid"]


def test_connect_redirects_with_code_state_and_realm(client):
    callback = consent(client, CA_REALM_ID)
    assert callback["state"] == "st-123"
    assert callback["realmId"] == CA_REALM_ID
    assert len(callback["code"]) <= 512


def test_cancel_redirects_with_access_denied_and_state(client):
    response = client.post("/simulator/oauth2/authorize", {**authorize_params(), "cancel": "1"})
    assert response.status_code == 302
    params = _query(response["Location"])
    assert params["error"] == "access_denied" and params["state"] == "st-123"
    assert "code" not in params
    assert response["Location"].startswith(REDIRECT_URI)


def test_consent_form_requires_csrf_token(client):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/simulator/oauth2/authorize", {**authorize_params(), "realm_id": US_REALM_ID, "connect": "1"}
    )
    assert response.status_code == 403
    assert not SimAuthorizationCode.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "someone-else"},
        {"client_id": None},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "/relative/callback"},
        {"redirect_uri": "https://example.com/cb#fragment"},
        {"redirect_uri": None},
    ],
)
def test_bad_client_or_redirect_uri_shows_error_page_and_never_redirects(client, overrides):
    response = client.get("/simulator/oauth2/authorize", authorize_params(**overrides))
    assert response.status_code == 400
    assert "can't connect" in response.content.decode()
    response = client.post(
        "/simulator/oauth2/authorize", {**authorize_params(**overrides), "realm_id": US_REALM_ID, "connect": "1"}
    )
    assert response.status_code == 400
    assert not SimAuthorizationCode.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid"}, "invalid_scope"),
        ({"scope": "com.intuit.quickbooks.accounting made.up"}, "invalid_scope"),
        ({"code_challenge": "abc", "code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_other_bad_authorize_params_redirect_with_error(client, overrides, error):
    response = client.get("/simulator/oauth2/authorize", authorize_params(**overrides))
    assert response.status_code == 302
    params = _query(response["Location"])
    assert params["error"] == error and params["state"] == "st-123"


def test_connect_without_choosing_a_company_shows_the_form_again(client):
    response = client.post("/simulator/oauth2/authorize", {**authorize_params(), "connect": "1"})
    assert response.status_code == 400
    assert not SimAuthorizationCode.objects.exists()


# --- token endpoint: authorization_code -----------------------------------------------------------------


def test_code_exchange_returns_intuit_token_response(client):
    callback = consent(client)
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    )
    assert response.status_code == 200
    assert response["intuit_tid"]
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"token_type", "access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8726400
    assert body["access_token"] != body["refresh_token"]


def test_tokens_are_stored_hashed(client):
    body = connect(client)
    stored = set(SimToken.objects.values_list("token_hash", flat=True))
    assert body["access_token"] not in stored and body["refresh_token"] not in stored


def test_hard_expiry_only_when_asked_for(client):
    callback = consent(client)
    response = token_request(
        client,
        {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI},
        headers={"x-include-refresh-token-hard-expires-in": "true"},
    )
    body = response.json()
    five_years = 5 * 365 * 86400
    assert five_years - 60 <= body["x_refresh_token_hard_expires_in"] <= five_years


def test_code_is_single_use_and_replay_revokes_what_it_minted(client):
    callback = consent(client)
    data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    first = token_request(client, data)
    assert first.status_code == 200
    second = token_request(client, data)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert second.json()["error_description"]
    api = Api(client, US_REALM_ID, first.json()["access_token"])
    assert api.get("preferences").status_code == 401


def test_expired_code_is_invalid_grant(client):
    callback = consent(client)
    SimAuthorizationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorize_request(client):
    callback = consent(client)
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI + "/other"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_unknown_code_is_invalid_grant(client):
    response = token_request(client, {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT_URI})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_pkce_verifier_is_checked(client, method):
    verifier = "v" * 50
    challenge = s256(verifier) if method == "S256" else verifier
    for sent, expected_status in ((None, 400), ("wrong" * 10, 400), (verifier, 200)):
        callback = consent(client, code_challenge=challenge, code_challenge_method=method)
        data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
        if sent:
            data["code_verifier"] = sent
        response = token_request(client, data)
        assert response.status_code == expected_status, (sent, response.content)
        if expected_status == 400:
            assert response.json()["error"] == "invalid_grant"


def test_client_secret_post_is_accepted(client):
    callback = consent(client)
    from config import keys

    response = token_request(
        client,
        {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": keys.quickbooks_client_id(),
            "client_secret": keys.quickbooks_client_secret(),
        },
        auth="",
    )
    assert response.status_code == 200


@pytest.mark.parametrize("auth", ["", "Basic !!!notbase64", None])
def test_bad_client_authentication_is_401_invalid_client(client, auth):
    auth = basic_auth(secret="wrong") if auth is None else auth
    callback = consent(client)
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}, auth=auth
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert not SimGrant.objects.exists()


def test_unsupported_grant_type_and_missing_params(client):
    response = token_request(client, {"grant_type": "password"})
    assert response.status_code == 400 and response.json() == {"error": "unsupported_grant_type"}
    response = token_request(client, {})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    response = token_request(client, {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    response = token_request(client, {"grant_type": "refresh_token"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


# --- token endpoint: refresh_token ----------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_dies(client):
    tokens = connect(client)
    response = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["x_refresh_token_expires_in"] == 8726400
    again = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    newest = token_request(client, {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]})
    assert newest.status_code == 200
    assert Api(client, US_REALM_ID, newest.json()["access_token"]).get("preferences").status_code == 200


def test_refresh_reports_remaining_hard_expiry(client):
    tokens = connect(client)
    SimGrant.objects.update(hard_expires_at=timezone.now() + timedelta(days=10))
    response = token_request(
        client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"x-include-refresh-token-hard-expires-in": "true"},
    )
    body = response.json()
    assert 10 * 86400 - 60 <= body["x_refresh_token_hard_expires_in"] <= 10 * 86400
    assert body["x_refresh_token_expires_in"] == body["x_refresh_token_hard_expires_in"]


def test_refresh_after_the_hard_cap_is_invalid_grant(client):
    tokens = connect(client)
    SimGrant.objects.update(hard_expires_at=timezone.now() - timedelta(seconds=1))
    response = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_expired_refresh_token_is_invalid_grant(client):
    tokens = connect(client)
    response = client.post(
        "/simulator/control/tokens",
        json.dumps({"realm_id": US_REALM_ID, "action": "expire_refresh"}),
        content_type="application/json",
    )
    assert response.json() == {"grants": 1}
    response = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_access_token_cannot_be_used_as_refresh_token(client):
    tokens = connect(client)
    response = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["access_token"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


# --- revoke ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_revoke_kills_the_whole_grant(client, which, encoding):
    tokens = connect(client)
    if encoding == "json":
        response = client.post(
            "/simulator/oauth2/v1/tokens/revoke",
            json.dumps({"token": tokens[which]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic_auth(),
        )
    else:
        response = client.post(
            "/simulator/oauth2/v1/tokens/revoke", {"token": tokens[which]}, HTTP_AUTHORIZATION=basic_auth()
        )
    assert response.status_code == 200
    assert response["intuit_tid"]
    api = Api(client, US_REALM_ID, tokens["access_token"])
    assert api.get("preferences").status_code == 401
    refreshed = token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_revoke_unknown_token_is_200_and_bad_client_is_401(client):
    response = client.post(
        "/simulator/oauth2/v1/tokens/revoke",
        json.dumps({"token": "unknown"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code == 200
    response = client.post(
        "/simulator/oauth2/v1/tokens/revoke",
        json.dumps({"token": "unknown"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(secret="nope"),
    )
    assert response.status_code == 401 and response.json() == {"error": "invalid_client"}


def test_revoking_one_connection_leaves_another_alone(client):
    first = connect(client)
    second = connect(client, CA_REALM_ID)
    client.post(
        "/simulator/oauth2/v1/tokens/revoke",
        json.dumps({"token": first["refresh_token"]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert Api(client, CA_REALM_ID, second["access_token"]).get("preferences").status_code == 200


def test_discovery_document_points_at_the_simulator(client):
    body = client.get("/simulator/.well-known/openid_configuration").json()
    assert body["token_endpoint"].endswith("/simulator/oauth2/v1/tokens/bearer")
    assert body["authorization_endpoint"].endswith("/simulator/oauth2/authorize")
    assert body["revocation_endpoint"].endswith("/simulator/oauth2/v1/tokens/revoke")
