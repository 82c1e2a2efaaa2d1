import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from attune_qbo.billing.models import Client, Invoice, InvoiceLine, Product, TaxRate
from attune_qbo.tenants.models import Company, Membership, Role


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")
    country = "US"
    default_currency = "USD"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.MEMBER


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Tax {n}")
    percent = Decimal("10")
    taxable = True


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    company = factory.SubFactory(CompanyFactory)
    display_name = factory.Sequence(lambda n: f"Client {n}")
    email = factory.Sequence(lambda n: f"client{n}@example.com")
    currency = "USD"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    unit_price = Decimal("100.00")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A bare draft invoice row; tests that need totals build invoices through the services."""

    class Meta:
        model = Invoice

    company = factory.SubFactory(CompanyFactory)
    client = factory.SubFactory(ClientFactory, company=factory.SelfAttribute("..company"))
    number = factory.Sequence(lambda n: f"T-{n:05d}")
    issue_date = dt.date(2026, 1, 15)
    due_date = dt.date(2026, 2, 14)


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Work"
    quantity = Decimal("1")
    unit_price = Decimal("10.00")
    amount = Decimal("10.00")
