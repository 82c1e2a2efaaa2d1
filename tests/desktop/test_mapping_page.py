"""The QuickBooks Desktop mapping page: names for products, sales tax and the income account, checked against
qbXML's limits before anything is saved, stored under the company file's realm key, and used by the next run."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import (
    MappingKind,
    QuickBooksDesktopConnection,
    QuickBooksMapping,
    QuickBooksSyncLog,
    SyncStatus,
)
from integrations.quickbooks.desktop.services import desktop_connect

PAGE = reverse("integrations:quickbooks-desktop-mapping")


@pytest.fixture
def connection(tenant, settings):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    connection, _ = desktop_connect(company=tenant.company, user=tenant.admin)
    QuickBooksDesktopConnection.objects.filter(pk=connection.pk).update(
        item_names=["Consulting", "Web:Hosting", "Web:Design", "CA Sales Tax"], items_read_at=timezone.now()
    )
    connection.refresh_from_db()
    return connection


def _mappings(tenant, connection):
    return {
        (m.kind, m.local_key): (m.qbo_id, m.qbo_name)
        for m in QuickBooksMapping.objects.filter(company=tenant.company, realm_id=connection.realm_key)
    }


def _post(client, tenant, **names):
    client.force_login(tenant.admin)
    return client.post(PAGE, names)


def test_the_page_lists_products_tax_rates_and_the_income_account_with_suggestions(client, tenant, connection):
    client.force_login(tenant.admin)
    page = client.get(PAGE).content.decode()
    for field in (
        f"item_{tenant.product.pk}",
        "item_default",
        f"tax_{tenant.tax_rate.pk}",
        f"code_{tenant.tax_rate.pk}",
        "code_default",
        "income_default",
    ):
        assert f'name="{field}"' in page
    assert f'placeholder="{tenant.product.name}"' in page  # what an empty box means
    assert '<option value="Web:Hosting">' in page  # names QuickBooks Desktop listed at the last run
    assert "hx-get" in page


def test_valid_names_are_saved_under_the_company_file_and_used_by_the_next_run(client, tenant, connection):
    answer = _post(
        client,
        tenant,
        **{
            f"item_{tenant.product.pk}": "Web:Hosting",
            f"tax_{tenant.tax_rate.pk}": "CA Sales Tax",
            f"code_{tenant.tax_rate.pk}": "Tax",
            "code_default": "Non",
            "income_default": "Income:Services",
        },
    )
    assert answer.status_code == 302
    saved = _mappings(tenant, connection)
    assert saved[(MappingKind.ITEM, str(tenant.product.pk))] == ("", "Web:Hosting")
    assert saved[(MappingKind.TAX_CODE, str(tenant.tax_rate.pk))] == ("", "CA Sales Tax")
    assert saved[(MappingKind.INCOME_ACCOUNT, "default")] == ("", "Income:Services")
    assert not QuickBooksMapping.objects.filter(company=tenant.company, realm_id="").exists()

    from integrations.books.builder import books_invoice
    from integrations.quickbooks.desktop import qbxml
    from integrations.quickbooks.desktop.mapping import invoice_tax, mappings_for

    invoice = tenant.invoice(finalize=True)
    mappings = mappings_for(company_id=tenant.company.pk, realm_key=connection.realm_key)
    document = books_invoice(invoice, list(invoice.lines.select_related("product", "tax_rate")), mappings)
    tax = invoice_tax(document, mappings)
    add = qbxml.invoice_add(document, "r", tax=tax)
    assert add.find("InvoiceAdd/ItemSalesTaxRef/FullName").text == "CA Sales Tax"
    assert add.find("InvoiceAdd/InvoiceLineAdd/ItemRef/FullName").text == "Web:Hosting"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("item", "A" * 32, "at most 31"),
        ("item", "Web:" + "B" * 32, "each part of a QuickBooks Desktop name"),
        ("item", "Web::Hosting", "empty part"),
        ("item", ":Hosting", "empty part"),
        ("item", "Web : Hosting", "spaces around"),
        ("item", "Tab\there", "control characters"),
        ("item", "X" * 160, "at most 159"),
        ("tax", "CA:Sales", "cannot contain “:”"),
        ("tax", "S" * 32, "at most 31"),
        ("code", "Taxable", "at most 3"),
        ("income", "Income::Services", "empty part"),
    ],
)
def test_a_name_desktop_would_refuse_is_a_clear_error_and_nothing_is_saved(
    client, tenant, connection, field, value, message
):
    key = {
        "item": f"item_{tenant.product.pk}",
        "tax": f"tax_{tenant.tax_rate.pk}",
        "code": f"code_{tenant.tax_rate.pk}",
        "income": "income_default",
    }[field]
    answer = _post(client, tenant, **{key: value, "code_default": "Non"})
    assert answer.status_code == 400
    page = answer.content.decode()
    assert message in page.replace("&#x27;", "'").replace("&quot;", '"')
    assert "Nothing was saved" in page
    assert _mappings(tenant, connection) == {}


def test_another_companys_product_or_a_forged_field_saves_nothing(client, tenant, other_tenant, connection):
    answer = _post(client, tenant, **{f"item_{other_tenant.product.pk}": "Theirs", "code_default": "Non"})
    assert answer.status_code == 400
    assert "does not have" in answer.content.decode()
    assert _mappings(tenant, connection) == {}


def test_a_name_desktop_did_not_list_is_saved_with_a_warning(client, tenant, connection):
    _post(client, tenant, **{f"item_{tenant.product.pk}": "Not There"})
    page = client.get(PAGE).content.decode()
    assert "Not in QuickBooks" in page and "“Not There” was not in the item list" in page
    assert _mappings(tenant, connection)[(MappingKind.ITEM, str(tenant.product.pk))] == ("", "Not There")


def test_an_emptied_box_clears_the_name(client, tenant, connection):
    _post(client, tenant, **{f"item_{tenant.product.pk}": "Web:Design"})
    _post(client, tenant, **{f"item_{tenant.product.pk}": ""})
    assert _mappings(tenant, connection) == {}


def test_suggestions_narrow_as_you_type(client, tenant, connection):
    client.force_login(tenant.admin)
    field = f"item_{tenant.product.pk}"
    answer = client.get(reverse("integrations:quickbooks-desktop-mapping-suggestions"), {"field": field, field: "web"})
    assert answer.content.decode().split() == [
        "<option",
        'value="Web:Design"></option>',
        "<option",
        'value="Web:Hosting"></option>',
    ]
    bad = client.get(reverse("integrations:quickbooks-desktop-mapping-suggestions"), {"field": "item_999999"})
    assert bad.status_code == 404


def test_only_admins_of_a_connected_company_see_the_page(client, tenant, other_tenant, connection):
    client.force_login(tenant.staff)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"code_default": "X"}).status_code == 403
    client.force_login(other_tenant.admin)  # not connected to QuickBooks Desktop
    answer = client.get(PAGE)
    assert answer.status_code == 302 and answer.url == reverse("integrations:quickbooks-desktop")


def test_entries_that_stopped_on_a_missing_name_can_be_retried_from_the_page(client, tenant, connection):
    invoice = tenant.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk, realm_id=connection.realm_key)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(
        status=SyncStatus.FAILED, error_code="preflight", message="QuickBooks Desktop has no active item named…"
    )
    client.force_login(tenant.admin)
    assert "Retry them (1)" in client.get(PAGE).content.decode()

    client.post(reverse("integrations:quickbooks-desktop-mapping-retry-blocked"))

    latest = QuickBooksSyncLog.objects.filter(object_id=invoice.pk).order_by("-id").first()
    assert latest.status == SyncStatus.PENDING and latest.pk != entry.pk
