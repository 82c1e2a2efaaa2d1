"""Fault switches, the control API, reset, and the pages."""

from __future__ import annotations

import json
import time

import pytest

from integrations.simulator import control
from integrations.simulator.models import SimCompany, SimEntity, SimFaultSwitch

from .conftest import CA_REALM_ID, REDIRECT_URI, US_REALM_ID, connect, consent, fault_code, token_request

pytestmark = pytest.mark.django_db


def arm(client, **fields):
    response = client.post("/simulator/control/faults", json.dumps(fields), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["fault"]


def refresh(client, refresh_token):
    return token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


# --- token endpoint faults ------------------------------------------------------------------------------


def test_next_n_token_calls_fail_with_invalid_grant_then_recover(client):
    tokens = connect(client)
    arm(client, target="token", kind="invalid_grant", count=2)
    for _ in range(2):
        response = refresh(client, tokens["refresh_token"])
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200  # the token was never spent by the injected failures


def test_token_500_fault(client):
    tokens = connect(client)
    arm(client, target="token", kind="500")
    assert refresh(client, tokens["refresh_token"]).status_code == 500
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_token_timeout_sleeps_and_applies_nothing(client):
    tokens = connect(client)
    arm(client, target="token", kind="timeout", seconds=0.05)
    started = time.monotonic()
    response = refresh(client, tokens["refresh_token"])
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 504
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_token_timeout_after_write_rotates_then_answers_late(client):
    tokens = connect(client)
    arm(client, target="token", kind="timeout_after_write", seconds=0.01)
    assert refresh(client, tokens["refresh_token"]).status_code == 200  # (the client gave up by now)
    assert refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_realm_targeted_token_fault_spares_other_realms(client):
    us = connect(client, US_REALM_ID)
    ca = connect(client, CA_REALM_ID)
    arm(client, target="token", kind="invalid_grant", realm_id=CA_REALM_ID)
    assert refresh(client, us["refresh_token"]).status_code == 200
    assert refresh(client, ca["refresh_token"]).status_code == 400


def test_code_exchange_is_a_token_call_too(client):
    callback = consent(client)
    arm(client, target="token", kind="500")
    response = token_request(
        client, {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    )
    assert response.status_code == 500


# --- API faults ------------------------------------------------------------------------------------------


def test_api_faults_401_429_500(client, api):
    arm(client, target="api", kind="401", realm_id=US_REALM_ID)
    arm(client, target="api", kind="429")
    arm(client, target="api", kind="500")
    first = api.get("preferences")
    assert first.status_code == 401 and fault_code(first) == "3200"
    second = api.get("preferences")
    assert second.status_code == 429 and fault_code(second) == "3001"
    assert second.json()["Fault"]["Error"][0]["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    assert second["Retry-After"] == "60"
    third = api.get("preferences")
    assert third.status_code == 500 and fault_code(third) == "10000"
    assert third.json()["Fault"]["type"] == "SystemFault"
    assert api.get("preferences").status_code == 200


def test_api_timeout_does_not_apply_the_write(client, api):
    arm(client, target="api", kind="timeout", seconds=0.01)
    response = api.post("customer", {"DisplayName": "Never Saved"})
    assert response.status_code == 504
    assert api.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 0


def test_timeout_after_write_applies_it_and_requestid_replays_it(client, api):
    arm(client, target="api", kind="timeout_after_write", seconds=0.01)
    assert api.get("preferences").status_code == 200  # reads pass the switch by
    first = api.post("customer", {"DisplayName": "Saved Late"}, params={"requestid": "req-1"})
    assert first.status_code == 200
    retry = api.post("customer", {"DisplayName": "Saved Late"}, params={"requestid": "req-1"})
    assert retry.status_code == 200
    assert retry.json()["Customer"]["Id"] == first.json()["Customer"]["Id"]
    assert api.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 1


def test_latency_is_added_to_api_calls(client, api):
    response = client.post(
        "/simulator/control/latency",
        json.dumps({"realm_id": US_REALM_ID, "latency_ms": 30}),
        content_type="application/json",
    )
    assert response.status_code == 200
    started = time.monotonic()
    api.get("preferences")
    assert time.monotonic() - started >= 0.03


def test_switches_are_consumed_atomically():
    switch = control.arm_fault(target="api", kind="500", count=2)
    assert control.take_fault("api", US_REALM_ID, writing=False).kind == "500"
    assert control.take_fault("api", CA_REALM_ID, writing=False).kind == "500"
    assert control.take_fault("api", US_REALM_ID, writing=False) is None
    switch.refresh_from_db()
    assert switch.remaining == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"target": "nowhere", "kind": "500"},
        {"target": "api", "kind": "invalid_grant"},
        {"target": "token", "kind": "429"},
        {"target": "api", "kind": "500", "count": 0},
        {"target": "api", "kind": "500", "realm_id": "000"},
        {"target": "api", "kind": "timeout", "seconds": -1},
    ],
)
def test_nonsense_fault_requests_are_400(client, fields):
    response = client.post("/simulator/control/faults", json.dumps(fields), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    assert not SimFaultSwitch.objects.exists()


def test_clear_and_list_faults(client):
    arm(client, target="api", kind="500", count=3)
    assert client.get("/simulator/control/faults").json()["faults"][0]["remaining"] == 3
    assert client.delete("/simulator/control/faults").json() == {"cleared": 1}
    assert client.get("/simulator/control/faults").json()["faults"] == []


# --- state, reset, settings ------------------------------------------------------------------------------


def test_state_counts_calls_and_objects(client, api):
    api.create_customer("Counted")
    api.get("preferences")
    state = client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()
    assert state["realm_id"] == US_REALM_ID
    assert state["token_calls"] == 1 and state["api_calls"] == 2
    assert state["total_token_calls"] == 1
    assert state["counts"]["Customer"] == 1 and state["counts"]["Invoice"] == 0
    assert state["counts"]["Item"] == 5
    assert state["active_grants"] == 1
    assert client.get("/simulator/control/state", {"realm_id": "000"}).status_code == 404
    everything = client.get("/simulator/control/state").json()
    assert len(everything["realms"]) == 4


def test_reset_goes_back_to_the_seed(client, api):
    api.create_customer("Wiped")
    arm(client, target="api", kind="500")
    assert client.post("/simulator/control/reset").json() == {"reset": True}
    assert SimCompany.objects.count() == 4
    assert not SimEntity.objects.filter(entity_type="Customer").exists()
    assert not SimFaultSwitch.objects.exists()
    state = client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()
    assert state["active_grants"] == 0 and state["counts"]["Item"] == 5


def test_simulator_reseeds_itself_when_its_tables_were_emptied(client):
    SimCompany.objects.all().delete()
    response = client.get("/simulator/")
    assert response.status_code == 200
    assert SimCompany.objects.count() == 4


def test_settings_toggle(client, settings):
    settings.QUICKBOOKS_SIMULATOR_RATE_LIMITS = False
    assert client.get("/simulator/control/settings").json()["rate_limits"] is False
    body = client.post(
        "/simulator/control/settings",
        json.dumps({"rate_limits": True, "send_retry_after": False}),
        content_type="application/json",
    ).json()
    assert body["rate_limits"] is True and body["send_retry_after"] is False
    body = client.post(
        "/simulator/control/settings", json.dumps({"rate_limits": None}), content_type="application/json"
    ).json()
    assert body["rate_limits"] is False
    bad = client.post(
        "/simulator/control/settings", json.dumps({"requests_per_minute": 0}), content_type="application/json"
    )
    assert bad.status_code == 400


# --- pages -----------------------------------------------------------------------------------------------


def test_index_page_lists_companies_grants_and_fault_form(client):
    connect(client)
    page = client.get("/simulator/").content.decode()
    assert "QuickBooks simulator (offline)" in page
    for name in ("Sandbox Company US 1", "Maple Leaf Supplies", "Thames Trading Ltd", US_REALM_ID):
        assert name in page
    assert "attune-dev-client" in page or "Disconnect" in page
    assert 'name="kind"' in page


def test_fault_form_arms_a_switch(client):
    response = client.post(
        "/simulator/faults/arm", {"target": "api", "kind": "429", "count": "2", "realm_id": "", "seconds": "1"}
    )
    assert response.status_code == 302
    switch = SimFaultSwitch.objects.get()
    assert (switch.kind, switch.remaining) == ("429", 2)
    client.post("/simulator/faults/clear")
    assert not SimFaultSwitch.objects.exists()


def test_page_forms_need_csrf(client):
    from django.test import Client

    assert Client(enforce_csrf_checks=True).post("/simulator/faults/arm", {"target": "api"}).status_code == 403


def test_settings_form_and_reset_form(client):
    response = client.post(
        "/simulator/settings", {"rate_limits": "off", "send_retry_after": "", f"latency_{US_REALM_ID}": "5"}
    )
    assert response.status_code == 302
    assert control.rate_limits_enabled() is False
    assert SimCompany.objects.get(realm_id=US_REALM_ID).latency_ms == 5
    assert client.post("/simulator/reset").status_code == 302


def test_company_pages_render(client, api):
    customer = api.create_customer("Page Customer")
    api.create_invoice(customer["Id"], PrivateNote="watch me arrive")
    for section in ("customers", "invoices", "payments", "reference"):
        response = client.get(f"/simulator/companies/{US_REALM_ID}/{section}")
        assert response.status_code == 200, section
    invoices = client.get(f"/simulator/companies/{US_REALM_ID}/invoices").content.decode()
    assert "watch me arrive" in invoices and "Receive payment" in invoices
    assert client.get("/simulator/companies/000/customers").status_code == 404
    assert client.get(f"/simulator/companies/{US_REALM_ID}/nonsense").status_code == 404
