"""Issue #8 item 6: brute-force protection on sign-in and the API; throttles on QuickBooks endpoints."""

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


@pytest.fixture
def low_rates(settings):
    cache.clear()
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "user": "5/min", "anon": "3/min"}
    yield settings
    cache.clear()


def sign_in(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_repeated_failed_sign_ins_lock_the_username_with_a_clear_message_until_an_admin_unlocks(tenant):
    from django.core.management import call_command

    tenant.admin.set_password("right-password")
    tenant.admin.save()
    browser = Client()
    for attempt in range(5):
        response = sign_in(browser, tenant.admin.username, f"wrong-{attempt}", ip=f"10.0.0.{attempt + 1}")
    response = sign_in(browser, tenant.admin.username, "right-password", ip="10.9.9.9")  # even the right one
    assert response.status_code == 429
    assert (
        "Too many failed sign-ins" in response.content.decode() and "locked for 15 minutes" in response.content.decode()
    )
    assert "_auth_user_id" not in browser.session
    call_command("axes_reset_username", tenant.admin.username)  # the admin's unlock
    response = sign_in(browser, tenant.admin.username, "right-password", ip="10.9.9.9")
    assert response.status_code == 302 and browser.session["_auth_user_id"] == str(tenant.admin.pk)


def test_repeated_failed_sign_ins_from_one_address_lock_that_address(tenant):
    tenant.member.set_password("member-password")
    tenant.member.save()
    browser = Client()
    for attempt in range(5):
        sign_in(browser, f"guess-{attempt}", "nope", ip="10.1.1.1")
    assert sign_in(browser, tenant.member.username, "member-password", ip="10.1.1.1").status_code == 429
    assert sign_in(browser, tenant.member.username, "member-password", ip="10.2.2.2").status_code == 302


def test_the_api_throttles_per_user_with_a_json_429(tenant, api_client_for, low_rates):
    api = api_client_for(tenant.member)
    statuses = [api.get("/api/v1/clients").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    body = api.get("/api/v1/clients").json()
    assert body["code"] == "throttled" and "available in" in body["message"]
    other = api_client_for(tenant.staff)  # per user: someone else is not held back
    assert other.get("/api/v1/clients").status_code == 200


def test_wrong_api_tokens_are_throttled_per_address(tenant, settings):
    cache.clear()
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "token-failures": "3/hour"}
    guesser = Client()
    statuses = [
        guesser.get("/api/v1/clients", HTTP_AUTHORIZATION=f"Token guess{i}", REMOTE_ADDR="10.4.4.4").status_code
        for i in range(5)
    ]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
    cache.clear()


def test_quickbooks_connect_and_sync_endpoints_are_throttled(tenant, api_client_for, settings, monkeypatch):
    cache.clear()
    settings.API_THROTTLE_RATES = {
        **settings.API_THROTTLE_RATES,
        "quickbooks-connect": "2/hour",
        "quickbooks-sync": "2/min",
    }
    monkeypatch.setattr("integrations.services.connections.connection_start", lambda **kwargs: "https://example.test/")
    api = api_client_for(tenant.admin)
    statuses = [api.post("/api/v1/integrations/quickbooks/connect").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    invoice = tenant.invoice(finalize=True)
    statuses = [api.post(f"/api/v1/integrations/quickbooks/sync/{invoice.pk}").status_code for _ in range(3)]
    assert statuses[2] == 429 and 429 not in statuses[:2]
    cache.clear()
