"""US sales tax reaches QuickBooks Desktop as Desktop carries it: one sales tax item per invoice
(`ItemSalesTaxRef`, by FullName, from the Desktop mapping) and a sales tax code per line (`SalesTaxCodeRef`).
The stand-in computes the tax from the item's rate; its total and balance must equal ours."""

from __future__ import annotations

from decimal import Decimal

from attune_qbo.billing.services import LineData
from integrations.models import MappingKind, QuickBooksMapping, QuickBooksSyncLog, SyncStatus
from tests.desktop.standin import FakeQuickBooksDesktop
from tests.factories import ProductFactory, TaxRateFactory


def _map(tenant, kind: str, local_key, name: str) -> None:
    QuickBooksMapping.objects.update_or_create(
        company=tenant.company,
        realm_id=tenant.desktop.realm_key,
        kind=kind,
        local_key=str(local_key),
        defaults={"qbo_id": "", "qbo_name": name},
    )


def _entry(tenant, invoice):
    return QuickBooksSyncLog.objects.get(
        company=tenant.company, realm_id=tenant.desktop.realm_key, entity_type="invoice", object_id=invoice.pk
    )


def test_sales_tax_goes_as_the_mapped_sales_tax_item_and_the_totals_agree(desktop_tenant, wsdl_url):
    tenant = desktop_tenant
    california = TaxRateFactory(company=tenant.company, name="California", percent=Decimal("8.25"))
    exempt = TaxRateFactory(company=tenant.company, name="Exempt", percent=Decimal("0"), taxable=False)
    hosting = ProductFactory(company=tenant.company, name="Hosting", unit_price=Decimal("19.99"))
    _map(tenant, MappingKind.TAX_CODE, california.pk, "CA Sales Tax")
    _map(tenant, MappingKind.SALES_TAX_CODE, california.pk, "TX")
    _map(tenant, MappingKind.SALES_TAX_CODE, "default", "NT")
    _map(tenant, MappingKind.ITEM, hosting.pk, "Web:Hosting")
    quickbooks = FakeQuickBooksDesktop(
        wsdl_url,
        items=(tenant.product.name, "Web:Hosting"),
        sales_tax_items={"CA Sales Tax": "8.25"},
        sales_tax_codes={"TX": True, "NT": False},
    )
    invoice = tenant.invoice(
        finalize=True,
        lines=[
            LineData(product=tenant.product, quantity=3, unit_price="33.33", tax_rate=california),
            LineData(product=hosting, quantity="1.5", tax_rate=california),
            LineData(product=tenant.product, quantity=1, tax_rate=exempt),
        ],
    )

    report = quickbooks.run(tenant.desktop.username, tenant.password)

    assert report.percents[-1] == 100
    [rq] = [element for element in quickbooks.received if element.tag == "InvoiceAddRq"]
    add = rq.find("InvoiceAdd")
    assert add.find("ItemSalesTaxRef/FullName").text == "CA Sales Tax"
    assert [line.find("SalesTaxCodeRef/FullName").text for line in add.findall("InvoiceLineAdd")] == [
        "TX",
        "TX",
        "NT",
    ]
    assert add.findall("InvoiceLineAdd")[1].find("ItemRef/FullName").text == "Web:Hosting"
    desktop = quickbooks.invoice_by_ref(invoice.number)
    invoice.refresh_from_db()
    assert invoice.tax_total > 0
    assert (desktop.subtotal, desktop.sales_tax, desktop.total) == (invoice.subtotal, invoice.tax_total, invoice.total)
    assert desktop.balance == invoice.total - invoice.amount_paid
    assert _entry(tenant, invoice).status == SyncStatus.SUCCEEDED


