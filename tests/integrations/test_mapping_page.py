"""The mapping page: lists read from QuickBooks (faked with `responses`), suggestions, checks on save, item create."""

import re

import pytest
import responses
from django.urls import reverse

from integrations.models import QuickBooksChoice, QuickBooksMapping, QuickBooksSyncLog
from tests.integrations.conftest import API, REALM, json_of, query_of

pytestmark = pytest.mark.django_db
PAGE = "integrations:quickbooks-mapping"

LISTS = {
    ("Item", True): [{"Id": "1", "Name": "Services", "Type": "Service", "Active": True}]
    + [{"Id": str(100 + i), "Name": f"Item {i:04d}", "Type": "Service", "Active": True} for i in range(1000)],
    ("Item", False): [{"Id": "9", "Name": "Old widget", "Type": "Service", "Active": False}],
    ("TaxCode", True): [
        {"Id": "2", "Name": "California", "Active": True},
        {"Id": "TAX", "Name": "TAX", "Active": True},
    ],
    ("TaxCode", False): [],
    ("Account", True): [
        {"Id": "79", "Name": "Sales of Product Income", "AccountType": "Income", "Active": True},
        {"Id": "35", "Name": "Checking", "AccountType": "Bank", "Active": True},
    ],
    ("Account", False): [],
}


def answer_query(request):
    import json

    statement = query_of(request.url)["query"]
    entity = re.search(r"from (\w+)", statement).group(1)
    if entity == "PaymentMethod":
        return (
            400,
            {},
            json.dumps({"Fault": {"Error": [{"Message": "bad", "code": "4000"}], "type": "ValidationFault"}}),
        )
    active = "Active = true" in statement
    start = int(re.search(r"STARTPOSITION (\d+)", statement).group(1))
    size = int(re.search(r"MAXRESULTS (\d+)", statement).group(1))
    rows = LISTS.get((entity, active), [])[start - 1 : start - 1 + size]
    return 200, {"intuit_tid": "tid-q"}, json.dumps({"QueryResponse": {entity: rows}})


@pytest.fixture
def lists(intuit, connected):
    intuit.add_callback(responses.GET, f"{API}/query", callback=answer_query)
    return intuit


@pytest.fixture
def admin_page(tenant, page_client_for):
    return page_client_for(tenant.admin)


def test_first_visit_reads_quickbooks_lists_and_suggests_matches_by_name(tenant, lists, admin_page):
    tenant.product.name = "Item 0007"
    tenant.product.save()
    text = admin_page.get(reverse(PAGE)).content.decode()
    assert QuickBooksChoice.objects.filter(entity="Item").count() == 1002
    assert "Suggested — save to confirm" in text
    row = re.search(rf'id="id_item_{tenant.product.pk}">(.*?)</select>', text, re.S).group(1)
    assert '<option value="107" selected>Item 0007 (suggested)</option>' in row
    assert row.count("<option") <= 52  # 1,000 items: the select holds a page of them, search finds the rest
    assert not QuickBooksMapping.objects.filter(kind="item", local_key=str(tenant.product.pk)).exists()  # not saved


def test_search_narrows_a_select_on_the_server_with_htmx_and_without_javascript(tenant, lists, admin_page):
    admin_page.get(reverse(PAGE))
    field = f"item_{tenant.product.pk}"
    options = admin_page.get(
        reverse("integrations:quickbooks-mapping-options"), {"field": field, f"q_{field}": "item 0999"}
    ).content.decode()
    assert "Item 0999" in options and "Item 0998" not in options
    page = admin_page.post(reverse(PAGE), {"search": field, f"q_{field}": "0998"}).content.decode()
    row = re.search(rf'id="id_{field}">(.*?)</select>', page, re.S).group(1)
    assert "Item 0998" in row and "Item 0997" not in row


def test_saving_maps_confirms_suggestions_and_says_what_it_unblocks(tenant, lists, admin_page):
    admin_page.get(reverse(PAGE))
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    QuickBooksSyncLog.objects.create(
        company=tenant.company, realm_id=REALM, object_id=invoice.pk, status="failed", error_code="mapping_incomplete"
    )
    data = {f"item_{tenant.product.pk}": "1005", f"stc_{tenant.tax_rate.pk}": "2", "item_default": "1"}
    response = admin_page.post(reverse(PAGE), data, follow=True)
    text = response.content.decode()
    assert "Saved 3 mappings." in text and "1 failed push waited on mappings" in text
    assert "Retry them (1)" in text
    mapping = QuickBooksMapping.objects.get(kind="item", local_key=str(tenant.product.pk))
    assert (mapping.qbo_id, mapping.qbo_name, mapping.realm_id) == ("1005", "Item 0905", REALM)
    assert mapping.confirmed_at is not None
    assert QuickBooksMapping.objects.get(kind="sales_tax_code", local_key=str(tenant.tax_rate.pk)).qbo_id == "2"
    response = admin_page.post(reverse("integrations:quickbooks-mapping-retry-blocked"), follow=True)
    assert "1 push queued to retry." in response.content.decode()
    assert QuickBooksSyncLog.objects.get(object_id=invoice.pk).status == "pending"


