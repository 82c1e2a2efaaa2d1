"""Two workers refreshing the same connection at the same moment: exactly one token call, both end with the
newest tokens. Needs PostgreSQL's row locks (SQLite serializes whole transactions differently)."""

import threading
import time

import pytest
import responses
from django.db import connections as db_connections

from integrations.models import QuickBooksConnection
from integrations.services.connections import connection_refresh
from tests.integrations.conftest import TOKEN_URL, make_connection, token_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_threads_refreshing_at_once_make_exactly_one_token_call(tenant):
    connection = make_connection(tenant.company, access="old-access", refresh="old-refresh", expires_in=60)
    token_calls = []

    def slow_token_endpoint(request):
        token_calls.append(request.body)
        time.sleep(0.5)  # hold the row lock while the other thread arrives
        return 200, {"intuit_tid": "t"}, __import__("json").dumps(token_body("new-access", "new-refresh"))

    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            refreshed = connection_refresh(connection_id=connection.pk)
            results.append(refreshed.access_token_cipher.reveal())
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            db_connections.close_all()

    with responses.RequestsMock() as intuit:
        intuit.add_callback(responses.POST, TOKEN_URL, callback=slow_token_endpoint)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)

    assert errors == []
    assert len(token_calls) == 1
    assert results == ["new-access", "new-access"]
    stored = QuickBooksConnection.objects.get(pk=connection.pk)
    assert stored.refresh_token_cipher.reveal() == "new-refresh"
