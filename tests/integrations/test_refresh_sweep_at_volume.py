"""The 45-minute refresh sweep at volume: chunked across the workers, paced, and one connection's failure never
stops the others (bench/refresh.py measures 10,000 connections against the simulator)."""

import pytest
import responses

from integrations.models import QuickBooksConnection
from integrations.services import connections
from tests.factories import CompanyFactory
from tests.integrations.conftest import TOKEN_URL, add_token_response, make_connection, token_body

pytestmark = pytest.mark.django_db


def many(count, *, expires_in=10 * 60):
    made = []
    for i in range(count):
        made.append(
            make_connection(
                CompanyFactory(), realm=f"77{i:04d}", refresh=f"refresh-{i}", expires_in=expires_in + i * 60
            )
        )
    return made


@pytest.fixture
def queued(monkeypatch):
    """django-q tasks the sweep queued (instead of running them): (func, args)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kwargs: calls.append((func, args)))
    return calls


def test_the_scheduled_sweep_queues_due_connections_in_chunks_most_urgent_first(settings, queued, intuit):
    settings.QUICKBOOKS_REFRESH_CHUNK = 2
    made = many(5)
    later = make_connection(CompanyFactory(), realm="880000", expires_in=58 * 60)  # not due
    QuickBooksConnection.objects.filter(pk=made[4].pk).update(access_token_expires_at=None)  # unknown: first
    report = connections.connection_refresh_sweep_dispatch()
    assert (report.considered, report.chunks) == (5, 3)
    assert [func for func, _ in queued] == ["integrations.services.tasks.refresh_chunk"] * 3
    chunks = [args[0] for _, args in queued]
    assert chunks == [[made[4].pk, made[0].pk], [made[1].pk, made[2].pk], [made[3].pk]]
    assert later.pk not in sum(chunks, [])
    assert not intuit.calls  # the dispatcher itself calls nobody


def test_a_chunk_refreshes_its_connections_at_its_workers_share_of_the_pace(settings, intuit, monkeypatch):
    settings.QUICKBOOKS_REFRESH_PER_MINUTE = 1200  # 20 a second for the whole cluster
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}  # so 10 a second for each worker
    made = many(4)
    for i in range(4):
        add_token_response(intuit, token_body(f"access-{i}", f"new-refresh-{i}"))
    clock = {"now": 1000.0}
    sleeps = []
    monkeypatch.setattr(connections.time, "monotonic", lambda: clock["now"])

    def sleep(seconds):
        sleeps.append(round(seconds, 3))
        clock["now"] += seconds

    monkeypatch.setattr(connections.time, "sleep", sleep)
    report = connections.connection_refresh_chunk(connection_ids=[c.pk for c in made])
    assert (report.considered, report.refreshed) == (4, 4)
    assert sleeps == [0.1, 0.1, 0.1]  # no call sooner than 1/10 s after the previous one
    assert {
        c.refresh_token_cipher.reveal() for c in QuickBooksConnection.objects.filter(pk__in=[c.pk for c in made])
    } == {f"new-refresh-{i}" for i in range(4)}


def test_pacer_spaces_calls_and_does_not_sleep_when_behind():
    clock = {"now": 0.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock["now"] += seconds

    pacer = connections.Pacer(50, clock=lambda: clock["now"], sleep=sleep)
    pacer.wait()
    pacer.wait()
    clock["now"] += 1.0  # a slow call: already late, no sleep
    pacer.wait()
    assert sleeps == [pytest.approx(0.02)]


def test_one_failing_connection_does_not_stop_the_others(intuit, monkeypatch):
    made = many(4)
    intuit.add(responses.POST, TOKEN_URL, status=503, body="down")  # the first: Intuit has a hiccup
    intuit.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})  # the second: revoked
    add_token_response(intuit, token_body("a-3", "r-3"))
    add_token_response(intuit, token_body("a-4", "r-4"))
    broken = made[2].pk
    real_refresh = connections.connection_refresh

    def refresh(*, connection_id, **kwargs):
        if connection_id == broken:
            raise RuntimeError("a bug in one connection's data")
        return real_refresh(connection_id=connection_id, **kwargs)

    monkeypatch.setattr(connections, "connection_refresh", refresh)
    report, rest = connections.connection_refresh_many(connection_ids=[c.pk for c in made], per_minute=60_000)
    assert (report.considered, report.deferred, report.needs_reconnect, report.failed, report.refreshed) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert rest == []
    states = dict(QuickBooksConnection.objects.filter(pk__in=[c.pk for c in made]).values_list("pk", "status"))
    assert states[made[0].pk] == "connected"  # transient: the next sweep tries again, the grant is kept
    assert states[made[1].pk] == "needs_reconnect"
    assert states[made[2].pk] == "connected"  # the bug left it as it was
    assert QuickBooksConnection.objects.get(pk=made[2].pk).refresh_token_cipher.reveal() == "refresh-2"
    assert QuickBooksConnection.objects.get(pk=made[3].pk).refresh_token_cipher.reveal() == "r-3"  # went on


def test_a_slow_chunk_queues_the_rest_before_the_task_timeout(settings, intuit, queued, monkeypatch):
    made = many(3)
    add_token_response(intuit, token_body("a-1", "r-1"))
    ticks = iter([0.0, 0.0, 0.0, 500.0, 500.0, 500.0, 500.0, 500.0])
    monkeypatch.setattr(connections.time, "monotonic", lambda: next(ticks, 500.0))
    report = connections.connection_refresh_chunk(connection_ids=[c.pk for c in made])
    assert (report.considered, report.refreshed) == (1, 1)
    assert queued == [("integrations.services.tasks.refresh_chunk", ([made[1].pk, made[2].pk],))]


def test_when_the_broker_is_down_the_sweep_refreshes_in_place(intuit, monkeypatch):
    made = many(2)
    add_token_response(intuit, token_body("a-1", "r-1"))
    add_token_response(intuit, token_body("a-2", "r-2"))

    def broken(*args, **kwargs):
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    report = connections.connection_refresh_sweep_dispatch()
    assert (report.considered, report.refreshed, report.chunks) == (2, 2, 0)
    assert all(c.status == "connected" for c in QuickBooksConnection.objects.filter(pk__in=[m.pk for m in made]))


def test_the_refresh_chunk_task_reports_what_it_did(intuit):
    from integrations.services.tasks import refresh_chunk

    made = many(1)
    add_token_response(intuit, token_body("a-1", "r-1"))
    assert refresh_chunk([made[0].pk, 999_999]) == (
        "considered=2 refreshed=1 deferred=1 needs_reconnect=0 failed=0"  # a deleted connection is skipped
    )
