from decimal import Decimal

import pytest

from attune_qbo.billing.services import LineData
from integrations.books.builder import BooksMappings, books_batch, spread_tax
from integrations.books.document import clean_name
from integrations.models import MappingKind, QuickBooksMapping
from tests.factories import ClientFactory, ProductFactory, TaxRateFactory


def test_clean_name_makes_leaf_names_without_tabs_newlines_or_colons():
    assert clean_name("Acme:\tWest\n Ltd") == "Acme - West Ltd"
    assert clean_name('  "Big" Café ') == '"Big" Café'


@pytest.mark.parametrize(
    ("amounts", "tax"),
    [
        ([Decimal("0.05")] * 100, Decimal("0.50")),
        ([Decimal("1.00"), Decimal("1.00"), Decimal("1.00")], Decimal("0.10")),
        ([Decimal("0.00"), Decimal("0.00")], Decimal("0.00")),
        ([Decimal("333.33"), Decimal("0.01"), Decimal("99.99")], Decimal("36.12")),
    ],
)
def test_spread_tax_adds_up_to_the_rate_tax_in_whole_cents(amounts, tax):
    shares = spread_tax(amounts, tax)
    assert sum(shares) == tax
    assert all(share == share.quantize(Decimal("0.01")) for share in shares)


def test_batch_balances_and_uses_mapped_names_and_ids(tenant):
    rate = TaxRateFactory(company=tenant.company, name="Reduced: food", percent=Decimal("7.25"))
    odd = ProductFactory(company=tenant.company, name="Thing:\tOne", unit_price=Decimal("0.333"))
    client = ClientFactory(company=tenant.company, display_name='Café: Müller\n"Quotes"')
    invoice = tenant.invoice(
        client=client,
        lines=[
            LineData(product=odd, quantity=3, tax_rate=rate),
            LineData(product=tenant.product, quantity=1, tax_rate=rate),
            LineData(product=tenant.product, quantity=1, tax_rate=tenant.tax_rate),
            LineData(description="No product", quantity=1, unit_price=Decimal("5")),
        ],
        finalize=True,
    )
    QuickBooksMapping.objects.create(
        company=tenant.company,
        realm_id="r1",
        kind=MappingKind.ITEM,
        local_key=str(tenant.product.pk),
        qbo_id="7",
        qbo_name="Hardware:Widgets",
    )
    batch = books_batch(company=tenant.company, invoice_ids=[invoice.pk], realm_id="r1")
    (doc,) = batch.invoices
    assert doc.total == invoice.total and doc.tax_total == invoice.tax_total
    assert sum(line.tax_amount for line in doc.lines) == doc.tax_total
    assert doc.customer.name == 'Café - Müller "Quotes"'
    names = [line.item.name for line in doc.lines]
    assert names == ["Thing - One", "Hardware:Widgets", "Hardware:Widgets", "Services"]
    assert doc.lines[1].item.id == "7" and doc.lines[0].item.id == ""
    assert {item.ref.name for item in batch.items} == {"Thing - One", "Hardware:Widgets", "Services"}
    assert {tax.tax_code.name for tax in doc.tax_lines} == {"Reduced - food", "Sales tax"}


def test_batch_never_reads_another_company(tenant, other_tenant):
    theirs = other_tenant.invoice(finalize=True)
    assert books_batch(company=tenant.company, invoice_ids=[theirs.pk]).invoices == ()
    assert BooksMappings.load(company_id=tenant.company.pk, realm_id=None).items == {}


def test_the_document_module_imports_no_django():
    import ast
    from pathlib import Path

    import integrations.books.document as document

    tree = ast.parse(Path(document.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in modules if name.split(".")[0] in ("django", "attune_qbo", "integrations")}
