"""Unit tests talk to Intuit's real (sandbox) URLs, faked with `responses`; nothing leaves the machine."""

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone

from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.quickbooks.constants import (
    ENDPOINTS,
    INTUIT_AUTHORIZATION_ENDPOINT,
    INTUIT_REVOCATION_ENDPOINT,
    INTUIT_TOKEN_ENDPOINT,
)

SANDBOX_API = ENDPOINTS["sandbox"].api_base
TOKEN_URL = INTUIT_TOKEN_ENDPOINT
REVOKE_URL = INTUIT_REVOCATION_ENDPOINT
AUTHORIZE_URL = INTUIT_AUTHORIZATION_ENDPOINT
REDIRECT_URI = "http://127.0.0.1:8000/api/v1/integrations/quickbooks/callback"
REALM = "9130000000000001"


@pytest.fixture(autouse=True)
def sandbox_environment(settings):
    settings.QUICKBOOKS_ENVIRONMENT = "sandbox"
    settings.QUICKBOOKS_REDIRECT_URI = REDIRECT_URI
    settings.QUICKBOOKS_REDIRECT_URI_ALLOWLIST = [REDIRECT_URI]
    settings.QUICKBOOKS_HTTP_TIMEOUT = 5


@pytest.fixture
def intuit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token_body(access="access-token-1", refresh="refresh-token-1", *, hard=156032154, rolling=8726400):
    body = {
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 3600,
        "x_refresh_token_expires_in": rolling,
    }
    if hard is not None:
        body["x_refresh_token_hard_expires_in"] = hard
    return body


def add_token_response(intuit, body=None, *, status=200, tid="tid-token"):
    intuit.add(
        responses.POST,
        TOKEN_URL,
        json=body if body is not None else token_body(),
        status=status,
        headers={"intuit_tid": tid},
    )


def add_company_info(intuit, realm=REALM, *, name="Sandbox Company US 1", country="US", status=200):
    body = {"CompanyInfo": {"CompanyName": name, "LegalName": name, "Country": country, "Id": "1"}}
    if status != 200:
        body = {"Fault": {"Error": [{"Message": "boom", "code": "10000"}], "type": "SystemFault"}}
    intuit.add(
        responses.GET,
        f"{SANDBOX_API}/v3/company/{realm}/companyinfo/{realm}",
        json=body,
        status=status,
        headers={"intuit_tid": "tid-info"},
    )
    add_preferences(intuit, realm)


def add_preferences(intuit, realm=REALM, *, currency="USD", multicurrency=False):
    body = {
        "Preferences": {
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
            "CurrencyPrefs": {"MultiCurrencyEnabled": multicurrency, "HomeCurrency": {"value": currency}},
        }
    }
    intuit.add(
        responses.GET, f"{SANDBOX_API}/v3/company/{realm}/preferences", json=body, headers={"intuit_tid": "tid-prefs"}
    )


def form_of(call) -> dict:
    return {key: values[0] for key, values in parse_qs(call.request.body).items()}


def query_of(url) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def json_of(call) -> dict:
    return json.loads(call.request.body)


def make_connection(
    company,
    *,
    access="stored-access",
    refresh="stored-refresh",
    expires_in=3600,
    realm=REALM,
    status=ConnectionStatus.CONNECTED,
    user=None,
) -> QuickBooksConnection:
    now = timezone.now()
    return QuickBooksConnection.objects.create(
        company=company,
        status=status,
        realm_id=realm,
        environment="sandbox",
        access_token_cipher=access,
        refresh_token_cipher=refresh,
        access_token_expires_at=now + dt.timedelta(seconds=expires_in),
        refresh_token_expires_at=now + dt.timedelta(days=100),
        refresh_token_hard_expires_at=now + dt.timedelta(days=5 * 365),
        connected_at=now,
        connected_by=user,
        qbo_company_name="Sandbox Company US 1",
        company_info_fetched_at=now,
    )


API = f"{SANDBOX_API}/v3/company/{REALM}"


@pytest.fixture
def dispatched(monkeypatch):
    """Tasks the code queued (instead of running them): a list of entry ids."""
    queued: list[int] = []
    monkeypatch.setattr("integrations.services.sync.dispatch", queued.append)
    return queued


@pytest.fixture
def connected(tenant, dispatched):
    """Alpha connected to a US QuickBooks company, default Item mapped to "Services" (id 1)."""
    from integrations.models import QuickBooksMapping

    connection = make_connection(tenant.company, access="push-access", refresh="push-refresh")
    QuickBooksConnection.objects.filter(pk=connection.pk).update(tax_style="us", home_currency="USD")
    QuickBooksMapping.objects.create(
        company=tenant.company, realm_id=REALM, kind="item", local_key="default", qbo_id="1", qbo_name="Services"
    )
    connection.refresh_from_db()
    return connection


def run_due(entry_or_id):
    """Make the entry due now and run it like the worker would."""
    from integrations.models import QuickBooksSyncLog
    from integrations.services.sync import sync_run

    entry_id = getattr(entry_or_id, "pk", entry_or_id)
    QuickBooksSyncLog.objects.filter(pk=entry_id).update(next_attempt_at=timezone.now())
    result = sync_run(entry_id=entry_id)
    return QuickBooksSyncLog.objects.get(pk=entry_id), result


def qbo_invoice(qbo_id="130", sync_token="0", **extra):
    return {"Invoice": {"Id": qbo_id, "SyncToken": sync_token, **extra}}


def fault(code, message="refused", status_type="ValidationFault", detail=""):
    return {"Fault": {"Error": [{"Message": message, "Detail": detail or message, "code": code}], "type": status_type}}


def add_no_customer(intuit):
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {}}, headers={"intuit_tid": "tid-q"})


def add_customer_created(intuit, qbo_id="58"):
    intuit.add(
        responses.POST,
        f"{API}/customer",
        json={"Customer": {"Id": qbo_id, "SyncToken": "0"}},
        headers={"intuit_tid": "tid-cust"},
    )


def calls_to(intuit, method, path) -> list:
    return [c for c in intuit.calls if c.request.method == method and urlsplit(c.request.url).path.endswith(path)]