def test_an_untaxed_invoice_names_no_sales_tax_item(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(
        finalize=True, lines=[LineData(product=tenant.product, quantity=1, tax_rate=None, use_product_tax_rate=False)]
    )
    quickbooks.run(tenant.desktop.username, tenant.password)

    [rq] = [element for element in quickbooks.received if element.tag == "InvoiceAddRq"]
    assert rq.find("InvoiceAdd/ItemSalesTaxRef") is None
    assert rq.find("InvoiceAdd/InvoiceLineAdd/SalesTaxCodeRef/FullName").text == "Non"
    assert quickbooks.invoice_by_ref(invoice.number).total == invoice.total


def test_a_sales_tax_item_desktop_does_not_have_fails_before_sending(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    _map(tenant, MappingKind.TAX_CODE, tenant.tax_rate.pk, "NY Sales Tax")
    invoice = tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entry(tenant, invoice)
    assert (entry.status, entry.error_code) == (SyncStatus.FAILED, "preflight")
    assert "no active sales tax item named “NY Sales Tax”" in entry.message
    assert "mapping page" in entry.message
    assert "InvoiceAdd" not in quickbooks.kinds_received()


def test_two_sales_tax_rates_on_one_invoice_are_refused_with_a_reason(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    other = TaxRateFactory(company=tenant.company, name="City tax", percent=Decimal("2"))
    invoice = tenant.invoice(
        finalize=True,
        lines=[LineData(product=tenant.product, quantity=1), LineData(product=tenant.product, tax_rate=other)],
    )

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entry(tenant, invoice)
    assert entry.status == SyncStatus.FAILED
    assert "one sales tax item per invoice" in entry.message
    assert not quickbooks.invoices


# --- items QuickBooks Desktop lacks, created with the mapped income account -----------------------------------


def test_a_missing_item_is_created_with_the_mapped_income_account_before_the_invoice(desktop_tenant, wsdl_url):
    tenant = desktop_tenant
    _map(tenant, MappingKind.INCOME_ACCOUNT, "default", "Income:Services")
    quickbooks = FakeQuickBooksDesktop(wsdl_url, items=(), sales_tax_items={"Sales tax": "10"})
    first = tenant.invoice(finalize=True)
    second = tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    kinds = quickbooks.kinds_received()
    assert kinds.count("ItemServiceAdd") == 1  # once, for both invoices
    assert kinds.index("ItemServiceAdd") < kinds.index("InvoiceAdd")
    assert quickbooks.item_accounts == {tenant.product.name: "Income:Services"}
    [rq] = [element for element in quickbooks.received if element.tag == "ItemServiceAddRq"]
    assert rq.find("ItemServiceAdd/SalesOrPurchase/Price").text == "50.00"
    assert {quickbooks.invoice_by_ref(i.number).total for i in (first, second)} == {first.total}
    assert _entry(tenant, first).status == SyncStatus.SUCCEEDED
    tenant.desktop.refresh_from_db()
    assert tenant.product.name in tenant.desktop.item_names


def test_without_an_income_account_a_missing_item_fails_before_sending_and_names_the_fix(desktop_tenant, wsdl_url):
    tenant = desktop_tenant
    quickbooks = FakeQuickBooksDesktop(wsdl_url, items=(), sales_tax_items={"Sales tax": "10"})
    invoice = tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entry(tenant, invoice)
    assert (entry.status, entry.error_code) == (SyncStatus.FAILED, "preflight")
    assert f"no active item named “{tenant.product.name}”" in entry.message
    assert "ItemServiceAdd" not in quickbooks.kinds_received()


def test_a_sales_tax_item_charging_another_rate_fails_before_sending(desktop_tenant, wsdl_url):
    tenant = desktop_tenant  # the tenant's rate is 10 %
    quickbooks = FakeQuickBooksDesktop(wsdl_url, items=(tenant.product.name,), sales_tax_items={"Sales tax": "8.25"})
    invoice = tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entry(tenant, invoice)
    assert (entry.status, entry.error_code) == (SyncStatus.FAILED, "preflight")
    assert "charges 8.25 %, but invoice" in entry.message and "taxed at 10 % here" in entry.message
    assert not quickbooks.invoices
    tenant.desktop.refresh_from_db()
    assert tenant.desktop.sales_tax_rates == {"Sales tax": "8.25"}
