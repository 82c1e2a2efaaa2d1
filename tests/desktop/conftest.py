"""Desktop tests: the QBWC endpoint on pytest-django's live server, driven by the stand-in's zeep client."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.quickbooks.desktop.services import desktop_connect
from tests.conftest import make_tenant
from tests.desktop.standin import FakeQuickBooksDesktop


@pytest.fixture
def fast_outbox(settings):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    settings.ALLOWED_HOSTS = ["*"]
    return settings


@pytest.fixture
def desktop_tenant(transactional_db, fast_outbox):
    """A company connected to QuickBooks Desktop; `.password` is the Web Connector password shown once."""
    tenant = make_tenant("Acme")
    connection, password = desktop_connect(company=tenant.company, user=tenant.admin)
    tenant.desktop = connection
    tenant.password = password
    return tenant


@pytest.fixture
def wsdl_url(live_server) -> str:
    return live_server.url + reverse("integrations:quickbooks-desktop-qbwc") + "?wsdl"


@pytest.fixture
def quickbooks(wsdl_url, desktop_tenant) -> FakeQuickBooksDesktop:
    """QuickBooks Desktop holding the tenant's product as an item and its tax rate (10 %) as a sales tax item of
    the same name (what attune names the rate's sales tax item when it is not mapped)."""
    return FakeQuickBooksDesktop(
        wsdl_url,
        items=(desktop_tenant.product.name,),
        sales_tax_items={desktop_tenant.tax_rate.name: str(desktop_tenant.tax_rate.percent)},
    )
