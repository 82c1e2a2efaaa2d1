import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from attune_qbo.billing import services
from attune_qbo.billing.services import LineData
from attune_qbo.tenants.models import Role
from tests.factories import ClientFactory, CompanyFactory, MembershipFactory, ProductFactory, TaxRateFactory


def pytest_collection_modifyitems(config, items):
    """`postgres` tests need row locks and real concurrency: they run only on PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (runs in CI with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@dataclass
class Tenant:
    """A company with one user per role, a client, a product and a tax rate."""

    company: object
    admin: object
    staff: object
    member: object
    client: object
    product: object
    tax_rate: object

    def user(self, role: str):
        return {Role.ADMIN: self.admin, Role.STAFF: self.staff, Role.MEMBER: self.member}[role]

    def invoice(self, *, lines=None, finalize=False, **fields):
        lines = lines if lines is not None else [LineData(product=self.product, quantity=2)]
        defaults = {
            "issue_date": dt.date(2026, 1, 15),
            "due_date": dt.date(2026, 2, 14),
            "client": self.client,
        }
        invoice = services.invoice_create(company=self.company, lines=lines, **{**defaults, **fields})
        if finalize:
            invoice = services.invoice_finalize(invoice=invoice)
        return invoice


def make_tenant(name: str) -> Tenant:
    company = CompanyFactory(name=name)
    tax_rate = TaxRateFactory(company=company, name="Sales tax", percent=Decimal("10"))
    return Tenant(
        company=company,
        admin=MembershipFactory(company=company, role=Role.ADMIN, user__username=f"{name.lower()}-admin").user,
        staff=MembershipFactory(company=company, role=Role.STAFF, user__username=f"{name.lower()}-staff").user,
        member=MembershipFactory(company=company, role=Role.MEMBER, user__username=f"{name.lower()}-member").user,
        client=ClientFactory(company=company, display_name=f"{name} Client"),
        product=ProductFactory(
            company=company, name=f"{name} Widget", unit_price=Decimal("50.00"), default_tax_rate=tax_rate
        ),
        tax_rate=tax_rate,
    )


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant("Alpha")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return make_tenant("Beta")


@pytest.fixture
def api_client_for():
    """API client authenticated with a real (hashed) company API token acting as `user` in their company."""
    from attune_qbo.tenants.models import ApiToken, Membership
    from attune_qbo.tenants.tokens import KEY_PREFIX, hash_key

    def make(user) -> APIClient:
        client = APIClient()
        membership = Membership.objects.filter(user=user).order_by("company_id").first()
        key = f"{KEY_PREFIX}test-{user.pk}"
        if membership is not None:
            ApiToken.objects.get_or_create(
                key_hash=hash_key(key),
                defaults={"company": membership.company, "user": user, "name": "tests", "prefix": key[:10]},
            )
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        else:  # no company, so no company token: signed in another way (a session)
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def page_client_for(client):
    def make(user):
        client.force_login(user)
        return client

    return make
