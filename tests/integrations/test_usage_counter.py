"""One counter of calls to Intuit per realm and calendar month (decision 0018): every call the client sends is
counted once, where it is paced; a batch counts its items as Intuit meters them (QBO-REFERENCE §0 #6, §2.6)."""

import pytest
import responses

from integrations.models import QuickBooksRealmPace
from integrations.quickbooks.limiter import DatabaseStore, LocalStore, RateLimits, RealmLimiter, StoreUnavailable
from integrations.services.api import client_for
from integrations.services.usage import connection_usage

from .conftest import API, REALM


def counted(connection) -> tuple[int, int]:
    usage = connection_usage(connection=connection)
    return usage.reads, usage.writes


def test_n_reads_through_the_client_count_n_and_writes_count_apart(connected, intuit):
    intuit.add(responses.GET, f"{API}/preferences", json={"Preferences": {}})
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {}})
    intuit.add(responses.POST, f"{API}/customer", json={"Customer": {"Id": "58", "SyncToken": "0"}})
    client = client_for(connected)
    for _ in range(5):
        client.preferences()
    for _ in range(2):
        assert client.find("Customer", DisplayName="Acme") is None
    client.create("Customer", {"DisplayName": "Acme"}, request_id="c-1")
    assert counted(connected) == (7, 1)
    assert (client.reads, client.writes) == (7, 1)  # the client's own figures agree with the counter
    assert len(intuit.calls) == 8  # one count per request sent, none twice


def test_a_batch_counts_its_items_as_intuit_meters_them(connected, intuit):
    intuit.add(
        responses.POST,
        f"{API}/batch",
        json={"BatchItemResponse": [{"bId": f"b{n}", "Customer": {"Id": str(n)}} for n in range(4)]},
    )
    items = [{"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"C{n}"}} for n in range(3)]
    items.append({"bId": "q", "Query": "select * from Customer MAXRESULTS 1"})
    client = client_for(connected)
    client.batch(items, request_id="batch-1")
    assert counted(connected) == (1, 3)  # three creates are writes, the Query item a read; the batch itself once
    assert client.calls == 1


def test_calls_are_counted_with_pacing_off(connected, intuit, settings):
    settings.QUICKBOOKS_RATE_LIMITER = False
    intuit.add(responses.GET, f"{API}/preferences", json={"Preferences": {}})
    client = client_for(connected)
    client.preferences()
    client.preferences()
    assert counted(connected) == (2, 0)


class ReservationsDown(DatabaseStore):
    """The pace's reservation statement fails (e.g. no RETURNING), the plain count still works."""

    def reserve(self, *args, **kwargs):
        raise StoreUnavailable("OperationalError")


@pytest.mark.django_db
def test_a_call_paced_locally_is_still_counted_once():
    limits = RateLimits(window_seconds=60)
    limiter = RealmLimiter(limits, store=ReservationsDown(), fallback=LocalStore(), sleep=lambda seconds: None)
    with limiter.permit(REALM, read=True):
        pass
    with limiter.permit(REALM, batch=True, writes=30):
        pass
    row = QuickBooksRealmPace.objects.get(realm_id=REALM)
    assert (row.reads, row.writes) == (1, 30)


@pytest.mark.django_db
def test_the_count_starts_again_each_calendar_month():
    store = DatabaseStore()
    store.count(REALM, now=1_767_225_599.0, reads=4, writes=1)  # 2025-12-31 23:59:59 UTC
    store.count(REALM, now=1_767_225_601.0, reads=1, writes=0)  # 2026-01-01
    row = QuickBooksRealmPace.objects.get(realm_id=REALM)
    assert (row.month, row.reads, row.writes) == ("2026-01", 1, 0)


def test_the_settings_page_shows_the_count_and_warns_near_the_allowance(
    tenant, connected, intuit, page_client_for, settings
):
    settings.QUICKBOOKS_MONTHLY_READ_ALLOWANCE = 1000
    settings.QUICKBOOKS_READ_WARNING_SHARE = 0.8
    intuit.add(responses.GET, f"{API}/preferences", json={"Preferences": {}})
    client_for(connected).preferences()
    html = page_client_for(tenant.admin).get("/settings/integrations/quickbooks/").content.decode()
    assert "1 read, 0 writes" in html and "0.1 % of the monthly allowance" in html
    assert 'id="qbo-usage-warning"' not in html
    QuickBooksRealmPace.objects.filter(realm_id=REALM).update(reads=850)
    html = page_client_for(tenant.admin).get("/settings/integrations/quickbooks/").content.decode()
    assert 'id="qbo-usage-warning"' in html and "850 of the 1,000" in html
    member = page_client_for(tenant.member).get("/settings/integrations/quickbooks/").content.decode()
    assert 'id="qbo-usage"' not in member  # operational figures: staff and admins


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_this_months_legacy_reads_into_the_one_counter():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    month = timezone.now().strftime("%Y-%m")
    before = [("integrations", "0019_desktop_payments_tax_and_items")]
    after = [("integrations", "0020_one_read_counter")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Company = apps.get_model("tenants", "Company")
    Connection = apps.get_model("integrations", "QuickBooksConnection")
    Pace = apps.get_model("integrations", "QuickBooksRealmPace")
    legacy = [("r-more", 40, 5), ("r-less", 3, 9), ("r-none", 7, None)]  # realm, legacy reads, pace reads
    for n, (realm, reads, paced) in enumerate(legacy):
        company = Company.objects.create(name=f"C{n}", slug=f"c{n}")
        Connection.objects.create(company=company, realm_id=realm, reads_month=month, reads_this_month=reads)
        if paced is not None:
            Pace.objects.create(realm_id=realm, month=month, reads=paced, writes=2)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    counted = {row.realm_id: (row.reads, row.writes) for row in QuickBooksRealmPace.objects.all()}
    assert counted == {"r-more": (40, 2), "r-less": (9, 2), "r-none": (7, 0)}  # the larger figure, once
