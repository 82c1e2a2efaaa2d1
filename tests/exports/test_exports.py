import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from attune_qbo.billing.models import Invoice, InvoiceStatus
from attune_qbo.billing.services import LineData
from attune_qbo.core.spreadsheet import spreadsheet_cell
from integrations.exports import csv_renderer
from integrations.exports.csv_renderer import INVOICE_COLUMNS, split_into_files
from integrations.exports.services import ExportRequest, NothingToExport, export_plan, export_start
from integrations.models import MappingKind, QuickBooksConnection, QuickBooksExport, QuickBooksMapping
from tests.exports.readers import amount, read_csv, read_iif, read_zip
from tests.factories import ClientFactory, ProductFactory, TaxRateFactory

CSV_URL = "/api/v1/integrations/quickbooks/exports/csv"
IIF_URL = "/api/v1/integrations/quickbooks/exports/iif"
NASTY = 'Tab\there:\nNew "Quoted" Café Zoë Müller'


def _nasty_invoice(tenant, *, name=NASTY, memo='=HYPERLINK("http://evil")', number="INV-1"):
    client = ClientFactory(company=tenant.company, display_name=name)
    product = ProductFactory(company=tenant.company, name='Pipe:\t3/4"', unit_price=Decimal("6.75"))
    return tenant.invoice(
        client=client,
        number=number,
        memo=memo,
        lines=[
            LineData(product=product, quantity=Decimal("12.5"), description="-2+3 line\nwith break"),
            LineData(product=tenant.product, quantity=1, description="@SUM(A1)"),
        ],
        finalize=True,
    )


def _export(company, fmt, **fields) -> tuple[QuickBooksExport, bytes]:
    export, download = export_start(company=company, user=None, request=ExportRequest(format=fmt, **fields))
    return export, b"".join(download.chunks)


# --- names: tabs, newlines, quotes, ":" and non-ASCII -------------------------------------------------------


def test_csv_keeps_names_readable_and_neutralises_formulas(tenant):
    invoice = _nasty_invoice(tenant)
    _, data = _export(tenant.company, "csv")
    rows = read_csv(data)
    assert tuple(rows[0].keys()) == INVOICE_COLUMNS
    assert len(rows) == 2 and {row["InvoiceNo"] for row in rows} == {invoice.number}
    assert rows[0]["Customer"] == 'Tab here - New "Quoted" Café Zoë Müller'  # one line, ":" not a job separator
    assert rows[0]["Item(Product/Service)"] == 'Pipe - 3/4"'
    assert rows[0]["Memo"].startswith("'=HYPERLINK")
    assert rows[0]["ItemDescription"] == "'-2+3 line\nwith break"  # a line break stays inside its quoted cell
    assert rows[1]["ItemDescription"] == "'@SUM(A1)"
    assert rows[0]["InvoiceDate"] == "01/15/2026" and rows[0]["DueDate"] == "02/14/2026"
    assert rows[0]["ItemQuantity"] == "12.5" and rows[0]["ItemRate"] == "6.75" and rows[0]["ItemAmount"] == "84.38"


def test_csv_date_format_is_the_one_chosen(tenant):
    tenant.invoice(finalize=True)
    _, data = _export(tenant.company, "csv", date_format="dmy")
    assert read_csv(data)[0]["InvoiceDate"] == "15/01/2026"


def test_spreadsheet_guard_keeps_negative_amounts_numbers():
    assert spreadsheet_cell("-12.50") == "-12.50"
    assert spreadsheet_cell(" =1+1") == "' =1+1"
    assert spreadsheet_cell("\tx") == "'\tx"
    assert spreadsheet_cell("\rx") == "'\rx"
    assert spreadsheet_cell("-Acme") == "'-Acme"
    assert spreadsheet_cell("Acme") == "Acme"


