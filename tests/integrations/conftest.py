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
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", queued.append)
    return queued


@pytest.fixture
def connected(tenant, dispatched):
    """Alpha connected to a US QuickBooks company, default Item mapped to "Services" (id 1)."""
    from integrations.models import QuickBooksMapping

    connection = make_connection(tenant.company, access="push-access", refresh="push-refresh")
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        tax_style="us", sales_tax_mode="manual", home_currency="USD"
    )
    QuickBooksMapping.objects.create(
        company=tenant.company, realm_id=REALM, kind="item", local_key="default", qbo_id="1", qbo_name="Services"
    )
    QuickBooksMapping.objects.create(  # the tenant's 10 % "Sales tax" → a US sales tax code of 10 %
        company=tenant.company,
        realm_id=REALM,
        kind="sales_tax_code",
        local_key=str(tenant.tax_rate.pk),
        qbo_id="2",
        qbo_name="Ten percent",
    )
    connection.refresh_from_db()
    return connection


@pytest.fixture
def captured(django_capture_on_commit_callbacks):
    """`with captured(execute=True):` runs what the block queued with on_commit (the outbox's dispatch)."""
    return django_capture_on_commit_callbacks


def finalize(tenant, captured, **fields):
    """A finalized invoice of the tenant, its outbox entry written and its dispatch run."""
    with captured(execute=True):
        return tenant.invoice(finalize=True, **fields)


def run_due(entry_or_id):
    """Make the entry due now and run it like the worker would."""
    from integrations.models import QuickBooksSyncLog
    from integrations.outbox.worker import sync_run

    entry_id = getattr(entry_or_id, "pk", entry_or_id)
    QuickBooksSyncLog.objects.filter(pk=entry_id).update(next_attempt_at=timezone.now())
    result = sync_run(entry_id=entry_id)
    return QuickBooksSyncLog.objects.get(pk=entry_id), result


def qbo_invoice(qbo_id="130", sync_token="0", *, amounts=(100,), tax=10, customer="58", memo="", **extra):
    """Intuit's answer to a write, with the figures of the tenants' default invoice (2 × 50.00 + 10 % tax, the
    customer created by `add_customer_created`) unless told otherwise."""
    total = sum(amounts) + tax
    body = {
        "Id": qbo_id,
        "SyncToken": sync_token,
        "CustomerRef": {"value": customer},
        "Line": [{"Amount": a, "DetailType": "SalesItemLineDetail"} for a in amounts]
        + [{"Amount": sum(amounts), "DetailType": "SubTotalLineDetail"}],
        "TxnTaxDetail": {"TotalTax": tax},
        "TotalAmt": total,
        "Balance": total,
        "DocNumber": "INV-0001",
        "TxnDate": "2026-01-15",
        "DueDate": "2026-02-14",
    }
    if memo:
        body["CustomerMemo"] = {"value": memo}
    return {"Invoice": {**body, **extra}}


def add_invoice_answer(intuit, qbo_id="130", sync_token="0", *, replace=False, tax_percent=10, memo=None, **extra):
    """Intuit's invoice endpoint, faked: it answers every write with the invoice it was sent, as QuickBooks holds
    it (its own Id and SyncToken, TotalAmt, Balance and TotalTax computed at `tax_percent` on TAX lines unless
    the request names TotalTax). `extra` overrides top-level fields of the answer (to fake a disagreement)."""
    import json
    from decimal import ROUND_HALF_UP, Decimal

    def answer(request):
        body = json.loads(request.body)
        lines = [line for line in body.get("Line", []) if line.get("DetailType") == "SalesItemLineDetail"]
        subtotal = sum((Decimal(str(line["Amount"])) for line in lines), Decimal(0))
        taxable = sum(
            (
                Decimal(str(line["Amount"]))
                for line in lines
                if line["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value") == "TAX"
            ),
            Decimal(0),
        )
        detail = body.get("TxnTaxDetail") or {}
        tax = Decimal(str(detail["TotalTax"])) if "TotalTax" in detail else taxable * tax_percent / 100
        tax = tax.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        invoice = {key: value for key, value in body.items() if key != "sparse"}
        invoice.update(
            {
                "Id": qbo_id,
                "SyncToken": sync_token,
                "TxnTaxDetail": {**detail, "TotalTax": float(tax)},
                "TotalAmt": float(subtotal + tax),
                "Balance": float(subtotal + tax),
            }
        )
        if memo is not None:
            invoice["CustomerMemo"] = {"value": memo}
        invoice.update(extra)
        return 200, {"intuit_tid": "tid-inv"}, json.dumps({"Invoice": invoice})

    if replace:
        intuit.remove(responses.POST, f"{API}/invoice")
    intuit.add_callback(responses.POST, f"{API}/invoice", callback=answer)


def fault(code, message="refused", status_type="ValidationFault", detail=""):
    return {"Fault": {"Error": [{"Message": message, "Detail": detail or message, "code": code}], "type": status_type}}


def add_no_customer(intuit):
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {}}, headers={"intuit_tid": "tid-q"})


def add_customer_created(intuit, qbo_id="58"):
    """Intuit's customer endpoint, faked: it answers the customer it was sent, with its Id and SyncToken."""
    import json

    def answer(request):
        body = {key: value for key, value in json.loads(request.body).items() if key != "sparse"}
        return 200, {"intuit_tid": "tid-cust"}, json.dumps({"Customer": {**body, "Id": qbo_id, "SyncToken": "0"}})

    intuit.add_callback(responses.POST, f"{API}/customer", callback=answer)


def calls_to(intuit, method, path) -> list:
    return [c for c in intuit.calls if c.request.method == method and urlsplit(c.request.url).path.endswith(path)]
