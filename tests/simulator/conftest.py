"""Helpers that drive the simulator over HTTP (Django's test client), as the app would."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

from config import keys
from integrations.simulator.seed import AST_REALM_ID, CA_REALM_ID, GB_REALM_ID, US_REALM_ID

REDIRECT_URI = "http://testserver/integrations/quickbooks/callback"
SCOPE = "com.intuit.quickbooks.accounting openid"
CONTROL_HEADER = "X-Simulator-Token"

__all__ = ["AST_REALM_ID", "CA_REALM_ID", "GB_REALM_ID", "US_REALM_ID"]


def control_headers() -> dict:
    """What every caller of the simulator's control API sends (the token from settings)."""
    return {CONTROL_HEADER: django_settings.QUICKBOOKS_SIMULATOR_CONTROL_TOKEN}


@pytest.fixture(autouse=True)
def simulator_redirect_uris(settings):
    """The redirect URI registered for the simulator's client in these tests."""
    settings.QUICKBOOKS_SIMULATOR_REDIRECT_URIS = [REDIRECT_URI]


@pytest.fixture
def anonymous_client():
    """A client that is not signed in and sends no control token."""
    return Client()


@pytest.fixture
def client(db, django_user_model):
    """The test client signed in as a user of the app (the simulator's pages need one) and sending the
    control API token (its control API needs it)."""
    user = django_user_model.objects.create_user(username="simulator-viewer", password="pw")
    signed_in = Client(headers=control_headers())
    signed_in.force_login(user)
    return signed_in


def basic_auth(client_id: str | None = None, secret: str | None = None) -> str:
    pair = f"{client_id or keys.quickbooks_client_id()}:{secret or keys.quickbooks_client_secret()}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_params(**overrides) -> dict:
    params = {
        "client_id": keys.quickbooks_client_id(),
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": REDIRECT_URI,
        "state": "st-123",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def consent(client, realm_id: str = US_REALM_ID, **overrides) -> dict:
    """Click Connect on the consent page; returns the callback's query parameters."""
    response = client.post(
        "/simulator/oauth2/authorize", {**authorize_params(**overrides), "realm_id": realm_id, "connect": "1"}
    )
    assert response.status_code == 302, response.content
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def token_request(client, data: dict, *, auth: str | None = None, headers: dict | None = None):
    extra = {"HTTP_AUTHORIZATION": auth if auth is not None else basic_auth()}
    for name, value in (headers or {}).items():
        extra["HTTP_" + name.upper().replace("-", "_")] = value
    return client.post("/simulator/oauth2/v1/tokens/bearer", data, **extra)


def connect(client, realm_id: str = US_REALM_ID) -> dict:
    """Authorize + code exchange; returns the token response body."""
    callback = consent(client, realm_id)
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    )
    assert response.status_code == 200, response.content
    return response.json()


class Api:
    """A tiny QBO client for tests: bearer auth, JSON, minorversion=75."""

    def __init__(self, client, realm_id: str, access_token: str) -> None:
        self.client = client
        self.realm_id = realm_id
        self.access_token = access_token

    def url(self, path: str) -> str:
        return f"/simulator/v3/company/{self.realm_id}/{path}"

    def _params(self, path: str, params: dict | None) -> str:
        query = {"minorversion": "75", **(params or {})}
        return self.url(path) + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    def get(self, path: str, params: dict | None = None, **extra):
        return self.client.get(
            self.url(path),
            {"minorversion": "75", **(params or {})},
            HTTP_AUTHORIZATION=f"Bearer {self.access_token}",
            HTTP_ACCEPT="application/json",
            **extra,
        )

    def post(self, path: str, body, params: dict | None = None, **extra):
        return self.client.post(
            self._params(path, params),
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.access_token}",
            HTTP_ACCEPT="application/json",
            **extra,
        )

    def query(self, text: str):
        return self.get("query", {"query": text})

    def create_customer(self, name: str = "Acme Corp", **fields) -> dict:
        response = self.post("customer", {"DisplayName": name, **fields})
        assert response.status_code == 200, response.content
        return response.json()["Customer"]

    def create_invoice(self, customer_id: str, **fields) -> dict:
        response = self.post("invoice", invoice_body(customer_id, **fields))
        assert response.status_code == 200, response.content
        return response.json()["Invoice"]


def sales_line(amount=150, qty=1, unit_price=150, item="2", tax_code="TAX", **extra) -> dict:
    detail = {"ItemRef": {"value": item}, "Qty": qty, "UnitPrice": unit_price}
    if tax_code is not None:
        detail["TaxCodeRef"] = {"value": tax_code}
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail, **extra}


def invoice_body(customer_id: str, lines=None, **fields) -> dict:
    return {"CustomerRef": {"value": customer_id}, "Line": lines or [sales_line()], **fields}


def fault_code(response) -> str:
    body = response.json()
    if "Fault" in body:
        return body["Fault"]["Error"][0]["code"]
    return body["fault"]["error"][0]["code"]


@pytest.fixture
def api(client, db):
    tokens = connect(client, US_REALM_ID)
    return Api(client, US_REALM_ID, tokens["access_token"])


@pytest.fixture
def connect_api(client, db):
    def make(realm_id: str) -> Api:
        return Api(client, realm_id, connect(client, realm_id)["access_token"])

    return make
