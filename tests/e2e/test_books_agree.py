"""The books agree, in each of the four sample QuickBooks companies: a varied scenario goes through the worker's
task (django-q2 in sync mode: dispatch → async_task → run_sync) to the simulator over HTTP, and
`manage.py quickbooks_verify` then finds no difference. The simulator is as strict as Intuit: its own tax and
rounding rules decide what QuickBooks holds, so a wrong payload shows up as a difference here."""

import datetime as dt
from decimal import Decimal

import pytest
import requests
from django.core.management import call_command

from attune_qbo.billing import services as billing
from attune_qbo.billing.services import LineData
from integrations.models import QuickBooksConnection, QuickBooksSyncLog
from integrations.services.api import client_for
from tests.e2e.conftest import US_REALM, control_headers

US_AST_REALM = "9341453050298542"
CA_REALM = "9130357766900456"
GB_REALM = "4620816365180392970"

# Per sample company: its home currency, our tax rates (name, percent, taxable) — named and rated so the
# suggestions made at connect map them to the company's codes — and the state of the client's address.
COMPANIES = {
    "us-manual": (US_REALM, "USD", [("California", "8", True), ("Exempt", "0", False)], "CA"),
    "us-ast": (US_AST_REALM, "USD", [("AST sales tax", "7.25", True), ("Exempt", "0", False)], "CA"),
    "ca-multicurrency": (CA_REALM, "CAD", [("HST ON", "13", True), ("Exempt", "0", False)], "ON"),
    "gb": (GB_REALM, "GBP", [("20.0% S", "20", True), ("Exempt", "0", False)], ""),
}
MEMO = 'Thanks for the "quick" job — naïve café ✓ 10% off next time'


@pytest.fixture
def worker(settings, monkeypatch):
    """Run queued tasks through django-q2 in sync mode, at once (no debounce, short back-off)."""
    from django_q.conf import Conf

    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    settings.QUICKBOOKS_PUSH_BACKOFF_SECONDS = [0]
    monkeypatch.setattr(Conf, "SYNC", True)


def connect(acme, browser, realm_id: str, rates, currency: str):
    company = acme.company
    taxes = {
        name: billing.tax_rate_save(company=company, name=name, percent=Decimal(percent), taxable=taxable)
        for name, percent, taxable in rates
    }
    products = {
        name: billing.product_save(company=company, name=name, unit_price=Decimal(price))
        for name, price in (("Consulting", "150"), ("Design", "75.1234"), ("Installation", "49.999"))
    }
    browser.sign_in("acme-admin")
    browser.connect_quickbooks(realm_id)
    connection = QuickBooksConnection.objects.get(company=company)
    assert connection.is_connected and connection.realm_id == realm_id, connection.last_error
    assert connection.home_currency == currency
    return connection, taxes, products


def make_client(acme, *, currency: str, region: str, name: str = "Harbour & Sons"):
    return billing.client_save(
        company=acme.company,
        display_name=name,
        email="accounts@harbour.example",
        address_line1="1 Quay Street",
        address_line2="Unit 4",
        city="Port Town",
        region=region,
        postal_code="90210",
        country="US" if region == "CA" else "",
        currency=currency,
    )


def line(product, quantity, tax_rate, price=None):
    return LineData(product=product, quantity=Decimal(quantity), unit_price=price, tax_rate=tax_rate)


def entries_agree(invoice):
    entry = QuickBooksSyncLog.objects.filter(object_id=invoice.pk).order_by("-id").first()
    assert entry is not None and entry.status in ("succeeded", "up_to_date"), entry and entry.message
    return entry


def verify(acme, capsys) -> str:
    capsys.readouterr()
    try:
        call_command("quickbooks_verify", company=acme.company.pk)
    except SystemExit as exit_:
        out = capsys.readouterr()
        pytest.fail(f"quickbooks_verify found differences (exit {exit_.code}):\n{out.out}{out.err}")
    return capsys.readouterr().out


@pytest.mark.parametrize("kind", list(COMPANIES))
def test_a_varied_scenario_leaves_no_difference(kind, acme, browser, live_app, worker, capsys):
    realm_id, currency, rates, region = COMPANIES[kind]
    connection, taxes, products = connect(acme, browser, realm_id, rates, currency)
    taxable, exempt = (taxes[rates[0][0]], taxes[rates[1][0]])
    client = make_client(acme, currency=currency, region=region)
    first = billing.invoice_create(
        company=acme.company,
        client=client,
        currency=currency,
        issue_date=dt.date(2026, 11, 2),
        due_date=dt.date(2026, 12, 2),
        memo=MEMO,
        lines=[
            line(products["Consulting"], "1.5", taxable),
            line(products["Design"], "2.25", exempt),
            line(products["Installation"], "3", taxable),
            LineData(description="Call-out, 3-decimal price", quantity="1", unit_price="33.335", tax_rate=taxable),
        ],
    )
    first = billing.invoice_finalize(invoice=first)
    entries_agree(first)
    second = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=client,
            currency=currency,
            issue_date=dt.date(2026, 11, 3),
            due_date=dt.date(2026, 11, 17),
            lines=[line(products["Consulting"], "0.75", taxable, price="149.9950")],
        )
    )
    entries_agree(second)

    # Edits: a line added, one changed, one removed; then the memo and the client's e-mail cleared.
    billing.invoice_update(
        invoice=first,
        lines=[
            line(products["Consulting"], "2.125", taxable),
            line(products["Design"], "2.25", exempt),
            line(products["Installation"], "1", exempt),
            line(products["Design"], "0.3333", taxable),
        ],
    )
    entries_agree(first)
    billing.client_save(company=acme.company, client=client, email="")
    billing.invoice_update(invoice=first, memo="")
    entry = entries_agree(first)
    qbo = client_for(connection)
    held = qbo.read("Invoice", entry.qbo_id)
    assert "CustomerMemo" not in held and "BillEmail" not in held  # cleared means cleared
    customer = qbo.read("Customer", held["CustomerRef"]["value"])
    assert "PrimaryEmailAddr" not in customer

    billing.invoice_void(invoice=second)
    entries_agree(second)
    third = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=make_client(acme, currency=currency, region=region, name="Ölfabrik “Nord”"),
            currency=currency,
            issue_date=dt.date(2026, 11, 5),
            due_date=dt.date(2026, 11, 5),
            lines=[line(products["Installation"], "12", taxable), line(products["Design"], "1", exempt)],
        )
    )
    entries_agree(third)

    out = verify(acme, capsys)
    assert "3 invoice(s) compared, 0 difference(s)" in out, out