def test_iif_names_are_one_field_each_and_colons_only_where_quickbooks_means_them(tenant):
    _nasty_invoice(tenant)
    QuickBooksConnection.objects.create(company=tenant.company, realm_id="r1", status="connected")
    QuickBooksMapping.objects.create(
        company=tenant.company,
        realm_id="r1",
        kind=MappingKind.ITEM,
        local_key=str(tenant.product.pk),
        qbo_id="9",
        qbo_name="Hardware:Widgets",
    )
    _, data = _export(tenant.company, "iif")
    iif = read_iif(data)
    (customer,) = iif.lists["CUST"]
    assert customer["NAME"] == "Tab here - New 'Quoted' Café Zoë Müller"  # quotes → ', accents kept (cp1252)
    items = {item["NAME"]: item for item in iif.lists["INVITEM"]}
    assert "Pipe - 3/4'" in items and "Hardware:Widgets" in items  # a mapped sub-item keeps its ":"
    assert items["Sales tax"]["INVITEMTYPE"] == "COMPTAX" and items["Sales tax"]["PRICE"] == "10%"
    (txn,) = iif.transactions
    assert txn.trns["NAME"] == customer["NAME"]
    assert [spl["INVITEM"] for spl in txn.spl] == ["Pipe - 3/4'", "Hardware:Widgets", "Sales tax"]
    assert txn.spl[0]["MEMO"] == "-2+3 line with break"


def test_iif_names_outside_windows_1252_are_folded_and_never_merge(tenant):
    for name in ("東京 Tokyo", "大阪 Tokyo", "Ｆｕｌｌ width"):
        tenant.invoice(client=ClientFactory(company=tenant.company, display_name=name), finalize=True)
    _, data = _export(tenant.company, "iif")
    iif = read_iif(data)
    names = sorted(customer["NAME"] for customer in iif.lists["CUST"])
    assert names == ["?? Tokyo", "?? Tokyo (2)", "Full width"]
    assert sorted(txn.trns["NAME"] for txn in iif.transactions) == names


def test_iif_cuts_names_to_quickbooks_desktop_lengths(tenant):
    long_name = "A" * 60
    tenant.invoice(client=ClientFactory(company=tenant.company, display_name=long_name), finalize=True)
    _, data = _export(tenant.company, "iif")
    assert read_iif(data).lists["CUST"][0]["NAME"] == "A" * 41


# --- amounts balance after rounding -------------------------------------------------------------------------


def _rounding_invoice(tenant):
    odd_rate = TaxRateFactory(company=tenant.company, name="Odd", percent=Decimal("7.125"))
    cheap = ProductFactory(company=tenant.company, name="Washer", unit_price=Decimal("0.333"))
    lines = [LineData(product=cheap, quantity=Decimal("1"), tax_rate=odd_rate) for _ in range(37)]
    lines += [LineData(product=tenant.product, quantity=Decimal("0.3333"), tax_rate=tenant.tax_rate)]
    lines += [LineData(description="Fee", unit_price=Decimal("0.005"), quantity=3)]
    return tenant.invoice(lines=lines, finalize=True)


def test_iif_transactions_balance_to_the_cent_with_tax(tenant):
    invoice = _rounding_invoice(tenant)
    _, data = _export(tenant.company, "iif")
    (txn,) = read_iif(data).transactions
    trns = amount(txn.trns["AMOUNT"])
    assert trns == invoice.total
    assert trns == -sum(amount(spl["AMOUNT"]) for spl in txn.spl)
    tax_spl = [spl for spl in txn.spl if spl["ACCNT"] == "Sales Tax Payable"]
    assert -sum(amount(spl["AMOUNT"]) for spl in tax_spl) == invoice.tax_total and len(tax_spl) == 2
    assert all(amount(spl["AMOUNT"]) <= 0 for spl in txn.spl)
    assert all(Decimal(spl["AMOUNT"]).as_tuple().exponent == -2 for spl in txn.spl)


def test_csv_line_and_tax_amounts_add_up_to_the_invoice(tenant):
    invoice = _rounding_invoice(tenant)
    _, data = _export(tenant.company, "csv")
    rows = read_csv(data)
    assert sum(amount(row["ItemAmount"]) for row in rows) == invoice.subtotal
    assert sum(amount(row["ItemTaxAmount"]) for row in rows) == invoice.tax_total


# --- empty range, tenancy -------------------------------------------------------------------------------------


