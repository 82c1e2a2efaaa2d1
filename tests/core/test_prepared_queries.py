"""PreparedQuery gives what the ORM gives, for other values than the ones it was compiled with."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attune_qbo.billing.models import Invoice, InvoiceLine
from attune_qbo.core.prepared import PreparedQuery
from tests.factories import ClientFactory, CompanyFactory, InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db

FIELDS = ("id", "number", "company_id", "client_id", "issue_date", "due_date", "memo", "status", "updated_at")


def _same_model(ours, theirs):
    assert type(ours) is type(theirs)
    for name in FIELDS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours._state.adding is False and ours._state.db == "default"


def test_models_with_select_related_equal_the_orm_for_each_new_value():
    invoice_with_client = PreparedQuery(
        lambda invoice_id, company_id: (
            Invoice.objects.select_related("client", "company").filter(pk=invoice_id, company_id=company_id).order_by()
        ),
        invoice_id=int,
        company_id=int,
    )
    invoices = [InvoiceFactory(memo=f"memo {i} ✓") for i in range(3)]
    for invoice in invoices:
        ours = invoice_with_client.first(invoice_id=invoice.pk, company_id=invoice.company_id)
        theirs = Invoice.objects.select_related("client", "company").get(pk=invoice.pk)
        _same_model(ours, theirs)
        assert ours.client.display_name == theirs.client.display_name
        assert ours.company.name == theirs.company.name
        with CaptureQueriesContext(connection) as queries:
            assert ours.client.pk == invoice.client_id  # select_related: no query for the relation
        assert len(queries) == 0
    assert invoice_with_client.first(invoice_id=invoices[0].pk, company_id=invoices[1].company_id) is None


def test_values_rows_keep_decimal_and_names_through_a_join():
    lines_of = PreparedQuery(
        lambda invoice_id: (
            InvoiceLine.objects.filter(invoice_id=invoice_id)
            .order_by("pk")
            .values("description", "quantity", "unit_price", "product__name")
        ),
        invoice_id=int,
    )
    invoice = InvoiceFactory()
    InvoiceLineFactory(invoice=invoice, description="Tab\there", quantity=Decimal("1.5"), unit_price=Decimal("3.1415"))
    InvoiceLineFactory(invoice=invoice, description="Ünïcode", quantity=Decimal("2"), unit_price=Decimal("0.01"))
    expected = list(
        InvoiceLine.objects.filter(invoice_id=invoice.pk)
        .order_by("pk")
        .values("description", "quantity", "unit_price", "product__name")
    )
    ours = lines_of.all(invoice_id=invoice.pk)
    assert ours == expected
    assert isinstance(ours[0]["quantity"], Decimal)
    assert lines_of.all(invoice_id=InvoiceFactory().pk) == []


def test_a_parameter_used_twice_and_a_string_parameter():
    by_company_and_name = PreparedQuery(
        lambda company_id, name: (
            Invoice.objects.filter(company_id=company_id, client__company_id=company_id)
            .filter(client__display_name=name)
            .order_by("pk")
        ),
        company_id=int,
        name=str,
    )
    company = CompanyFactory()
    client = ClientFactory(company=company, display_name="O'Brien; DROP TABLE x --")
    invoice = InvoiceFactory(company=company, client=client)
    InvoiceFactory(company=company)  # another client
    assert [i.pk for i in by_company_and_name.all(company_id=company.pk, name=client.display_name)] == [invoice.pk]
    assert by_company_and_name.all(company_id=CompanyFactory().pk, name=client.display_name) == []


def test_one_query_per_run_and_the_sql_is_built_once(monkeypatch):
    prepared = PreparedQuery(lambda invoice_id: Invoice.objects.filter(pk=invoice_id), invoice_id=int)
    invoice = InvoiceFactory()
    prepared.first(invoice_id=invoice.pk)
    from django.db.models.sql import compiler

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiler.SQLCompiler, "as_sql", no_compiling)
    with CaptureQueriesContext(connection) as queries:
        assert prepared.first(invoice_id=invoice.pk).pk == invoice.pk
    assert len(queries) == 1


def test_wrong_parameters_are_refused_with_their_names():
    prepared = PreparedQuery(lambda invoice_id: Invoice.objects.filter(pk=invoice_id), invoice_id=int)
    with pytest.raises(TypeError, match="invoice_id"):
        prepared.all(invoice_id="7")
    with pytest.raises(TypeError, match="Expected parameters"):
        prepared.all(pk=7)
    with pytest.raises(TypeError, match="int or str"):
        PreparedQuery(lambda when: Invoice.objects.filter(issue_date=when), when=float).all(when=1.0)


def test_shapes_that_cannot_be_prepared_are_refused():
    with pytest.raises(ValueError, match="prefetch_related"):
        PreparedQuery(lambda i: Invoice.objects.prefetch_related("lines").filter(pk=i), i=int).all(i=1)
    with pytest.raises(ValueError, match="only"):
        PreparedQuery(lambda i: Invoice.objects.only("number").filter(pk=i), i=int).all(i=1)
    with pytest.raises(ValueError, match="do not reach the SQL as given"):
        PreparedQuery(lambda i: Invoice.objects.filter(number=str(abs(i))), i=int).all(i=1)
