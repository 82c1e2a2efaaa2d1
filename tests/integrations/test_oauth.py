"""The OAuth module against Intuit's endpoints, faked with `responses` (assert on what is sent)."""

import base64
import hashlib

import pytest
import requests
import responses

from integrations.conf import quickbooks_config
from integrations.exceptions import InvalidClient, InvalidGrant, TokenEndpointError, Unavailable
from integrations.quickbooks import oauth
from tests.integrations.conftest import (
    AUTHORIZE_URL,
    REDIRECT_URI,
    REVOKE_URL,
    TOKEN_URL,
    add_token_response,
    form_of,
    json_of,
    query_of,
    token_body,
)

BASIC = "Basic " + base64.b64encode(b"attune-dev-client:attune-dev-secret").decode()


def test_authorization_url_has_code_flow_scope_state_and_pkce_s256():
    request = oauth.authorization_request(quickbooks_config(), redirect_uri=REDIRECT_URI)
    assert request.url.startswith(AUTHORIZE_URL + "?")
    params = query_of(request.url)
    assert params["response_type"] == "code"
    assert params["client_id"] == "attune-dev-client"
    assert params["scope"] == "com.intuit.quickbooks.accounting"
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["state"] == request.state and len(request.state) >= 40
    assert params["code_challenge_method"] == "S256"
    expected = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).rstrip(b"=")
    assert params["code_challenge"] == expected.decode()


def test_pkce_can_be_turned_off(settings):
    settings.QUICKBOOKS_USE_PKCE = False
    request = oauth.authorization_request(quickbooks_config(), redirect_uri=REDIRECT_URI)
    assert request.code_verifier is None and "code_challenge" not in query_of(request.url)


def test_endpoints_can_be_overridden_from_settings(settings):
    settings.QUICKBOOKS_AUTHORIZATION_ENDPOINT = "https://login.example.com/authorize"
    settings.QUICKBOOKS_TOKEN_ENDPOINT = "https://login.example.com/token"
    settings.QUICKBOOKS_API_BASE_URL = "https://api.example.com/"
    config = quickbooks_config()
    assert config.endpoints.token == "https://login.example.com/token"
    assert config.endpoints.api_base == "https://api.example.com"
    assert oauth.authorization_request(config, redirect_uri=REDIRECT_URI).url.startswith(
        "https://login.example.com/authorize?"
    )


def test_exchange_sends_basic_auth_code_verifier_and_hard_expiry_header(intuit):
    add_token_response(intuit, tid="tid-exchange")
    tokens = oauth.exchange_code(
        quickbooks_config(), code="the-code", redirect_uri=REDIRECT_URI, code_verifier="v" * 60
    )
    call = intuit.calls[0]
    assert call.request.headers["Authorization"] == BASIC
    assert call.request.headers["x-include-refresh-token-hard-expires-in"] == "true"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(call) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": "v" * 60,
    }
    assert (tokens.access_token, tokens.refresh_token) == ("access-token-1", "refresh-token-1")
    assert (tokens.expires_in, tokens.refresh_token_expires_in, tokens.refresh_token_hard_expires_in) == (
        3600,
        8726400,
        156032154,
    )
    assert tokens.intuit_tid == "tid-exchange"
    assert "access-token-1" not in repr(tokens)


def test_refresh_sends_the_refresh_token_and_returns_the_rotated_pair(intuit):
    add_token_response(intuit, token_body("access-2", "refresh-2"))
    tokens = oauth.refresh(quickbooks_config(), refresh_token="refresh-1")
    assert form_of(intuit.calls[0]) == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert intuit.calls[0].request.headers["Authorization"] == BASIC
    assert (tokens.access_token, tokens.refresh_token) == ("access-2", "refresh-2")


@pytest.mark.parametrize(
    ("status", "body", "error_type", "code"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"},
            InvalidGrant,
            "invalid_grant",
        ),
        (401, {"error": "invalid_client"}, InvalidClient, "invalid_client"),
        (400, {"error": "unsupported_grant_type"}, TokenEndpointError, "unsupported_grant_type"),
        (500, {"error": "server_error"}, Unavailable, "server_error"),
        (503, None, Unavailable, ""),
    ],
)
def test_token_endpoint_errors_are_typed(intuit, status, body, error_type, code):
    if body is None:
        intuit.add(responses.POST, TOKEN_URL, body="<html>down</html>", status=status, headers={"intuit_tid": "t-9"})
    else:
        intuit.add(responses.POST, TOKEN_URL, json=body, status=status, headers={"intuit_tid": "t-9"})
    with pytest.raises(error_type) as error:
        oauth.refresh(quickbooks_config(), refresh_token="secret-refresh-xyz")
    assert error.value.code == code and error.value.status == status and error.value.intuit_tid == "t-9"
    assert "secret-refresh-xyz" not in str(error.value)


def test_token_endpoint_timeout_is_unavailable(intuit):
    intuit.add(responses.POST, TOKEN_URL, body=requests.Timeout("read timed out"))
    with pytest.raises(Unavailable, match="could not be reached"):
        oauth.exchange_code(quickbooks_config(), code="c", redirect_uri=REDIRECT_URI, code_verifier=None)


def test_revoke_posts_the_token_as_json_with_basic_auth(intuit):
    intuit.add(responses.POST, REVOKE_URL, status=200, headers={"intuit_tid": "tid-revoke"})
    assert oauth.revoke(quickbooks_config(), token="refresh-to-revoke") == "tid-revoke"
    assert json_of(intuit.calls[0]) == {"token": "refresh-to-revoke"}
    assert intuit.calls[0].request.headers["Authorization"] == BASIC