@pytest.mark.parametrize(
    ("qbo_id", "why"),
    [("9", "is inactive in QuickBooks"), ("424242", "QuickBooks has no Item with id 424242")],
)
def test_an_inactive_vanished_or_forged_item_is_refused_and_nothing_is_saved(tenant, lists, admin_page, qbo_id, why):
    admin_page.get(reverse(PAGE))
    response = admin_page.post(reverse(PAGE), {f"item_{tenant.product.pk}": qbo_id, "item_default": "1"})
    assert response.status_code == 400 and why in response.content.decode()
    assert not QuickBooksMapping.objects.filter(kind="item", local_key=str(tenant.product.pk)).exists()
    assert QuickBooksMapping.objects.get(local_key="default").confirmed_at is None  # the valid row was not saved either


def test_a_mapping_whose_item_vanished_or_went_inactive_is_flagged(tenant, lists, admin_page):
    admin_page.get(reverse(PAGE))
    QuickBooksMapping.objects.create(
        company=tenant.company, realm_id=REALM, kind="item", local_key=str(tenant.product.pk), qbo_id="9"
    )
    text = admin_page.get(reverse(PAGE)).content.decode()
    assert "Inactive in QuickBooks" in text and "1 mapping points to something QuickBooks no longer offers" in text
    QuickBooksMapping.objects.filter(local_key=str(tenant.product.pk)).update(qbo_id="555555")
    assert "No longer in QuickBooks" in admin_page.get(reverse(PAGE)).content.decode()


def test_another_companys_product_is_a_form_error_and_nothing_is_saved(tenant, other_tenant, lists, admin_page):
    admin_page.get(reverse(PAGE))
    response = admin_page.post(reverse(PAGE), {f"item_{other_tenant.product.pk}": "1", "item_default": "1"})
    assert response.status_code == 400
    assert "is not a product, tax rate or payment method of Alpha" in response.content.decode()
    assert not QuickBooksMapping.objects.filter(local_key=str(other_tenant.product.pk)).exists()


def test_an_income_account_must_be_an_income_account_and_a_us_sales_tax_code_not_tax_or_non(tenant, lists, admin_page):
    QuickBooksMapping.objects.filter(kind="sales_tax_code").delete()  # unmapped: the page suggests one by name
    text = admin_page.get(reverse(PAGE)).content.decode()
    row = re.search(rf'id="id_stc_{tenant.tax_rate.pk}">(.*?)</select>', text, re.S).group(1)
    assert "California" in row and ">TAX<" not in row
    response = admin_page.post(reverse(PAGE), {"income_default": "35", f"stc_{tenant.tax_rate.pk}": "TAX"})
    text = response.content.decode()
    assert response.status_code == 400 and "is a Bank account" in text and "only marks a line taxable" in text


def test_admin_creates_a_missing_item_in_quickbooks_and_maps_it(tenant, lists, admin_page):
    admin_page.get(reverse(PAGE))
    lists.add(
        responses.POST,
        f"{API}/item",
        json={"Item": {"Id": "777", "Name": "Gold plating", "Type": "Service", "Active": True, "SyncToken": "0"}},
    )
    response = admin_page.post(
        reverse("integrations:quickbooks-mapping-create-item"),
        {"name": "Gold plating", "income_account": "79", "product": str(tenant.product.pk)},
        follow=True,
    )
    assert "Created item “Gold plating” in QuickBooks and mapped it." in response.content.decode()
    sent = [c for c in lists.calls if c.request.method == "POST"][-1]
    assert json_of(sent) == {
        "Name": "Gold plating",
        "Type": "Service",
        "IncomeAccountRef": {"value": "79", "name": "Sales of Product Income"},
    }
    assert "requestid=" in sent.request.url
    assert QuickBooksMapping.objects.get(kind="item", local_key=str(tenant.product.pk)).qbo_id == "777"
    assert QuickBooksMapping.objects.get(kind="income_account", local_key="default").qbo_id == "79"  # remembered


def test_refresh_reads_the_lists_again_and_says_what_it_read(tenant, lists, admin_page):
    response = admin_page.post(reverse("integrations:quickbooks-mapping-refresh"), follow=True)
    text = response.content.decode()
    assert "Read from QuickBooks: 1002 Items, 2 TaxCodes, 2 Accounts." in text
    assert "QuickBooks did not list: PaymentMethod." in text


@pytest.mark.parametrize("role", ["member", "staff"])
def test_only_admins_map(tenant, connected, page_client_for, role):
    client = page_client_for(tenant.user(role))
    assert client.get(reverse(PAGE)).status_code == 403
    assert client.post(reverse(PAGE), {"item_default": "1"}).status_code == 403
    assert client.post(reverse("integrations:quickbooks-mapping-refresh")).status_code == 403
    assert client.post(reverse("integrations:quickbooks-mapping-create-item"), {"name": "x"}).status_code == 403
    assert client.get(reverse("integrations:quickbooks-mapping-options"), {"field": "item_default"}).status_code == 403
