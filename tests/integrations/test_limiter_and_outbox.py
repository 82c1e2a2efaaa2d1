"""The per-realm limiter (pacing, concurrency, 429s, a store that fails) and the outbox's turns (no sleeping per
entry, round robin by realm), plus what one push costs: queries and reads."""

import threading
import time

import pytest
import responses
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import QuickBooksRealmPace, QuickBooksSyncLog
from integrations.quickbooks.limiter import (
    DatabaseStore,
    LocalStore,
    PacedOut,
    RateLimits,
    RealmLimiter,
    StoreUnavailable,
)

from .conftest import (
    API,
    REALM,
    add_customer_created,
    add_invoice_answer,
    add_no_customer,
    fault,
    finalize,
    run_due,
)

LIMITS = RateLimits(calls_per_window=60, batches_per_window=6, concurrent=2, window_seconds=60, safety=1.0)


class FakeClock:
    """Time that moves only when someone sleeps: pacing is checked exactly, without waiting."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(clock, store=None, limits=LIMITS, fallback=None):
    return RealmLimiter(limits, store=store, fallback=fallback or LocalStore(), clock=clock, sleep=clock.sleep)


@pytest.mark.django_db
def test_two_workers_sharing_the_database_are_paced_together_at_the_limit():
    clock = FakeClock()
    first, second = limiter(clock, DatabaseStore()), limiter(clock, DatabaseStore())  # two processes, one table
    starts = []
    for worker in [first, second] * 10:
        with worker.permit(REALM):
            starts.append(clock())
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= LIMITS.call_interval - 1e-6  # one call a second at 60 a minute, whoever calls
    assert starts[-1] - starts[0] == pytest.approx(19 * LIMITS.call_interval)
    row = QuickBooksRealmPace.objects.get(realm_id=REALM)
    assert (row.in_flight, row.writes, row.reads) == (0, 20, 0)  # released, and counted as writes


@pytest.mark.django_db
def test_no_more_calls_in_flight_than_the_realm_allows():
    clock = FakeClock()
    worker = limiter(clock, DatabaseStore(), limits=LIMITS.__class__(**{**LIMITS.__dict__, "max_wait_seconds": 3}))
    held = [worker.permit(REALM), worker.permit(REALM)]  # two under way: the limit
    with pytest.raises(PacedOut):
        worker.permit(REALM)  # a third waits, and past the longest wait it is handed back
    held[0].__exit__(None, None, None)
    with worker.permit(REALM):  # one finished: the next goes
        pass


@pytest.mark.django_db
def test_a_batch_is_paced_at_the_batch_limit_too():
    clock = FakeClock()
    worker = limiter(clock, DatabaseStore())
    starts = []
    for _ in range(3):
        with worker.permit(REALM, batch=True):
            starts.append(clock())
    assert starts[1] - starts[0] == pytest.approx(LIMITS.batch_interval)  # 6 a minute: every 10 s


@pytest.mark.postgres  # real concurrency on one table: PostgreSQL (SQLite's shared test cache locks whole tables)
@pytest.mark.django_db(transaction=True)
def test_threads_sharing_the_store_never_go_faster_or_wider_than_the_limits():
    limits = RateLimits(calls_per_window=40, concurrent=2, window_seconds=1.0, safety=1.0, max_wait_seconds=10)
    starts, running, peak, lock, fallback = [], [0], [0], threading.Lock(), LocalStore()

    def work():
        from django.db import connections

        worker = RealmLimiter(limits, store=DatabaseStore(), fallback=fallback)
        try:
            for _ in range(5):
                with worker.permit(REALM):
                    with lock:
                        starts.append(time.time())
                        running[0] += 1
                        peak[0] = max(peak[0], running[0])
                    time.sleep(0.01)
                    with lock:
                        running[0] -= 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 20 and peak[0] <= 2
    assert QuickBooksRealmPace.objects.get(realm_id=REALM).writes == 20  # every call went through the shared pace
    # 40 a second: 20 calls take at least 19 intervals (a little jitter allowed), never less.
    assert starts[-1] - starts[0] >= 19 * limits.call_interval * 0.9


class BrokenStore:
    def reserve(self, *args, **kwargs):
        raise StoreUnavailable("OperationalError")

    def release(self, realm_id):
        raise StoreUnavailable("OperationalError")

    def block(self, realm_id, *, until):
        raise StoreUnavailable("OperationalError")


def test_when_the_store_is_unavailable_each_process_paces_slower_never_faster():
    clock = FakeClock()
    worker = limiter(clock, BrokenStore())
    starts = []
    for _ in range(4):
        with worker.permit(REALM):
            starts.append(clock())
    fallback = LIMITS.fallback()
    assert fallback.call_interval > LIMITS.call_interval and fallback.concurrent == 1
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= fallback.call_interval - 1e-6
    held = worker.permit(REALM)
    with pytest.raises(PacedOut):  # one at a time while on its own
        worker.permit(REALM)
    held.__exit__(None, None, None)


def test_a_429_blocks_the_realm_for_every_worker_until_retry_after():
    clock, shared = FakeClock(), LocalStore()
    first, second = limiter(clock, shared), limiter(clock, shared)
    first.throttled(REALM, seconds=2)
    with second.permit(REALM):
        assert clock() >= 1_000_002.0  # the other worker waited the block out before sending
    first.throttled(REALM, seconds=60)
    with pytest.raises(PacedOut) as handed_back:
        second.permit(REALM)
    assert handed_back.value.retry_after >= 59


# --- through the client and the outbox ----------------------------------------------------------------------


def add_throttle(intuit, *, retry_after: str) -> None:
    """Intuit's next customer lookup answers 429 with this Retry-After."""
    intuit.add(
        responses.GET,
        f"{API}/query",
        status=429,
        headers={"Retry-After": retry_after},
        json=fault("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429", "SERVICE"),
    )