def test_an_empty_range_is_a_clear_message_and_records_nothing(tenant, api_client_for, page_client_for):
    tenant.invoice(finalize=True)
    response = api_client_for(tenant.staff).get(CSV_URL, {"from": "2030-01-01", "to": "2030-12-31"})
    assert response.status_code == 404
    assert response.json()["code"] == "nothing_to_export"
    assert "issued 2030-01-01 to 2030-12-31" in response.json()["message"]
    page = page_client_for(tenant.staff).get(
        reverse("integrations:quickbooks-exports"), {"format": "iif", "date_from": "2030-01-01"}
    )
    assert page.status_code == 200 and b'id="export-empty"' in page.content and b"nothing to export" in page.content
    posted = page_client_for(tenant.staff).post(
        reverse("integrations:quickbooks-exports-download"), {"format": "iif", "date_from": "2030-01-01"}
    )
    assert posted.status_code == 302 and not posted.has_header("Content-Disposition")
    assert not QuickBooksExport.objects.exists()


def test_drafts_and_void_invoices_are_never_exported(tenant):
    tenant.invoice()  # draft
    from attune_qbo.billing.services import invoice_void

    invoice_void(invoice=tenant.invoice(finalize=True, number="V-1"))
    with pytest.raises(NothingToExport):
        export_plan(company=tenant.company, request=ExportRequest(format="csv"))


def test_another_tenants_export_is_a_404(tenant, other_tenant, api_client_for, page_client_for):
    other_tenant.invoice(finalize=True)
    theirs, _ = _export(other_tenant.company, "iif")
    api = api_client_for(tenant.staff)
    assert api.get(f"/api/v1/integrations/quickbooks/exports/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/integrations/quickbooks/exports/{theirs.pk}/download").status_code == 404
    assert api.get("/api/v1/integrations/quickbooks/exports").json() == []
    page = page_client_for(tenant.staff).get(reverse("integrations:quickbooks-export-again", args=[theirs.pk]))
    assert page.status_code == 404
    # and their invoices never appear in ours
    tenant.invoice(finalize=True)
    _, data = _export(tenant.company, "csv")
    assert {row["Customer"] for row in read_csv(data)} == {tenant.client.display_name}


def test_members_cannot_export(tenant, api_client_for):
    tenant.invoice(finalize=True)
    assert api_client_for(tenant.member).get(CSV_URL).status_code == 403


def test_bad_parameters_are_400s_that_say_what_is_wrong(tenant, api_client_for):
    api = api_client_for(tenant.staff)
    response = api.get(CSV_URL, {"from": "2026-13-01"})
    assert response.status_code == 400 and "from" in response.json()["errors"]
    response = api.get(CSV_URL, {"from": "2026-02-01", "to": "2026-01-01"})
    assert response.status_code == 400 and "to" in response.json()["errors"]
    assert api.get(CSV_URL, {"status": "void"}).status_code == 400
    assert api.get(CSV_URL, {"only_new": "maybe"}).status_code == 400
    assert api.get(IIF_URL, {"part": "customers"}).status_code == 400


# --- the split/zip rule -------------------------------------------------------------------------------------


def test_files_hold_at_most_100_invoices_and_1000_rows_and_never_split_an_invoice():
    assert [len(f) for f in split_into_files([(i, 1) for i in range(205)])] == [100, 100, 5]
    assert [len(f) for f in split_into_files([(i, 250) for i in range(4)])] == [4]
    assert [len(f) for f in split_into_files([(i, 250) for i in range(5)])] == [4, 1]
    assert [len(f) for f in split_into_files([(1, 999), (2, 2), (3, 1)])] == [1, 2]


