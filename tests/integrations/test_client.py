"""The one client: paging, escaping, batch, CDC and every error shape Intuit sends."""

import datetime as dt
import email.utils
import time

import pytest
import responses

from integrations.exceptions import DuplicateDocNumber, StaleObject, Throttled, Unavailable, ValidationFailed
from integrations.quickbooks.client import quote, select_statement
from integrations.quickbooks.errors import parse_retry_after
from integrations.services.api import client_for
from tests.integrations.conftest import API, make_connection, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(tenant):
    return client_for(make_connection(tenant.company, access="client-access"))


def test_query_follows_pages_with_startposition_and_maxresults(client, intuit):
    first = [{"Id": str(i)} for i in range(3)]
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {"Customer": first, "startPosition": 1}})
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {"Customer": [{"Id": "3"}], "startPosition": 4}})
    rows = list(client.query("select * from Customer", entity="Customer", page_size=3))
    assert [r["Id"] for r in rows] == ["0", "1", "2", "3"]
    statements = [query_of(c.request.url)["query"] for c in intuit.calls]
    assert statements == [
        "select * from Customer STARTPOSITION 1 MAXRESULTS 3",
        "select * from Customer STARTPOSITION 4 MAXRESULTS 3",
    ]
    assert all(query_of(c.request.url)["minorversion"] == "75" for c in intuit.calls)


def test_query_values_are_escaped():
    assert quote("O'Brien \\ Sons") == "'O\\'Brien \\\\ Sons'"
    assert select_statement("Customer", DisplayName="x' or '1'='1", Active=False) == (
        "select * from Customer where DisplayName = 'x\\' or \\'1\\'=\\'1' and Active = false"
    )
    with pytest.raises(ValueError):
        select_statement("Customer; drop", DisplayName="x")


def test_a_fault_inside_a_200_answer_is_an_error(client, intuit):
    intuit.add(
        responses.GET,
        f"{API}/query",
        status=200,
        json={
            "Fault": {
                "Error": [{"Message": "Duplicate Document Number Error", "code": "6140"}],
                "type": "ValidationFault",
            }
        },
    )
    with pytest.raises(DuplicateDocNumber):
        client.find("Invoice", DocNumber="1")


def test_an_xml_throttle_body_is_understood(client, intuit):
    xml = (
        '<?xml version="1.0"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="SERVICE">'
        '<Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>'
        "</Error></Fault></IntuitResponse>"
    )
    intuit.add(
        responses.GET,
        f"{API}/invoice/1",
        body=xml,
        status=429,
        content_type="application/xml",
        headers={"Retry-After": "17"},
    )
    with pytest.raises(Throttled) as error:
        client.read("Invoice", "1")
    assert (error.value.code, error.value.retry_after) == ("3001", 17)


def test_stale_object_and_validation_faults_are_typed(client, intuit):
    intuit.add(
        responses.POST,
        f"{API}/invoice",
        status=400,
        json={"Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}], "type": "ValidationFault"}},
    )
    with pytest.raises(StaleObject):
        client.sparse_update("Invoice", {"Id": "1", "SyncToken": "0"}, request_id="r1")
    intuit.replace(
        responses.POST,
        f"{API}/invoice",
        status=400,
        json={
            "Fault": {
                "Error": [
                    {
                        "Message": "Business Validation Error",
                        "Detail": "Make sure all your transactions have a VAT rate",
                        "code": "6000",
                        "element": "Line",
                    }
                ],
                "type": "ValidationFault",
            }
        },
    )
    with pytest.raises(ValidationFailed) as error:
        client.create("Invoice", {}, request_id="r2")
    assert error.value.detail == "Make sure all your transactions have a VAT rate"


def test_a_non_json_success_is_unavailable_not_a_crash(client, intuit):
    intuit.add(responses.GET, f"{API}/invoice/1", body="<html>gateway</html>", status=200)
    with pytest.raises(Unavailable, match="not JSON"):
        client.read("Invoice", "1")


def test_retry_after_as_seconds_or_http_date():
    assert parse_retry_after("30") == 30
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < parse_retry_after(when) <= 120
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_batch_sends_items_and_returns_per_item_answers(client, intuit):
    intuit.add(
        responses.POST,
        f"{API}/batch",
        json={
            "BatchItemResponse": [
                {"bId": "1", "Invoice": {"Id": "9"}},
                {"bId": "2", "Fault": {"Error": [{"code": "6140"}]}},
            ]
        },
    )
    answers = client.batch(
        [{"bId": "1", "operation": "create", "Invoice": {}}, {"bId": "2", "operation": "create", "Invoice": {}}],
        request_id="b-1",
    )
    assert [a["bId"] for a in answers] == ["1", "2"] and "Fault" in answers[1]
    assert query_of(intuit.calls[0].request.url)["requestid"] == "b-1"
    with pytest.raises(ValueError, match="1 to 30"):
        client.batch([{"bId": str(i)} for i in range(31)])
    with pytest.raises(ValueError, match="36"):
        client.batch([{"bId": "1"}], request_id="x" * 37)


def test_cdc_collects_changed_objects_by_entity(client, intuit):
    intuit.add(
        responses.GET,
        f"{API}/cdc",
        json={
            "CDCResponse": [
                {
                    "QueryResponse": [
                        {"Invoice": [{"Id": "1"}, {"Id": "2", "status": "Deleted"}]},
                        {"Payment": [{"Id": "7"}]},
                    ]
                }
            ]
        },
    )
    since = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    changed = client.cdc(["Invoice", "Payment", "Customer"], changed_since=since)
    assert [i["Id"] for i in changed["Invoice"]] == ["1", "2"] and changed["Payment"] == [{"Id": "7"}]
    assert changed["Customer"] == []
    params = query_of(intuit.calls[0].request.url)
    assert params["entities"] == "Invoice,Payment,Customer" and params["changedSince"].startswith("2026-11-01T00:00")


def test_requestid_longer_than_intuits_limit_is_refused_before_sending(client, intuit):
    with pytest.raises(ValueError, match="50"):
        client.create("Invoice", {}, request_id="r" * 51)
    assert len(intuit.calls) == 0


def test_multicurrency_company_gets_currency_refs(tenant):
    from integrations.books.preflight import ResolvedLine
    from integrations.quickbooks.online.push import customer_payload, invoice_payload
    from integrations.quickbooks.online.render import CompanyProfile

    profile = CompanyProfile(tax_style="global", home_currency="CAD", multicurrency_enabled=True)
    invoice = tenant.invoice(currency="USD")
    assert customer_payload(tenant.client, profile)["CurrencyRef"] == {"value": "USD"}
    payload = invoice_payload(
        invoice,
        customer_id="5",
        profile=profile,
        lines=[
            ResolvedLine(
                "x",
                invoice.lines.get().quantity,
                invoice.lines.get().unit_price,
                invoice.lines.get().amount,
                "1",
                True,
                "4",
            )
        ],
    )
    assert payload["CurrencyRef"] == {"value": "USD"} and payload["GlobalTaxCalculation"] == "TaxExcluded"
