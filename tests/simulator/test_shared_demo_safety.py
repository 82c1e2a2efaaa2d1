"""Safe to leave running on a shared demo: the control API needs its token, the pages need a signed-in user,
authorize redirects only to registered redirect URIs, and errors are JSON or an error page."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from integrations.simulator.models import SimAuthorizationCode, SimFaultSwitch

from .conftest import REDIRECT_URI, US_REALM_ID, authorize_params, consent

pytestmark = pytest.mark.django_db

CONTROL_CALLS = [
    ("get", "/simulator/control/state"),
    ("get", "/simulator/control/faults"),
    ("post", "/simulator/control/faults"),
    ("delete", "/simulator/control/faults"),
    ("post", "/simulator/control/reset"),
    ("get", "/simulator/control/settings"),
    ("post", "/simulator/control/latency"),
    ("post", "/simulator/control/tokens"),
    ("post", f"/simulator/control/companies/{US_REALM_ID}/invoices/1/payment"),
]


@pytest.mark.parametrize(("method", "path"), CONTROL_CALLS)
def test_control_api_refuses_calls_without_the_token(anonymous_client, method, path):
    response = getattr(anonymous_client, method)(path)
    assert response.status_code == 401
    assert "control token" in response.json()["error"]


def test_control_api_refuses_a_wrong_token_and_takes_the_right_one_either_way(settings):
    arm = {"target": "api", "kind": "500"}

    def post(**headers):
        return Client(headers=headers).post(
            "/simulator/control/faults", json.dumps(arm), content_type="application/json"
        )

    assert post(**{"X-Simulator-Token": "wrong"}).status_code == 401
    assert post(Authorization="Bearer wrong").status_code == 401
    assert not SimFaultSwitch.objects.exists()
    token = settings.QUICKBOOKS_SIMULATOR_CONTROL_TOKEN
    assert post(**{"X-Simulator-Token": token}).status_code == 201
    assert post(Authorization=f"Bearer {token}").status_code == 201
    assert SimFaultSwitch.objects.count() == 2


def test_control_api_is_refused_when_no_token_is_configured(client, settings):
    settings.QUICKBOOKS_SIMULATOR_CONTROL_TOKEN = ""
    response = client.post("/simulator/control/reset", HTTP_X_SIMULATOR_TOKEN="")
    assert response.status_code == 403
    assert "QUICKBOOKS_SIMULATOR_CONTROL_TOKEN" in response.json()["error"]


PAGES = [
    ("get", "/simulator/"),
    ("get", f"/simulator/companies/{US_REALM_ID}/customers"),
    ("get", f"/simulator/companies/{US_REALM_ID}/invoices"),
    ("get", f"/simulator/companies/{US_REALM_ID}/payments"),
    ("get", f"/simulator/companies/{US_REALM_ID}/reference"),
    ("post", f"/simulator/companies/{US_REALM_ID}/invoices/1/receive-payment"),
    ("post", f"/simulator/companies/{US_REALM_ID}/disconnect"),
    ("post", "/simulator/faults/arm"),
    ("post", "/simulator/faults/clear"),
    ("post", "/simulator/settings"),
    ("post", "/simulator/reset"),
]


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_pages_and_their_forms_send_anonymous_visitors_to_the_login_page(anonymous_client, method, path):
    response = getattr(anonymous_client, method)(path, {"target": "api", "kind": "500"} if method == "post" else None)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert not SimFaultSwitch.objects.exists()


def test_signed_in_users_see_the_pages(client):
    assert client.get("/simulator/").status_code == 200
    assert client.get(f"/simulator/companies/{US_REALM_ID}/invoices").status_code == 200


def test_consent_page_needs_no_sign_in(anonymous_client):
    response = anonymous_client.get("/simulator/oauth2/authorize", authorize_params())
    assert response.status_code == 200
    assert consent(anonymous_client, US_REALM_ID)["code"]


def test_authorize_refuses_an_unregistered_redirect_uri_with_an_error_page(anonymous_client):
    for uri in ("https://evil.example/callback", REDIRECT_URI + "/other", REDIRECT_URI + "?x=1"):
        response = anonymous_client.get("/simulator/oauth2/authorize", authorize_params(redirect_uri=uri))
        assert response.status_code == 400 and "Location" not in response
        assert "registered" in response.content.decode()
        response = anonymous_client.post(
            "/simulator/oauth2/authorize",
            {**authorize_params(redirect_uri=uri, response_type="token"), "realm_id": US_REALM_ID, "connect": "1"},
        )
        assert response.status_code == 400 and "Location" not in response
    assert not SimAuthorizationCode.objects.exists()


def test_redirect_uris_default_to_the_apps_own_allowlist(anonymous_client, settings):
    settings.QUICKBOOKS_SIMULATOR_REDIRECT_URIS = []
    settings.QUICKBOOKS_REDIRECT_URI = "http://127.0.0.1:8000/api/v1/integrations/quickbooks/callback"
    settings.QUICKBOOKS_REDIRECT_URI_ALLOWLIST = ["https://demo.example/api/v1/integrations/quickbooks/callback"]
    for allowed in (settings.QUICKBOOKS_REDIRECT_URI, settings.QUICKBOOKS_REDIRECT_URI_ALLOWLIST[0]):
        assert (
            anonymous_client.get("/simulator/oauth2/authorize", authorize_params(redirect_uri=allowed)).status_code
            == 200
        )
    refused = anonymous_client.get("/simulator/oauth2/authorize", authorize_params(redirect_uri=REDIRECT_URI))
    assert refused.status_code == 400


def test_page_errors_are_an_error_page_not_a_traceback(client, monkeypatch, settings):
    settings.DEBUG = True

    def explode(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("integrations.simulator.views.pages._rows", explode)
    response = client.get(f"/simulator/companies/{US_REALM_ID}/invoices")
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong" in text and "secret detail" not in text and "Traceback" not in text
    missing = client.get(f"/simulator/companies/{US_REALM_ID}/nonsense")
    assert missing.status_code == 404 and "QuickBooks simulator" in missing.content.decode()


def test_control_errors_are_json(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("integrations.simulator.control.state", explode)
    response = client.get("/simulator/control/state")
    assert response.status_code == 500 and response.json() == {"error": "internal error in the simulator"}
