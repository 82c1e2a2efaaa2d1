"""OpenID Connect discovery, userinfo and JWKS as Intuit's (QBO-REFERENCE §1.1); `SELECT *, Sku` (§2.5); every
unknown path or wrong method under /simulator/ answers a JSON Fault (§3.1), never Django's HTML page."""

from __future__ import annotations

import base64

import pytest

from .conftest import AST_REALM_ID, REDIRECT_URI, US_REALM_ID, Api, connect, consent, fault_code, token_request

pytestmark = pytest.mark.django_db

DISCOVERY_FIELDS = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "revocation_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "scopes_supported",
    "token_endpoint_auth_methods_supported",
    "claims_supported",
}


@pytest.mark.parametrize(
    "path",
    [
        "/simulator/.well-known/openid_configuration",
        "/simulator/.well-known/openid_configuration/",
        "/simulator/.well-known/openid_sandbox_configuration",
        "/simulator/.well-known/openid_sandbox_configuration/",
    ],
)
def test_discovery_document_has_intuits_fields_with_and_without_trailing_slash(anonymous_client, path):
    response = anonymous_client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert DISCOVERY_FIELDS <= set(body)
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]
    assert body["response_types_supported"] == ["code"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}
    assert {"openid", "email", "profile", "address", "phone"} <= set(body["scopes_supported"])
    assert "realmid" in body["claims_supported"]
    assert "code_challenge_methods_supported" not in body  # Intuit doesn't advertise PKCE (§0 #10)
    for key in ("userinfo_endpoint", "jwks_uri", "token_endpoint", "authorization_endpoint", "revocation_endpoint"):
        assert body[key].startswith("http://testserver/simulator/"), key


def test_discovery_endpoints_are_served(client, anonymous_client):
    body = anonymous_client.get("/simulator/.well-known/openid_configuration").json()
    path = body["jwks_uri"].removeprefix("http://testserver")
    assert anonymous_client.get(path).status_code == 200
    tokens = connect(client, AST_REALM_ID)
    userinfo = body["userinfo_endpoint"].removeprefix("http://testserver")
    response = anonymous_client.get(userinfo, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert response.status_code == 200


def test_jwks_has_one_rsa_signing_key(anonymous_client):
    keys = anonymous_client.get("/simulator/oauth2/v1/jwks").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig") and key["kid"]
    modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
    assert len(modulus) * 8 >= 2048 and key["e"] == "AQAB"


def test_userinfo_answers_for_a_valid_access_token(client, anonymous_client):
    callback = consent(client, US_REALM_ID, scope="com.intuit.quickbooks.accounting openid email profile")
    tokens = token_request(
        client,
        {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI},
    ).json()
    response = anonymous_client.get(
        "/simulator/oauth2/v1/openid_connect/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] and body["email"] == "noreply@sandbox-us.example" and body["emailVerified"] is True
    assert body["givenName"] and body["familyName"]
    assert "phoneNumber" not in body  # no phone scope


def test_userinfo_refuses_missing_or_revoked_tokens_and_tokens_without_openid(client, anonymous_client):
    url = "/simulator/oauth2/v1/openid_connect/userinfo"
    assert anonymous_client.get(url).status_code == 401
    assert anonymous_client.get(url, HTTP_AUTHORIZATION="Bearer nope").json()["error"] == "invalid_token"
    callback = consent(client, US_REALM_ID, scope="com.intuit.quickbooks.accounting")
    tokens = token_request(
        client,
        {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI},
    ).json()
    response = anonymous_client.get(url, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


def test_select_star_sku_from_item_is_accepted(api):
    plain = api.query("select * from Item").json()["QueryResponse"]
    with_sku = api.query("SELECT *, Sku FROM Item").json()["QueryResponse"]
    assert with_sku == plain and len(with_sku["Item"]) == 4


@pytest.mark.parametrize(
    "query",
    [
        "select Id, Name from Item",
        "select *, Name from Item",
        "select *, Sku, Name from Item",
        "select *, Sku from Customer",
        "select count(*), Sku from Item",
    ],
)
def test_other_projections_are_refused(api, query):
    response = api.query(query)
    assert response.status_code == 400
    assert fault_code(response) == "4000"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/simulator/v3/company/9341453050298541/invoice/1/pdf", 404),
        ("get", "/simulator/v3/company/9341453050298541", 404),
        ("get", "/simulator/v3/nothing", 404),
        ("post", "/simulator/oauth2/v2/tokens/bearer", 404),
        ("get", "/simulator/oauth2/", 404),
        ("get", "/simulator/no-such-page", 404),
        ("get", "/simulator/control/nothing", 404),
        ("put", "/simulator/v3/company/9341453050298541/query", 405),
        ("delete", "/simulator/v3/company/9341453050298541/invoice", 405),
    ],
)
def test_unknown_paths_and_methods_answer_a_json_fault(anonymous_client, method, path, status):
    response = getattr(anonymous_client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    fault = response.json()["Fault"]
    assert fault["Error"][0]["code"] == str(status) and fault["type"]
    assert response["intuit_tid"]


def test_wrong_method_on_the_token_endpoint_is_json(anonymous_client):
    response = anonymous_client.get("/simulator/oauth2/v1/tokens/bearer")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_an_unexpected_error_in_an_api_view_is_a_system_fault(api, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("integrations.simulator.accounting.read", explode)
    response = api.get("invoice/1")
    assert response.status_code == 500
    assert response.json()["Fault"]["type"] == "SystemFault" and fault_code(response) == "10000"
    assert "boom" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_an_unexpected_error_in_the_token_endpoint_is_json(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("integrations.simulator.oauth.exchange_code", explode)
    response = token_request(client, {"grant_type": "authorization_code", "code": "x", "redirect_uri": "y"})
    assert response.status_code == 500 and response.json()["error"] == "server_error"


def test_api_still_reachable_by_bearer_token_without_signing_in(client, anonymous_client):
    tokens = connect(client, US_REALM_ID)
    assert Api(anonymous_client, US_REALM_ID, tokens["access_token"]).get("preferences").status_code == 200
