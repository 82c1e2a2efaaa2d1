"""CompanyInfo, Preferences and bearer authentication on the Accounting API."""

from __future__ import annotations

import json

import pytest

from .conftest import CA_REALM_ID, GB_REALM_ID, US_REALM_ID, Api, connect

pytestmark = pytest.mark.django_db


def test_company_info_for_each_sample_company(client, connect_api):
    for realm_id, name, country in (
        (US_REALM_ID, "Sandbox Company US 1", "US"),
        (CA_REALM_ID, "Maple Leaf Supplies", "CA"),
        (GB_REALM_ID, "Thames Trading Ltd", "GB"),
    ):
        api = connect_api(realm_id)
        response = api.get(f"companyinfo/{realm_id}")
        assert response.status_code == 200
        assert response["intuit_tid"]
        body = response.json()
        assert body["CompanyInfo"]["CompanyName"] == name
        assert body["CompanyInfo"]["Country"] == country
        assert body["CompanyInfo"]["LegalName"]
        assert body["time"]


def test_company_info_by_query(api):
    body = api.query("select * from CompanyInfo").json()
    assert body["QueryResponse"]["CompanyInfo"][0]["CompanyName"] == "Sandbox Company US 1"


def test_preferences_show_tax_and_currency(connect_api):
    us = connect_api(US_REALM_ID).get("preferences").json()["Preferences"]
    assert us["TaxPrefs"] == {"UsingSalesTax": True, "PartnerTaxEnabled": False, "TaxGroupCodeRef": {"value": "2"}}
    assert us["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    ca = connect_api(CA_REALM_ID).get("preferences").json()["Preferences"]
    assert ca["CurrencyPrefs"] == {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "CAD"}}
    gb = connect_api(GB_REALM_ID).get("preferences").json()["Preferences"]
    assert gb["CurrencyPrefs"]["HomeCurrency"] == {"value": "GBP"}
    assert gb["TaxPrefs"]["UsingSalesTax"] is True


def test_minorversion_any_value_is_accepted(api):
    for version in ("1", "65", "75", "99"):
        assert api.get("preferences", {"minorversion": version}).status_code == 200


def _assert_gateway_401(response):
    assert response.status_code == 401
    body = response.json()
    error = body["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert response["intuit_tid"]


def test_missing_or_unknown_bearer_token_is_401_3200(client):
    _assert_gateway_401(client.get(f"/simulator/v3/company/{US_REALM_ID}/preferences"))
    _assert_gateway_401(Api(client, US_REALM_ID, "not-a-token").get("preferences"))


def test_expired_access_token_is_401_3200(client):
    tokens = connect(client)
    client.post(
        "/simulator/control/tokens",
        json.dumps({"realm_id": US_REALM_ID, "action": "expire_access"}),
        content_type="application/json",
    )
    _assert_gateway_401(Api(client, US_REALM_ID, tokens["access_token"]).get("preferences"))


def test_refresh_token_is_not_an_access_token(client):
    tokens = connect(client)
    _assert_gateway_401(Api(client, US_REALM_ID, tokens["refresh_token"]).get("preferences"))


def test_token_for_another_realm_is_403_3100(client):
    tokens = connect(client, US_REALM_ID)
    response = Api(client, CA_REALM_ID, tokens["access_token"]).get("preferences")
    assert response.status_code == 403
    assert response.json()["fault"]["error"][0]["code"] == "3100"
    response = Api(client, "123", tokens["access_token"]).get("preferences")
    assert response.status_code == 403


def test_user_disconnecting_in_quickbooks_revokes_tokens(client):
    tokens = connect(client)
    response = client.post(f"/simulator/companies/{US_REALM_ID}/disconnect")
    assert response.status_code == 302
    _assert_gateway_401(Api(client, US_REALM_ID, tokens["access_token"]).get("preferences"))


def test_every_response_carries_a_fresh_intuit_tid(client, api):
    first = api.get("preferences")["intuit_tid"]
    second = api.get("preferences")["intuit_tid"]
    assert first != second
    assert client.get("/simulator/")["intuit_tid"]
    assert client.get("/simulator/control/state")["intuit_tid"]