def test_more_than_one_file_comes_zipped_with_the_customers(tenant, api_client_for, download):
    for n in range(101):
        tenant.invoice(number=f"Z-{n:03d}", finalize=True)
    response = api_client_for(tenant.staff).get(CSV_URL)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].endswith('.zip"')
    files = read_zip(download(response))
    assert sorted(files) == ["0-customers.csv", "invoices-1-of-2.csv", "invoices-2-of-2.csv"]
    first, second = read_csv(files["invoices-1-of-2.csv"]), read_csv(files["invoices-2-of-2.csv"])
    assert len({row["InvoiceNo"] for row in first}) == 100 and [row["InvoiceNo"] for row in second] == ["Z-100"]
    assert [row["Name"] for row in read_csv(files["0-customers.csv"])] == [tenant.client.display_name]
    export = QuickBooksExport.objects.get(pk=response["X-Export-Id"])
    assert export.file_count == 2 and export.invoice_count == 101 and export.completed_at is not None


def test_one_file_is_a_plain_csv(tenant, api_client_for, download):
    tenant.invoice(finalize=True)
    response = api_client_for(tenant.staff).get(CSV_URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(read_csv(download(response))) == 1


# --- only not yet exported ------------------------------------------------------------------------------------


def test_only_not_yet_exported_leaves_out_what_a_finished_export_held(tenant, api_client_for, download):
    first = tenant.invoice(finalize=True, number="A-1")
    api = api_client_for(tenant.staff)
    assert download(api.get(IIF_URL, {"only_new": "true"}))  # holds A-1
    response = api.get(IIF_URL, {"only_new": "true"})
    assert response.status_code == 404 and "1 was exported before" in response.json()["message"]
    # the CSV is another target: A-1 has not gone there yet
    assert api.get(CSV_URL, {"only_new": "true", "preview": "1"}).json()["invoices"] == 1
    second = tenant.invoice(finalize=True, number="A-2")
    iif = read_iif(download(api.get(IIF_URL, {"only_new": "1"})))
    assert [txn.trns["DOCNUM"] for txn in iif.transactions] == [second.number]
    preview = api.get(IIF_URL, {"preview": "1"}).json()
    assert preview["invoices"] == 2 and preview["already_exported"] == 0  # without only_new: everything
    detail = api.get(f"/api/v1/integrations/quickbooks/exports/{QuickBooksExport.objects.first().pk}").json()
    assert detail["invoice_ids"] == [second.pk] and detail["completed"] is True
    assert first.pk not in detail["invoice_ids"]


def test_a_download_cut_short_does_not_count_as_exported(tenant):
    tenant.invoice(finalize=True)
    export, download = export_start(company=tenant.company, user=None, request=ExportRequest(format="iif"))
    next(download.chunks)  # the browser went away after the first chunk
    export.refresh_from_db()
    assert export.completed_at is None
    plan = export_plan(company=tenant.company, request=ExportRequest(format="iif", only_new=True))
    assert plan.invoice_count == 1


def test_the_page_download_records_and_streams(tenant, page_client_for, download):
    tenant.invoice(finalize=True)
    client = page_client_for(tenant.staff)
    page = client.get(reverse("integrations:quickbooks-exports"), {"format": "csv", "status": "all"})
    assert b'id="export-summary"' in page.content and b"<strong>1</strong> invoice" in page.content
    response = client.post(reverse("integrations:quickbooks-exports-download"), {"format": "csv", "status": "all"})
    assert response.streaming and response["Content-Disposition"].startswith("attachment;")
    assert len(read_csv(download(response))) == 1
    customers = client.get(reverse("integrations:quickbooks-exports-customers"), {"format": "csv"})
    assert [row["Name"] for row in read_csv(download(customers))] == [tenant.client.display_name]
    again = client.get(reverse("integrations:quickbooks-export-again", args=[QuickBooksExport.objects.get().pk]))
    assert len(read_csv(download(again))) == 1
    assert QuickBooksExport.objects.count() == 1  # downloading again records nothing new


def test_status_filter_picks_open_or_paid(tenant):
    from attune_qbo.billing.services import payment_record

    open_invoice = tenant.invoice(finalize=True, number="O-1")
    paid = tenant.invoice(finalize=True, number="P-1")
    payment_record(invoice=paid, amount=paid.total, date=dt.date(2026, 1, 20))
    assert export_plan(company=tenant.company, request=ExportRequest(format="csv", status="open")).invoice_ids == [
        open_invoice.pk
    ]
    assert export_plan(company=tenant.company, request=ExportRequest(format="csv", status="paid")).invoice_ids == [
        paid.pk
    ]


# --- the demo company parses back into the same invoices ------------------------------------------------------


def test_demo_company_csv_and_iif_read_back_into_the_same_invoices(db):
    from attune_qbo.billing.demo import seed_demo

    company = seed_demo(password="demo-pass-123").company
    invoices = {
        invoice.number: invoice
        for invoice in Invoice.objects.filter(
            company=company, status__in=[InvoiceStatus.FINALIZED, InvoiceStatus.PAID]
        ).prefetch_related("lines")
    }
    assert len(invoices) == 3

    _, csv_data = _export(company, "csv")
    by_number: dict[str, list[dict]] = {}
    for row in read_csv(csv_data):
        by_number.setdefault(row["InvoiceNo"], []).append(row)
    assert set(by_number) == set(invoices)
    for number, rows in by_number.items():
        invoice = invoices[number]
        assert {row["Customer"] for row in rows} == {invoice.client.display_name}
        assert len(rows) == invoice.lines.count()
        assert sum(amount(row["ItemAmount"]) for row in rows) == invoice.subtotal
        assert sum(amount(row["ItemTaxAmount"]) for row in rows) == invoice.tax_total
        assert rows[0]["InvoiceDate"] == invoice.issue_date.strftime("%m/%d/%Y")

    _, iif_data = _export(company, "iif")
    iif = read_iif(iif_data)
    assert {txn.trns["DOCNUM"]: amount(txn.trns["AMOUNT"]) for txn in iif.transactions} == {
        number: invoice.total for number, invoice in invoices.items()
    }
    customers = {row["NAME"] for row in iif.lists["CUST"]}
    items = {row["NAME"] for row in iif.lists["INVITEM"]}
    for txn in iif.transactions:
        invoice = invoices[txn.trns["DOCNUM"]]
        assert txn.trns["NAME"] in customers and txn.trns["ACCNT"] == "Accounts Receivable"
        assert txn.trns["DATE"] == invoice.issue_date.strftime("%m/%d/%Y")
        assert sum(amount(spl["AMOUNT"]) for spl in txn.spl) == -invoice.total
        assert {spl["INVITEM"] for spl in txn.spl} <= items
    assert sum(amount(txn.trns["AMOUNT"]) for txn in iif.transactions) == sum(i.total for i in invoices.values())


def test_default_date_format_follows_the_company_country():
    assert csv_renderer.default_date_format("US") == "mdy"
    assert csv_renderer.default_date_format("GB") == "dmy"


def test_members_do_not_get_the_exports_page_or_its_downloads(tenant, page_client_for):
    tenant.invoice(finalize=True)
    client = page_client_for(tenant.member)
    assert client.get(reverse("integrations:quickbooks-exports")).status_code in (302, 403)
    response = client.post(reverse("integrations:quickbooks-exports-download"), {"format": "csv"})
    assert response.status_code in (302, 403) and not response.has_header("Content-Disposition")
    assert not QuickBooksExport.objects.exists()


def test_a_bad_date_on_the_page_is_shown_on_the_form(tenant, page_client_for):
    page = page_client_for(tenant.staff).get(
        reverse("integrations:quickbooks-exports"),
        {"format": "csv", "date_from": "2026-02-01", "date_to": "2026-01-01"},
    )
    assert page.status_code == 200 and b"The end date is before the start date." in page.content
    assert b'id="export-summary"' not in page.content


def test_each_export_is_audited_and_a_bad_format_on_the_page_is_explained(tenant, page_client_for):
    from attune_qbo.audit.models import AuditLog

    tenant.invoice(finalize=True)
    client = page_client_for(tenant.staff)
    client.post(reverse("integrations:quickbooks-exports-download"), {"format": "iif"})
    entry = AuditLog.objects.get(action="quickbooks.export")
    assert entry.company == tenant.company and entry.actor == tenant.staff and "export of 1 invoice (" in entry.message
    page = client.get(reverse("integrations:quickbooks-exports"), {"format": "pdf"})
    assert page.status_code == 200 and b"Select a valid choice" in page.content