def test_edits_and_invoices_made_while_disconnected_go_at_reconnect(acme, browser, live_app, worker, capsys):
    realm_id, currency, rates, region = COMPANIES["us-manual"]
    connection, taxes, products = connect(acme, browser, realm_id, rates, currency)
    client = make_client(acme, currency=currency, region=region)
    invoice = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=client,
            issue_date=dt.date(2026, 11, 2),
            due_date=dt.date(2026, 12, 2),
            lines=[line(products["Consulting"], "1", taxes["California"])],
        )
    )
    entries_agree(invoice)
    page = browser.get("/settings/integrations/quickbooks/")
    browser.submit(page, "/settings/integrations/quickbooks/disconnect/")
    assert QuickBooksConnection.objects.get(pk=connection.pk).status == "disconnected"

    billing.invoice_update(invoice=invoice, memo="Edited while QuickBooks was disconnected")
    waiting = QuickBooksSyncLog.objects.get(object_id=invoice.pk, status="pending")
    assert "not connected" in waiting.message  # recorded, not skipped
    new = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=client,
            issue_date=dt.date(2026, 11, 4),
            due_date=dt.date(2026, 12, 4),
            lines=[line(products["Design"], "3", taxes["Exempt"])],
        )
    )

    browser.connect_quickbooks(realm_id)  # nobody presses "Send now"
    entries_agree(invoice)
    entries_agree(new)
    out = verify(acme, capsys)
    assert "2 invoice(s) compared, 0 difference(s)" in out, out


def test_two_taxable_rates_on_a_us_invoice_are_refused_before_any_call(acme, browser, live_app, worker):
    realm_id, currency, rates, region = COMPANIES["us-manual"]
    connection, taxes, products = connect(acme, browser, realm_id, rates, currency)
    other = billing.tax_rate_save(company=acme.company, name="City tax", percent=Decimal("2"), taxable=True)
    calls_before = requests.get(
        f"{live_app}/simulator/control/state", params={"realm_id": realm_id}, headers=control_headers(), timeout=10
    )
    invoice = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=make_client(acme, currency=currency, region=region),
            issue_date=dt.date(2026, 11, 2),
            due_date=dt.date(2026, 12, 2),
            lines=[line(products["Consulting"], "1", taxes["California"]), line(products["Design"], "1", other)],
        )
    )
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert entry.status == "failed" and entry.error_code == "us_one_tax_rate"
    assert "holds one sales tax rate" in entry.message and "California" in entry.message
    calls_after = requests.get(
        f"{live_app}/simulator/control/state", params={"realm_id": realm_id}, headers=control_headers(), timeout=10
    )
    assert calls_after.json()["counts"] == calls_before.json()["counts"]  # nothing was written


def test_quickbooks_rounding_differently_is_recorded_as_drift_never_as_success(acme, browser, live_app, worker, capsys):
    realm_id, currency, rates, region = COMPANIES["us-manual"]
    connection, taxes, products = connect(acme, browser, realm_id, rates, currency)
    switched = requests.post(
        f"{live_app}/simulator/control/settings", json={"tax_rounding": "down"}, headers=control_headers(), timeout=10
    )
    assert switched.status_code == 200, switched.text
    invoice = billing.invoice_finalize(
        invoice=billing.invoice_create(
            company=acme.company,
            client=make_client(acme, currency=currency, region=region),
            issue_date=dt.date(2026, 11, 2),
            due_date=dt.date(2026, 12, 2),
            lines=[LineData(description="Washer", quantity="1", unit_price="10.19", tax_rate=taxes["California"])],
        )
    )  # 8 % of 10.19 = 0.8152: ours 0.82 (half up), QuickBooks now 0.81
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert (entry.status, entry.error_code) == ("drift", "drift"), entry.message
    figures = {d["field"]: (d["ours"], d["quickbooks"]) for d in entry.drift["differences"]}
    assert figures["tax"] == ("0.82", "0.81") and figures["total"] == ("11.01", "11.00")
    assert entry.drift["causes"][0].startswith("Rounding")
    assert "QuickBooks differs: Total: attune 11.01, QuickBooks 11.00" in entry.message
    status = browser.get("/api/v1/integrations/quickbooks/status")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        call_command("quickbooks_verify", company=acme.company.pk)
    assert exited.value.code == 1
    assert f"invoice {invoice.number}" in capsys.readouterr().out
    assert status.status_code == 200 and status.json()["sync_counts"]["drift"] == 1  # counted in the status API