def test_a_short_429_is_waited_out_and_sent_again_without_using_an_attempt(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_throttle(intuit, retry_after="1")
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    started = time.monotonic()
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "succeeded" and entry.attempts == 1  # the 429 was not an attempt
    assert time.monotonic() - started >= 0.9  # Retry-After honoured before sending again
    assert QuickBooksRealmPace.objects.get(realm_id=REALM).blocked_until > 0


def test_a_long_429_puts_the_entry_back_for_then_and_later_calls_wait_without_sending(
    tenant, connected, captured, intuit
):
    first, second = finalize(tenant, captured), finalize(tenant, captured)
    add_throttle(intuit, retry_after="120")
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=first.pk))
    assert outcome == "throttled" and (entry.attempts, entry.throttled) == (0, 1)
    sent = len(intuit.calls)
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=second.pk))
    assert outcome == "paced" and len(intuit.calls) == sent  # nothing sent into the block
    assert (entry.status, entry.attempts, entry.throttled) == ("pending", 0, 0)
    assert (entry.next_attempt_at - timezone.now()).total_seconds() > 100


def test_a_task_whose_entry_is_not_due_returns_at_once(tenant, connected, captured, settings):
    from integrations.outbox.worker import sync_drain, sync_run

    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 30
    invoice = finalize(tenant, captured)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    started = time.monotonic()
    assert sync_run(entry_id=entry.pk) == "not due yet"
    assert sync_drain(first_entry_id=entry.pk, seconds=5) == "pushed=0"  # due past its turn: no waiting
    assert time.monotonic() - started < 2


def test_the_drain_serves_realms_in_turn_so_a_backlog_does_not_hold_up_another_company(
    tenant, other_tenant, connected, monkeypatch, settings
):
    """Tenant A has 30 entries due since a while; tenant B's one invoice came due later. B goes second, not 31st.
    (One by one here; the same with batches: test_outbox_batches.py.)"""
    from integrations.outbox import outcomes
    from integrations.outbox import worker as sync

    from .conftest import make_connection

    make_connection(other_tenant.company, realm="9130000000000002")
    now = timezone.now()
    backlog = [
        QuickBooksSyncLog(
            company=tenant.company,
            realm_id=REALM,
            object_id=1000 + n,
            next_attempt_at=now - timezone.timedelta(minutes=5),
        )
        for n in range(30)
    ]
    QuickBooksSyncLog.objects.bulk_create(backlog)
    single = QuickBooksSyncLog.objects.create(
        company=other_tenant.company, realm_id="9130000000000002", object_id=1, next_attempt_at=now
    )
    order = []

    def pushed(entry, connection):
        order.append(entry.pk)
        outcomes.finish(entry, "succeeded", "ok")
        return "succeeded"

    monkeypatch.setattr(sync, "_execute", pushed)
    settings.QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = 0
    assert sync.sync_drain(seconds=10) == "pushed=31"
    assert single.pk in order[:2]


