"""Per-realm throttles: requests per minute, batches per minute, requests in flight."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from integrations.simulator import limits

from .conftest import (
    CA_REALM_ID,
    REDIRECT_URI,
    US_REALM_ID,
    authorize_params,
    basic_auth,
    control_headers,
    fault_code,
)

pytestmark = pytest.mark.django_db


def configure(client, **fields):
    response = client.post("/simulator/control/settings", json.dumps(fields), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def assert_throttled(response):
    assert response.status_code == 429
    assert fault_code(response) == "3001"
    assert (
        response.json()["Fault"]["Error"][0]["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    )


def test_requests_per_minute_per_realm(client, api, connect_api):
    configure(client, requests_per_minute=3)
    for _ in range(3):
        assert api.get("preferences").status_code == 200
    response = api.get("preferences")
    assert_throttled(response)
    assert 1 <= int(response["Retry-After"]) <= 60
    assert connect_api(CA_REALM_ID).get("preferences").status_code == 200  # another realm has its own budget


def test_retry_after_can_be_switched_off(client, api):
    configure(client, requests_per_minute=1, send_retry_after=False)
    api.get("preferences")
    response = api.get("preferences")
    assert_throttled(response)
    assert not response.has_header("Retry-After")


def test_retry_after_follows_the_django_setting(client, api, settings):
    settings.QUICKBOOKS_SIMULATOR_SEND_RETRY_AFTER = False
    configure(client, requests_per_minute=1)
    api.get("preferences")
    assert not api.get("preferences").has_header("Retry-After")


def test_rate_limits_can_be_switched_off(client, api, settings):
    configure(client, requests_per_minute=1)
    settings.QUICKBOOKS_SIMULATOR_RATE_LIMITS = False
    for _ in range(3):
        assert api.get("preferences").status_code == 200
    settings.QUICKBOOKS_SIMULATOR_RATE_LIMITS = True
    configure(client, rate_limits=False)
    assert api.get("preferences").status_code == 200


def test_a_batch_is_one_request_of_the_minute_and_batches_have_their_own_limit(client, api):
    configure(client, requests_per_minute=3, batch_requests_per_minute=1)
    queries = [{"bId": str(i), "Query": "select * from Item"} for i in range(3)]
    assert api.post("batch", {"BatchItemRequest": queries}).status_code == 200  # 1 of 3 (its items are metered)
    assert_throttled(api.post("batch", {"BatchItemRequest": queries[:1]}))  # second batch this minute
    assert api.get("preferences").status_code == 200  # 2 of 3
    assert api.get("preferences").status_code == 200  # 3 of 3
    assert_throttled(api.get("preferences"))
    calls = client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()["calls"]
    assert calls["batch_requests"] == 1 and calls["batch_items"] == 3 and calls["reads"] == 5


def test_requests_in_flight_are_limited(client, api):
    configure(client, concurrent_requests=2)
    with limits.concurrency_slot(US_REALM_ID, 2), limits.concurrency_slot(US_REALM_ID, 2):
        response = api.get("preferences")
        assert_throttled(response)
        assert client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()["in_flight"] == 2
    assert api.get("preferences").status_code == 200
    assert limits.in_flight(US_REALM_ID) == 0


def test_concurrency_slot_counts_correctly_across_threads():
    peak, current, guard = [0], [0], threading.Lock()
    refused = []

    def worker():
        try:
            with limits.concurrency_slot("thread-test", 3):
                with guard:
                    current[0] += 1
                    peak[0] = max(peak[0], current[0])
                time.sleep(0.01)
                with guard:
                    current[0] -= 1
        except limits.LimitExceeded:
            refused.append(1)

    with ThreadPoolExecutor(max_workers=10) as pool:
        for _ in range(30):
            pool.submit(worker)
    assert peak[0] <= 3
    assert refused  # some were turned away
    assert limits.in_flight("thread-test") == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_live_server_refuses_the_eleventh_concurrent_request(live_server):
    """Real threads against runserver-like concurrency: 10 slow calls in flight, more get 429."""
    base = live_server.url + "/simulator/"
    session = requests.Session()
    consent_page = session.get(base + "oauth2/authorize", params=authorize_params(redirect_uri=REDIRECT_URI))
    assert consent_page.status_code == 200
    csrf = session.cookies["csrftoken"]
    answer = session.post(
        base + "oauth2/authorize",
        data={**authorize_params(), "realm_id": US_REALM_ID, "connect": "1", "csrfmiddlewaretoken": csrf},
        headers={"Referer": base},
        allow_redirects=False,
    )
    code = answer.headers["Location"].split("code=")[1].split("&")[0]
    tokens = session.post(
        base + "oauth2/v1/tokens/bearer",
        headers={"Authorization": basic_auth()},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
    )
    access = tokens.json()["access_token"]
    session.post(
        base + "control/latency", json={"realm_id": US_REALM_ID, "latency_ms": 400}, headers=control_headers()
    )

    def call(_):
        return requests.get(
            f"{base}v3/company/{US_REALM_ID}/preferences",
            headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(max_workers=14) as pool:
        statuses = list(pool.map(call, range(14)))
    assert statuses.count(200) <= 10
    assert statuses.count(429) >= 4
    assert set(statuses) <= {200, 429}
