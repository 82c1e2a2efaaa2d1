"""Send existing invoices against the simulator over real HTTP: a batch whose answer is lost is replayed by its
requestid (nothing created twice), a 429 is waited out, and the simulator's counters see batches, not calls.

PostgreSQL only: on SQLite's shared in-memory test database the simulator thread that answers late holds a table
lock that the worker's own writes run into ("database table is locked"), which is a test-database artefact."""

import pytest
import requests

from integrations.models import QuickBooksBackfill, QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog
from integrations.services import backfill
from tests.e2e.conftest import US_REALM, control_headers


def state(base: str) -> dict:
    return requests.get(
        f"{base}/simulator/control/state", params={"realm_id": US_REALM}, headers=control_headers(), timeout=10
    ).json()


def arm(base: str, kind: str, **extra) -> None:
    body = {"target": "api", "realm_id": US_REALM, "kind": kind, "count": 1, **extra}
    response = requests.post(f"{base}/simulator/control/faults", json=body, headers=control_headers(), timeout=10)
    assert response.status_code == 201, response.text


@pytest.fixture
def history(acme, browser, live_app, settings, monkeypatch):
    settings.QUICKBOOKS_RATE_BATCHES_PER_WINDOW = 6000
    settings.QUICKBOOKS_SIMULATOR_TIME_SCALE = 60  # the injected 429's "60 s" lasts 1 s
    monkeypatch.setattr(backfill, "dispatch_run", lambda run_id: None)
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()
    QuickBooksConnection.objects.update(auto_sync=False)
    invoices = [acme.invoice(finalize=True) for _ in range(35)]
    QuickBooksConnection.objects.update(auto_sync=True)
    return invoices


@pytest.mark.postgres
def test_lost_answer_is_replayed_and_a_429_waited_out(history, acme, live_app, settings):
    before = state(live_app)
    settings.QUICKBOOKS_HTTP_TIMEOUT = 1
    arm(live_app, "timeout_after_write", seconds=2)  # the customers' batch lands, its answer comes too late
    run = backfill.backfill_start(company=acme.company, dispatch=False)
    arm(live_app, "429")
    assert backfill.backfill_run(run.pk) == "done"
    run.refresh_from_db()
    after = state(live_app)
    assert (run.succeeded, run.failed, run.total) == (35, 0, 35)
    assert after["counts"]["Invoice"] - before["counts"]["Invoice"] == 35  # none twice, none missing
    assert after["counts"]["Customer"] - before["counts"]["Customer"] == 1  # the replayed batch made one
    calls = {kind: after["calls"][kind] - before["calls"][kind] for kind in after["calls"]}
    # customers (lost, then replayed), 30 invoices (429, then sent), 5 invoices; more if a replay was slow too
    assert calls["batch_requests"] >= 4 and calls["writes"] == 0 and calls["reads"] == 0
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 35
    assert QuickBooksSyncLog.objects.filter(status="succeeded").count() == 35
    assert QuickBooksBackfill.objects.get().status == "done"
