"""Demo data: the company "Acme Plumbing" with users, clients, products, tax rates and invoices in every
status. Idempotent: running it again changes nothing that exists (and resets the demo passwords)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from attune_qbo.billing import services
from attune_qbo.billing.models import Client, Invoice, Product, TaxRate
from attune_qbo.billing.services import LineData
from attune_qbo.tenants.models import Company, Membership, Role

DEMO_COMPANY = "Acme Plumbing"
DEMO_USERS = (("admin", Role.ADMIN), ("staff", Role.STAFF), ("member", Role.MEMBER))
# The Django admin is for the team running attune, not for tenants' admins: one operator account, member of
# no company, with the same demo password.
DEMO_OPERATOR = "operator"

# California's 8 % matches a sales tax code of the simulator's US sample company, so it maps itself at connect.
_TAX_RATES = (("California sales tax", Decimal("8.000"), True), ("Exempt", Decimal("0"), False))
_CLIENTS = (
    ("Blue Harbor Cafe", "accounts@blueharbor.example", "12 Pier Road", "San Francisco", "CA", "94111"),
    ("Greenfield Dental", "billing@greenfield.example", "400 Elm Street", "Sacramento", "CA", "95814"),
    ("Northside Apartments", "manager@northside.example", "88 North Ave", "Fresno", "CA", "93721"),
    ("Riverside School", "finance@riverside.example", "1 School Lane", "Riverside", "CA", "92501"),
)
_PRODUCTS = (
    ("Service call", "Call-out and first half hour on site", Decimal("95.00"), "California sales tax"),
    ("Labour (hour)", "Licensed plumber, per hour", Decimal("85.00"), "Exempt"),
    ("Water heater install", "40-gallon gas water heater, installed", Decimal("1450.00"), "California sales tax"),
    ("Drain cleaning", "Hydro-jetting of one drain line", Decimal("220.00"), "California sales tax"),
    ("Copper pipe (ft)", '3/4" copper pipe, per foot', Decimal("6.75"), "California sales tax"),
)


@dataclass
class DemoResult:
    company: Company
    created_invoices: int
    password: str


def seed_demo(*, password: str) -> DemoResult:
    with transaction.atomic():
        company, _ = Company.objects.get_or_create(
            slug="acme-plumbing", defaults={"name": DEMO_COMPANY, "country": "US", "default_currency": "USD"}
        )
        _seed_users(company, password)
        rates = {name: _get_or_create_rate(company, name, percent, taxable) for name, percent, taxable in _TAX_RATES}
        clients = [_get_or_create_client(company, *row) for row in _CLIENTS]
        products = {
            name: _get_or_create_product(company, name, description, price, rates[rate])
            for name, description, price, rate in _PRODUCTS
        }
        created = 0
        if not Invoice.objects.for_company(company).exists():
            created = _seed_invoices(company, clients, products)
    return DemoResult(company=company, created_invoices=created, password=password)


def _seed_users(company: Company, password: str) -> None:
    User = get_user_model()
    for username, role in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@acme.example"})
        user.set_password(password)
        # Tenants' admins and staff work in the product's pages; the Django admin is not theirs.
        user.is_staff = user.is_superuser = False
        user.save()
        Membership.objects.update_or_create(user=user, company=company, defaults={"role": role})
    operator, _ = User.objects.get_or_create(username=DEMO_OPERATOR, defaults={"email": "operator@attune.example"})
    operator.set_password(password)
    operator.is_staff = operator.is_superuser = True
    operator.save()


def _get_or_create_rate(company, name, percent, taxable) -> TaxRate:
    existing = TaxRate.objects.for_company(company).filter(name=name).first()
    return existing or services.tax_rate_save(company=company, name=name, percent=percent, taxable=taxable)


def _get_or_create_client(company, name, email, street, city, region, postal_code) -> Client:
    existing = Client.objects.for_company(company).filter(display_name=name).first()
    return existing or services.client_save(
        company=company,
        display_name=name,
        email=email,
        address_line1=street,
        city=city,
        region=region,
        postal_code=postal_code,
        country="US",
        currency="USD",
    )


def _get_or_create_product(company, name, description, price, rate) -> Product:
    existing = Product.objects.for_company(company).filter(name=name).first()
    return existing or services.product_save(
        company=company, name=name, description=description, unit_price=price, default_tax_rate=rate
    )


def _seed_invoices(company, clients, products) -> int:
    today = timezone.localdate()
    p = products

    def create(client, days_ago, lines, memo=""):
        issue = today - dt.timedelta(days=days_ago)
        return services.invoice_create(
            company=company,
            client=client,
            issue_date=issue,
            due_date=issue + dt.timedelta(days=30),
            lines=lines,
            memo=memo,
        )

    # draft
    create(clients[0], 1, [LineData(product=p["Service call"]), LineData(product=p["Labour (hour)"], quantity=2)])
    # finalized
    finalized = create(
        clients[1],
        10,
        [
            LineData(product=p["Drain cleaning"]),
            LineData(product=p["Copper pipe (ft)"], quantity=Decimal("12.5")),
        ],
        memo="Kitchen and staff-room drains.",
    )
    services.invoice_finalize(invoice=finalized)
    # partly paid (still finalized)
    partly = create(clients[2], 20, [LineData(product=p["Water heater install"]), LineData(product=p["Service call"])])
    services.invoice_finalize(invoice=partly)
    services.payment_record(
        invoice=partly, amount=Decimal("500.00"), date=today - dt.timedelta(days=5), reference="Deposit"
    )
    # paid
    paid = create(
        clients[3],
        35,
        [LineData(product=p["Labour (hour)"], quantity=3), LineData(product=p["Service call"])],
    )
    services.invoice_finalize(invoice=paid)
    paid.refresh_from_db()
    services.payment_record(
        invoice=paid,
        amount=paid.total,
        date=today - dt.timedelta(days=2),
        reference="CHK 1042",
        method="check",
    )
    # void
    void = create(clients[0], 40, [LineData(product=p["Service call"])], memo="Raised in error.")
    services.invoice_finalize(invoice=void)
    services.invoice_void(invoice=void)
    return 5