@pytest.mark.django_db(transaction=True)
def test_a_steady_push_reads_nothing_and_stays_within_its_query_budget(tenant, connected, captured, intuit):
    """Customer linked: a create is one write (its answer is the confirmation), an edit one sparse update; the
    customer is looked up by name once per client, never per invoice."""
    from attune_qbo.billing import services
    from integrations.outbox.worker import sync_run

    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))  # links the customer
    add_invoice_answer(intuit, qbo_id="131", replace=True)
    invoice = finalize(tenant, captured)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    before = len(intuit.calls)
    with CaptureQueriesContext(db_connection) as queries:
        assert sync_run(entry_id=entry.pk) == "succeeded"
    assert [call.request.method for call in intuit.calls[before:]] == ["POST"]  # 0 reads
    assert len(queries) <= PUSH_QUERY_BUDGET, [q["sql"][:60] for q in queries.captured_queries]
    with captured(execute=True):
        services.invoice_update(invoice=invoice, memo="edited")
    before = len(intuit.calls)
    _, outcome = run_due(QuickBooksSyncLog.objects.filter(object_id=invoice.pk).latest("id"))
    assert outcome == "succeeded" and [call.request.method for call in intuit.calls[before:]] == ["POST"]


# Claim (UPDATE … RETURNING), invoice with its connection, client and link keys, lines, create requestid, the
# limiter's reserve and release, link INSERT, outcome UPDATE: the target of 8 (docs/decisions/0019).
PUSH_QUERY_BUDGET = 8


# --- reads and writes per connection and month ---------------------------------------------------------------


def test_the_status_api_reports_reads_and_writes_this_month_and_warns_near_the_allowance(
    tenant, connected, intuit, api_client_for, settings
):
    settings.QUICKBOOKS_MONTHLY_READ_ALLOWANCE = 1000
    settings.QUICKBOOKS_READ_WARNING_SHARE = 0.8
    intuit.add(responses.GET, f"{API}/preferences", json={"Preferences": {}})
    from integrations.services.api import client_for

    client = client_for(connected)
    client.preferences()
    client.preferences()  # two reads through the limiter's reservation, counted there
    status = api_client_for(tenant.admin).get("/api/v1/integrations/quickbooks/status").json()
    assert (status["reads_this_month"], status["writes_this_month"], status["read_allowance"]) == (2, 0, 1000)
    assert status["usage_warning"] == ""
    QuickBooksRealmPace.objects.filter(realm_id=REALM).update(reads=850)
    status = api_client_for(tenant.admin).get("/api/v1/integrations/quickbooks/status").json()
    assert status["read_share"] == 0.85 and "850 of the 1,000" in status["usage_warning"]
    member = api_client_for(tenant.member).get("/api/v1/integrations/quickbooks/status").json()
    assert "reads_this_month" not in member and "usage_warning" not in member  # operational: staff and admins


def test_the_realm_rotation_keeps_its_turn_order_across_looks(monkeypatch):
    """A batch turn lasts a second or more, so the drain looks at the due realms before every turn: a realm that
    came due goes next, and the one just served waits its turn (bench/fairness.py measured 22 s without this)."""
    from integrations.outbox import worker

    looks = iter([{"A": 300}, {"A": 270, "B": 1}, {"A": 240, "B": 1}, {"A": 210}])
    monkeypatch.setattr(worker, "_due_realms", lambda: next(looks))
    monkeypatch.setattr(worker, "DUE_REALMS_SECONDS", -1)  # look every time
    rotation = worker._RealmRotation()
    assert rotation.next_realm() == "A"
    rotation.served("A", 30)
    assert rotation.next_realm() == "B"  # came due since the last look: before A, which was just served
    rotation.served("B")
    assert rotation.next_realm() == "A"
    rotation.served("A", 30)
    assert rotation.next_realm() == "A" and rotation.due("A") == 210
